package web

import "net/http"

// adminPage serves the embedded admin page under /admin/. Being built.
func (s *Server) adminPage(w http.ResponseWriter, r *http.Request) {
	writeError(w, errorf(http.StatusNotImplemented, "not_implemented", "the admin page is being built"))
}
