package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"
)

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("answer: %v: %s", err, r.Body)
	}
	return v
}

type listAnswer struct {
	Items      []map[string]any `json:"items"`
	NextCursor *string          `json:"next_cursor"`
}

func TestUniqueAndIfMatchHoldUnderRaces(t *testing.T) {
	n := startNode(t, t.TempDir())

	// Two clients race to create the same category name: exactly one wins.
	var wg sync.WaitGroup
	statuses := make(chan response, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- n.must("POST", "/api/categories", `{"name":"Phones"}`)
		}()
	}
	wg.Wait()
	close(statuses)
	created := 0
	for r := range statuses {
		switch r.Status {
		case 201:
			created++
		case 409:
			e := r.json(t)["error"].(map[string]any)
			if e["fields"].(map[string]any)["name"] == nil {
				t.Fatalf("409 does not name the field: %s", r.Body)
			}
		default:
			t.Fatalf("racing create: %d %s", r.Status, r.Body)
		}
	}
	if created != 1 {
		t.Fatalf("%d racing creates of one unique name succeeded", created)
	}

	// Two clients race to update the same version: exactly one wins.
	id := n.must("POST", "/api/products", `{"name":"Lamp","price":10}`).json(t)["id"].(string)
	for round := 0; round < 5; round++ {
		version := n.must("GET", "/api/products/"+id, "").Header.Get("ETag")
		results := make(chan int, 2)
		for c := 0; c < 2; c++ {
			go func(c int) {
				results <- n.must("PATCH", "/api/products/"+id, fmt.Sprintf(`{"stock":%d}`, c+1), "If-Match", version).Status
			}(c)
		}
		a, b := <-results, <-results
		if !(a == 200 && b == 412 || a == 412 && b == 200) {
			t.Fatalf("round %d: racing conditional updates answered %d and %d", round, a, b)
		}
	}
	r := n.must("DELETE", "/api/products/"+id, "", "If-Match", `"1"`)
	if r.Status != 412 {
		t.Fatalf("stale conditional delete: %d", r.Status)
	}
}

