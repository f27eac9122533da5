package web

import "net/http"

// batch serves POST /api/_batch. Being built.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	writeError(w, errorf(http.StatusNotImplemented, "not_implemented", "batches are being built"))
}
