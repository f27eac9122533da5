package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCRUDSessionOverHTTP(t *testing.T) {
	n := startNode(t, t.TempDir())

	// Create.
	r := n.must("POST", "/api/products", `{"name":"iPhone 15","price":999.99}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	p := r.json(t)
	id, _ := p["id"].(string)
	if !uuidV7.MatchString(id) {
		t.Fatalf("id %q is not a UUIDv7", id)
	}
	if p["version"] != 1.0 || p["name"] != "iPhone 15" || p["price"] != 999.99 || p["stock"] != 0.0 {
		t.Fatalf("created record: %s", r.Body)
	}
	for _, k := range []string{"created_at", "updated_at"} {
		if _, err := time.Parse(time.RFC3339Nano, p[k].(string)); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	if got := r.Header.Get("Location"); got != "/api/products/"+id {
		t.Fatalf("Location = %q", got)
	}
	if got := r.Header.Get("ETag"); got != `"1"` {
		t.Fatalf("ETag = %q", got)
	}

	// Read.
	r = n.must("GET", "/api/products/"+id, "")
	if r.Status != 200 || r.json(t)["name"] != "iPhone 15" {
		t.Fatalf("get: %d %s", r.Status, r.Body)
	}
	if r := n.must("GET", "/api/products/0190d5a4-0000-7000-8000-000000000000", ""); r.Status != 404 {
		t.Fatalf("get missing: %d", r.Status)
	}

	// PUT replaces: stock falls back to its default, category_id goes away.
	r = n.must("PUT", "/api/products/"+id, `{"name":"iPhone 15","price":899.99,"stock":5,"category_id":"phones"}`)
	if r.Status != 200 || r.json(t)["version"] != 2.0 || r.json(t)["stock"] != 5.0 {
		t.Fatalf("put: %d %s", r.Status, r.Body)
	}
	r = n.must("PUT", "/api/products/"+id, `{"name":"iPhone 15 Pro","price":1099}`)
	if v := r.json(t); r.Status != 200 || v["stock"] != 0.0 || v["category_id"] != nil || v["price"] != 1099.0 {
		t.Fatalf("put replace: %d %s", r.Status, r.Body)
	}
	// PATCH merges.
	r = n.must("PATCH", "/api/products/"+id, `{"stock":100}`)
	if v := r.json(t); r.Status != 200 || v["stock"] != 100.0 || v["name"] != "iPhone 15 Pro" || v["version"] != 4.0 {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	if r.json(t)["created_at"] != p["created_at"] {
		t.Fatalf("created_at changed on update: %s", r.Body)
	}

	// List.
	n.must("POST", "/api/products", `{"name":"Pixel","price":599}`)
	r = n.must("GET", "/api/products", "")
	var list struct {
		Items      []map[string]any `json:"items"`
		NextCursor *string          `json:"next_cursor"`
	}
	if err := json.Unmarshal(r.Body, &list); err != nil || r.Status != 200 || len(list.Items) != 2 || list.NextCursor != nil {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	r = n.must("GET", "/api/products?limit=1", "")
	json.Unmarshal(r.Body, &list)
	if len(list.Items) != 1 || list.NextCursor == nil {
		t.Fatalf("list limit=1: %s", r.Body)
	}
	r = n.must("GET", "/api/products?limit=1&cursor="+*list.NextCursor, "")
	json.Unmarshal(r.Body, &list)
	if len(list.Items) != 1 || list.Items[0]["name"] != "Pixel" || list.NextCursor != nil {
		t.Fatalf("second page: %s", r.Body)
	}

	// Bad input: clear errors, and nothing reaches the log.
	before := n.appliedIndex()
	bad := []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"wrong type", "POST", "/api/products", `{"name":"x","price":"cheap"}`, 422, "price"},
		{"missing required", "POST", "/api/products", `{"price":1}`, 422, "name"},
		{"below minimum", "POST", "/api/products", `{"name":"x","price":-1}`, 422, "price"},
		{"too long", "POST", "/api/products", `{"name":"` + strings.Repeat("a", 201) + `","price":1}`, 422, "name"},
		{"empty name", "POST", "/api/products", `{"name":"","price":1}`, 422, "name"},
		{"fractional integer", "POST", "/api/products", `{"name":"x","price":1,"stock":1.5}`, 422, "stock"},
		{"unknown field", "POST", "/api/products", `{"name":"x","price":1,"colour":"red"}`, 422, "colour"},
		{"enum value", "POST", "/api/orders", `{"product_id":"p","quantity":1,"total":1,"status":"lost"}`, 422, "status"},
		{"quantity below 1", "POST", "/api/orders", `{"product_id":"p","quantity":0,"total":1}`, 422, "quantity"},
		{"category without name", "POST", "/api/categories", `{}`, 422, "name"},
		{"bad patch", "PATCH", "/api/products/" + id, `{"price":-5}`, 422, "price"},
		{"malformed json", "POST", "/api/products", `{"name":`, 400, ""},
		{"not an object", "POST", "/api/products", `[1,2]`, 400, ""},
		{"trailing data", "POST", "/api/products", `{"name":"x","price":1} {}`, 400, ""},
		{"duplicate key", "POST", "/api/products", `{"name":"x","price":1,"price":-1}`, 400, ""},
		{"keys differing in case", "POST", "/api/products", `{"name":"x","Name":"y","price":1}`, 400, ""},
		{"deep nesting", "POST", "/api/products", `{"name":"x","price":1,"category_id":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, 400, ""},
		{"invalid utf-8", "POST", "/api/products", "{\"name\":\"\xff\",\"price\":1}", 400, ""},
		{"unknown model", "POST", "/api/unicorns", `{"name":"x"}`, 404, ""},
		{"unknown record", "PATCH", "/api/products/0190d5a4-0000-7000-8000-000000000000", `{"stock":1}`, 404, ""},
		{"stale if-match", "PATCH", "/api/products/" + id, `{"stock":1}`, 412, ""},
	}
	for _, c := range bad {
		var hdr []string
		if c.status == 412 {
			hdr = []string{"If-Match", `"1"`}
		}
		r := n.must(c.method, c.path, c.body, hdr...)
		if r.Status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.Status, c.status, r.Body)
			continue
		}
		e, ok := r.json(t)["error"].(map[string]any)
		if !ok || e["code"] == "" || e["message"] == "" {
			t.Errorf("%s: no error shape: %s", c.name, r.Body)
			continue
		}
		if c.field != "" {
			fields, _ := e["fields"].(map[string]any)
			if msg, _ := fields[c.field].(string); msg == "" {
				t.Errorf("%s: no message for field %s: %s", c.name, c.field, r.Body)
			}
		}
	}
	if after := n.appliedIndex(); after != before {
		t.Fatalf("bad requests moved the applied index from %v to %v", before, after)
	}

	// Orders default their status.
	r = n.must("POST", "/api/orders", `{"product_id":"`+id+`","quantity":2,"total":2198}`)
	if r.Status != 201 || r.json(t)["status"] != "pending" {
		t.Fatalf("order: %d %s", r.Status, r.Body)
	}

	// Delete, then it is gone.
	if r := n.must("DELETE", "/api/products/"+id, ""); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := n.must("GET", "/api/products/"+id, ""); r.Status != 404 {
		t.Fatalf("get after delete: %d", r.Status)
	}
	if r := n.must("DELETE", "/api/products/"+id, ""); r.Status != 404 {
		t.Fatalf("second delete: %d", r.Status)
	}
}

