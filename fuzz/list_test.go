package fuzz

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	lithair "github.com/lithair/lithair"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/rules"
	"github.com/lithair/lithair/web"
)

// FuzzListQuery sends arbitrary query strings to the lists of a real
// appliance holding a fixed dataset: Product (a field only staff read),
// Article (a read predicate: the public sees published articles only)
// and Gadget (a field of every type), as anonymous or as an admin.
//
// Beside the handler, the test reads each query itself, following
// docs/api.md (Lists), and holds the handler to it:
//
//   - never a panic or a 5xx; a refusal is a 400 bad_query whose fields
//     name one parameter that is indeed bad ("query" for a malformed
//     query string), and a query with a bad parameter is refused;
//   - a page holds at most limit items, each passing every filter, in the
//     requested order, with the members asked for (never one the caller
//     may not read) and the record's values;
//   - without a cursor, the pages that next_cursor leads through hold
//     exactly the records that pass the filters and that the caller may
//     read, in order, and count=true counts them; with a cursor the test
//     did not make, the page is a stretch of that same list;
//   - reads write nothing: neither the applied index nor the state hash
//     moves.
func FuzzListQuery(f *testing.F) {
	f.Add(uint8(0), uint8(0), "price[gte]=1&sort=-price&limit=2")
	f.Add(uint8(0), uint8(1), "sort=price,-name,stock&limit=3&count=true")
	f.Add(uint8(0), uint8(0), "name[prefix]=app&fields=name,price")
	f.Add(uint8(0), uint8(1), "cost[lte]=2&sort=cost")
	f.Add(uint8(0), uint8(0), "cost[lte]=2")
	f.Add(uint8(0), uint8(0), "name[in]=apple,kiwi,a%2Cb&price[ne]=2&count=true")
	f.Add(uint8(0), uint8(0), "sort=-id&limit=5")
	f.Add(uint8(1), uint8(0), "sort=-published_at&fields=title,created_at")
	f.Add(uint8(1), uint8(1), "status[in]=draft,review&sort=title")
	f.Add(uint8(2), uint8(0), "active=true&sort=-size,weight&limit=2")
	f.Add(uint8(2), uint8(0), "seen[lt]=2024-06-01&sort=seen,-label,-id")
	f.Fuzz(func(t *testing.T, model, who uint8, query string) {
		if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return // not a request line net/http would read
		}
		e := sharedListEnv(t)
		e.mu.Lock()
		defer e.mu.Unlock()
		lm := listModels[int(model)%len(listModels)]
		admin := who%2 == 1
		beforeIndex, beforeHash := e.app.State().AppliedIndex(), e.app.StateHash().Hash
		e.checkList(t, lm, admin, query)
		if idx, h := e.app.State().AppliedIndex(), e.app.StateHash().Hash; idx != beforeIndex || h != beforeHash {
			t.Fatalf("GET %s?%s moved the state: index %d -> %d, hash %s -> %s", lm.path, query, beforeIndex, idx, beforeHash, h)
		}
	})
}

// listModel is a collection of the dataset and who may see its records.
type listModel struct {
	name, path string
	// visible says whether the public (admin false) or an admin reads a
	// record: the model's read predicate, written again here.
	visible func(rec map[string]any, admin bool) bool
}

var listModels = []listModel{
	{"Product", "/api/products", func(map[string]any, bool) bool { return true }},
	{"Article", "/api/articles", func(rec map[string]any, admin bool) bool { return admin || rec["status"] == "published" }},
	{"Gadget", "/api/gadgets", func(map[string]any, bool) bool { return true }},
}

