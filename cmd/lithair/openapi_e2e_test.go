package main

import (
	"encoding/json"
	"testing"
)

// TestOpenAPIFollowsTheRules reads the API description a node serves and
// checks that a rules reload changes it.
func TestOpenAPIFollowsTheRules(t *testing.T) {
	rules := copyRules(t)
	n := startNode(t, t.TempDir(), "--rules", rules, "--set", "rules.watch=false")
	doc := func() map[string]any {
		t.Helper()
		r := n.must("GET", "/api/_openapi.json", "", anonymous...)
		if r.Status != 200 || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET /api/_openapi.json: %d %s", r.Status, r.Header.Get("Content-Type"))
		}
		var d map[string]any
		if err := json.Unmarshal(r.Body, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	props := func(d map[string]any) map[string]any {
		return d["components"].(map[string]any)["schemas"].(map[string]any)["Product"].(map[string]any)["properties"].(map[string]any)
	}
	before := doc()
	if before["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v", before["openapi"])
	}
	paths := before["paths"].(map[string]any)
	for _, p := range []string{"/api/products", "/api/products/{id}", "/api/orders", "/api/_auth/login", "/api/_users"} {
		if paths[p] == nil {
			t.Errorf("no path %s", p)
		}
	}
	if name := props(before)["name"].(map[string]any); name["maxLength"] != 200.0 {
		t.Errorf("Product.name: %v", name)
	}
	if props(before)["colour"] != nil {
		t.Fatalf("colour before the reload")
	}

	editRule(t, rules, "product.lua", `stock = { type = "integer", default = 0 },`,
		`stock = { type = "integer", default = 0 },
    colour = { type = "enum", values = { "red", "blue" } },`)
	if r := n.must("POST", "/api/_rules/reload", ""); r.Status != 200 {
		t.Fatalf("reload: %d %s", r.Status, r.Body)
	}
	colour, _ := props(doc())["colour"].(map[string]any)
	if colour == nil || len(colour["enum"].([]any)) != 2 {
		t.Fatalf("after the reload, Product.colour = %v", colour)
	}
}