// TestRestartKeepsEverything: created, updated and deleted records come
// back exactly as acknowledged after a clean stop and after a SIGKILL.
func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	want := map[string]string{} // id -> acknowledged JSON, "" = deleted
	for i := 0; i < 30; i++ {
		r := n.must("POST", "/api/products", fmt.Sprintf(`{"name":"p%d","price":%d}`, i, i))
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		want[r.json(t)["id"].(string)] = string(r.Body)
	}
	i := 0
	for id := range want {
		switch i % 3 {
		case 0:
			r := n.must("PATCH", "/api/products/"+id, `{"stock":7}`)
			want[id] = string(r.Body)
		case 1:
			n.must("DELETE", "/api/products/"+id, "")
			want[id] = ""
		}
		i++
	}
	check := func(n *node, when string) {
		for id, body := range want {
			r := n.must("GET", "/api/products/"+id, "")
			if body == "" {
				if r.Status != 404 {
					t.Fatalf("%s: deleted record %s came back: %s", when, id, r.Body)
				}
			} else if r.Status != 200 || string(r.Body) != body {
				t.Fatalf("%s: record %s: %d %s, want %s", when, id, r.Status, r.Body, body)
			}
		}
	}
	n.stop()
	n = startNode(t, dir)
	check(n, "after SIGTERM")
	if strings.Contains(n.logs(), "bootstrapping") {
		t.Fatalf("second start bootstrapped again:\n%s", n.logs())
	}
	n.kill()
	n = startNode(t, dir)
	check(n, "after SIGKILL")
}

