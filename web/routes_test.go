package web

import (
	"math/rand/v2"
	"path"
	"strings"
	"testing"
)

// muxClean is how net/http's ServeMux cleans a path before it routes or
// redirects: path.Clean, keeping a trailing slash.
func muxClean(p string) string {
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}

// The shortcut to the records' handler must take only paths the mux would
// route as they are, never one it would redirect to its clean form.
func TestIsCleanPathAgreesWithTheMux(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	parts := []string{"/", ".", "..", "a", "api", "_x"}
	for range 200_000 {
		var b strings.Builder
		b.WriteString("/")
		for range r.IntN(8) {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		p := b.String()
		if got, want := isCleanPath(p), muxClean(p) == p; got != want {
			t.Fatalf("isCleanPath(%q) = %v; the mux cleans it to %q", p, got, muxClean(p))
		}
	}
}
