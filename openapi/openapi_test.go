package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lithair/lithair/rules"
)

func TestExampleRulesDescribeEveryModel(t *testing.T) {
	set := exampleRules(t)
	doc := generate(t, set)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	if got := must(t, doc, "/info/x-lithair-rules-version"); got != set.Version {
		t.Errorf("info.x-lithair-rules-version = %v, want %s", got, set.Version)
	}
	if got := must(t, doc, "/info/version"); got != set.Version {
		t.Errorf("info.version defaults to %v, want the rules version %s", got, set.Version)
	}
	ops := operations(t, doc)
	var served []string
	for _, m := range set.Models {
		if strings.HasPrefix(m.Path, reservedPrefix) {
			continue
		}
		served = append(served, m.Name)
		for _, s := range []string{"", "Input", "Replace", "Patch", "List"} {
			must(t, doc, "/components/schemas/"+m.Name+s)
		}
		want := map[string]string{
			"GET " + m.Path:                  "list" + m.Name,
			"POST " + m.Path:                 "create" + m.Name,
			"GET " + m.Path + "/{id}":        "get" + m.Name,
			"PUT " + m.Path + "/{id}":        "replace" + m.Name,
			"PATCH " + m.Path + "/{id}":      "patch" + m.Name,
			"DELETE " + m.Path + "/{id}":     "delete" + m.Name,
			"GET " + m.Path + "/{id}/events": "list" + m.Name + "Events",
		}
		for route, id := range want {
			op, ok := ops[route]
			if !ok {
				t.Errorf("%s: no operation %s", m.Name, route)
				continue
			}
			if op["operationId"] != id {
				t.Errorf("%s: operationId %v, want %s", route, op["operationId"], id)
			}
			if !slices.Contains(strs(op["tags"]), m.Name) {
				t.Errorf("%s: tags %v, want %s", route, op["tags"], m.Name)
			}
		}
	}
	for _, name := range []string{"Article", "Category", "Order", "Product"} {
		if !slices.Contains(served, name) {
			t.Errorf("the example model %s is not described (described: %v)", name, served)
		}
	}
}

func TestConstraintsCarriedOver(t *testing.T) {
	doc := generate(t, exampleRules(t))
	for _, c := range []struct {
		pointer string
		want    any
	}{
		{"/components/schemas/Product/properties/name/type", "string"},
		{"/components/schemas/Product/properties/name/minLength", 1.0},
		{"/components/schemas/Product/properties/name/maxLength", 200.0},
		{"/components/schemas/Product/properties/price/type", "number"},
		{"/components/schemas/Product/properties/price/minimum", 0.0},
		{"/components/schemas/Product/properties/stock/type", "integer"},
		{"/components/schemas/Product/properties/stock/default", 0.0},
		{"/components/schemas/ProductInput/properties/name/maxLength", 200.0},
		{"/components/schemas/Order/properties/status/enum", []any{"pending", "paid", "shipped", "cancelled"}},
		{"/components/schemas/Order/properties/status/default", "pending"},
		{"/components/schemas/Order/properties/quantity/minimum", 1.0},
		{"/components/schemas/Article/properties/slug/pattern", "^[a-z0-9]+(-[a-z0-9]+)*$"},
		{"/components/schemas/Article/properties/tags/items/type", "string"},
		{"/components/schemas/Article/properties/tags/maxItems", 10.0},
		{"/components/schemas/Article/properties/published_at/format", "date-time"},
		{"/components/schemas/Article/properties/author/readOnly", true},
		{"/components/schemas/Article/properties/id/format", "uuid"},
		{"/components/schemas/Article/properties/version/type", "integer"},
		{"/components/schemas/Article/properties/created_at/format", "date-time"},
		{"/components/schemas/ArticleInput/additionalProperties", false},
		{"/components/schemas/ArticlePatch/properties/status/enum", []any{"draft", "review", "published", nil}},
		{"/components/schemas/ArticlePatch/properties/status/type", []any{"string", "null"}},
		{"/components/schemas/ArticlePatch/properties/title/type", "string"}, // required: null cannot remove it
	} {
		got, ok := at(doc, c.pointer)
		if !ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.pointer, got, c.want)
		}
	}

	// Who sets what: a client never sends system or read-only fields.
	for _, schema := range []string{"ArticleInput", "ArticleReplace", "ArticlePatch"} {
		props := objectAt(t, doc, "/components/schemas/"+schema+"/properties")
		for _, name := range []string{"id", "version", "created_at", "updated_at", "author"} {
			if _, ok := props[name]; ok {
				t.Errorf("%s lets a client send %s", schema, name)
			}
		}
	}
	required := map[string][]string{
		"Article":        {"id", "version", "created_at", "updated_at", "title", "slug"},
		"ArticleInput":   {"title", "slug"},
		"ArticleReplace": {"title"}, // slug is immutable: a replace may leave it out
		"Order":          {"id", "version", "created_at", "updated_at", "product_id"},
		"OrderInput":     {"product_id"},
	}
	for schema, want := range required {
		if got := strs(must(t, doc, "/components/schemas/"+schema+"/required")); !slices.Equal(got, want) {
			t.Errorf("%s required %v, want %v", schema, got, want)
		}
	}
	if _, ok := at(doc, "/components/schemas/ArticlePatch/required"); ok {
		t.Error("ArticlePatch requires members; every member of a merge patch is optional")
	}
}