// listDataset is what the dataset's records are created with, by path.
var listDataset = map[string][]string{
	"/api/products": {
		`{"name":"apple","price":1,"stock":5,"category_id":"fruit","cost":0.5}`,
		`{"name":"apple pie","price":4.5,"category_id":"bakery","cost":2}`,
		`{"name":"Apple","price":1,"stock":0}`,
		`{"name":"banana","price":0.25,"stock":100,"category_id":"fruit"}`,
		`{"name":"bread","price":2,"stock":7,"category_id":"bakery","cost":1}`,
		`{"name":"cake","price":12,"stock":1,"category_id":"bakery","cost":4}`,
		`{"name":"cherry","price":1e1,"category_id":"fruit"}`,
		`{"name":"dates","price":10,"stock":3,"category_id":"fruit"}`,
		`{"name":"éclair","price":3.5,"category_id":"bakery"}`,
		`{"name":"fig","stock":2,"category_id":"fruit"}`,
		`{"name":"grape","category_id":"10"}`,
		`{"name":"honey","price":100,"stock":-1}`,
		`{"name":"apple","price":2,"stock":1,"category_id":"fruit","cost":1}`,
		`{"name":"kiwi","price":0,"stock":9}`,
		`{"name":"lemon","price":0.1,"category_id":"fruit"}`,
		`{"name":"mango","price":1000000,"category_id":"fruit","cost":999999.5}`,
		`{"name":"nut","price":2,"stock":2,"category_id":""}`,
		`{"name":"Zebra cake","price":12,"category_id":"bakery"}`,
		`{"name":"a","price":1.000,"stock":1}`,
		`{"name":"a,b","price":7}`,
		`{"name":"100","price":100}`,
		`{"name":"% spaced &","price":3}`,
	},
	"/api/articles": {
		`{"title":"Hello world","slug":"hello-world","status":"published","published_at":"2024-01-02T03:04:05Z","tags":["intro"],"body":"hi"}`,
		`{"title":"Draft one","slug":"draft-one"}`,
		`{"title":"In review","slug":"in-review","status":"review"}`,
		`{"title":"Second post","slug":"second-post","status":"published","published_at":"2024-02-01T00:00:00Z"}`,
		`{"title":"Zeta","slug":"zeta","status":"published","published_at":"2023-12-31T23:59:59Z","body":"z"}`,
		`{"title":"Alpha draft","slug":"alpha","status":"draft","tags":[]}`,
	},
	"/api/gadgets": {
		`{"label":"g1","size":1,"weight":1.5,"active":true,"kind":"a","seen":"2024-01-01T00:00:00Z","tags":["x","y"],"extra":{"a":1}}`,
		`{"label":"g2","size":2,"weight":-3,"active":false,"kind":"b","seen":"2024-06-01T12:00:00Z","notes":"note"}`,
		`{"label":"g3","size":2,"active":true,"kind":"c","extra":[1,2]}`,
		`{"label":"G4","weight":0.001,"active":false,"tags":[]}`,
		`{"size":-5,"weight":1e3,"kind":"a","seen":"2023-01-01T00:00:00+02:00"}`,
		`{"label":"g6","size":100,"weight":2.5,"active":true,"extra":"s"}`,
		`{"label":"true","size":0,"active":true,"kind":"b"}`,
		`{"label":"","size":10,"weight":10,"seen":"2024-01-01T00:00:00Z"}`,
		`{}`,
		`{"label":"g1","size":1,"weight":1.50,"active":false}`,
	},
}

// listEnv is one appliance holding the dataset, shared by every input of
// a process: reads change nothing, so every input sees the same records.
type listEnv struct {
	dir     string // data and rules, removed by TestMain
	app     *lithair.Appliance
	handler http.Handler
	mu      sync.Mutex
	admin   string // the admin's session
	// records are the dataset's records as the API renders them, by model.
	records map[string][]listRecord
}

type listRecord struct {
	id     string
	fields map[string]any // decoded with UseNumber
}

var (
	listOnce sync.Once
	listApp  *listEnv
	listErr  error
)

func sharedListEnv(t testing.TB) *listEnv {
	listOnce.Do(func() { listApp, listErr = openListEnv() })
	if listErr != nil {
		t.Fatal(listErr)
	}
	return listApp
}

