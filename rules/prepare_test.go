package rules

import (
	"encoding/json"
	"errors"
	"testing"
)

func num(s string) json.Number { return json.Number(s) }

func TestPrepareTypesAndConstraints(t *testing.T) {
	cases := []struct {
		name  string
		decl  string
		input any    // value of x; absent when nil
		want  any    // normalized value when msg is ""
		msg   string // field error for x
	}{
		{"string ok", `{ type = "string" }`, "hi", "hi", ""},
		{"string wrong type", `{ type = "string" }`, num("1"), nil, "expected string"},
		{"string too short", `{ type = "string", min_length = 2 }`, "é", nil, "must be at least 2 characters"},
		{"string length counts characters", `{ type = "string", max_length = 2 }`, "éé", "éé", ""},
		{"string too long", `{ type = "string", max_length = 200 }`, string(make([]byte, 201)), nil, "must be at most 200 characters"},
		{"pattern matches", `{ type = "string", pattern = "^[a-z]+$" }`, "abc", "abc", ""},
		{"pattern fails", `{ type = "string", pattern = "^[a-z]+$" }`, "ab1", nil, "must match the pattern ^[a-z]+$"},
		{"text", `{ type = "text", max_length = 1 }`, "ab", nil, "must be at most 1 character"},
		{"integer ok", `{ type = "integer" }`, num("12"), num("12"), ""},
		{"integer refuses fraction", `{ type = "integer" }`, num("1.5"), nil, "expected integer"},
		{"integer refuses 1.0", `{ type = "integer" }`, num("1.0"), nil, "expected integer"},
		{"integer refuses string", `{ type = "integer" }`, "12", nil, "expected integer"},
		{"integer keeps large values exact", `{ type = "integer" }`, num("123456789012345678901234567890"), num("123456789012345678901234567890"), ""},
		{"integer max compares exactly", `{ type = "integer", max = 9007199254740992 }`, num("9007199254740993"), nil, "must be <= 9007199254740992"},
		{"integer from float64", `{ type = "integer" }`, float64(7), num("7"), ""},
		{"number min", `{ type = "number", min = 0 }`, num("-0.01"), nil, "must be >= 0"},
		{"decimal bound is the decimal written", `{ type = "number", min = 0.1 }`, num("0.1"), num("0.1"), ""},
		{"just below a decimal bound", `{ type = "number", min = 0.1 }`, num("0.09999999999999999999"), nil, "must be >= 0.1"},
		{"number max", `{ type = "number", max = 1.5 }`, num("1.51"), nil, "must be <= 1.5"},
		{"number ok", `{ type = "number", min = 0, max = 1.5 }`, num("1.50"), num("1.50"), ""},
		{"number exponent", `{ type = "number" }`, num("1e3"), num("1e3"), ""},
		{"number not a number", `{ type = "number" }`, true, nil, "expected number"},
		{"boolean", `{ type = "boolean" }`, false, false, ""},
		{"boolean wrong", `{ type = "boolean" }`, "true", nil, "expected boolean"},
		{"datetime", `{ type = "datetime" }`, "2024-09-13T10:00:00Z", "2024-09-13T10:00:00Z", ""},
		{"datetime with fraction and offset", `{ type = "datetime" }`, "2024-09-13T10:00:00.5+02:00", "2024-09-13T10:00:00.5+02:00", ""},
		{"datetime wrong", `{ type = "datetime" }`, "2024-09-13", nil, "expected datetime (RFC 3339, e.g. 2024-09-13T10:00:00Z)"},
		{"enum ok", `{ type = "enum", values = { "pending", "paid", "shipped", "cancelled" } }`, "paid", "paid", ""},
		{"enum wrong", `{ type = "enum", values = { "pending", "paid", "shipped", "cancelled" } }`, "lost", nil, "must be one of pending, paid, shipped, cancelled"},
		{"json any", `{ type = "json" }`, map[string]any{"a": []any{num("1"), "b"}}, map[string]any{"a": []any{num("1"), "b"}}, ""},
		{"list ok", `{ type = "list", items = "integer" }`, []any{num("1"), num("2")}, []any{num("1"), num("2")}, ""},
		{"list item wrong", `{ type = "list", items = "integer" }`, []any{num("1"), "x"}, nil, "item 2: expected integer"},
		{"list too long", `{ type = "list", max_length = 1 }`, []any{"a", "b"}, nil, "must have at most 1 item"},
		{"list not a list", `{ type = "list" }`, "a", nil, "expected list"},
		{"reference ok", `{ type = "reference", model = "M" }`, "exists", "exists", ""},
		{"reference missing", `{ type = "reference", model = "M" }`, "gone", nil, "references a missing M"},
		{"reference not a string", `{ type = "reference", model = "M" }`, num("3"), nil, "expected the id (string) of a M"},
		{"readonly refused on create", `{ type = "string", readonly = true }`, "x", nil, "is read-only"},
		{"required missing", `{ type = "string", required = true }`, nil, nil, "is required"},
		{"required null", `{ type = "string", required = true }`, json.RawMessage("null"), nil, "is required"},
		{"default filled", `{ type = "integer", default = 0 }`, nil, num("0"), ""},
		{"default from a function", `{ type = "string", readonly = true, default = function(ctx) return ctx.user.id end }`, nil, "u1", ""},
	}
	exists := func(model, id string) bool { return model == "M" && id == "exists" }
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := load(t, oneField(c.decl)).Model("M")
			in := map[string]any{}
			switch v := c.input.(type) {
			case nil:
			case json.RawMessage:
				in["x"] = nil
			default:
				in["x"] = v
			}
			out, fe, err := m.Prepare(in, nil, Context{Exists: exists, User: &User{ID: "u1"}})
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if fe["x"] != c.msg {
				t.Fatalf("message = %q, want %q (all: %v)", fe["x"], c.msg, fe)
			}
			if c.msg == "" && !equalJSON(out["x"], c.want) {
				t.Fatalf("value = %#v, want %#v", out["x"], c.want)
			}
			if c.msg == "" && c.want != nil {
				if n, ok := c.want.(json.Number); ok && out["x"] != n {
					t.Fatalf("number not kept digit for digit: %#v", out["x"])
				}
			}
		})
	}
}

