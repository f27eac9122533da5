package rules

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadErrorsCarryFileAndLine(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want string // exact first line of the error
	}{
		{"unknown key in a field", "model \"Product\" {\n  fields = {\n    price = { type = \"number\",\n      foo = 1 },\n  },\n}\n",
			`test.lua:4: unknown key "foo" in field "price" of model "Product"`},
		{"unknown key in a model", "model \"P\" {\n fields = { a = { type = \"string\" } },\n bogus = 2,\n}\n",
			`test.lua:3: unknown key "bogus" in model "P"`},
		{"unknown key in lifecycle", "model \"P\" {\n fields = { a = { type = \"string\" } },\n lifecycle = {\n  audit = true },\n}\n",
			`test.lua:4: unknown key "audit" in lifecycle of model "P"`},
		{"unknown key in cache", "model \"P\" {\n fields = { a = { type = \"string\" } },\n cache = { tll = 3 },\n}\n",
			`test.lua:3: unknown key "tll" in cache of model "P"`},
		{"unknown permission", "model \"P\" {\n fields = { a = { type = \"string\" } },\n permissions = {\n\n  write = { \"admin\" } },\n}\n",
			`test.lua:5: unknown key "write" in permissions of model "P"`},
		{"unknown key in projection", "model \"O\" { fields = { t = { type = \"number\" } } }\nprojection \"S\" {\n from = \"O\", key = \"t\",\n aggregates = { s = sum \"t\" },\n every = 1,\n}\n",
			`test.lua:5: unknown key "every" in projection "S"`},
		{"syntax error", "model \"P\" {\n fields = {}\n x = 1\n}\n", `test.lua:3: syntax error near 'x'`},
		{"runtime error at load", "local x = nil\nx.y = 1\n", `test.lua:2: attempt to index a non-table object(nil) with key 'y'`},
		{"unknown type", oneField(`{ type = "float" }`), `test.lua:3: unknown type "float" in field "x" of model "M" (types: string, text, integer, number, boolean, datetime, enum, json, list, reference)`},
		{"missing type", oneField(`{ required = true }`), `test.lua:3: field "x" of model "M" has no type (types: string, text, integer, number, boolean, datetime, enum, json, list, reference)`},
		{"reserved field", "model \"M\" {\n fields = {\n  id = { type = \"string\" } } }", `test.lua:3: field name "id" of model "M" is reserved (system fields: id, version, created_at, updated_at)`},
		{"bad pattern", oneField(`{ type = "string", pattern = "(" }`), "test.lua:3: pattern in field \"x\" of model \"M\" is not a valid Go regexp: error parsing regexp: missing closing ): `(`"},
		{"min on a string", oneField(`{ type = "string", min = 1 }`), `test.lua:3: min does not apply to string fields (field "x" of model "M")`},
		{"enum without values", oneField(`{ type = "enum" }`), `test.lua:3: enum field "x" of model "M" needs values = { ... }`},
		{"default of the wrong type", oneField(`{ type = "integer", default = 1.5 }`), `test.lua:3: default in field "x" of model "M": expected integer`},
		{"default out of range", oneField(`{ type = "number", min = 0, default = -1 }`), `test.lua:3: default in field "x" of model "M": must be >= 0`},
		{"unknown reference", oneField(`{ type = "reference", model = "Nope" }`), `test.lua:3: field "x" of model "M" references unknown model "Nope"`},
		{"required not a boolean", oneField(`{ type = "string", required = "yes" }`), `test.lua:3: required in field "x" of model "M" must be true or false, not string`},
		{"validate not a function", "model \"M\" {\n fields = { a = { type = \"string\" } },\n validate = 3 }", `test.lua:3: validate in model "M" must be a function, not number`},
		{"duplicate model", "model \"M\" { fields = { a = { type = \"string\" } } }\nmodel \"M\" { fields = { a = { type = \"string\" } } }", `test.lua:2: model "M" is already declared at test.lua:1`},
		{"duplicate path", "model \"A\" { path = \"/api/x\", fields = { a = { type = \"string\" } } }\nmodel \"B\" { path = \"/api/x\", fields = { a = { type = \"string\" } } }", `test.lua:2: model "B" has path "/api/x", already used by model "A"`},
		{"projection from unknown model", "projection \"S\" {\n from = \"Nope\", key = \"x\", aggregates = { n = count() } }", `test.lua:1: projection "S": from = "Nope" is not a declared model`},
		{"aggregate over a string", "model \"O\" { fields = { t = { type = \"string\" } } }\nprojection \"S\" {\n from = \"O\", key = \"t\",\n aggregates = {\n  s = sum \"t\" } }", `test.lua:5: projection "S": aggregate "s" needs a number or integer field; "t" is string`},
		{"not an aggregate", "model \"O\" { fields = { t = { type = \"number\" } } }\nprojection \"S\" {\n from = \"O\", key = \"t\",\n aggregates = {\n  s = \"sum\" } }", `test.lua:5: aggregate "s" in projection "S" must be sum "field", count(), avg "field", min "field" or max "field"`},
		{"no declaration", "local x = 1", `test.lua: declares no model or projection`},
		{"endless loop at top level", "while true do end", `test.lua: loading took longer than 400ms (an endless loop at top level?)`},
		{"model name not a string", "model(3)", `test.lua:1: model needs a name: model "Name" { ... }`},
		{"io is not there", "io.write('x')", `test.lua:1: attempt to index a non-table object(nil) with key 'write'`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := loadErr(t, c.src)
			first := got
			if i := indexByte(got, '\n'); i >= 0 {
				first = got[:i]
			}
			if first != c.want {
				t.Errorf("error\n got: %s\nwant: %s", got, c.want)
			}
		})
	}
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	err := loadErr(t, "model \"M\" {\n fields = {\n  a = { type = \"strin\" },\n  b = { type = \"number\", mn = 0 },\n },\n colour = 1,\n}\n")
	for _, want := range []string{"test.lua:3: unknown type", "test.lua:4: unknown key \"mn\"", "test.lua:6: unknown key \"colour\""} {
		if !contains(err, want) {
			t.Errorf("missing %q in:\n%s", want, err)
		}
	}
}

