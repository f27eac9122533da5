package web

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/lithair/lithair/firewall"
	"github.com/lithair/lithair/metrics"
)

// Every request is observed once, outermost: its metrics, one JSON log
// line (sampled by log.sample_rate; every 5xx is logged), and a W3C trace
// context, honoured when the client sends one and made up otherwise.
// Bodies are never logged.

// reqInfo is what the layers inside learn about a request, for its log
// line and metrics. Handlers fill it through info(r).
type reqInfo struct {
	start      time.Time
	route      string // a template such as /api/products/{id}, never a raw path
	model, op  string
	user       string
	validation time.Duration
	passed     time.Time // when the firewall let the request through
}

type infoKey struct{}

// info returns the request's reqInfo; a throwaway one outside observe.
func info(r *http.Request) *reqInfo {
	if ri, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// named records the route template of a handler registered under pattern
// ("GET /api/_users/{name}" gives /api/_users/{name}).
func named(pattern string, h http.HandlerFunc) http.HandlerFunc {
	route := pattern
	if _, p, ok := strings.Cut(pattern, " "); ok {
		route = p
	}
	return func(w http.ResponseWriter, r *http.Request) {
		info(r).route = route
		h(w, r)
	}
}

// observe is the outermost middleware.
func (s *Server) observe(next http.Handler) http.Handler {
	m := s.app.Metrics()
	rate := s.app.Config().Log.SampleRate
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := &reqInfo{start: time.Now()}
		trace, flags := traceParent(r.Header.Get("traceparent"))
		span := newID(8)
		w.Header().Set("traceparent", "00-"+trace+"-"+span+"-"+flags)
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		m.RequestStarted()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), infoKey{}, ri)))
		m.RequestDone()
		d := time.Since(ri.start)
		if ri.route == "" {
			ri.route = "unmatched"
		}
		reqBytes := r.ContentLength
		m.ObserveRequest(ri.route, r.Method, rec.status, d, reqBytes, rec.bytes)
		if ri.passed.IsZero() {
			m.ObserveStage(metrics.StageFirewall, d) // refused there
		}
		if rec.status >= 500 || (rate > 0 && (rate >= 1 || mrand.Float64() < rate)) {
			level := slog.LevelInfo
			switch {
			case rec.status == http.StatusServiceUnavailable:
				level = slog.LevelWarn // not ready, no leader: expected now and then
			case rec.status >= 500:
				level = slog.LevelError
			}
			user := ri.user
			if user == "" {
				user = anonymous
			}
			s.logger.LogAttrs(r.Context(), level, "request",
				slog.String("method", r.Method), slog.String("route", ri.route), slog.Int("status", rec.status),
				slog.Float64("latency_ms", float64(d.Microseconds())/1000), slog.String("user", user),
				slog.String("model", ri.model), slog.String("operation", ri.op),
				slog.Int64("request_bytes", max(reqBytes, 0)), slog.Int64("response_bytes", rec.bytes),
				slog.Float64("validation_ms", float64(ri.validation.Microseconds())/1000),
				slog.String("client", clientIP(s.fw, r)),
				slog.String("trace_id", trace), slog.String("span_id", span))
		}
	})
}

// passedFirewall marks when the firewall let a request through.
func (s *Server) passedFirewall(next http.Handler) http.Handler {
	m := s.app.Metrics()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := info(r)
		ri.passed = time.Now()
		if !ri.start.IsZero() {
			m.ObserveStage(metrics.StageFirewall, ri.passed.Sub(ri.start))
		}
		next.ServeHTTP(w, r)
	})
}

// stage observes how long a stage took since start, and returns now.
func (s *Server) stage(st metrics.Stage, start time.Time) time.Time {
	now := time.Now()
	s.app.Metrics().ObserveStage(st, now.Sub(start))
	return now
}

func clientIP(fw *firewall.Firewall, r *http.Request) string {
	if fw != nil {
		if a := fw.ClientIP(r); a.IsValid() {
			return a.String()
		}
	}
	return r.RemoteAddr
}

// traceParent reads a W3C traceparent header and returns its trace id and
// flags, or a new trace id when the header is absent or malformed.
func traceParent(h string) (trace, flags string) {
	if h == "" {
		return newID(16), "01"
	}
	parts := strings.Split(strings.TrimSpace(h), "-")
	if len(parts) >= 4 && len(parts[0]) == 2 && parts[0] != "ff" && isHex(parts[0]) &&
		len(parts[1]) == 32 && isHex(parts[1]) && parts[1] != strings.Repeat("0", 32) &&
		len(parts[2]) == 16 && isHex(parts[2]) && parts[2] != strings.Repeat("0", 16) &&
		len(parts[3]) == 2 && isHex(parts[3]) && (parts[0] != "00" || len(parts) == 4) {
		return parts[1], parts[3]
	}
	return newID(16), "01"
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// newID returns n (8 or 16) random bytes in hex: a span or trace id. Ids
// must be unpredictable enough never to collide, not secret: the runtime's
// per-thread ChaCha8 generator serves, without the system's on every
// request.
func newID(n int) string {
	var b [16]byte
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], mrand.Uint64())
	}
	return hex.EncodeToString(b[:n])
}

// recorder notes an answer's status and size. Unwrap lets
// http.ResponseController reach the connection (flushes, deadlines).
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() { http.NewResponseController(r.ResponseWriter).Flush() }

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