// routeActions maps the model routes to the action whose roles guard them.
var routeActions = map[string]rules.Action{
	"GET ": rules.ActionRead, "POST ": rules.ActionCreate, "GET {id}": rules.ActionRead,
	"PUT {id}": rules.ActionUpdate, "PATCH {id}": rules.ActionUpdate, "DELETE {id}": rules.ActionDelete,
	"GET {id}/events": rules.ActionRead,
}

const (
	securityOptionalJSON = `[{},{"bearerAuth":[]},{"cookieAuth":[]}]`
	securityRequiredJSON = `[{"bearerAuth":[]},{"cookieAuth":[]}]`
)

// TestExampleSecurityFollowsPermissions derives what each operation of
// the example rules must say from the rules themselves, so that it holds
// while the examples change.
func TestExampleSecurityFollowsPermissions(t *testing.T) {
	set := exampleRules(t)
	ops := operations(t, generate(t, set))
	for _, m := range set.Models {
		if strings.HasPrefix(m.Path, reservedPrefix) {
			continue
		}
		for route, a := range routeActions {
			method, rest, _ := strings.Cut(route, " ")
			path := m.Path
			if rest != "" {
				path += "/" + rest
			}
			op := ops[method+" "+path]
			want := securityRequiredJSON
			if slices.Contains(m.Roles(a), rules.RolePublic) {
				want = securityOptionalJSON
			}
			if b, _ := json.Marshal(op["security"]); string(b) != want {
				t.Errorf("%s %s: security %s, want %s (roles %v)", method, path, b, want, m.Roles(a))
			}
			desc, _ := op["description"].(string)
			for _, role := range m.Roles(a) {
				if !strings.Contains(desc, role) {
					t.Errorf("%s %s: the description does not name the role %s:\n%s", method, path, role, desc)
				}
			}
		}
	}
}

// permissions declares a model open to everyone and one guarded by roles,
// predicates and field roles.
const permissions = `
model "Open" {
  path = "/api/open",
  fields = { a = { type = "string" } },
  permissions = { read = { "public" }, create = { "public" }, update = { "public" }, delete = { "public" } },
}
model "Shut" {
  path = "/api/shut",
  fields = {
    a      = { type = "string", required = true },
    cost   = { type = "number", required = true, read = { "editor" } },
    secret = { type = "string", read = {}, write = {} },
    status = { type = "string", write = { "editor" } },
  },
  permissions = {
    read = { "public" }, create = { "contributor", "admin" }, update = { "authenticated" },
    read_if = function(user, old, new) return true end,
    update_if = function(user, old, new) return true end,
  },
}
`

