package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// batchAnswer is an answer of POST /api/_batch, either shape.
type batchAnswer struct {
	Results []struct {
		Index  int            `json:"index"`
		Op     string         `json:"op"`
		Model  string         `json:"model"`
		ID     string         `json:"id"`
		Status int            `json:"status"`
		Record map[string]any `json:"record"`
	} `json:"results"`
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		Fields     map[string]string
		Operations []struct {
			Index  int `json:"index"`
			Status int `json:"status"`
			Error  struct {
				Code    string            `json:"code"`
				Message string            `json:"message"`
				Fields  map[string]string `json:"fields"`
			} `json:"error"`
		} `json:"operations"`
	} `json:"error"`
}

// postBatch sends a batch of operations (JSON objects) and decodes the
// answer, which must have the status want.
func postBatch(t *testing.T, n *node, want int, ops []string, headers ...string) batchAnswer {
	t.Helper()
	r := n.must("POST", "/api/_batch", `{"operations":[`+strings.Join(ops, ",")+`]}`, headers...)
	if r.Status != want {
		t.Fatalf("batch: want %d, got %d %s", want, r.Status, r.Body)
	}
	var a batchAnswer
	if err := json.Unmarshal(r.Body, &a); err != nil {
		t.Fatalf("batch answer: %v: %s", err, r.Body)
	}
	return a
}

// stateMark is what must not move when nothing is written.
type stateMark struct {
	applied float64
	hash    string
}

func markState(t *testing.T, n *node) stateMark {
	t.Helper()
	h := n.must("GET", "/api/_state/hash", "").json(t)
	return stateMark{n.appliedIndex(), h["hash"].(string)}
}

func listCount(t *testing.T, n *node, path string) int {
	t.Helper()
	r := n.must("GET", path+"?limit=1000", "")
	var list struct{ Items []map[string]any }
	if r.Status != 200 || json.Unmarshal(r.Body, &list) != nil {
		t.Fatalf("list %s: %d %s", path, r.Status, r.Body)
	}
	return len(list.Items)
}