func TestPrepareUnknownAndSystemFields(t *testing.T) {
	m := load(t, oneField(`{ type = "string" }`)).Model("M")
	out, fe, err := m.Prepare(map[string]any{"x": "a", "colour": "red", "id": "forged", "version": num("9")}, nil, Context{})
	if err != nil || len(fe) != 1 || fe["colour"] != "unknown field" || out != nil {
		t.Fatalf("got %v %v %v", out, fe, err)
	}
	out, fe, _ = m.Prepare(map[string]any{"x": "a", "id": "forged"}, nil, Context{})
	if fe != nil || len(out) != 1 {
		t.Fatalf("system fields must be dropped: %v %v", out, fe)
	}
}

func TestPrepareUpdate(t *testing.T) {
	m := load(t, `model "M" { fields = {
		sku    = { type = "string", immutable = true },
		author = { type = "string", readonly = true, default = function(ctx) return ctx.user and ctx.user.id end },
		n      = { type = "integer", required = true },
		note   = { type = "string" },
	} }`).Model("M")
	u := &User{ID: "ann"}
	created, fe, err := m.Prepare(map[string]any{"sku": "A1", "n": num("1"), "note": "x"}, nil, Context{User: u})
	if err != nil || fe != nil || created["author"] != "ann" {
		t.Fatalf("create: %v %v %v", created, fe, err)
	}
	// A replace without the server-owned fields keeps them.
	out, fe, err := m.Prepare(map[string]any{"n": num("2")}, created, Context{User: &User{ID: "bob"}})
	if err != nil || fe != nil || out["sku"] != "A1" || out["author"] != "ann" || out["note"] != nil {
		t.Fatalf("replace: %v %v %v", out, fe, err)
	}
	// Sending back what was read is fine; changing it is not.
	_, fe, _ = m.Prepare(map[string]any{"sku": "A1", "author": "ann", "n": num("2")}, created, Context{})
	if fe != nil {
		t.Fatalf("round trip refused: %v", fe)
	}
	_, fe, _ = m.Prepare(map[string]any{"sku": "B2", "author": "eve", "n": num("2")}, created, Context{})
	if fe["sku"] != "cannot be changed" || fe["author"] != "is read-only" {
		t.Fatalf("changes accepted: %v", fe)
	}
	// A merge patch keeps what the patch does not mention.
	out, fe, _ = m.Prepare(MergePatch(created, map[string]any{"note": nil, "n": num("5")}), created, Context{})
	if fe != nil || out["n"] != num("5") || out["note"] != nil || out["sku"] != "A1" {
		t.Fatalf("patch: %v %v", out, fe)
	}
	// Required applies on update too.
	_, fe, _ = m.Prepare(map[string]any{}, created, Context{})
	if fe["n"] != "is required" {
		t.Fatalf("update without required: %v", fe)
	}
}

