package web

import "net/http"

// eventStream serves GET /api/_events. Being built.
func (s *Server) eventStream(w http.ResponseWriter, r *http.Request) {
	writeError(w, errorf(http.StatusNotImplemented, "not_implemented", "the event stream is being built"))
}
