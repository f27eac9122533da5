package openapi

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lithair/lithair/rules"
)

// exampleRules loads the example rules of configs/rules.
func exampleRules(t testing.TB) *rules.Set {
	t.Helper()
	set, err := rules.LoadDir("../configs/rules", rules.Options{PoolSize: 1})
	if err != nil {
		t.Fatalf("loading the example rules: %v", err)
	}
	t.Cleanup(set.Close)
	return set
}

// rulesFrom loads one rule file with source src from a temporary directory.
func rulesFrom(t testing.TB, src string) *rules.Set {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "test.lua"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := rules.LoadDir(dir, rules.Options{PoolSize: 1})
	if err != nil {
		t.Fatalf("loading the rules: %v\n%s", err, src)
	}
	t.Cleanup(set.Close)
	return set
}

// generate returns the document of set, decoded.
func generate(t testing.TB, set *rules.Set) map[string]any {
	t.Helper()
	b, err := Generate(set, Info{})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("the document is not valid JSON: %v", err)
	}
	return doc
}

// at follows a JSON pointer ("/components/schemas/Product") into doc.
func at(doc any, pointer string) (any, bool) {
	if pointer == "" {
		return doc, true
	}
	cur := doc
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// must is at for nodes the test needs: a missing one fails it.
func must(t testing.TB, doc any, pointer string) any {
	t.Helper()
	v, ok := at(doc, pointer)
	if !ok {
		t.Fatalf("the document has nothing at %s", pointer)
	}
	return v
}

// objectAt is must for a node that must be an object.
func objectAt(t testing.TB, doc any, pointer string) map[string]any {
	t.Helper()
	v, ok := must(t, doc, pointer).(map[string]any)
	if !ok {
		t.Fatalf("%s is not an object", pointer)
	}
	return v
}

// walk calls fn with the JSON pointer of every node of doc.
func walk(v any, pointer string, fn func(pointer string, v any)) {
	fn(pointer, v)
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			walk(child, pointer+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), fn)
		}
	case []any:
		for i, child := range v {
			walk(child, pointer+"/"+strconv.Itoa(i), fn)
		}
	}
}

// operations returns every operation of doc by "METHOD path".
func operations(t testing.TB, doc map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for path, item := range objectAt(t, doc, "/paths") {
		for method, op := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			out[strings.ToUpper(method)+" "+path] = op.(map[string]any)
		}
	}
	return out
}

// strs converts a decoded JSON array of strings.
func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