func openListEnv() (*listEnv, error) {
	dir, err := os.MkdirTemp("", "lithair-fuzz-list-")
	if err != nil {
		return nil, err
	}
	// The example rules and the Gadget model, in one rules dir.
	ruleDir := filepath.Join(dir, "rules")
	files, _ := filepath.Glob("../configs/rules/*.lua")
	files = append(files, "testdata/rules/gadget.lua")
	if err := os.MkdirAll(ruleDir, 0o750); err != nil {
		return nil, err
	}
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(ruleDir, filepath.Base(name)), src, 0o640); err != nil {
			return nil, err
		}
	}
	cfg := lithair.DefaultConfig()
	cfg.EventStore.Dir = filepath.Join(dir, "data")
	cfg.EventStore.Sync = "periodic"
	cfg.EventStore.SegmentSize = 64 << 10 // what a segment preallocates
	cfg.Rules.Dir = ruleDir
	cfg.Rules.Watch = false
	cfg.Auth.InitialAdminPassword = fuzzAdminPassword
	// Thousands of requests a second from one address must not meet 429.
	cfg.Firewall.Rate, cfg.Firewall.GlobalRate = 0, 0
	app, err := lithair.Open(cfg, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.WaitReady(ctx); err != nil {
		return nil, err
	}
	e := &listEnv{dir: dir, app: app, handler: web.New(app, nil).Handler(), records: map[string][]listRecord{}}
	if e.admin, _, _, err = app.Login(ctx, "admin", fuzzAdminPassword); err != nil {
		return nil, err
	}
	for _, lm := range listModels {
		for _, body := range listDataset[lm.path] {
			req := httptest.NewRequest("POST", lm.path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.admin)
			w := httptest.NewRecorder()
			e.handler.ServeHTTP(w, req)
			if w.Code != http.StatusCreated {
				return nil, fmt.Errorf("seeding %s with %s: %d %s", lm.path, body, w.Code, w.Body)
			}
		}
		v := app.State().View()
		var decodeErr error
		v.Each(lm.name, func(r *index.Record) bool {
			m, err := decodeMembers(r.JSON())
			if err != nil {
				decodeErr = err
				return false
			}
			e.records[lm.name] = append(e.records[lm.name], listRecord{id: r.ID, fields: m})
			return true
		})
		if decodeErr != nil {
			return nil, decodeErr
		}
		if len(e.records[lm.name]) != len(listDataset[lm.path]) {
			return nil, fmt.Errorf("%s holds %d records, %d were created", lm.name, len(e.records[lm.name]), len(listDataset[lm.path]))
		}
	}
	return e, nil
}

func decodeMembers(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %.200s", err, b)
	}
	return m, nil
}

// get serves GET target as a real server would read it; ok is false
// when net/http would refuse the request line itself.
func (e *listEnv) get(admin bool, target string) (*httptest.ResponseRecorder, *http.Request, bool) {
	raw := "GET " + target + " HTTP/1.1\r\nHost: example.com\r\n"
	if admin {
		raw += "Authorization: Bearer " + e.admin + "\r\n"
	}
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw + "\r\n")))
	if err != nil {
		return nil, nil, false
	}
	req.RemoteAddr = "192.0.2.7:4000"
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	return w, req, true
}

// listAnswer is a list's body.
type listAnswer struct {
	Items      []json.RawMessage `json:"items"`
	NextCursor *string           `json:"next_cursor"`
	Count      *int              `json:"count"`
	CountExact *bool             `json:"count_exact"`
}

