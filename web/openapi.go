package web

import (
	"net/http"
	"sync"

	lithair "github.com/lithair/lithair"
	"github.com/lithair/lithair/openapi"
)

// openAPICache holds the description of the rules in force; a reload makes
// new rules and so a new description, generated on the next request.
type openAPICache struct {
	mu      sync.Mutex
	version string
	doc     []byte
}

// openAPI serves GET /api/_openapi.json, generated from the loaded rules.
// It needs no sign-in: it says what the API is, not what it holds.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	set := s.app.Rules()
	c := &s.openapi
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != set.Version || c.doc == nil {
		doc, err := openapi.Generate(set, openapi.Info{Version: lithair.BuildVersion})
		if err != nil {
			writeError(w, errorf(http.StatusInternalServerError, "internal", "the API description could not be made: "+err.Error()))
			return
		}
		c.version, c.doc = set.Version, doc
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(c.doc)
}
