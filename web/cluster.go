package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	lithair "github.com/lithair/lithair"
)

// The cluster's HTTP side: GET /api/_cluster and node removal for admins,
// and the endpoints nodes call on each other, signed with the cluster
// secret (join, a forwarded write, a read index, a removal).

func (s *Server) clusterStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.app.Cluster()
	if err != nil {
		writeError(w, errorf(http.StatusServiceUnavailable, "unavailable", err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) removeNode(w http.ResponseWriter, r *http.Request) {
	if err := s.app.RemoveNode(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, s.clusterError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// nodeOnly admits a request signed with the cluster secret, and hands the
// handler its body.
func (s *Server) nodeOnly(h func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
		if err != nil {
			writeError(w, errorf(http.StatusRequestEntityTooLarge, "body_too_large", "the request body could not be read"))
			return
		}
		if err := s.app.VerifyCluster(r, body); err != nil {
			s.logger.Warn("a node-to-node request without a good signature", "path", r.URL.Path, "client", clientIP(s.fw, r), "err", err)
			writeError(w, unauthenticated("cluster_auth", err.Error()))
			return
		}
		h(w, r, body)
	}
}

func (s *Server) nodeJoin(w http.ResponseWriter, r *http.Request, body []byte) {
	var j lithair.JoinRequest
	if err := json.Unmarshal(body, &j); err != nil {
		writeError(w, errorf(http.StatusBadRequest, "malformed_json", err.Error()))
		return
	}
	if err := s.app.Join(r.Context(), j); err != nil {
		writeError(w, s.clusterError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"joined": j.ID})
}

func (s *Server) nodePropose(w http.ResponseWriter, r *http.Request, body []byte) {
	ans, err := s.app.ProposeForward(r.Context(), body)
	if err != nil {
		writeError(w, s.clusterError(err))
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func (s *Server) nodeReadIndex(w http.ResponseWriter, r *http.Request, _ []byte) {
	idx, err := s.app.ReadIndex(r.URL.Query().Get("verify") == "1")
	if err != nil {
		writeError(w, s.clusterError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]uint64{"index": idx})
}

func (s *Server) nodeRemove(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct{ ID string }
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, errorf(http.StatusBadRequest, "malformed_json", err.Error()))
		return
	}
	if err := s.app.RemoveNode(r.Context(), req.ID); err != nil {
		writeError(w, s.clusterError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) clusterError(err error) *apiError {
	switch {
	case errors.Is(err, lithair.ErrUnknownNode):
		return errorf(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, lithair.ErrUnavailable):
		return errorf(http.StatusServiceUnavailable, "unavailable", err.Error())
	}
	return s.proposeError(err)
}

// consistency waits, for a read that asks for it with ?consistency=, until
// this node's state is fresh enough. It answers the request itself (400,
// 503) and returns false when the read must not go on.
func (s *Server) consistency(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	if !q.Has("consistency") {
		return true
	}
	c := lithair.Consistency(q.Get("consistency"))
	switch c {
	case lithair.Local, lithair.Leader, lithair.Linearizable:
	default:
		writeError(w, badQuery("consistency", "must be local, leader or linearizable"))
		return false
	}
	if err := s.app.ReadBarrier(r.Context(), c); err != nil {
		writeError(w, errorf(http.StatusServiceUnavailable, "unavailable", err.Error()))
		return false
	}
	return true
}