type errorAnswer struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// checkList sends one query and holds the answer to what the test
// expects of it.
func (e *listEnv) checkList(t *testing.T, lm listModel, admin bool, query string) {
	w, req, ok := e.get(admin, lm.path+"?"+query)
	if !ok {
		return
	}
	m := e.app.Rules().Model(lm.name)
	want := judgeListQuery(req.URL.RawQuery, m, admin)
	desc := fmt.Sprintf("GET %s?%s (admin %t)", lm.path, req.URL.RawQuery, admin)
	if w.Code != http.StatusOK {
		if w.Code != http.StatusBadRequest {
			t.Fatalf("%s: %d %.300s", desc, w.Code, w.Body)
		}
		var ea errorAnswer
		if err := json.Unmarshal(w.Body.Bytes(), &ea); err != nil || ea.Error.Code != "bad_query" || ea.Error.Message == "" || len(ea.Error.Fields) != 1 {
			t.Fatalf("%s: 400 without a bad_query error naming one parameter: %.300s", desc, w.Body)
		}
		// JSON carries a name that is not UTF-8 with U+FFFD in place of
		// its bad bytes.
		bad := map[string]bool{}
		for param := range want.bad {
			b, _ := json.Marshal(param)
			var s string
			json.Unmarshal(b, &s)
			bad[s] = true
		}
		for param := range ea.Error.Fields {
			if !bad[param] && !(want.cursor && param == "cursor") {
				t.Fatalf("%s: refused on %q, which is good (the bad ones: %v): %.300s", desc, param, slices.Sorted(maps.Keys(want.bad)), w.Body)
			}
		}
		return
	}
	if len(want.bad) > 0 {
		t.Fatalf("%s: answered 200 despite bad parameters %v: %.300s", desc, slices.Sorted(maps.Keys(want.bad)), w.Body)
	}
	expected := e.expected(lm, m, admin, want)
	page := e.checkPage(t, desc, w.Body.Bytes(), lm, m, admin, want, expected)
	if want.cursor {
		// A cursor the test did not make: the page is some stretch of
		// the list, wherever it starts.
		if len(page) > 0 {
			at := slices.Index(expected, page[0])
			if at < 0 || !slices.Equal(expected[at:min(at+len(page), len(expected))], page) {
				t.Fatalf("%s: the page %v is not a stretch of the list %v", desc, page, expected)
			}
		}
		return
	}
	// Page through with next_cursor: the pages together are the list.
	var got []string
	body := w.Body.Bytes()
	for pages := 0; ; pages++ {
		got = append(got, page...)
		var la listAnswer
		json.Unmarshal(body, &la)
		if la.NextCursor == nil {
			break
		}
		if pages > len(expected)+1 {
			t.Fatalf("%s: %d pages for %d records", desc, pages, len(expected))
		}
		next := req.URL.RawQuery + "&cursor=" + url.QueryEscape(*la.NextCursor)
		w, _, ok := e.get(admin, lm.path+"?"+next)
		if !ok {
			t.Fatalf("%s: page %d: next_cursor %q makes no request line", desc, pages+2, *la.NextCursor)
		}
		if w.Code != http.StatusOK {
			t.Fatalf("%s: page %d (cursor %s): %d %.300s", desc, pages+2, *la.NextCursor, w.Code, w.Body)
		}
		body = w.Body.Bytes()
		page = e.checkPage(t, desc+" page "+strconv.Itoa(pages+2), body, lm, m, admin, want, expected)
	}
	if !slices.Equal(got, expected) {
		t.Fatalf("%s: the pages hold\n%v\nthe list is\n%v", desc, e.describe(lm.name, got), e.describe(lm.name, expected))
	}
}

// checkPage checks one page on its own and returns its ids.
func (e *listEnv) checkPage(t *testing.T, desc string, body []byte, lm listModel, m *rules.Model, admin bool, want listQuery, expected []string) []string {
	t.Helper()
	var la listAnswer
	if err := json.Unmarshal(body, &la); err != nil || la.Items == nil {
		t.Fatalf("%s: 200 without a list: %v %.300s", desc, err, body)
	}
	if len(la.Items) > want.limit {
		t.Fatalf("%s: %d items, limit %d", desc, len(la.Items), want.limit)
	}
	if want.count != (la.Count != nil) || want.count != (la.CountExact != nil) {
		t.Fatalf("%s: count asked %t, answered %.300s", desc, want.count, body)
	}
	if want.count && (*la.Count != len(expected) || !*la.CountExact) {
		t.Fatalf("%s: count %d (exact %t), the list holds %d", desc, *la.Count, *la.CountExact, len(expected))
	}
	byID := map[string]listRecord{}
	for _, r := range e.records[lm.name] {
		byID[r.id] = r
	}
	var ids []string
	var prev *listRecord
	for i, raw := range la.Items {
		item, err := decodeMembers(raw)
		if err != nil {
			t.Fatalf("%s: item %d: %v", desc, i, err)
		}
		id, _ := item["id"].(string)
		rec, ok := byID[id]
		if !ok {
			t.Fatalf("%s: item %d is no record of %s: %.300s", desc, i, lm.name, raw)
		}
		ids = append(ids, id)
		if !lm.visible(rec.fields, admin) {
			t.Fatalf("%s: item %d may not be read: %.300s", desc, i, raw)
		}
		for _, flt := range want.filters {
			if !flt.match(rec.fields[flt.field]) {
				t.Fatalf("%s: item %d fails the filter %s[%s]%v: %.300s", desc, i, flt.field, flt.op, flt.values, raw)
			}
		}
		if prev != nil && want.compare(*prev, rec) >= 0 {
			t.Fatalf("%s: item %d comes after item %d, out of order %s", desc, i, i-1, want.order())
		}
		prev = &rec
		// The members asked for, with the record's values.
		for k, v := range item {
			rv, has := rec.fields[k]
			if !has || !reflect.DeepEqual(v, rv) {
				t.Fatalf("%s: item %d member %s is %v, the record holds %v", desc, i, k, v, rv)
			}
		}
		for k := range rec.fields {
			_, has := item[k]
			if wantMember := want.member(m, admin, k); has != wantMember {
				t.Fatalf("%s: item %d has member %s: %t, want %t: %.300s", desc, i, k, has, wantMember, raw)
			}
		}
	}
	return ids
}

