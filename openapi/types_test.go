package openapi

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// everyType declares every field type and constraint, and a field named
// like a list parameter.
const everyType = `
model "Thing" {
  path = "/api/things",
  description = "Every field type.",
  fields = {
    s  = { type = "string", required = true, min_length = 2, max_length = 5, pattern = "^[a-z]+$",
           indexed = true, description = "A short string." },
    t  = { type = "text", max_length = 1000 },
    i  = { type = "integer", min = -3, max = 7, default = 2 },
    n  = { type = "number", min = 0.5, max = 99.5, indexed = true },
    b  = { type = "boolean", default = true, indexed = true },
    d  = { type = "datetime", indexed = true },
    e  = { type = "enum", values = { "a", "b" }, required = true, default = "a" },
    j  = { type = "json" },
    l  = { type = "list", items = "integer", min_length = 1, max_length = 3 },
    la = { type = "list" },
    ld = { type = "list", items = "datetime" },
    r  = { type = "reference", model = "Other", required = true, indexed = true },
    ro = { type = "string", readonly = true, default = function(ctx) return "x" end },
    im = { type = "string", immutable = true, required = true },
    u  = { type = "string", unique = true },
    limit = { type = "integer", indexed = true },
  },
  permissions = { read = { "authenticated" }, create = { "editor", "admin" } },
}

model "Other" {
  fields = { name = { type = "string" } },
  permissions = { read = { "public" } },
}
`

func TestEveryFieldType(t *testing.T) {
	doc := generate(t, rulesFrom(t, everyType))
	thing := objectAt(t, doc, "/components/schemas/Thing/properties")
	for _, c := range []struct {
		field string
		want  map[string]any // members the property must have, exactly
	}{
		{"s", map[string]any{"type": "string", "minLength": 2.0, "maxLength": 5.0, "pattern": "^[a-z]+$"}},
		{"t", map[string]any{"type": "string", "maxLength": 1000.0}},
		{"i", map[string]any{"type": "integer", "minimum": -3.0, "maximum": 7.0, "default": 2.0}},
		{"n", map[string]any{"type": "number", "minimum": 0.5, "maximum": 99.5}},
		{"b", map[string]any{"type": "boolean", "default": true}},
		{"d", map[string]any{"type": "string", "format": "date-time"}},
		{"e", map[string]any{"type": "string", "enum": []any{"a", "b"}, "default": "a"}},
		{"l", map[string]any{"type": "array", "items": map[string]any{"type": "integer"}, "minItems": 1.0, "maxItems": 3.0}},
		{"la", map[string]any{"type": "array"}},
		{"ld", map[string]any{"type": "array", "items": map[string]any{"type": "string", "format": "date-time"}}},
		{"r", map[string]any{"type": "string"}},
		{"ro", map[string]any{"type": "string", "readOnly": true}},
	} {
		p, ok := thing[c.field].(map[string]any)
		if !ok {
			t.Errorf("Thing has no property %s", c.field)
			continue
		}
		for k, want := range c.want {
			if !reflect.DeepEqual(p[k], want) {
				t.Errorf("Thing.%s.%s = %#v, want %#v", c.field, k, p[k], want)
			}
		}
		if c.field != "l" && c.field != "la" && c.field != "ld" && p["items"] != nil {
			t.Errorf("Thing.%s has items", c.field)
		}
	}
	if _, typed := thing["j"].(map[string]any)["type"]; typed {
		t.Error("Thing.j (json) has a type; it takes any JSON value")
	}
	if _, typed := thing["la"].(map[string]any)["items"]; typed {
		t.Error("Thing.la (list of anything) constrains its items")
	}
	for field, mentions := range map[string]string{
		"s":  "A short string.",
		"r":  "Other record",
		"ro": "Computed by the rules",
		"im": "Immutable",
		"u":  "Unique",
		"n":  "Indexed",
	} {
		if d, _ := thing[field].(map[string]any)["description"].(string); !strings.Contains(d, mentions) {
			t.Errorf("Thing.%s description %q does not say %q", field, d, mentions)
		}
	}

	input := objectAt(t, doc, "/components/schemas/ThingInput")
	if _, ok := input["properties"].(map[string]any)["ro"]; ok {
		t.Error("ThingInput lets a client send the read-only ro")
	}
	if got := strs(input["required"]); !slices.Equal(got, []string{"s", "r", "im"}) {
		t.Errorf("ThingInput requires %v, want s, r, im (e has a default)", got)
	}
	if got := strs(must(t, doc, "/components/schemas/ThingReplace/required")); !slices.Equal(got, []string{"s", "r"}) {
		t.Errorf("ThingReplace requires %v, want s, r (im is immutable, e has a default)", got)
	}
	patch := objectAt(t, doc, "/components/schemas/ThingPatch/properties")
	for field, want := range map[string]any{
		"t": []any{"string", "null"},
		"l": []any{"array", "null"},
		"i": []any{"integer", "null"},
		"s": "string", // required: null would remove it
		"e": "string",
	} {
		if got := patch[field].(map[string]any)["type"]; !reflect.DeepEqual(got, want) {
			t.Errorf("ThingPatch.%s type %v, want %v", field, got, want)
		}
	}

	// The field named limit is filtered as limit[eq]; the bare name stays
	// the page size.
	params := map[string]int{}
	for _, p := range must(t, doc, "/paths/~1api~1things/get/parameters").([]any) {
		if name, ok := p.(map[string]any)["name"].(string); ok {
			params[name]++
		}
	}
	if params["limit"] != 0 || params["limit[eq]"] != 1 || params["limit[in]"] != 1 {
		t.Errorf("parameters for the field limit: limit %d, limit[eq] %d, limit[in] %d; want 0, 1, 1",
			params["limit"], params["limit[eq]"], params["limit[in]"])
	}
	for _, name := range []string{"s", "n[gte]", "b", "d[lt]", "r[in]", "u[prefix]"} {
		if params[name] != 1 {
			t.Errorf("GET /api/things has %d parameters %s, want 1", params[name], name)
		}
	}
	if params["t"] != 0 || params["j"] != 0 {
		t.Error("unindexed fields have their own parameters")
	}

	// Permissions: authenticated, listed roles, and admin for what is not listed.
	ops := operations(t, doc)
	for route, mentions := range map[string]string{
		"GET /api/things":             "any logged-in user",
		"POST /api/things":            "editor, admin",
		"DELETE /api/things/{id}":     "roles: admin",
		"GET /api/others":             "everyone",
		"PUT /api/others/{id}":        "roles: admin",
		"GET /api/things/{id}/events": "any logged-in user",
	} {
		if d, _ := ops[route]["description"].(string); !strings.Contains(d, mentions) {
			t.Errorf("%s description does not say %q:\n%s", route, mentions, d)
		}
	}
}