// A batch of three creates and an update is one log entry, and every
// reader of the past (events, versions, audit, projections, their
// rebuild, a restart) sees four ordinary changes.
func TestBatchIsOneEntryThatHistoryReadsBack(t *testing.T) {
	rules := copyRules(t)
	n := startNode(t, t.TempDir(), "--rules", rules)
	r := n.must("POST", "/api/orders", `{"product_id":"p0","quantity":1,"total":10}`)
	if r.Status != 201 {
		t.Fatalf("order: %d %s", r.Status, r.Body)
	}
	o0 := r.json(t)["id"].(string)
	before := n.appliedIndex()

	a := postBatch(t, n, 200, []string{
		`{"op":"create","model":"Order","fields":{"product_id":"p1","quantity":1,"total":100}}`,
		`{"op":"create","model":"Order","fields":{"product_id":"p2","quantity":2,"total":50}}`,
		`{"op":"patch","model":"Order","id":"` + o0 + `","fields":{"total":15,"status":"paid"},"if_match":1}`,
		`{"op":"create","model":"Order","fields":{"product_id":"p3","quantity":3,"total":30}}`,
	})
	batchIndex := n.appliedIndex()
	if batchIndex != before+1 {
		t.Fatalf("a batch is one log entry: applied index %v -> %v", before, batchIndex)
	}
	if len(a.Results) != 4 {
		t.Fatalf("results: %+v", a.Results)
	}
	ids := make([]string, 4)
	for i, res := range a.Results {
		want, version := 201, 1.0
		if i == 2 {
			want, version = 200, 2.0
		}
		ids[i] = res.ID
		if res.Index != i || res.Status != want || res.Model != "Order" || res.Record["id"] != res.ID || res.Record["version"] != version {
			t.Fatalf("result %d: %+v", i, res)
		}
	}
	if !uuidV7.MatchString(ids[0]) || ids[2] != o0 || a.Results[2].Record["total"] != 15.0 || a.Results[2].Record["status"] != "paid" {
		t.Fatalf("results: %+v", a.Results)
	}
	if got := n.must("GET", "/api/orders/"+ids[1], "").json(t); got["total"] != 50.0 || got["customer"] == nil {
		t.Fatalf("a created order: %v", got)
	}

	// Events: each record has one event at the batch's index.
	checkEvents := func(id string, kinds ...string) []any {
		t.Helper()
		evs := n.must("GET", "/api/orders/"+id+"/events", "").json(t)["events"].([]any)
		if len(evs) != len(kinds) {
			t.Fatalf("events of %s: %v", id, evs)
		}
		for i, k := range kinds {
			if evs[i].(map[string]any)["kind"] != k {
				t.Fatalf("events of %s: %v", id, evs)
			}
		}
		last := evs[len(evs)-1].(map[string]any)
		if last["index"] != batchIndex || last["actor"] != "admin" {
			t.Fatalf("the last event of %s is not the batch's: %v", id, last)
		}
		return evs
	}
	evs := checkEvents(o0, "created", "updated")
	if f := evs[1].(map[string]any)["fields"].(map[string]any); f["total"] != 15.0 || f["product_id"] != "p0" {
		t.Fatalf("the update's fields: %v", f)
	}
	evs = checkEvents(ids[3], "created")
	if f := evs[0].(map[string]any)["fields"].(map[string]any); f["product_id"] != "p3" {
		t.Fatalf("the create's fields: %v", f)
	}

	// Time travel: Order keeps no versions in memory, so the old one is
	// read from the log, and the new one from the batch's entry.
	if v := n.must("GET", "/api/orders/"+o0+"?version=1", "").json(t); v["total"] != 10.0 || v["status"] != "pending" {
		t.Fatalf("version 1: %v", v)
	}
	n.must("PATCH", "/api/orders/"+o0, `{"total":16}`)
	if v := n.must("GET", "/api/orders/"+o0+"?version=2", "").json(t); v["total"] != 15.0 || v["version"] != 2.0 {
		t.Fatalf("version 2, written by the batch: %v", v)
	}

	// The audit trail: one entry per change, each with its own record.
	audit := n.must("GET", "/api/_audit?model=Order&limit=10", "").json(t)["items"].([]any)
	seen := map[string]string{}
	for _, it := range audit {
		e := it.(map[string]any)
		if e["index"] != batchIndex {
			continue
		}
		seen[e["id"].(string)] = e["action"].(string)
		if e["user"] != "admin" {
			t.Fatalf("audit entry: %v", e)
		}
		if e["id"] == o0 {
			if e["old"].(map[string]any)["total"] != 10.0 || e["new"].(map[string]any)["total"] != 15.0 {
				t.Fatalf("the update's audit entry: %v", e)
			}
		} else if e["old"] != nil || e["new"].(map[string]any)["product_id"] == nil {
			t.Fatalf("a create's audit entry: %v", e)
		}
	}
	if len(seen) != 4 || seen[o0] != "updated" || seen[ids[0]] != "created" || seen[ids[1]] != "created" || seen[ids[3]] != "created" {
		t.Fatalf("audit entries of the batch: %v\n%v", seen, audit)
	}
	// Paged two at a time, the trail still holds every change once.
	got, cursor := 0, ""
	for page := 0; page < 10; page++ {
		r := n.must("GET", "/api/_audit?model=Order&limit=2"+cursor, "").json(t)
		got += len(r["items"].([]any))
		next, _ := r["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = "&cursor=" + next
	}
	if got != 6 {
		t.Fatalf("paging the audit trail found %d changes, want 6", got)
	}
	if items := n.must("GET", "/api/_audit?id="+ids[1], "").json(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["action"] != "created" {
		t.Fatalf("audit of one batch record: %v", items)
	}

	// Projections are fed every change of the batch...
	day := time.Now().UTC().Format("2006-01-02")
	row := n.must("GET", "/api/_projections/SalesMetrics/"+day, "").json(t)
	if row["orders_count"] != 4.0 || row["daily_revenue"] != 196.0 {
		t.Fatalf("SalesMetrics after the batch: %v", row)
	}
	// ...rebuilt from the log when their definition changes...
	editRule(t, rules, "sales_metrics.lua", `orders_count    = count(),`, `orders_count    = count(),
    biggest_order   = max "total",`)
	if r := n.must("POST", "/api/_rules/reload", ""); r.Status != 200 {
		t.Fatalf("reload: %d %s", r.Status, r.Body)
	}
	row = n.must("GET", "/api/_projections/SalesMetrics/"+day, "").json(t)
	if row["orders_count"] != 4.0 || row["daily_revenue"] != 196.0 || row["biggest_order"] != 100.0 {
		t.Fatalf("SalesMetrics rebuilt: %v", row)
	}
	// ...and the batch replays after a restart without a snapshot.
	n.kill()
	n = startNode(t, n.dataDir(), "--rules", rules)
	checkEvents(ids[3], "created")
	checkEvents(ids[0], "created")
	if v := n.must("GET", "/api/orders/"+o0+"?version=2", "").json(t); v["total"] != 15.0 {
		t.Fatalf("version 2 after a restart: %v", v)
	}
	row = n.must("GET", "/api/_projections/SalesMetrics/"+day, "").json(t)
	if row["orders_count"] != 4.0 || row["daily_revenue"] != 196.0 {
		t.Fatalf("SalesMetrics after a restart: %v", row)
	}
}

// A batch is all or nothing: refused before proposing (nothing moves)
// or refused by the state machine (the applied index moves, no record).
func TestBatchAllOrNothing(t *testing.T) {
	n := startNode(t, t.TempDir())
	p := n.must("POST", "/api/products", `{"name":"lamp","price":10}`).json(t)
	pid := p["id"].(string)
	n.must("PATCH", "/api/products/"+pid, `{"price":11}`)

	t.Run("one invalid operation writes nothing", func(t *testing.T) {
		m := markState(t, n)
		a := postBatch(t, n, 422, []string{
			`{"op":"create","model":"Product","fields":{"name":"ok","price":1}}`,
			`{"op":"create","model":"Product","fields":{"name":"","price":-1}}`,
			`{"op":"update","model":"Product","id":"` + pid + `","fields":{"name":"lamp","price":12}}`,
			`{"op":"create","model":"Order","fields":{"product_id":"p","quantity":0}}`,
		})
		if a.Error.Code != "batch_failed" || len(a.Error.Operations) != 2 {
			t.Fatalf("answer: %+v", a.Error)
		}
		o1, o3 := a.Error.Operations[0], a.Error.Operations[1]
		if o1.Index != 1 || o1.Status != 422 || o1.Error.Fields["price"] == "" || o1.Error.Fields["name"] == "" ||
			o3.Index != 3 || o3.Error.Fields["quantity"] == "" {
			t.Fatalf("failed operations: %+v", a.Error.Operations)
		}
		if got := markState(t, n); got != m {
			t.Fatalf("a batch refused before proposing moved the state: %v -> %v", m, got)
		}
		if c := listCount(t, n, "/api/products"); c != 1 {
			t.Fatalf("%d products", c)
		}
	})

	t.Run("unique value taken within the batch is refused by the state machine", func(t *testing.T) {
		m := markState(t, n)
		a := postBatch(t, n, 409, []string{
			`{"op":"patch","model":"Product","id":"` + pid + `","fields":{"stock":3}}`,
			`{"op":"create","model":"Category","fields":{"name":"lights"}}`,
			`{"op":"create","model":"Category","fields":{"name":"lights"}}`,
		})
		if len(a.Error.Operations) != 1 || a.Error.Operations[0].Index != 2 || a.Error.Operations[0].Error.Fields["name"] != "is already taken" {
			t.Fatalf("answer: %+v", a.Error)
		}
		got := markState(t, n)
		if got.applied != m.applied+1 || got.hash != m.hash {
			t.Fatalf("a refused batch is one applied entry that changes nothing: %v -> %v", m, got)
		}
		if c := listCount(t, n, "/api/categories"); c != 0 {
			t.Fatalf("%d categories", c)
		}
		if v := n.must("GET", "/api/products/"+pid, "").json(t)["version"]; v != 2.0 {
			t.Fatalf("the product moved to version %v", v)
		}
		if evs := n.must("GET", "/api/products/"+pid+"/events", "").json(t)["events"].([]any); len(evs) != 2 {
			t.Fatalf("events: %v", evs)
		}
	})

	t.Run("stale if_match", func(t *testing.T) {
		m := markState(t, n)
		a := postBatch(t, n, 412, []string{
			`{"op":"create","model":"Category","fields":{"name":"desks"}}`,
			`{"op":"delete","model":"Product","id":"` + pid + `","if_match":"\"1\""}`,
		})
		if a.Error.Operations[0].Index != 1 || a.Error.Operations[0].Error.Code != "version_mismatch" {
			t.Fatalf("answer: %+v", a.Error)
		}
		if got := markState(t, n); got != m {
			t.Fatalf("%v -> %v", m, got)
		}
	})

	t.Run("a matching if_match and a delete", func(t *testing.T) {
		a := postBatch(t, n, 200, []string{
			`{"op":"create","model":"Category","fields":{"name":"desks"}}`,
			`{"op":"delete","model":"Product","id":"` + pid + `","if_match":2}`,
		})
		if a.Results[1].Status != 204 || a.Results[1].Record != nil || a.Results[0].Record["name"] != "desks" {
			t.Fatalf("results: %+v", a.Results)
		}
		if r := n.must("GET", "/api/products/"+pid, ""); r.Status != 404 {
			t.Fatalf("deleted product: %d", r.Status)
		}
		if r := n.must("GET", "/api/products/"+pid+"?version=2", ""); r.Status != 200 {
			t.Fatalf("a product deleted by a batch keeps its history: %d %s", r.Status, r.Body)
		}
	})
}

// Every operation is checked with the caller's identity, as its single
// write would be.
func TestBatchPermissions(t *testing.T) {
	n := startNode(t, t.TempDir())
	for _, name := range []string{"bx-cust1", "bx-cust2"} {
		if r := n.must("POST", "/api/_users", `{"name":"`+name+`","password":"batch-password","roles":[]}`); r.Status != 201 {
			t.Fatalf("user: %d %s", r.Status, r.Body)
		}
	}
	cust1, cust2 := bearer(login(t, n, "bx-cust1", "batch-password")), bearer(login(t, n, "bx-cust2", "batch-password"))
	theirs := n.must("POST", "/api/orders", `{"product_id":"p","quantity":1}`, cust2...).json(t)["id"].(string)
	m := markState(t, n)

	// A customer may order, not stock the shop.
	a := postBatch(t, n, 403, []string{
		`{"op":"create","model":"Order","fields":{"product_id":"p","quantity":1}}`,
		`{"op":"create","model":"Product","fields":{"name":"x","price":1}}`,
	}, cust1...)
	if len(a.Error.Operations) != 1 || a.Error.Operations[0].Index != 1 || a.Error.Operations[0].Error.Code != "forbidden" {
		t.Fatalf("answer: %+v", a.Error)
	}
	// Nor set a field only staff write, nor see another's order: it is
	// answered as absent, like GET would.
	a = postBatch(t, n, 403, []string{
		`{"op":"create","model":"Order","fields":{"product_id":"p","quantity":1,"status":"paid"}}`,
		`{"op":"patch","model":"Order","id":"` + theirs + `","fields":{"quantity":5}}`,
	}, cust1...)
	if len(a.Error.Operations) != 2 || a.Error.Operations[0].Error.Code != "forbidden_field" ||
		a.Error.Operations[1].Status != 404 {
		t.Fatalf("answer: %+v", a.Error)
	}
	// Anonymous callers sign in first.
	a = postBatch(t, n, 401, []string{`{"op":"create","model":"Order","fields":{"product_id":"p","quantity":1}}`}, anonymous...)
	if got := markState(t, n); got != m {
		t.Fatalf("refused batches wrote: %v -> %v", m, got)
	}
	// What a customer may do, a batch lets them do, as themselves.
	a = postBatch(t, n, 200, []string{
		`{"op":"create","model":"Order","fields":{"product_id":"p","quantity":1}}`,
		`{"op":"create","model":"Order","fields":{"product_id":"q","quantity":2}}`,
	}, cust1...)
	if a.Results[0].Record["customer"] == nil || a.Results[0].Record["customer"] != a.Results[1].Record["customer"] {
		t.Fatalf("results: %+v", a.Results)
	}
	if c := listCount(t, n, "/api/orders"); c != 3 {
		t.Fatalf("%d orders", c)
	}
}

func TestBatchShapeAndSize(t *testing.T) {
	n := startNode(t, t.TempDir())
	pid := n.must("POST", "/api/products", `{"name":"lamp","price":10}`).json(t)["id"].(string)
	m := markState(t, n)
	for _, tc := range []struct {
		name, body, field string
	}{
		{"no operations", `{"operations":[]}`, "operations"},
		{"operations not a list", `{"operations":{"op":"create"}}`, "operations"},
		{"an unknown member", `{"operations":[{"op":"delete","model":"Product","id":"x"}],"atomic":true}`, "atomic"},
	} {
		r := n.must("POST", "/api/_batch", tc.body)
		if r.Status != 422 || !strings.Contains(string(r.Body), `"`+tc.field+`"`) {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Body)
		}
	}
	for _, tc := range []struct {
		name, op, field string
	}{
		{"unknown op", `{"op":"upsert","model":"Product","fields":{}}`, "op"},
		{"unknown model", `{"op":"create","model":"Widget","fields":{}}`, "model"},
		{"a system model", `{"op":"create","model":"_User","fields":{}}`, "model"},
		{"a collection path for a model", `{"op":"create","model":"/api/products","fields":{}}`, "model"},
		{"an id on create", `{"op":"create","model":"Product","id":"mine","fields":{"name":"x"}}`, "id"},
		{"no id on update", `{"op":"update","model":"Product","fields":{"name":"x"}}`, "id"},
		{"fields on delete", `{"op":"delete","model":"Product","id":"` + pid + `","fields":{}}`, "fields"},
		{"a bad if_match", `{"op":"delete","model":"Product","id":"` + pid + `","if_match":"abc"}`, "if_match"},
		{"an unknown member", `{"op":"delete","model":"Product","id":"` + pid + `","when":"now"}`, "when"},
		{"the same record twice", `{"op":"delete","model":"Product","id":"` + pid + `"}`, "id"},
	} {
		ops := []string{`{"op":"patch","model":"Product","id":"` + pid + `","fields":{"stock":1}}`, tc.op}
		a := postBatch(t, n, 422, ops)
		if len(a.Error.Operations) != 1 || a.Error.Operations[0].Index != 1 || a.Error.Operations[0].Error.Fields[tc.field] == "" {
			t.Errorf("%s: %+v", tc.name, a.Error)
		}
	}
	if r := n.must("POST", "/api/_batch", `{"operations":[`); r.Status != 400 {
		t.Fatalf("malformed: %d", r.Status)
	}
	if got := markState(t, n); got != m {
		t.Fatalf("refused batches wrote: %v -> %v", m, got)
	}

	// At most 1000 operations, and 1000 go through as one entry.
	ops := make([]string, 1001)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"op":"create","model":"Category","fields":{"name":"c%d"}}`, i)
	}
	r := n.must("POST", "/api/_batch", `{"operations":[`+strings.Join(ops, ",")+`]}`)
	if r.Status != 422 || !strings.Contains(string(r.Body), "at most 1000") {
		t.Fatalf("1001 operations: %d %s", r.Status, r.Body)
	}
	start := time.Now()
	a := postBatch(t, n, 200, ops[:1000])
	took := time.Since(start)
	if len(a.Results) != 1000 || n.appliedIndex() != m.applied+1 {
		t.Fatalf("1000 operations: %d results, applied %v after %v", len(a.Results), n.appliedIndex(), m.applied)
	}
	single := time.Now()
	n.must("POST", "/api/categories", `{"name":"one more"}`)
	t.Logf("a batch of 1000 creates took %v; one single create %v", took, time.Since(single))
	if c := listCount(t, n, "/api/categories"); c != 1000 {
		t.Fatalf("%d categories listed (a page holds 1000)", c)
	}
	if r := n.must("GET", "/api/categories?name=c999", ""); r.Status != 200 || !strings.Contains(string(r.Body), `"c999"`) {
		t.Fatalf("a batch record by its unique value: %d %s", r.Status, r.Body)
	}
	if r.Status == http.StatusOK && len(a.Results) > 0 && a.Results[999].Record["name"] != "c999" {
		t.Fatalf("the last result: %+v", a.Results[999])
	}
}
