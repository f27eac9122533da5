package rules

import (
	"strings"
	"testing"
	"time"
)

// load compiles one rule file named name.lua and fails the test on error.
func load(t testing.TB, src string) *Set {
	t.Helper()
	s, err := LoadFiles([]File{{Name: "test.lua", Source: []byte(src)}}, Options{CallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("load: %v\nsource:\n%s", err, src)
	}
	t.Cleanup(s.Close)
	return s
}

// loadErr compiles src and returns the error text ("" when it loaded).
func loadErr(t testing.TB, src string) string {
	t.Helper()
	s, err := LoadFiles([]File{{Name: "test.lua", Source: []byte(src)}}, Options{CallTimeout: 20 * time.Millisecond})
	if err == nil {
		s.Close()
		return ""
	}
	return err.Error()
}

// oneField declares model "M" with a single field x declared as decl.
func oneField(decl string) string {
	return "model \"M\" {\n  fields = {\n    x = " + decl + ",\n  },\n}\n"
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