// A syntax error in one file does not hide the problems of the others,
// and a file that ends too early still gets a line.
func TestSyntaxErrorDoesNotHideOtherFiles(t *testing.T) {
	_, err := LoadFiles([]File{
		{Name: "a.lua", Source: []byte("model \"A\" {\n fields = { x = { type = \"strin\" } },\n}\n")},
		{Name: "b.lua", Source: []byte("model \"B\" {\n  fields = {\n")},
	}, Options{})
	if err == nil {
		t.Fatal("bad files loaded")
	}
	for _, want := range []string{"a.lua:2: unknown type", "b.lua:2: syntax error"} {
		if !contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%s", want, err)
		}
	}
}

func TestErrorsType(t *testing.T) {
	_, err := LoadFiles([]File{{Name: "a.lua", Source: []byte("model \"M\" { fields = { x = { type = 1 } } }")}}, Options{})
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || es[0].File != "a.lua" || es[0].Line != 1 {
		t.Fatalf("got %#v", err)
	}
}

func TestFieldOrderFollowsDeclaration(t *testing.T) {
	s := load(t, `model "M" { fields = {
		zebra = { type = "string" }, apple = { type = "string" }, mango = { type = "integer" },
		banana = { type = "boolean" }, cherry = { type = "json" }, date = { type = "datetime" },
		kiwi = { type = "text" }, lime = { type = "number" }, fig = { type = "list" },
	} }`)
	var got []string
	for _, f := range s.Model("M").Fields {
		got = append(got, f.Name)
	}
	want := []string{"zebra", "apple", "mango", "banana", "cherry", "date", "kiwi", "lime", "fig"}
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Fatalf("fields = %v, want %v", got, want)
		}
	}
}

func TestModelDefaultsAndSchema(t *testing.T) {
	s := load(t, `
model "BlogPost" { fields = {
  title = { type = "string", required = true, min_length = 2, max_length = 10, pattern = "^[A-Z]", indexed = true, unique = true },
  tags  = { type = "list", items = "string", max_length = 3 },
  state = { type = "enum", values = { "a", "b" }, default = "a" },
  code  = { type = "string", immutable = true, readonly = true },
} }`)
	m := s.ModelByPath("/api/blogposts/")
	if m == nil || m.Name != "BlogPost" {
		t.Fatalf("default path: %v", s.Models[0].Path)
	}
	f := m.Field("title")
	if !f.Required || *f.MinLength != 2 || *f.MaxLength != 10 || f.Pattern == nil || !f.Indexed || !f.Unique || f.Line != 3 {
		t.Errorf("title = %+v", f)
	}
	if m.Field("tags").Items != TypeString || m.Field("state").Default != "a" || !m.Field("code").Immutable || !m.Field("code").ReadOnly {
		t.Errorf("fields = %+v %+v %+v", m.Field("tags"), m.Field("state"), m.Field("code"))
	}
	if got := m.Roles(ActionRead); len(got) != 1 || got[0] != RoleAdmin {
		t.Errorf("undeclared read roles = %v, want admin only", got)
	}
}

func TestLoadDirAndVersion(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.lua", `model "B" { fields = { x = { type = "string" } } }`)
	write("a.lua", `model "A" { fields = { x = { type = "string" } } }`)
	write("notes.txt", `not rules`)
	s, err := LoadDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Files) != 2 || s.Files[0].Name != "a.lua" || s.Models[0].Name != "A" || len(s.Version) != 12 {
		t.Fatalf("files %v models %v version %q", s.Files, s.Models, s.Version)
	}
	s2, err := LoadFiles(s.Files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Version != s.Version {
		t.Errorf("same files, different versions %s %s", s.Version, s2.Version)
	}
	write("b.lua", `model "B" { fields = { x = { type = "text" } } }`)
	s3, err := LoadDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if s3.Version == s.Version {
		t.Errorf("edited file, same version")
	}
	write("c.lua", `model "C" { fields = { x = { type = "strin" } } }`)
	if es := Check(dir); len(es) != 1 || es[0].File != "c.lua" || es[0].Line != 1 {
		t.Errorf("Check = %v", es)
	}
	if es := Check(t.TempDir()); len(es) != 1 {
		t.Errorf("Check(empty dir) = %v", es)
	}
}
