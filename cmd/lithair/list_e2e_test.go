package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// listPage is a list answer as a client reads it.
type listPage struct {
	Items      []map[string]any `json:"items"`
	NextCursor *string          `json:"next_cursor"`
	Count      *int             `json:"count"`
	CountExact *bool            `json:"count_exact"`
}

func (n *node) list(path string, headers ...string) listPage {
	n.t.Helper()
	r := n.must("GET", path, "", headers...)
	var p listPage
	if err := json.Unmarshal(r.Body, &p); err != nil || r.Status != 200 {
		n.t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	return p
}

// One node serves every list test: starting one is most of the cost.
func TestLists(t *testing.T) {
	n := startNode(t, t.TempDir())
	// 30 products over 4 names; every seventh has no price, every fifth a cost.
	for i := 0; i < 30; i++ {
		body := fmt.Sprintf(`"name":"item-%d","stock":%d`, i%4, i%3)
		if i%7 != 3 {
			body += fmt.Sprintf(`,"price":%d`, (i*37)%11)
		}
		if i%5 == 0 {
			body += fmt.Sprintf(`,"cost":%d`, i)
		}
		if r := n.must("POST", "/api/products", "{"+body+"}"); r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
	}
	t.Run("multi-field sort pages in order while records are inserted", func(t *testing.T) { multiSort(t, n) })
	t.Run("fields selects members; hidden fields are unknown", func(t *testing.T) { selectedFields(t, n) })
	t.Run("count counts every page, and only readable records", func(t *testing.T) { counts(t, n) })
	t.Run("bad parameters are 400 naming the parameter", func(t *testing.T) { badParameters(t, n) })
}

// sortValue orders a JSON value the way lists do: missing, booleans,
// numbers, strings.
func sortValue(v any) (int, float64, string) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, 1, ""
		}
		return 1, 0, ""
	case float64:
		return 2, x, ""
	case string:
		return 3, 0, x
	}
	return 0, 0, ""
}

func compareValues(a, b any) int {
	ak, an, as := sortValue(a)
	bk, bn, bs := sortValue(b)
	return cmp.Or(cmp.Compare(ak, bk), cmp.Compare(an, bn), cmp.Compare(as, bs))
}

func multiSort(t *testing.T, n *node) {
	const sort = "name,-price,stock"
	all := n.list("/api/products?limit=1000").Items
	inOrder := func(items []map[string]any) []map[string]any {
		out := slices.Clone(items)
		slices.SortFunc(out, func(a, b map[string]any) int {
			return cmp.Or(compareValues(a["name"], b["name"]), -compareValues(a["price"], b["price"]),
				compareValues(a["stock"], b["stock"]), cmp.Compare(a["id"].(string), b["id"].(string)))
		})
		return out
	}
	want := inOrder(all)
	// Page 4 at a time; after each page, add a product of every name.
	var got []map[string]any
	path := "/api/products?sort=" + sort + "&limit=4"
	for page := 0; ; page++ {
		p := n.list(path)
		got = append(got, p.Items...)
		if p.NextCursor == nil {
			break
		}
		if page > 100 {
			t.Fatal("paging does not end")
		}
		path = "/api/products?sort=" + sort + "&limit=4&cursor=" + *p.NextCursor
		for k := 0; k < 4; k++ {
			n.must("POST", "/api/products", fmt.Sprintf(`{"name":"item-%d","price":%d,"stock":1}`, k, page%11))
		}
	}
	seen := map[string]bool{}
	var old []map[string]any
	for _, item := range got {
		id := item["id"].(string)
		if seen[id] {
			t.Fatalf("%s listed twice", id)
		}
		seen[id] = true
		if slices.ContainsFunc(all, func(a map[string]any) bool { return a["id"] == id }) {
			old = append(old, item)
		}
	}
	if len(old) != len(want) {
		t.Fatalf("%d of the %d records there before paging were listed", len(old), len(want))
	}
	for i := range want {
		if old[i]["id"] != want[i]["id"] {
			t.Fatalf("position %d: got %v, want %v", i, old[i], want[i])
		}
	}
	if !slices.EqualFunc(got, inOrder(got), func(a, b map[string]any) bool { return a["id"] == b["id"] }) {
		t.Fatal("the pages, new records included, are not in order")
	}
	// Descending with the id given explicitly ascending.
	items := n.list("/api/products?sort=-name,price,id&limit=1000").Items
	for i := 1; i < len(items); i++ {
		a, b := items[i-1], items[i]
		c := cmp.Or(-compareValues(a["name"], b["name"]), compareValues(a["price"], b["price"]), cmp.Compare(a["id"].(string), b["id"].(string)))
		if c >= 0 {
			t.Fatalf("sort=-name,price,id: %v before %v", a, b)
		}
	}
}

func selectedFields(t *testing.T, n *node) {
	keys := func(m map[string]any) string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return strings.Join(out, ",")
	}
	items := n.list("/api/products?fields=name,price&price[gte]=0&limit=5").Items
	for _, it := range items {
		if k := keys(it); k != "id,name,price,version" {
			t.Fatalf("fields=name,price gave members %s", k)
		}
	}
	// A field a record lacks is absent; timestamps when asked.
	items = n.list("/api/products?fields=cost,updated_at&limit=10").Items
	withCost := 0
	for _, it := range items {
		switch keys(it) {
		case "cost,id,updated_at,version":
			withCost++
		case "id,updated_at,version":
		default:
			t.Fatalf("fields=cost,updated_at gave members %s", keys(it))
		}
	}
	if withCost == 0 {
		t.Fatal("the admin is not shown cost")
	}
	// cost is readable by editors and admins only: to anyone else it is
	// an unknown field, refused with the very words of one.
	hidden := n.must("GET", "/api/products?fields=name,cost", "", anonymous...)
	unknown := n.must("GET", "/api/products?fields=name,colour", "", anonymous...)
	if hidden.Status != 400 || unknown.Status != 400 ||
		strings.ReplaceAll(string(hidden.Body), "cost", "colour") != string(unknown.Body) {
		t.Fatalf("hidden field: %d %s\nunknown field: %d %s", hidden.Status, hidden.Body, unknown.Status, unknown.Body)
	}
	for _, it := range n.list("/api/products?limit=1000", anonymous...).Items {
		if _, ok := it["cost"]; ok {
			t.Fatalf("cost shown to an anonymous client: %v", it)
		}
	}
}