func TestHistoryTimeTravelAndAudit(t *testing.T) {
	n := startNode(t, t.TempDir())
	r := n.must("POST", "/api/products", `{"name":"Chair","price":40}`)
	id := r.json(t)["id"].(string)
	v1 := string(r.Body)
	time.Sleep(5 * time.Millisecond)
	between := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	var bodies []string
	for i := 2; i <= 12; i++ {
		bodies = append(bodies, string(n.must("PATCH", "/api/products/"+id, fmt.Sprintf(`{"price":%d}`, 40+i)).Body))
	}
	// Every version is addressable: recent ones from memory, the oldest
	// rebuilt from the log (Product keeps versioned = 10).
	if got := n.must("GET", "/api/products/"+id+"?version=1", ""); got.Status != 200 || string(got.Body) != v1 {
		t.Fatalf("version 1: %d %s, want %s", got.Status, got.Body, v1)
	}
	for i, want := range bodies {
		if got := n.must("GET", fmt.Sprintf("/api/products/%s?version=%d", id, i+2), ""); string(got.Body) != want {
			t.Fatalf("version %d: %s, want %s", i+2, got.Body, want)
		}
	}
	if got := n.must("GET", "/api/products/"+id+"?at="+url.QueryEscape(between.Format(time.RFC3339Nano)), ""); string(got.Body) != v1 {
		t.Fatalf("at %s: %s, want version 1", between, got.Body)
	}
	// An offset written by hand, its "+" not URL-encoded, works too.
	if got := n.must("GET", "/api/products/"+id+"?at="+between.Format("2006-01-02T15:04:05.999999999")+"+00:00", ""); string(got.Body) != v1 {
		t.Fatalf("at with a raw +00:00 offset: %d %s", got.Status, got.Body)
	}
	if got := n.must("GET", "/api/products/"+id+"?at=2001-01-01T00:00:00Z", ""); got.Status != 404 {
		t.Fatalf("before creation: %d", got.Status)
	}
	if got := n.must("GET", "/api/products/"+id+"?version=99", ""); got.Status != 404 {
		t.Fatalf("version 99: %d", got.Status)
	}
	n.must("DELETE", "/api/products/"+id, "")

	// The record's events, oldest first, after the delete too.
	type events struct {
		Events []struct {
			Index   int             `json:"index"`
			Kind    string          `json:"kind"`
			Version int             `json:"version"`
			Fields  json.RawMessage `json:"fields"`
		} `json:"events"`
	}
	ev := decode[events](t, n.must("GET", "/api/products/"+id+"/events", ""))
	if len(ev.Events) != 13 || ev.Events[0].Kind != "created" || ev.Events[1].Kind != "updated" || ev.Events[12].Kind != "deleted" {
		t.Fatalf("events: %+v", ev.Events)
	}
	for i := 1; i < len(ev.Events); i++ {
		if ev.Events[i].Index <= ev.Events[i-1].Index {
			t.Fatalf("events out of order: %+v", ev.Events)
		}
	}

	// The audit trail: newest first, old and new values, paginated.
	type audit struct {
		Items []struct {
			ID     string         `json:"id"`
			User   string         `json:"user"`
			Action string         `json:"action"`
			Old    map[string]any `json:"old"`
			New    map[string]any `json:"new"`
			Time   string         `json:"time"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	a := decode[audit](t, n.must("GET", "/api/_audit?model=Product&id="+id+"&limit=5", ""))
	if len(a.Items) != 5 || a.NextCursor == nil {
		t.Fatalf("audit page: %+v", a)
	}
	if a.Items[0].Action != "deleted" || a.Items[0].Old["price"] != 52.0 || a.Items[0].New != nil {
		t.Fatalf("newest audit entry: %+v", a.Items[0])
	}
	if a.Items[1].Action != "updated" || a.Items[1].Old["price"] != 51.0 || a.Items[1].New["price"] != 52.0 {
		t.Fatalf("second audit entry: %+v", a.Items[1])
	}
	total := 0
	cursor := ""
	for {
		path := "/api/_audit?model=Product&id=" + id + "&limit=5"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		page := decode[audit](t, n.must("GET", path, ""))
		total += len(page.Items)
		if page.NextCursor == nil {
			if last := page.Items[len(page.Items)-1]; last.Action != "created" || last.Old != nil {
				t.Fatalf("oldest audit entry: %+v", last)
			}
			break
		}
		cursor = *page.NextCursor
	}
	if total != 13 {
		t.Fatalf("audit entries: %d, want 13", total)
	}
	if a := decode[audit](t, n.must("GET", "/api/_audit?model=Product&user=admin&limit=3", "")); len(a.Items) != 3 || a.Items[0].User != "admin" {
		t.Fatalf("audit by user: %+v", a.Items)
	}
	if a := decode[audit](t, n.must("GET", "/api/_audit?model=Product&user=bob", "")); len(a.Items) != 0 {
		t.Fatalf("audit of a user who wrote nothing: %+v", a.Items)
	}
	// Categories are not audited.
	n.must("POST", "/api/categories", `{"name":"Desks"}`)
	if a := decode[audit](t, n.must("GET", "/api/_audit?model=Category", "")); len(a.Items) != 0 {
		t.Fatalf("unaudited model in the trail: %+v", a.Items)
	}
}

func TestListsUseIndexesAndRefuseWhatTheyCannotDo(t *testing.T) {
	n := startNode(t, t.TempDir())
	for i := 0; i < 30; i++ {
		n.must("POST", "/api/products", fmt.Sprintf(`{"name":"item-%02d","price":%d,"stock":%d}`, i, i*10, i%3))
	}
	l := decode[listAnswer](t, n.must("GET", "/api/products?price[gte]=100&price[lt]=200&sort=-price&limit=4", ""))
	if len(l.Items) != 4 || l.Items[0]["price"] != 190.0 || l.Items[3]["price"] != 160.0 || l.NextCursor == nil {
		t.Fatalf("range page 1: %+v", l)
	}
	l = decode[listAnswer](t, n.must("GET", "/api/products?price[gte]=100&price[lt]=200&sort=-price&limit=10&cursor="+*l.NextCursor, ""))
	if len(l.Items) != 6 || l.Items[0]["price"] != 150.0 || l.Items[5]["price"] != 100.0 || l.NextCursor != nil {
		t.Fatalf("range page 2: %+v", l)
	}
	l = decode[listAnswer](t, n.must("GET", "/api/products?name=item-07", ""))
	if len(l.Items) != 1 || l.Items[0]["price"] != 70.0 {
		t.Fatalf("equality: %+v", l)
	}
	l = decode[listAnswer](t, n.must("GET", "/api/products?name[prefix]=item-2&stock=0", ""))
	if len(l.Items) != 3 || l.Items[0]["name"] != "item-21" || l.Items[2]["name"] != "item-27" {
		t.Fatalf("prefix and plain filter: %+v", l)
	}
	for _, bad := range []string{"sort=stock", "price[between]=1", "colour=red", "limit=0", "limit=5000", "price=cheap", "cursor=%%%"} {
		if r := n.must("GET", "/api/products?"+bad, ""); r.Status != 400 {
			t.Fatalf("%s: %d %s", bad, r.Status, r.Body)
		}
	}
}