const validatedProduct = `
model "Product" {
  fields = {
    name  = { type = "string", required = true },
    price = { type = "number", min = 0 },
  },
  validate = function(new, old, ctx)
    if new.name == "forbidden" then return "this name is taken" end
    if old and new.price and old.price and new.price < old.price * 0.5 then
      return { price = "cannot drop by more than half at once" }
    end
    if ctx.action == "create" and ctx.user == nil and new.price and new.price > 100 then
      return { price = "anonymous clients cannot create expensive products" }
    end
  end,
}`

func TestPrepareLuaValidate(t *testing.T) {
	m := load(t, validatedProduct).Model("Product")
	old := map[string]any{"name": "a", "price": num("100")}
	_, fe, err := m.Prepare(map[string]any{"name": "a", "price": num("40")}, old, Context{})
	if err != nil || fe["price"] != "cannot drop by more than half at once" {
		t.Fatalf("got %v %v", fe, err)
	}
	_, fe, _ = m.Prepare(map[string]any{"name": "a", "price": num("60")}, old, Context{})
	if fe != nil {
		t.Fatalf("valid update refused: %v", fe)
	}
	_, fe, _ = m.Prepare(map[string]any{"name": "forbidden"}, nil, Context{})
	if fe[RecordKey] != "this name is taken" {
		t.Fatalf("record message: %v", fe)
	}
	_, fe, _ = m.Prepare(map[string]any{"name": "b", "price": num("101")}, nil, Context{})
	if fe["price"] == "" {
		t.Fatalf("ctx.user/ctx.action not seen: %v", fe)
	}
	_, fe, _ = m.Prepare(map[string]any{"name": "b", "price": num("101")}, nil, Context{User: &User{ID: "u"}})
	if fe != nil {
		t.Fatalf("logged in create refused: %v", fe)
	}
	// Built-in errors come first; validate does not run on ill-typed input.
	_, fe, err = m.Prepare(map[string]any{"name": "a", "price": "cheap"}, old, Context{})
	if err != nil || fe["price"] != "expected number" {
		t.Fatalf("got %v %v", fe, err)
	}
}