func counts(t *testing.T, n *node) {
	all := n.list("/api/products?limit=1000").Items
	total := len(all)
	for _, tc := range []struct {
		query string
		keep  func(map[string]any) bool
	}{
		{"", func(map[string]any) bool { return true }},
		{"stock=1", func(it map[string]any) bool { return it["stock"] == 1.0 }},
		{"price[gte]=3&price[lt]=8", func(it map[string]any) bool {
			p, ok := it["price"].(float64)
			return ok && p >= 3 && p < 8
		}},
		{"name=item-2&stock[ne]=0", func(it map[string]any) bool { return it["name"] == "item-2" && it["stock"] != 0.0 }},
	} {
		want := 0
		for _, it := range all {
			if tc.keep(it) {
				want++
			}
		}
		p := n.list("/api/products?count=true&limit=2&" + tc.query)
		if p.Count == nil || *p.Count != want || p.CountExact == nil || !*p.CountExact {
			t.Fatalf("count of %q: got %v (exact %v), want %d of %d", tc.query, p.Count, p.CountExact, want, total)
		}
	}
	if p := n.list("/api/products?limit=2"); p.Count != nil || p.CountExact != nil {
		t.Fatal("a count given unasked")
	}
	// Articles: anyone may list the published ones only (a read
	// predicate); the count is of what the caller may read.
	for i := 0; i < 5; i++ {
		status := "draft"
		if i < 3 {
			status = "published"
		}
		body := fmt.Sprintf(`{"title":"article %d","slug":"a-%d","status":%q,"published_at":"2024-01-0%dT00:00:00Z"}`, i, i, status, i+1)
		if r := n.must("POST", "/api/articles", body); r.Status != 201 {
			t.Fatalf("create article: %d %s", r.Status, r.Body)
		}
	}
	if p := n.list("/api/articles?count=true&limit=1", anonymous...); *p.Count != 3 || !*p.CountExact {
		t.Fatalf("anonymous count of articles: %d, want the 3 published", *p.Count)
	}
	if p := n.list("/api/articles?count=true&limit=1"); *p.Count != 5 {
		t.Fatalf("admin count of articles: %d, want 5", *p.Count)
	}
}

func badParameters(t *testing.T, n *node) {
	sorted := n.list("/api/products?sort=name,stock&limit=1")
	for _, tc := range []struct{ query, param string }{
		{"sort=", "sort"},
		{"sort=name,", "sort"},
		{"sort=,name", "sort"},
		{"sort=name,,price", "sort"},
		{"sort=-", "sort"},
		{"sort=colour", "sort"},
		{"sort=name,colour", "sort"},
		{"sort=stock", "sort"},
		{"sort=stock,name", "sort"},
		{"sort=name,-name", "sort"},
		{"sort=id,name", "sort"},
		{"sort=name&sort=price", "sort"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=ten", "limit"},
		{"limit=5&limit=6", "limit"},
		{"count=yes", "count"},
		{"count=true&count=true", "count"},
		{"fields=", "fields"},
		{"fields=name,,price", "fields"},
		{"fields=colour", "fields"},
		{"cursor=abc", "cursor"},
		{"cursor=", "cursor"},
		{"sort=-name,stock&cursor=" + url.QueryEscape(*sorted.NextCursor), "cursor"},
		{"price[between]=1", "price[between]"},
		{"colour=red", "colour"},
		{"price=cheap", "price"},
		{"price[gte]=NaN", "price[gte]"},
		{"stock[gt]=1_000", "stock[gt]"},
		{"price[in]=1,0x1p-2", "price[in]"},
		{"name[gt]=a&name[gt]=b", "name[gt]"},
	} {
		r := n.must("GET", "/api/products?"+tc.query, "")
		var e struct {
			Error struct {
				Code   string
				Fields map[string]string
			}
		}
		json.Unmarshal(r.Body, &e)
		if r.Status != 400 || e.Error.Code != "bad_query" || e.Error.Fields[tc.param] == "" {
			t.Errorf("%s: want a 400 bad_query naming %s, got %d %s", tc.query, tc.param, r.Status, r.Body)
		}
	}
	// Fields only editors and admins may read cannot be probed by others
	// with filters or sorts either.
	for _, tc := range []struct{ query, param string }{{"cost[gt]=5", "cost[gt]"}, {"sort=name,cost", "sort"}} {
		if r := n.must("GET", "/api/products?"+tc.query, "", anonymous...); r.Status != 400 || !strings.Contains(string(r.Body), `"`+tc.param+`"`) {
			t.Errorf("anonymous %s: %d %s", tc.query, r.Status, r.Body)
		}
		if r := n.must("GET", "/api/products?"+tc.query, ""); r.Status != 200 {
			t.Errorf("admin %s: %d %s", tc.query, r.Status, r.Body)
		}
	}
	// The message says what the first sort field needs.
	r := n.must("GET", "/api/products?sort=stock,name", "")
	if !strings.Contains(string(r.Body), "first sort field must be indexed") {
		t.Errorf("sort=stock,name: %s", r.Body)
	}
}
