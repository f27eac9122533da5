// Package web is Lithair's HTTP face: the JSON API over the models the
// rules declare, health endpoints, and the middleware in front of them.
// It only speaks HTTP; every decision about data is the appliance's.
package web

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	lithair "github.com/lithair/lithair"
	"github.com/lithair/lithair/firewall"
	"github.com/lithair/lithair/metrics"
	"github.com/lithair/lithair/rules"
)

// Server serves one appliance over HTTP.
type Server struct {
	app    *lithair.Appliance
	logger *slog.Logger
	mux    *http.ServeMux
	// records is the handler of the models' own routes, also reached
	// without the mux (routes).
	records http.HandlerFunc
	fw      *firewall.Firewall // nil only if the configuration was never validated
	// openapi caches the API description of the rules in force.
	openapi openAPICache
}

// New returns a Server for app.
func New(app *lithair.Appliance, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{app: app, logger: logger, mux: http.NewServeMux()}
	cfg := app.Config()
	fw, err := firewall.New(cfg.Firewall, cfg.HTTP.MaxBody)
	if err != nil {
		logger.Error("firewall off: its configuration is invalid", "err", err)
	}
	s.fw = fw
	if fw != nil {
		fw.OnDeny = app.Metrics().FirewallDenied
	}
	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.handle("GET /metrics", app.Metrics().Handler().ServeHTTP)
	s.handle("GET /admin/", s.adminPage)
	s.handle("GET /admin", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/", http.StatusMovedPermanently)
	})
	// Signing in and out is for everyone; what follows is for admins.
	s.handle("POST /api/_auth/login", s.ready(s.login))
	s.handle("POST /api/_auth/logout", s.ready(s.logout))
	s.handle("GET /api/_auth/me", s.ready(s.me))
	// The event stream shows each caller what the rules let them read;
	// a batch is checked operation by operation like single writes.
	s.handle("GET /api/_events", s.ready(s.eventStream))
	s.handle("GET /api/_openapi.json", s.ready(s.openAPI))
	s.handle("POST /api/_batch", s.ready(s.batch))
	admin := func(pattern string, h http.HandlerFunc) { s.handle(pattern, s.ready(s.adminOnly(h))) }
	admin("GET /api/_cluster", s.clusterStatus)
	admin("DELETE /api/_cluster/nodes/{id}", s.removeNode)
	node := func(pattern string, h func(http.ResponseWriter, *http.Request, []byte)) {
		s.handle(pattern, s.ready(s.nodeOnly(h)))
	}
	node("POST /api/_cluster/join", s.nodeJoin)
	node("POST /api/_cluster/propose", s.nodePropose)
	node("GET /api/_cluster/read_index", s.nodeReadIndex)
	node("POST /api/_cluster/remove", s.nodeRemove)
	admin("GET /api/_users", s.listUsers)
	admin("POST /api/_users", s.createUser)
	admin("GET /api/_users/{name}", s.getUser)
	admin("PATCH /api/_users/{name}", s.updateUser)
	admin("DELETE /api/_users/{name}", s.deleteUser)
	admin("GET /api/_tokens", s.listTokens)
	admin("POST /api/_tokens", s.createToken)
	admin("DELETE /api/_tokens/{id}", s.deleteToken)
	admin("GET /api/_rules", s.rulesInfo)
	admin("GET /api/_audit", s.audit)
	admin("POST /api/_snapshot", s.snapshot)
	admin("GET /api/_backup", s.backup)
	admin("GET /api/_state/hash", s.stateHash)
	admin("POST /api/_rules/reload", s.reloadRules)
	admin("GET /api/_projections/", s.projections)
	admin("GET /api/_projections", s.projections)
	s.records = named("/api/", s.ready(s.api))
	s.mux.HandleFunc("/api/", s.records)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			writeJSON(w, http.StatusOK, map[string]string{"name": "lithair", "api": "/api/", "health": "/healthz"})
			return
		}
		writeError(w, errorf(http.StatusNotFound, "not_found", "no such route: "+r.URL.Path))
	})
	return s
}

// handle registers h under pattern, naming the route for metrics and logs.
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, named(pattern, h))
}

// Handler returns the root handler with its middleware, outermost first:
// the request is observed (metrics, log line, trace context); panics
// become 500s; the firewall (address lists, rate limits, body cap);
// cross-origin browser writes are refused (a session cookie must not let
// another site act); the caller is authenticated.
func (s *Server) Handler() http.Handler {
	inner := s.passedFirewall(s.inner())
	h := inner
	if s.fw != nil {
		h = s.fw.Wrap(inner)
	}
	return s.observe(s.recoverPanics(s.nodesPass(h, inner)))
}

// nodesPass lets a request another node of the cluster signed go around
// the firewall: a follower forwards the writes of all its clients from
// one address, and the per-client limit must not throttle them. Anything
// not signed with the cluster secret goes through the firewall.
func (s *Server) nodesPass(firewalled, inner http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(lithair.ClusterHeader) == "" || !strings.HasPrefix(r.URL.Path, "/api/_cluster/") || !s.app.Clustered() {
			firewalled.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
		if err != nil || s.app.VerifyCluster(r, body) != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			firewalled.ServeHTTP(w, r)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		inner.ServeHTTP(w, r)
	})
}

func (s *Server) inner() http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusForbidden, "cross_origin", "a state-changing request from another site is refused"))
	}))
	return cop.Handler(s.authenticate(s.routes()))
}