// expected is the whole list the query asks for: the ids of the records
// the caller may read that pass the filters, in the query's order.
func (e *listEnv) expected(lm listModel, m *rules.Model, admin bool, q listQuery) []string {
	var recs []listRecord
	for _, r := range e.records[lm.name] {
		if !lm.visible(r.fields, admin) {
			continue
		}
		ok := true
		for _, f := range q.filters {
			ok = ok && f.match(r.fields[f.field])
		}
		if ok {
			recs = append(recs, r)
		}
	}
	slices.SortFunc(recs, q.compare)
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.id
	}
	return ids
}

// describe lists records by id with the values of their first members,
// for a failure's message.
func (e *listEnv) describe(model string, ids []string) string {
	var b strings.Builder
	for _, id := range ids {
		for _, r := range e.records[model] {
			if r.id == id {
				fmt.Fprintf(&b, "  %s %v\n", id, r.fields)
			}
		}
	}
	return b.String()
}

// listQuery is a list's query string as the test reads it.
type listQuery struct {
	bad     map[string]bool // the parameters a 400 may name
	cursor  bool            // a cursor was given, whose validity the test cannot judge
	filters []listFilter
	keys    []listSortKey // the order, before the id
	idDesc  bool
	limit   int
	fields  map[string]bool // nil for every member
	count   bool
}

type listFilter struct {
	field, op string
	values    []listKey
}

type listSortKey struct {
	field string
	desc  bool
}

// listKey is a value as docs/api.md orders it: missing first, then
// booleans, numbers, strings.
type listKey struct {
	kind int // 0 missing, 1 boolean, 2 number, 3 string
	num  float64
	str  string
}

func listKeyOf(v any) listKey {
	switch x := v.(type) {
	case bool:
		if x {
			return listKey{kind: 1, num: 1}
		}
		return listKey{kind: 1}
	case json.Number:
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			return listKey{kind: 2, num: f}
		}
	case string:
		return listKey{kind: 3, str: x}
	}
	return listKey{} // absent, null, a list or an object
}

func (a listKey) compare(b listKey) int {
	if c := cmp.Compare(a.kind, b.kind); c != 0 {
		return c
	}
	if a.kind == 3 {
		return strings.Compare(a.str, b.str)
	}
	return cmp.Compare(a.num, b.num)
}

func (f listFilter) match(v any) bool {
	k := listKeyOf(v)
	if k.kind == 0 {
		return f.op == "ne"
	}
	for _, want := range f.values {
		c := k.compare(want)
		var hit bool
		switch f.op {
		case "eq", "in":
			hit = c == 0
		case "ne":
			hit = c != 0
		case "lt":
			hit = c < 0
		case "lte":
			hit = c <= 0
		case "gt":
			hit = c > 0
		case "gte":
			hit = c >= 0
		case "prefix":
			hit = k.kind == 3 && want.kind == 3 && strings.HasPrefix(k.str, want.str)
		}
		if hit {
			return true
		}
	}
	return false
}

