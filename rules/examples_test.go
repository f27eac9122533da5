package rules

import (
	"encoding/json"
	"testing"
)

// TestExampleRulesLoad loads the shipped example rules: a broken example is
// the first thing a new operator would meet.
func TestExampleRulesLoad(t *testing.T) {
	s, err := LoadDir("../configs/rules", Options{})
	if err != nil {
		t.Fatalf("loading configs/rules: %v", err)
	}
	defer s.Close()
	p := s.ModelByPath("/api/products")
	if p == nil || p.Name != "Product" {
		t.Fatalf("ModelByPath(/api/products) = %v", p)
	}
	var names []string
	for _, f := range p.Fields {
		names = append(names, f.Name)
	}
	if got := names; len(got) != 5 || got[0] != "name" || got[1] != "price" || got[2] != "stock" || got[3] != "category_id" || got[4] != "cost" {
		t.Errorf("Product fields in order = %v", got)
	}
	if !p.Audited || p.Versioned != 10 || p.CacheTTL.Seconds() != 300 {
		t.Errorf("Product lifecycle/cache = %v %v %v", p.Audited, p.Versioned, p.CacheTTL)
	}
	if s.ModelByPath("/api/categories") == nil || s.ModelByPath("/api/orders") == nil {
		t.Errorf("Category or Order missing")
	}
	rec, fe, err := p.Prepare(map[string]any{"name": "iPhone 15", "price": json.Number("999.99")}, nil, Context{})
	if err != nil || fe != nil {
		t.Fatalf("Prepare: %v %v", fe, err)
	}
	if rec["stock"] != json.Number("0") {
		t.Errorf("stock default = %#v", rec["stock"])
	}
	if ok, err := p.Allowed(ActionRead, nil, rec, nil); !ok || err != nil {
		t.Errorf("anonymous read allowed = %v, %v; want true (the catalogue is public)", ok, err)
	}
	for _, c := range []struct {
		a    Action
		u    *User
		want bool
	}{
		{ActionCreate, nil, false},
		{ActionCreate, &User{Roles: []string{"customer"}}, false},
		{ActionCreate, &User{Roles: []string{"editor"}}, true},
		{ActionDelete, &User{Roles: []string{"editor"}}, false},
		{ActionDelete, &User{Roles: []string{"admin"}}, true},
	} {
		if ok, err := p.Allowed(c.a, c.u, nil, rec); ok != c.want || err != nil {
			t.Errorf("%s by %v allowed = %v, %v; want %v", c.a, c.u, ok, err, c.want)
		}
	}
	if got := p.Hidden(nil); len(got) != 1 || got[0] != "cost" {
		t.Errorf("fields hidden from anonymous readers = %v; want [cost]", got)
	}
}

func TestArticleExample(t *testing.T) {
	s, err := LoadDir("../configs/rules", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := s.ModelByPath("/api/articles")
	if m == nil {
		t.Fatal("no Article at /api/articles")
	}
	ann := &User{ID: "ann", Roles: []string{"contributor"}}
	rep := &User{ID: "rita", Roles: []string{"reporter"}}
	in := map[string]any{"title": "Hello", "slug": "hello-world"}
	if ok, _ := m.Allowed(ActionCreate, ann, nil, in); !ok {
		t.Fatal("contributor cannot create a draft")
	}
	draft, fe, err := m.Prepare(in, nil, Context{User: ann})
	if err != nil || fe != nil || draft["author"] != "ann" || draft["status"] != "draft" {
		t.Fatalf("create: %v %v %v", draft, fe, err)
	}
	if _, fe, _ := m.Prepare(map[string]any{"title": "Hello", "slug": "x", "author": "eve"}, nil, Context{User: ann}); fe["author"] != "is read-only" {
		t.Fatalf("author settable by the client: %v", fe)
	}
	upd := MergePatch(draft, map[string]any{"title": "Hello again"})
	if ok, _ := m.Allowed(ActionUpdate, ann, draft, upd); !ok {
		t.Error("contributor cannot update own draft")
	}
	if ok, _ := m.Allowed(ActionUpdate, &User{ID: "bob", Roles: []string{"contributor"}}, draft, upd); ok {
		t.Error("contributor may update another's draft")
	}
	pub := MergePatch(draft, map[string]any{"status": "published"})
	if ok, _ := m.Allowed(ActionUpdate, ann, draft, pub); ok {
		t.Error("contributor may publish")
	}
	if ok, _ := m.Allowed(ActionUpdate, rep, draft, pub); !ok {
		t.Error("reporter cannot publish")
	}
	if _, fe, _ := m.Prepare(pub, draft, Context{User: rep}); fe["published_at"] == "" {
		t.Errorf("validate did not run: %v", fe)
	}
	if ok, _ := m.Allowed(ActionRead, nil, draft, nil); ok {
		t.Error("anonymous reads a draft")
	}
	if ok, _ := m.Allowed(ActionDelete, rep, draft, nil); ok {
		t.Error("reporter may delete")
	}
	if ok, _ := m.Allowed(ActionDelete, &User{ID: "root", Roles: []string{"admin"}}, draft, nil); !ok {
		t.Error("admin cannot delete")
	}
}