func TestSecurityFollowsPermissions(t *testing.T) {
	doc := generate(t, rulesFrom(t, permissions))
	ops := operations(t, doc)
	for _, c := range []struct {
		route, security, mentions string
		forbidden                 bool // answers 403
	}{
		{"GET /api/open", securityOptionalJSON, "everyone", false},
		{"POST /api/open", securityOptionalJSON, "everyone", false},
		{"DELETE /api/open/{id}", securityOptionalJSON, "everyone", false},
		// A read predicate answers 404, not 403.
		{"GET /api/shut", securityOptionalJSON, "read_if", false},
		{"GET /api/shut/{id}", securityOptionalJSON, "404", false},
		{"POST /api/shut", securityRequiredJSON, "the roles: contributor, admin", true},
		{"PUT /api/shut/{id}", securityRequiredJSON, "any logged-in user", true},
		{"PATCH /api/shut/{id}", securityRequiredJSON, "update_if", true},
		{"DELETE /api/shut/{id}", securityRequiredJSON, "the roles: admin", true},
		{"GET /api/_users", securityRequiredJSON, "admin role", true},
		{"POST /api/_batch", securityOptionalJSON, "the caller's permissions", true},
		{"GET /api/_events", securityOptionalJSON, "read permission", true},
		{"GET /api/_auth/me", securityRequiredJSON, "", false},
		{"POST /api/_auth/login", `[]`, "", false},
		{"GET /api/_openapi.json", `[]`, "", false},
		{"GET /healthz", `[]`, "", false},
	} {
		op, ok := ops[c.route]
		if !ok {
			t.Errorf("no operation %s", c.route)
			continue
		}
		if b, _ := json.Marshal(op["security"]); string(b) != c.security {
			t.Errorf("%s: security %s, want %s", c.route, b, c.security)
		}
		if desc, _ := op["description"].(string); !strings.Contains(desc, c.mentions) {
			t.Errorf("%s: the description does not mention %q:\n%s", c.route, c.mentions, desc)
		}
		_, has401 := at(op, "/responses/401")
		if want := c.security != `[]` || c.route == "POST /api/_auth/login"; has401 != want {
			t.Errorf("%s: answers 401: %v, want %v", c.route, has401, want)
		}
		if _, got := at(op, "/responses/403"); got != c.forbidden {
			t.Errorf("%s: answers 403: %v, want %v", c.route, got, c.forbidden)
		}
	}

	// Field roles: a field some callers may not read is not promised to
	// all; a secret nobody reads or writes is not described at all.
	if got := strs(must(t, doc, "/components/schemas/Shut/required")); !slices.Equal(got, []string{"id", "version", "created_at", "updated_at", "a"}) {
		t.Errorf("Shut requires %v: cost is hidden from callers without the role editor", got)
	}
	for _, schema := range []string{"Shut", "ShutInput", "ShutReplace", "ShutPatch"} {
		if _, ok := at(doc, "/components/schemas/"+schema+"/properties/secret"); ok {
			t.Errorf("%s describes the field secret, which nobody may read or write", schema)
		}
	}
	for pointer, mentions := range map[string]string{
		"/components/schemas/Shut/properties/cost/description":        "Visible only to the roles: editor",
		"/components/schemas/ShutInput/properties/status/description": "Only the roles: editor may set it",
	} {
		if d, _ := at(doc, pointer); !strings.Contains(fmt.Sprint(d), mentions) {
			t.Errorf("%s = %q, want it to say %q", pointer, d, mentions)
		}
	}
}