// routes sends a request for a model's records straight to their handler,
// where the mux would send it after matching it against every pattern
// registered (6 of a read's 54 allocations). Anything else goes through
// the mux, and so does any path the mux would clean and redirect.
func (s *Server) routes() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if len(p) > len("/api/") && strings.HasPrefix(p, "/api/") && p[len("/api/")] != '_' &&
			r.URL.RawPath == "" && r.Method != http.MethodConnect && isCleanPath(p) {
			s.records(w, r)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// isCleanPath reports whether path.Clean would leave the rooted path p as
// it is (but for a trailing slash, which the mux keeps too).
func isCleanPath(p string) bool {
	return !strings.Contains(p, "//") && !strings.Contains(p, "/./") && !strings.Contains(p, "/../") &&
		!strings.HasSuffix(p, "/.") && !strings.HasSuffix(p, "/..")
}

// HTTPServer returns an http.Server with timeouts that keep slow clients
// from holding connections.
func (s *Server) HTTPServer(addr string) *http.Server {
	c := s.app.Config().HTTP
	return &http.Server{
		Addr:              addr,
		Handler:           s.Handler(),
		ReadHeaderTimeout: c.ReadHeaderTimeout.Duration,
		ReadTimeout:       c.ReadTimeout.Duration,
		WriteTimeout:      c.WriteTimeout.Duration,
		IdleTimeout:       c.IdleTimeout.Duration,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
}

// recoverPanics turns a handler panic into a 500 instead of a dropped
// connection, and logs it: a panic is always a bug of ours.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeError(w, errorf(http.StatusInternalServerError, "internal", "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func notReady() *apiError {
	return errorf(http.StatusServiceUnavailable, "not_ready", "the node is still replaying its log")
}

// ready answers 503 until the log has been replayed, and tags every
// answer with the rules version it was served under.
func (s *Server) ready(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.app.Ready() {
			writeError(w, notReady())
			return
		}
		w.Header().Set("X-Lithair-Rules-Version", s.app.Rules().Version)
		if ri := info(r); !ri.passed.IsZero() {
			s.stage(metrics.StageRouting, ri.passed)
		}
		start := time.Now()
		h(w, r)
		if r.URL.Path != "/api/_events" { // a stream's life is not a handler's time
			s.stage(metrics.StageHandler, start)
		}
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if !s.app.Ready() {
		writeError(w, errorf(http.StatusServiceUnavailable, "not_ready", "the node is still replaying its log"))
		return
	}
	if err := s.app.StorageError(); errors.Is(err, lithair.ErrStorageFailed) {
		writeError(w, errorf(http.StatusServiceUnavailable, "storage_failed", err.Error()))
		return
	}
	if s.app.Leader() == "" {
		writeError(w, errorf(http.StatusServiceUnavailable, "no_leader", "the node knows no leader: writes would not commit"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "applied_index": s.app.State().AppliedIndex()})
}

// snapshot serves POST /api/_snapshot: take a snapshot now (before a
// backup, or to shorten the next restart).
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	idx, err := s.app.Snapshot()
	if err != nil {
		writeError(w, errorf(http.StatusConflict, "snapshot_failed", err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"index": idx})
}

// route finds the model a path addresses and what follows its path: ""
// for the collection, "{id}" or "{id}/events" for one record.
func route(set *rules.Set, path string) (*rules.Model, string) {
	var best *rules.Model
	var rest string
	for _, m := range set.Models {
		if m.System {
			continue // users, tokens, sessions: their own routes
		}
		switch {
		case path == m.Path || path == m.Path+"/":
			return m, ""
		case strings.HasPrefix(path, m.Path+"/"):
			if best == nil || len(m.Path) > len(best.Path) {
				best, rest = m, path[len(m.Path)+1:]
			}
		}
	}
	return best, rest
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	set := s.app.Rules()
	m, rest := route(set, r.URL.Path)
	if m == nil {
		writeError(w, errorf(http.StatusNotFound, "not_found", "no model at "+r.URL.Path))
		return
	}
	id, sub, _ := strings.Cut(rest, "/")
	if rest != "" && (id == "" || (sub != "" && sub != "events")) {
		writeError(w, errorf(http.StatusNotFound, "not_found", "no such route: "+r.URL.Path))
		return
	}
	allow := "GET, HEAD, PUT, PATCH, DELETE"
	switch {
	case rest == "":
		allow = "GET, HEAD, POST"
	case sub == "events":
		allow = "GET, HEAD"
	}
	if !slices.Contains(strings.Split(allow, ", "), r.Method) {
		methodNotAllowed(w, allow)
		return
	}
	ri := info(r)
	ri.model, ri.op, ri.route = m.Name, r.Method, m.Path
	switch {
	case sub == "events":
		ri.route = m.Path + "/{id}/events"
	case rest != "":
		ri.route = m.Path + "/{id}"
	}
	u := userFrom(r)
	a := actionOf(r.Method)
	ri.op = string(a)
	if !m.RoleAllowed(a, u) {
		s.app.Metrics().PermissionDenied(m.Name)
		writeError(w, denied(u, string(a)+" "+m.Name+" records"))
		return
	}
	if a == rules.ActionRead && !s.consistency(w, r) {
		return
	}
	switch {
	case rest == "" && r.Method == http.MethodPost:
		s.create(w, r, m)
	case rest == "":
		s.list(w, r, m)
	case sub == "events":
		s.events(w, r, m, id)
	case r.Method == http.MethodPut:
		s.update(w, r, m, id, false)
	case r.Method == http.MethodPatch:
		s.update(w, r, m, id, true)
	case r.Method == http.MethodDelete:
		s.delete(w, r, m, id)
	default:
		if q := r.URL.Query(); q.Has("version") || q.Has("at") {
			s.pastVersion(w, r, m, id)
			return
		}
		s.get(w, r, m, id)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "allowed methods: "+allow))
}
