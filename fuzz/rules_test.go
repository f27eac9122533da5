package fuzz

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lithair/lithair/rules"
)

// FuzzRuleFile loads arbitrary bytes as a rule file. Whatever the input, the
// loader must answer with a Set or with Errors that name the file, never
// panic and never hang (the short budgets bound an endless top level).
func FuzzRuleFile(f *testing.F) {
	examples, _ := filepath.Glob("../configs/rules/*.lua")
	for _, name := range examples {
		if src, err := os.ReadFile(name); err == nil {
			f.Add(src)
		}
	}
	f.Add([]byte(`model "M" { fields = { x = { type = "string", pattern = "^a" } } }`))
	f.Add([]byte(`projection "P" { from = "M", key = "x", aggregates = { n = count() } }`))
	f.Add([]byte("model \"M\" {\n fields = {\n  x = { type = \"enum\", values = { \"a\" }, default = \"b\" } } }"))
	f.Add([]byte(`while true do end`))
	f.Add([]byte(`local s = string.rep("x", 1e9)`))
	f.Add([]byte{0x1b, 'L', 'u', 'a'})
	f.Fuzz(func(t *testing.T, src []byte) {
		opts := rules.Options{CallTimeout: 2 * time.Millisecond, PoolSize: 1}
		start := time.Now()
		s, err := rules.LoadFiles([]rules.File{{Name: "fuzz.lua", Source: src}}, opts)
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("loading took %v", took)
		}
		if err != nil {
			es, ok := err.(rules.Errors)
			if !ok || len(es) == 0 {
				t.Fatalf("error is not rules.Errors: %T %v", err, err)
			}
			for _, e := range es {
				if e.File == "" || e.Msg == "" {
					t.Fatalf("error without file or message: %#v", e)
				}
			}
			return
		}
		defer s.Close()
		// A set that loads must serve a call on each model without panicking.
		for _, m := range s.Models {
			_, _, _ = m.Prepare(map[string]any{}, nil, rules.Context{})
			_, _ = m.Allowed(rules.ActionRead, nil, map[string]any{}, nil)
		}
		for _, p := range s.Projections {
			st := rules.NewProjectionState()
			_ = p.Apply(st, rules.EventCreated, map[string]any{}, nil)
			_ = p.Rows(st)
		}
	})
}
