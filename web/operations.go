package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// stateHash serves GET /api/_state/hash: {"applied_index":N,"hash":"…"},
// the state's digest, equal on nodes (and restores) that hold the same
// records.
func (s *Server) stateHash(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.app.StateHash())
}

// backup serves GET /api/_backup: a backup stream, what `lithair backup
// --from` reads. The status goes out with the first byte of the stream, so
// a failure before it is a plain JSON error; a failure after it aborts the
// connection, and the client holds a backup without its final checksum,
// which every reader refuses. On success the trailers repeat the stream's
// index and checksum.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	// A backup of a big state outlasts the server's write timeout.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	name := fmt.Sprintf("lithair-%s-%s.backup.zst", s.app.Config().Raft.NodeID, time.Now().UTC().Format("20060102T150405Z"))
	w.Header().Set("Content-Type", "application/zstd")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Trailer", "X-Lithair-Backup-Index, X-Lithair-Backup-Sha256")
	start := time.Now()
	lw := &lazyWriter{w: w}
	info, err := s.app.Backup(lw)
	if err != nil && !lw.wrote {
		w.Header().Del("Content-Disposition")
		w.Header().Del("Trailer")
		writeError(w, errorf(http.StatusServiceUnavailable, "backup_failed", err.Error()))
		return
	}
	if err != nil {
		s.logger.Error("backup failed; aborting the response", "err", err, "remote", r.RemoteAddr)
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("X-Lithair-Backup-Index", strconv.FormatUint(info.Index, 10))
	w.Header().Set("X-Lithair-Backup-Sha256", info.SHA256)
	s.logger.Info("backup served", "index", info.Index, "term", info.Term, "bytes", info.Bytes, "sha256", info.SHA256,
		"remote", r.RemoteAddr, "took", time.Since(start).Round(time.Millisecond).String())
}

// lazyWriter sends the status line with the first byte of the body.
type lazyWriter struct {
	w     http.ResponseWriter
	wrote bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.wrote {
		l.wrote = true
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}