func TestSystemRoutes(t *testing.T) {
	doc := generate(t, exampleRules(t))
	ops := operations(t, doc)
	for _, route := range []string{
		"GET /healthz", "GET /readyz", "GET /metrics",
		"POST /api/_auth/login", "POST /api/_auth/logout", "GET /api/_auth/me",
		"GET /api/_users", "POST /api/_users", "GET /api/_users/{name}", "PATCH /api/_users/{name}", "DELETE /api/_users/{name}",
		"GET /api/_tokens", "POST /api/_tokens", "DELETE /api/_tokens/{id}",
		"GET /api/_rules", "POST /api/_rules/reload", "GET /api/_audit", "POST /api/_snapshot", "GET /api/_backup",
		"GET /api/_state/hash", "GET /api/_projections", "GET /api/_projections/{name}", "GET /api/_projections/{name}/{key}",
		"GET /api/_events", "POST /api/_batch", "GET /api/_openapi.json",
	} {
		op, ok := ops[route]
		if !ok {
			t.Errorf("no operation %s", route)
			continue
		}
		if !slices.Contains(strs(op["tags"]), systemTag) {
			t.Errorf("%s is not tagged %s", route, systemTag)
		}
		path := strings.SplitN(route, " ", 2)[1]
		admin := strings.HasPrefix(path, "/api/_") && !strings.HasPrefix(path, "/api/_auth/") &&
			path != "/api/_openapi.json" && path != "/api/_events" && path != "/api/_batch"
		desc, _ := op["description"].(string)
		if admin != strings.Contains(desc, "admin role") {
			t.Errorf("%s: admin-only %v, but the description says %q", route, admin, desc)
		}
	}
	for pointer, want := range map[string]any{
		"/paths/~1api~1_events/get/responses/200/content/text~1event-stream/schema/type":               "string",
		"/paths/~1metrics/get/responses/200/content/text~1plain/schema/type":                           "string",
		"/paths/~1api~1_auth~1login/post/responses/200/headers/Set-Cookie/$ref":                        "#/components/headers/SetSession",
		"/components/securitySchemes/cookieAuth/name":                                                  "lithair_session",
		"/components/securitySchemes/bearerAuth/scheme":                                                "bearer",
		"/components/responses/Unavailable/headers/Retry-After/$ref":                                   "#/components/headers/RetryAfter",
		"/components/schemas/Error/properties/error/$ref":                                              "#/components/schemas/_ErrorDetail",
		"/components/schemas/_ErrorDetail/properties/fields/additionalProperties/type":                 "string",
		"/paths/~1api~1products/post/responses/201/headers/Location/$ref":                              "#/components/headers/Location",
		"/paths/~1api~1products~1{id}/get/responses/304/headers/ETag/$ref":                             "#/components/headers/ETag",
		"/paths/~1api~1products~1{id}/put/responses/412/$ref":                                          "#/components/responses/PreconditionFailed",
		"/paths/~1api~1products~1{id}/get/responses/200/headers/Cache-Control/schema/const":            "max-age=300",
		"/paths/~1api~1products~1{id}~1events/get/responses/200/content/application~1json/schema/$ref": "#/components/schemas/_History",
	} {
		if got, ok := at(doc, pointer); !ok || got != want {
			t.Errorf("%s = %v, want %v", pointer, got, want)
		}
	}
	if strings.Contains(must(t, doc, "/components/securitySchemes/bearerAuth/description").(string), "lth_") == false {
		t.Error("bearerAuth does not mention the API token prefix lth_")
	}
}

