package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func order(day, total, status string) map[string]any {
	return map[string]any{"created_at": day + "T10:00:00Z", "total": num(total), "status": status,
		"product_id": "p", "quantity": num("1")}
}

func TestSalesMetricsExample(t *testing.T) {
	s, err := LoadDir("../configs/rules", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := s.Projection("SalesMetrics")
	if p == nil || p.From != "Order" {
		t.Fatalf("SalesMetrics = %+v", p)
	}
	st := NewProjectionState()
	a := order("2024-09-13", "999.99", "paid")
	b := order("2024-09-13", "0.02", "pending")
	c := order("2024-09-14", "10", "pending")
	for _, o := range []map[string]any{a, b, c} {
		if err := p.Apply(st, EventCreated, o, nil); err != nil {
			t.Fatal(err)
		}
	}
	row := p.Row(st, "2024-09-13")
	if row["daily_revenue"] != num("1000.01") || row["orders_count"] != num("2") || row["avg_order_value"] != num("500.005") {
		t.Fatalf("row = %v", row)
	}
	// A cancellation (an update) takes the order out of the figures.
	b2 := order("2024-09-13", "0.02", "cancelled")
	if err := p.Apply(st, EventUpdated, b2, b); err != nil {
		t.Fatal(err)
	}
	row = p.Row(st, "2024-09-13")
	if row["daily_revenue"] != num("999.99") || row["orders_count"] != num("1") {
		t.Fatalf("after cancel: %v", row)
	}
	// Deleting the last order of a day removes the row.
	if err := p.Apply(st, EventDeleted, nil, c); err != nil {
		t.Fatal(err)
	}
	if p.Row(st, "2024-09-14") != nil || st.Len() != 1 {
		t.Fatalf("rows = %v", p.Rows(st))
	}
	// Snapshot round trip, byte for byte.
	data, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	st2 := NewProjectionState()
	if err := st2.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	st2.Bind(p)
	if got := st2.Rows()["2024-09-13"]["orders_count"]; got != num("1") {
		t.Fatalf("restored rows = %v", st2.Rows())
	}
	data2, _ := st2.Marshal()
	if !bytes.Equal(data, data2) {
		t.Fatalf("marshal not stable:\n%s\n%s", data, data2)
	}
	if err := p.Apply(st2, EventCreated, order("2024-09-13", "1", "paid"), nil); err != nil {
		t.Fatal(err)
	}
	if got := p.Row(st2, "2024-09-13")["daily_revenue"]; got != num("1000.99") {
		t.Fatalf("after restore: %v", got)
	}
}

func TestProjectionAggregates(t *testing.T) {
	s := load(t, `
model "Sale" { fields = { region = { type = "string" }, amount = { type = "integer" } } }
projection "ByRegion" {
  from = "Sale", key = "region",
  aggregates = { total = sum "amount", n = count(), lo = min "amount", hi = max "amount", mean = avg "amount" },
}`)
	p := s.Projection("ByRegion")
	st := NewProjectionState()
	sale := func(r, a string) map[string]any { return map[string]any{"region": r, "amount": num(a)} }
	for _, a := range []string{"5", "1", "9", "9"} {
		if err := p.Apply(st, EventCreated, sale("eu", a), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Apply(st, EventCreated, map[string]any{"region": "eu"}, nil); err != nil {
		t.Fatal(err)
	}
	row := p.Row(st, "eu")
	want := map[string]any{"total": num("24"), "n": num("5"), "lo": num("1"), "hi": num("9"), "mean": num("6")}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("%s = %v, want %v (row %v)", k, row[k], v, row)
		}
	}
	// Taking back the minimum and one of the two maxima.
	_ = p.Apply(st, EventDeleted, nil, sale("eu", "1"))
	_ = p.Apply(st, EventUpdated, sale("us", "9"), sale("eu", "9"))
	row = p.Row(st, "eu")
	if row["lo"] != num("5") || row["hi"] != num("9") || row["n"] != num("3") || row["total"] != num("14") {
		t.Errorf("eu after changes = %v", row)
	}
	if us := p.Row(st, "us"); us["n"] != num("1") || us["total"] != num("9") {
		t.Errorf("us = %v", us)
	}
	// Large integers are summed exactly.
	st = NewProjectionState()
	_ = p.Apply(st, EventCreated, sale("x", "9007199254740993"), nil)
	_ = p.Apply(st, EventCreated, sale("x", "1"), nil)
	if got := p.Row(st, "x")["total"]; got != num("9007199254740994") {
		t.Errorf("exact sum = %v", got)
	}
}

func TestProjectionReducerAndErrors(t *testing.T) {
	s := load(t, `
model "Ev" { fields = { kind = { type = "string" }, tags = { type = "list", items = "string" } } }
projection "Tags" {
  from = "Ev", on = { "created", "deleted" },
  key = function(ev) if ev.kind == "bad" then error("no key for bad") end return ev.kind end,
  reduce = function(row, event)
    local d = event.kind == "created" and 1 or -1
    local rec = event.new or event.old
    row.seen = (row.seen or 0) + d
    for _, tag in ipairs(rec.tags or {}) do row[tag] = (row[tag] or 0) + d end
    if row.seen == 0 then return nil end
    return row
  end,
}`)
	p := s.Projection("Tags")
	st := NewProjectionState()
	ev := map[string]any{"kind": "a", "tags": []any{"x", "y"}}
	if err := p.Apply(st, EventCreated, ev, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(st, EventUpdated, ev, ev); err != nil { // not listened to
		t.Fatal(err)
	}
	row := p.Row(st, "a")
	if row["seen"] != num("1") || row["x"] != num("1") {
		t.Fatalf("row = %v", row)
	}
	before, _ := st.Marshal()
	err := p.Apply(st, EventCreated, map[string]any{"kind": "bad"}, nil)
	if !errors.Is(err, ErrScript) || !contains(err.Error(), "test.lua:5: no key for bad") {
		t.Fatalf("error = %v", err)
	}
	after, _ := st.Marshal()
	if !bytes.Equal(before, after) {
		t.Fatalf("a failed Apply changed the state")
	}
	if err := p.Apply(st, EventDeleted, nil, ev); err != nil {
		t.Fatal(err)
	}
	if st.Len() != 0 {
		t.Fatalf("rows left: %v", p.Rows(st))
	}
	if err := st.Unmarshal([]byte(`{"a":null}`)); err == nil {
		t.Fatal("bad snapshot accepted")
	}
	var js map[string]any
	if err := json.Unmarshal(before, &js); err != nil {
		t.Fatal(err)
	}
}
