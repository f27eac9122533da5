package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// copyRules copies the example rules into a directory the test may edit.
func copyRules(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files, _ := filepath.Glob("../../configs/rules/*.lua")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644)
	}
	return dir
}

func editRule(t *testing.T, dir, file, old, new string) {
	t.Helper()
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644)
}

func TestSalesMetricsProjection(t *testing.T) {
	rules := copyRules(t)
	n := startNode(t, t.TempDir(), "--rules", rules)
	for _, total := range []int{100, 50, 30} {
		if r := n.must("POST", "/api/orders", fmt.Sprintf(`{"product_id":"p","quantity":1,"total":%d}`, total)); r.Status != 201 {
			t.Fatalf("order: %d %s", r.Status, r.Body)
		}
	}
	day := time.Now().UTC().Format("2006-01-02")
	row := n.must("GET", "/api/_projections/SalesMetrics/"+day, "").json(t)
	if row["daily_revenue"] != 180.0 || row["orders_count"] != 3.0 || row["avg_order_value"] != 60.0 {
		t.Fatalf("SalesMetrics row: %v", row)
	}
	all := n.must("GET", "/api/_projections/SalesMetrics", "").json(t)
	if rows := all["rows"].([]any); len(rows) != 1 {
		t.Fatalf("rows: %v", all)
	}

	// A changed definition is rebuilt from the event history.
	editRule(t, rules, "sales_metrics.lua", `orders_count    = count(),`, `orders_count    = count(),
    biggest_order   = max "total",`)
	if r := n.must("POST", "/api/_rules/reload", ""); r.Status != 200 {
		t.Fatalf("reload: %d %s", r.Status, r.Body)
	}
	row = n.must("GET", "/api/_projections/SalesMetrics/"+day, "").json(t)
	if row["biggest_order"] != 100.0 || row["daily_revenue"] != 180.0 {
		t.Fatalf("rebuilt row: %v", row)
	}
	// It survives a restart (through the log, and through a snapshot).
	n.must("POST", "/api/_snapshot", "")
	n.must("POST", "/api/orders", `{"product_id":"p","quantity":1,"total":20}`)
	n.kill()
	n = startNode(t, n.dataDir(), "--rules", rules)
	row = n.must("GET", "/api/_projections/SalesMetrics/"+day, "").json(t)
	if row["daily_revenue"] != 200.0 || row["orders_count"] != 4.0 || row["biggest_order"] != 100.0 {
		t.Fatalf("row after restart: %v", row)
	}
	if r := n.must("GET", "/api/_projections/Nope", ""); r.Status != 404 {
		t.Fatalf("unknown projection: %d", r.Status)
	}
}

func TestRulesHotReload(t *testing.T) {
	rules := copyRules(t)
	n := startNode(t, t.TempDir(), "--rules", rules)
	v1 := n.must("GET", "/api/_rules", "").json(t)["version"].(string)
	if r := n.must("POST", "/api/products", `{"name":"x","price":1,"colour":"red"}`); r.Status != 422 {
		t.Fatalf("unknown field before reload: %d", r.Status)
	}

	// A bad edit is refused with file:line and changes nothing.
	editRule(t, rules, "product.lua", `stock = { type = "integer", default = 0 },`, `stock = { type = "integer", default = 0, colour = 1 },`)
	r := n.must("POST", "/api/_rules/reload", "")
	if r.Status != 422 || !strings.Contains(string(r.Body), "product.lua:") {
		t.Fatalf("bad reload: %d %s", r.Status, r.Body)
	}
	info := n.must("GET", "/api/_rules", "").json(t)
	last, _ := info["last_reload"].(map[string]any)
	if info["version"] != v1 || last == nil || last["ok"] != false || !strings.Contains(fmt.Sprint(last["errors"]), "product.lua:") {
		t.Fatalf("rules after a bad reload: %v", info)
	}

	// A good edit through HTTP takes effect at once.
	editRule(t, rules, "product.lua", `stock = { type = "integer", default = 0, colour = 1 },`, `stock = { type = "integer", default = 0 },
    colour = { type = "string" },`)
	r = n.must("POST", "/api/_rules/reload", "")
	if r.Status != 200 || r.json(t)["changed"] != true {
		t.Fatalf("good reload: %d %s", r.Status, r.Body)
	}
	r = n.must("POST", "/api/products", `{"name":"x","price":1,"colour":"red"}`)
	v2 := r.Header.Get("X-Lithair-Rules-Version")
	if r.Status != 201 || v2 == v1 || v2 == "" {
		t.Fatalf("after reload: %d %s (version %q, was %q)", r.Status, r.Body, v2, v1)
	}

	waitVersion := func(how string, not string) string {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if v := n.must("GET", "/api/_rules", "").json(t)["version"].(string); v != not {
				return v
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: the rules did not change within 10s:\n%s", how, n.logs())
		return ""
	}
	// SIGHUP reloads.
	editRule(t, rules, "category.lua", `name = { type = "string", required = true, unique = true },`, `name = { type = "string", required = true, unique = true },
    slug = { type = "string" },`)
	n.cmd.Process.Signal(syscall.SIGHUP)
	v3 := waitVersion("SIGHUP", v2)
	if r := n.must("POST", "/api/categories", `{"name":"c","slug":"c"}`); r.Status != 201 {
		t.Fatalf("after SIGHUP: %d %s", r.Status, r.Body)
	}
	// So does a change to a file, seen by the watcher.
	editRule(t, rules, "category.lua", `slug = { type = "string" },`, `slug = { type = "string" },
    note = { type = "text" },`)
	waitVersion("watch", v3)
	if r := n.must("POST", "/api/categories", `{"name":"d","note":"n"}`); r.Status != 201 {
		t.Fatalf("after the watched change: %d %s", r.Status, r.Body)
	}
	// The deployed rules survive a restart: they are in the log.
	n.kill()
	n = startNode(t, n.dataDir(), "--rules", rules)
	if r := n.must("POST", "/api/categories", `{"name":"e","note":"n"}`); r.Status != 201 {
		t.Fatalf("after restart: %d %s", r.Status, r.Body)
	}
}