func (q listQuery) compare(a, b listRecord) int {
	for _, k := range q.keys {
		c := listKeyOf(a.fields[k.field]).compare(listKeyOf(b.fields[k.field]))
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	c := strings.Compare(a.id, b.id)
	if q.idDesc {
		c = -c
	}
	return c
}

func (q listQuery) order() string {
	var s []string
	for _, k := range append(slices.Clone(q.keys), listSortKey{"id", q.idDesc}) {
		if k.desc {
			s = append(s, "-"+k.field)
		} else {
			s = append(s, k.field)
		}
	}
	return strings.Join(s, ",")
}

// member says whether an item carries a member the record has.
func (q listQuery) member(m *rules.Model, admin bool, name string) bool {
	if q.fields != nil {
		return q.fields[name]
	}
	f := m.Field(name)
	return f == nil || listReadable(f, admin)
}

// listReadable is the rules' read roles of a field, as the dataset's
// callers (anonymous, an admin) meet them.
func listReadable(f *rules.Field, admin bool) bool {
	return f.ReadRoles == nil || slices.Contains(f.ReadRoles, rules.RolePublic) || admin && slices.Contains(f.ReadRoles, rules.RoleAdmin)
}

// listNumber is JSON's number grammar: a filter on a number takes what
// a body could hold.
var listNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// judgeListQuery reads a query string as docs/api.md describes it.
func judgeListQuery(raw string, m *rules.Model, admin bool) listQuery {
	q := listQuery{bad: map[string]bool{}, limit: 50}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		q.bad["query"] = true
	}
	if vs, ok := vals["consistency"]; ok && !slices.Contains([]string{"local", "leader", "linearizable"}, vs[0]) {
		q.bad["consistency"] = true
	}
	readable := func(name string) *rules.Field {
		if f := m.Field(name); f != nil && listReadable(f, admin) {
			return f
		}
		return nil
	}
	sortSpec, sorted := "", false
	for param, vs := range vals {
		if len(vs) > 1 {
			q.bad[param] = true
			continue
		}
		v := vs[0]
		switch param {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				q.bad[param] = true
			}
			q.limit = n
		case "cursor":
			q.cursor = true
		case "sort":
			sortSpec, sorted = v, true
		case "fields":
			q.fields = map[string]bool{"id": true, "version": true}
			for _, name := range strings.Split(v, ",") {
				if name == "" || !slices.Contains(rules.SystemFields, name) && readable(name) == nil {
					q.bad[param] = true
				}
				q.fields[name] = true
			}
		case "consistency":
		case "count":
			q.count = v == "true"
			if v != "true" && v != "false" {
				q.bad[param] = true
			}
		default:
			name, op := param, "eq"
			if i := strings.IndexByte(param, '['); i > 0 && strings.HasSuffix(param, "]") {
				name, op = param[:i], param[i+1:len(param)-1]
			}
			f := readable(name)
			if f == nil || !slices.Contains([]string{"eq", "ne", "lt", "lte", "gt", "gte", "prefix", "in"}, op) {
				q.bad[param] = true
				continue
			}
			items := []string{v}
			if op == "in" {
				items = strings.Split(v, ",")
			}
			flt := listFilter{field: name, op: op}
			for _, s := range items {
				var val any = s
				switch f.Type {
				case rules.TypeInteger, rules.TypeNumber:
					if _, err := strconv.ParseFloat(s, 64); err != nil || !listNumber.MatchString(s) {
						q.bad[param] = true
					}
					val = json.Number(s)
				case rules.TypeBoolean:
					b, err := strconv.ParseBool(s)
					if err != nil {
						q.bad[param] = true
					}
					val = b
				case rules.TypeJSON, rules.TypeList:
					q.bad[param] = true
				}
				flt.values = append(flt.values, listKeyOf(val))
			}
			q.filters = append(q.filters, flt)
		}
	}
	if sorted {
		q.judgeSort(sortSpec, readable)
	} else {
		// No sort: filtered on an indexed field, the list comes in that
		// field's order (an eq filter first, then in, prefix, a range; by
		// field name among equals), otherwise in id order.
		rank := map[string]int{"eq": 0, "in": 1, "prefix": 2, "lt": 3, "lte": 3, "gt": 3, "gte": 3}
		best, bestRank := "", len(rank)
		for _, f := range q.filters {
			r, ok := rank[f.op]
			if fd := m.Field(f.field); !ok || !(fd.Indexed || fd.Unique) {
				continue
			}
			if r < bestRank || r == bestRank && f.field < best {
				best, bestRank = f.field, r
			}
		}
		if best != "" {
			q.keys = []listSortKey{{field: best}}
		}
	}
	return q
}

// judgeSort reads sort=a,-b,c: the first field indexed, json and list
// fields refused, id only last; the id goes the way of the last field.
func (q *listQuery) judgeSort(v string, readable func(string) *rules.Field) {
	items := strings.Split(v, ",")
	for i, item := range items {
		name, desc := strings.CutPrefix(item, "-")
		if name == "id" {
			if i != len(items)-1 {
				q.bad["sort"] = true
			}
			q.idDesc = desc
			return
		}
		f := readable(name)
		if name == "" || f == nil || f.Type == rules.TypeJSON || f.Type == rules.TypeList ||
			slices.ContainsFunc(q.keys, func(k listSortKey) bool { return k.field == name }) ||
			i == 0 && !(f.Indexed || f.Unique) {
			q.bad["sort"] = true
			return
		}
		q.keys = append(q.keys, listSortKey{field: name, desc: desc})
		q.idDesc = desc
	}
}