func TestListParameters(t *testing.T) {
	doc := generate(t, exampleRules(t))
	op := objectAt(t, doc, "/paths/~1api~1products/get")
	names := map[string]map[string]any{}
	for _, p := range op["parameters"].([]any) {
		p := p.(map[string]any)
		if r, ok := p["$ref"].(string); ok {
			p = objectAt(t, doc, strings.TrimPrefix(r, "#"))
		}
		names[p["name"].(string)] = p
	}
	for _, want := range []string{"limit", "cursor", "sort", "fields", "count", "field[op]",
		"name", "name[prefix]", "name[in]", "price", "price[gte]", "price[lt]"} {
		if names[want] == nil {
			t.Errorf("GET /api/products has no parameter %s", want)
		}
	}
	if names["stock"] != nil {
		t.Error("stock is not indexed, yet it has its own parameter")
	}
	if got := must(t, names["limit"], "/schema/maximum"); got != 1000.0 {
		t.Errorf("limit maximum = %v, want 1000", got)
	}
	if got := must(t, names["price[gte]"], "/schema/type"); got != "number" {
		t.Errorf("price[gte] is a %v, want a number", got)
	}
	if got := must(t, names["name[in]"], "/schema/type"); got != "array" || names["name[in]"]["explode"] != false {
		t.Errorf("name[in] is not a comma-separated array: %v", names["name[in]"])
	}
	filter := names["field[op]"]["description"].(string)
	for _, op := range filterOps {
		if !strings.Contains(filter, op) {
			t.Errorf("the filter description does not name the operator %s", op)
		}
	}
	if sort := names["sort"]["description"].(string); !strings.Contains(sort, "id, name, price") {
		t.Errorf("the sort description does not list the sortable fields id, name, price: %s", sort)
	}
	page := objectAt(t, doc, "/components/schemas/ProductList")
	if got := strs(page["required"]); !slices.Equal(got, []string{"items", "next_cursor"}) {
		t.Errorf("ProductList requires %v", got)
	}
	if got := must(t, page, "/properties/next_cursor/type"); !reflect.DeepEqual(got, []any{"string", "null"}) {
		t.Errorf("next_cursor type %v, want string or null", got)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	info := Info{Title: "Shop", Version: "1.2.3", ServerURL: "https://shop.example.org"}
	a, err := Generate(exampleRules(t), info)
	if err != nil {
		t.Fatal(err)
	}
	// A second load of the same files: a map iterated in a different
	// order must not show.
	for range 5 {
		b, err := Generate(exampleRules(t), info)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatal("two generations of the same rules differ")
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(a, &doc); err != nil {
		t.Fatal(err)
	}
	for pointer, want := range map[string]any{"/info/title": "Shop", "/info/version": "1.2.3", "/servers/0/url": "https://shop.example.org"} {
		if got, _ := at(doc, pointer); got != want {
			t.Errorf("%s = %v, want %v", pointer, got, want)
		}
	}
}

func TestEveryRefResolves(t *testing.T) {
	for name, set := range map[string]*rules.Set{"example rules": exampleRules(t), "every type": rulesFrom(t, everyType)} {
		doc := generate(t, set)
		refs := 0
		walk(doc, "", func(pointer string, v any) {
			m, ok := v.(map[string]any)
			if !ok {
				return
			}
			r, ok := m["$ref"].(string)
			if !ok {
				return
			}
			refs++
			if !strings.HasPrefix(r, "#/components/") {
				t.Errorf("%s: %s at %s points outside the components", name, r, pointer)
				return
			}
			if _, ok := at(doc, strings.TrimPrefix(r, "#")); !ok {
				t.Errorf("%s: %s at %s resolves to nothing", name, r, pointer)
			}
		})
		if refs < 100 {
			t.Errorf("%s: only %d $refs: the walk missed the document", name, refs)
		}
	}
}

// TestEveryComponentIsUsed catches a schema the generator defines but no
// operation reaches: a route that forgot its body or its answer.
func TestEveryComponentIsUsed(t *testing.T) {
	doc := generate(t, exampleRules(t))
	used := map[string]bool{}
	walk(doc, "", func(_ string, v any) {
		if m, ok := v.(map[string]any); ok {
			if r, ok := m["$ref"].(string); ok {
				used[r] = true
			}
		}
	})
	for kind, defs := range objectAt(t, doc, "/components") {
		if kind == "securitySchemes" {
			continue // referred to by name in security, not by $ref
		}
		for name := range defs.(map[string]any) {
			if r := "#/components/" + kind + "/" + name; !used[r] {
				t.Errorf("%s is defined but never used", r)
			}
		}
	}
}

// TestOperationsAreWellFormed checks what a validator checks across
// operations: unique operationIds, unique parameters, path parameters
// declared.
func TestOperationsAreWellFormed(t *testing.T) {
	for name, set := range map[string]*rules.Set{"example rules": exampleRules(t), "every type": rulesFrom(t, everyType)} {
		doc := generate(t, set)
		ids := map[string]string{}
		for route, op := range operations(t, doc) {
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s: %s has no operationId", name, route)
			}
			if prev, dup := ids[id]; dup {
				t.Errorf("%s: operationId %s of %s is also that of %s", name, id, route, prev)
			}
			ids[id] = route
			if _, ok := op["summary"].(string); !ok {
				t.Errorf("%s: %s has no summary", name, route)
			}
			path := strings.SplitN(route, " ", 2)[1]
			params := map[string]bool{}
			var all []any
			if p, ok := at(doc, "/paths/"+strings.ReplaceAll(path, "/", "~1")+"/parameters"); ok {
				all = append(all, p.([]any)...)
			}
			if p, ok := op["parameters"].([]any); ok {
				all = append(all, p...)
			}
			for _, p := range all {
				p := p.(map[string]any)
				if r, ok := p["$ref"].(string); ok {
					p = objectAt(t, doc, strings.TrimPrefix(r, "#"))
				}
				key := p["in"].(string) + ":" + p["name"].(string)
				if params[key] {
					t.Errorf("%s: %s has the parameter %s twice", name, route, key)
				}
				params[key] = true
			}
			for _, seg := range strings.Split(path, "/") {
				if strings.HasPrefix(seg, "{") && !params["path:"+strings.Trim(seg, "{}")] {
					t.Errorf("%s: %s does not declare the path parameter %s", name, route, seg)
				}
			}
		}
	}
}

func TestNoRules(t *testing.T) {
	if _, err := Generate(nil, Info{}); !errors.Is(err, ErrNoRules) {
		t.Fatalf("Generate(nil) = %v, want ErrNoRules", err)
	}
}