func TestRecordsAreReadOnlySortedViews(t *testing.T) {
	m := load(t, `model "M" { fields = { b = { type = "string" }, a = { type = "integer" }, c = { type = "list" } },
validate = function(new, old, ctx)
  local keys = {}
  for k, v in pairs(new) do keys[#keys + 1] = k .. "=" .. tostring(type(v) == "table" and #v or v) end
  local got = table.concat(keys, ",")
  if got ~= "a=1,b=x,c=2" then return "pairs gave " .. got end
  if tostring(new) ~= "record" or type(new) ~= "userdata" then return "not a view" end
  if ctx.user.id ~= "u" or ctx.user.roles[1] ~= "r" or not has_role(ctx.user, "r") then return "bad user" end
  if new.missing ~= nil then return "missing field not nil" end
  new.b = "changed"
end }`).Model("M")
	_, _, err := m.Prepare(map[string]any{"b": "x", "a": num("1"), "c": []any{"p", "q"}}, nil, Context{User: &User{ID: "u", Roles: []string{"r"}}})
	if !errors.Is(err, ErrScript) || !contains(err.Error(), `cannot assign b: records, user and ctx are read-only`) {
		t.Fatalf("got %v", err)
	}
}

func TestPrepareLuaValidateErrors(t *testing.T) {
	m := load(t, `model "M" { fields = { x = { type = "string" } },
validate = function(new) if new.x == "boom" then error("kaboom") end
  if new.x == "bad" then return 42 end
  if new.x == "nil" then local t = nil; return t.y end end }`).Model("M")
	_, _, err := m.Prepare(map[string]any{"x": "boom"}, nil, Context{})
	if !errors.Is(err, ErrScript) || !contains(err.Error(), "test.lua:2: kaboom") {
		t.Fatalf("got %v", err)
	}
	_, _, err = m.Prepare(map[string]any{"x": "bad"}, nil, Context{})
	if !errors.Is(err, ErrScript) || !contains(err.Error(), "must return nil, a message or { field = \"message\" }") {
		t.Fatalf("got %v", err)
	}
	_, _, err = m.Prepare(map[string]any{"x": "nil"}, nil, Context{})
	if !errors.Is(err, ErrScript) || !contains(err.Error(), "test.lua:4:") {
		t.Fatalf("got %v", err)
	}
	// The VM is still good after script errors.
	if _, fe, err := m.Prepare(map[string]any{"x": "fine"}, nil, Context{}); fe != nil || err != nil {
		t.Fatalf("after errors: %v %v", fe, err)
	}
}

func TestAllowed(t *testing.T) {
	s := load(t, `model "Article" {
  fields = { author = { type = "string" }, status = { type = "enum", values = { "draft", "published" } } },
  permissions = {
    read = { "public" }, create = { "authenticated" }, update = { "contributor", "admin" },
    update_if = function(user, old, new)
      if has_role(user, "admin") then return true end
      return old.author == user.id and old.status == "draft"
    end,
  },
}`)
	m := s.Model("Article")
	ann := &User{ID: "ann", Roles: []string{"contributor"}}
	boss := &User{ID: "boss", Roles: []string{"admin"}}
	draft := map[string]any{"author": "ann", "status": "draft"}
	pub := map[string]any{"author": "ann", "status": "published"}
	cases := []struct {
		name string
		a    Action
		u    *User
		old  map[string]any
		want bool
	}{
		{"anonymous read of a public model", ActionRead, nil, draft, true},
		{"anonymous create needs a login", ActionCreate, nil, nil, false},
		{"logged-in create", ActionCreate, ann, nil, true},
		{"contributor updates own draft", ActionUpdate, ann, draft, true},
		{"contributor cannot update own published article", ActionUpdate, ann, pub, false},
		{"contributor cannot update another's draft", ActionUpdate, &User{ID: "bob", Roles: []string{"contributor"}}, draft, false},
		{"admin updates anything", ActionUpdate, boss, pub, true},
		{"no role, no predicate call", ActionUpdate, &User{ID: "x"}, draft, false},
		{"undeclared delete is admin only", ActionDelete, boss, draft, true},
		{"undeclared delete refuses others", ActionDelete, ann, draft, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, err := m.Allowed(c.a, c.u, c.old, map[string]any{"author": "ann"})
			if err != nil || ok != c.want {
				t.Fatalf("Allowed = %v, %v; want %v", ok, err, c.want)
			}
		})
	}
}