// TestSIGKILLDuringWrites kills the server in the middle of a stream of
// acknowledged writes and checks that every acknowledged write is there
// after the restart, and nothing that was never attempted.
func TestSIGKILLDuringWrites(t *testing.T) {
	dir := t.TempDir()
	cycles := 2
	// What clients saw, over all cycles.
	var mu sync.Mutex
	acked := map[string]string{}    // id -> JSON
	deleted := map[string]bool{}    // acknowledged deletes
	inflight := map[string]bool{}   // names whose create was sent but not answered
	pendingDel := map[string]bool{} // ids whose delete was sent but not answered
	for cycle := 0; cycle < cycles; cycle++ {
		n := startNode(t, dir)
		stopWriters := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				var mine []string
				for seq := 0; ; seq++ {
					select {
					case <-stopWriters:
						return
					default:
					}
					if seq%4 == 3 && len(mine) > 0 {
						id := mine[0]
						mine = mine[1:]
						mu.Lock()
						pendingDel[id] = true
						mu.Unlock()
						r, err := n.do("DELETE", "/api/products/"+id, "")
						if err != nil {
							return // the server died under us: the delete stays pending
						}
						mu.Lock()
						if r.Status == 204 {
							deleted[id] = true
							delete(pendingDel, id)
						}
						mu.Unlock()
						continue
					}
					name := fmt.Sprintf("c%d-w%d-s%d", cycle, w, seq)
					mu.Lock()
					inflight[name] = true
					mu.Unlock()
					r, err := n.do("POST", "/api/products", fmt.Sprintf(`{"name":%q,"price":%d,"stock":%d}`, name, seq, w))
					if err != nil {
						return
					}
					if r.Status != 201 {
						t.Errorf("create: %d %s", r.Status, r.Body)
						return
					}
					var rec map[string]any
					json.Unmarshal(r.Body, &rec)
					id := rec["id"].(string)
					mu.Lock()
					delete(inflight, name)
					acked[id] = string(r.Body)
					mu.Unlock()
					mine = append(mine, id)
				}
			}(w)
		}
		time.Sleep(time.Duration(300+rand.Intn(700)) * time.Millisecond)
		n.kill()
		close(stopWriters)
		wg.Wait()
		mu.Lock()
		if len(acked) == 0 {
			t.Fatal("no write was acknowledged before the kill")
		}
		n = startNode(t, dir)
		for id, body := range acked {
			r := n.must("GET", "/api/products/"+id, "")
			switch {
			case deleted[id]:
				if r.Status != 404 {
					t.Fatalf("acknowledged delete of %s lost: %d %s", id, r.Status, r.Body)
				}
			case pendingDel[id]:
				if r.Status != 404 && string(r.Body) != body {
					t.Fatalf("record %s with an unanswered delete: %d %s", id, r.Status, r.Body)
				}
			case r.Status != 200 || string(r.Body) != body:
				t.Fatalf("acknowledged record %s: %d %s, want %s", id, r.Status, r.Body, body)
			}
		}
		// Nothing else: every record the server has is either acknowledged or
		// was in flight when it died.
		cursor := ""
		for {
			path := "/api/products?limit=1000"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			var page struct {
				Items      []map[string]any `json:"items"`
				NextCursor *string          `json:"next_cursor"`
			}
			json.Unmarshal(n.must("GET", path, "").Body, &page)
			for _, it := range page.Items {
				id, name := it["id"].(string), it["name"].(string)
				if _, ok := acked[id]; !ok && !inflight[name] {
					t.Fatalf("record %s (%s) was never written by a client", id, name)
				}
			}
			if page.NextCursor == nil {
				break
			}
			cursor = *page.NextCursor
		}
		t.Logf("cycle %d: %d creates and %d deletes acknowledged before SIGKILL, all present after restart", cycle, len(acked), len(deleted))
		mu.Unlock()
		n.kill()
	}
}