// TestNamesThatClash gives models names that collide with the shared
// schemas, with each other's derived names and with the system tag.
func TestNamesThatClash(t *testing.T) {
	doc := generate(t, rulesFrom(t, `
model "Error" { path = "/api/errors", fields = { code = { type = "string" } } }
model "Product" { fields = { name = { type = "string" } } }
model "ProductInput" { path = "/api/product_inputs", fields = { x = { type = "integer" } } }
model "system" { path = "/api/systems", fields = { y = { type = "string" } } }
model "Elsewhere" { path = "/elsewhere", fields = { z = { type = "string" } } }
`))
	for pointer, want := range map[string]any{
		// The shared Error keeps its name and shape.
		"/components/schemas/Error/properties/error/$ref": "#/components/schemas/_ErrorDetail",
		// The model Error falls back to the dotted names.
		"/components/schemas/Model.Error/properties/code/type":                                       "string",
		"/paths/~1api~1errors/get/responses/200/content/application~1json/schema/$ref":               "#/components/schemas/Model.Error.List",
		"/paths/~1api~1errors/post/requestBody/content/application~1json/schema/$ref":                "#/components/schemas/Model.Error.Input",
		"/paths/~1api~1errors/post/responses/422/$ref":                                               "#/components/responses/ValidationFailed",
		"/components/schemas/ProductInput/properties/name/type":                                      "string",
		"/components/schemas/Model.ProductInput/properties/x/type":                                   "integer",
		"/paths/~1api~1product_inputs~1{id}/get/responses/200/content/application~1json/schema/$ref": "#/components/schemas/Model.ProductInput",
		"/paths/~1api~1products~1{id}/get/responses/200/content/application~1json/schema/$ref":       "#/components/schemas/Product",
	} {
		if got, ok := at(doc, pointer); !ok || got != want {
			t.Errorf("%s = %v, want %v", pointer, got, want)
		}
	}
	tags := map[string]int{}
	for _, tag := range must(t, doc, "/tags").([]any) {
		tags[tag.(map[string]any)["name"].(string)]++
	}
	for name, n := range tags {
		if n != 1 {
			t.Errorf("tag %s listed %d times", name, n)
		}
	}
	if _, ok := at(doc, "/paths/~1elsewhere"); ok {
		t.Error("a model outside /api/, which the web package does not serve, is described")
	}
}
