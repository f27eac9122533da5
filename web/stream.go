package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	lithair "github.com/lithair/lithair"
	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/rules"
)

// GET /api/_events is a Server-Sent Events stream of record changes as
// they are applied. Each message's id is the log index the client has
// every change up to: the change's own, except inside a batch (several
// changes at one index), where only the last moves it. A client that
// reconnects with Last-Event-ID (EventSource does it on its own) gets
// exactly the changes it missed, replayed from the log. Every change is
// checked against the caller's permissions, as a GET of the record would
// be; hidden fields are left out.

const (
	// streamPing is how often an idle stream sends a comment, so that
	// proxies and clients can tell it is alive.
	streamPing = 15 * time.Second
	// streamRetry is the reconnection delay told to EventSource, in ms.
	streamRetry = 2000
)

// streamFilter is what the caller asked to see.
type streamFilter struct {
	models map[string]bool // nil: every model the caller may read
	id     string
}

// changeJSON is one change as the stream shows it.
type changeJSON struct {
	Index   uint64          `json:"index"`
	Kind    event.Kind      `json:"kind"`
	Model   string          `json:"model"`
	ID      string          `json:"id"`
	Version uint64          `json:"version"`
	Time    string          `json:"time"`
	Actor   string          `json:"actor,omitempty"`
	Fields  json.RawMessage `json:"fields,omitempty"`
}

// eventStream serves GET /api/_events?model=&id=&last_event_id=.
func (s *Server) eventStream(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r)
	q := r.URL.Query()
	filter, aerr := streamFilterOf(s.app.Rules(), u, q)
	if aerr == nil {
		aerr = checkStreamParams(q)
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	after, resume, aerr := resumePoint(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var sub *lithair.Subscription
	if resume {
		sub = s.app.SubscribeAfter(after)
	} else {
		sub = s.app.Subscribe()
	}
	defer sub.Close()

	out := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: s.app.Config().HTTP.WriteTimeout.Duration}
	if out.timeout <= 0 {
		out.timeout = time.Minute
	}
	// net/http cancels a request whose connection passes its read
	// deadline (http.ReadTimeout), which a stream outlives.
	out.rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	// The first message gives the position the stream starts after, so a
	// client cut off before any change resumes without a gap.
	out.write([]byte("retry: " + strconv.Itoa(streamRetry) + "\n"))
	out.settle(sub.Position())

	ctx := r.Context()
	secret, _, _ := secretFrom(r)
	stopping := serverStopping(r)
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	for out.err == nil {
		c, err := sub.Next()
		switch {
		case c != nil:
			if data := s.visibleChange(ctx, u, filter, c); data != nil {
				// Inside a batch the position is still the index before
				// it: a client cut off there gets the whole batch again
				// rather than lose its end.
				out.message(sub.Position(), string(c.Kind), data)
			}
			continue
		case errors.Is(err, lithair.ErrReplayGap):
			out.message(sub.Position(), "reset", compactJSON(map[string]any{"index": sub.Position(),
				"message": "the changes since the last event id are no longer in the log: read the records again; changes after this index follow"}))
			continue
		case errors.Is(err, lithair.ErrDropped):
			out.message(sub.Position(), "dropped", compactJSON(map[string]any{"last_event_id": sub.Position(),
				"message": "this client fell too far behind and was dropped: reconnect with Last-Event-ID to resume"}))
			out.flush()
			return
		case errors.Is(err, lithair.ErrFeedClosed):
			return
		case err != nil:
			s.logger.Warn("event stream: reading the log failed", "err", err)
			return
		}
		if out.unsettled {
			out.settle(sub.Position())
		}
		if !out.flush() {
			return
		}
		select {
		case <-sub.Wait():
		case <-ping.C:
			if u != nil && secret != "" {
				// A credential that ended (signed out, expired, revoked,
				// its user disabled) ends the stream; new roles apply.
				if u, err = s.app.Authenticate(secret); err != nil {
					return
				}
			}
			out.ping(sub.Position())
		case <-ctx.Done():
			return
		case <-sub.Done():
			return
		case <-stopping:
			return
		}
	}
}

// visibleChange renders c for u, or returns nil when u may not see it or
// did not ask for it: the role list and read predicate decide, as for a
// GET of the record (on a delete, of the record as it last was), and
// fields u may not read are left out.
func (s *Server) visibleChange(ctx context.Context, u *rules.User, f streamFilter, c *lithair.Change) []byte {
	if (f.models != nil && !f.models[c.Model]) || (f.id != "" && c.ID != f.id) {
		return nil
	}
	m := s.app.Rules().Model(c.Model)
	if m == nil || m.System || !m.RoleAllowed(rules.ActionRead, u) {
		return nil
	}
	if m.HasPredicate(rules.ActionRead) {
		raw := c.Fields
		if c.Kind == event.Deleted {
			raw = c.Removed
		}
		var fields map[string]any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if len(raw) == 0 || dec.Decode(&fields) != nil {
			return nil
		}
		if s.predicate(ctx, m, rules.ActionRead, u, c.ID, fields, nil) != nil {
			return nil
		}
	}
	out := changeJSON{Index: c.Index, Kind: c.Kind, Model: c.Model, ID: c.ID, Version: c.Version,
		Time: index.FormatTime(c.Time), Actor: c.Actor}
	if c.Kind != event.Deleted {
		out.Fields = withoutFields(c.Fields, m.Hidden(u))
	}
	return compactJSON(out)
}

// streamFilterOf reads ?model= (repeated, or a comma-separated list) and
// ?id= (with exactly one model). A model the caller may not read at all
// is refused at once rather than streamed as silence.
func streamFilterOf(set *rules.Set, u *rules.User, q url.Values) (streamFilter, *apiError) {
	var f streamFilter
	for _, v := range q["model"] {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			m := set.Model(name)
			if m == nil || m.System {
				return f, badQuery("model", "unknown model "+strconv.Quote(name))
			}
			if !m.RoleAllowed(rules.ActionRead, u) {
				return f, denied(u, "read "+name+" records")
			}
			if f.models == nil {
				f.models = map[string]bool{}
			}
			f.models[name] = true
		}
	}
	if q.Has("model") && f.models == nil {
		return f, badQuery("model", "names no model")
	}
	f.id = q.Get("id")
	if q.Has("id") && (f.id == "" || len(f.models) != 1) {
		return f, badQuery("id", "needs exactly one model, as in ?model=Product&id=…")
	}
	return f, nil
}

func checkStreamParams(q url.Values) *apiError {
	for param := range q {
		switch param {
		case "model", "id", "last_event_id":
		default:
			return badQuery(param, "unknown parameter (model, id, last_event_id)")
		}
	}
	return nil
}

// resumePoint reads the log index a client resumes after: the
// Last-Event-ID header EventSource sends on reconnecting, or else the
// last_event_id parameter (EventSource cannot set headers on its first
// request).
func resumePoint(r *http.Request) (uint64, bool, *apiError) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, false, badQuery("last_event_id", "must be the id of an event (a log index)")
		}
		return n, true, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, false, errorf(http.StatusBadRequest, "bad_header", "Last-Event-ID must be the id of an event (a log index)")
	}
	return n, true, nil
}

// compactJSON encodes v on one line, without HTML escapes, as an SSE
// data field needs.
func compactJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// sseWriter writes a stream's messages. sent is the last id the client
// was given; unsettled says a message went without one (inside a batch).
type sseWriter struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	timeout   time.Duration
	extended  time.Time
	sent      uint64
	unsettled bool
	err       error
	buf       []byte
}

// write writes b, pushing the connection's write deadline (set by
// http.WriteTimeout for the whole request) ahead as the stream goes on:
// only a client that stops reading for that long is cut off.
func (o *sseWriter) write(b []byte) {
	if o.err != nil {
		return
	}
	if now := time.Now(); now.Sub(o.extended) > time.Second {
		o.rc.SetWriteDeadline(now.Add(o.timeout))
		o.extended = now
	}
	_, o.err = o.w.Write(b)
}

// message writes one event with a one-line JSON data. Its id is pos, the
// index the client has every change up to; when pos has not moved (a
// batch's changes before its last) the message carries no id, and the
// client keeps the one it had.
func (o *sseWriter) message(pos uint64, kind string, data []byte) {
	b := o.buf[:0]
	if pos != o.sent {
		b = append(b, "id: "...)
		b = strconv.AppendUint(b, pos, 10)
		b = append(b, '\n')
		o.sent = pos
	} else {
		o.unsettled = true
	}
	b = append(b, "event: "...)
	b = append(b, kind...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	o.buf = b
	o.write(b)
}

// settle writes a message with only an id, which sets the client's
// Last-Event-ID without firing an event.
func (o *sseWriter) settle(pos uint64) {
	o.buf = append(strconv.AppendUint(append(o.buf[:0], "id: "...), pos, 10), "\n\n"...)
	o.write(o.buf)
	o.sent, o.unsettled = pos, false
}

// ping writes a comment, with the position when it moved past changes
// the client was not shown.
func (o *sseWriter) ping(pos uint64) {
	if pos != o.sent {
		o.write([]byte(": ping\n"))
		o.settle(pos)
	} else {
		o.write([]byte(": ping\n\n"))
	}
	o.flush()
}

func (o *sseWriter) flush() bool {
	if o.err == nil {
		o.err = o.rc.Flush()
	}
	return o.err == nil
}

// serverStops holds, per http.Server, a channel closed when it begins to
// shut down. http.Server.Shutdown waits for connections to go idle, which
// a stream never does: without this it would wait out
// http.shutdown_timeout.
var serverStops sync.Map // *http.Server -> chan struct{}

// serverStopping returns a channel closed when the server serving r
// begins to shut down (nil, never closed, outside an http.Server).
func serverStopping(r *http.Request) <-chan struct{} {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return nil
	}
	if ch, ok := serverStops.Load(srv); ok {
		return ch.(chan struct{})
	}
	ch := make(chan struct{})
	if prev, loaded := serverStops.LoadOrStore(srv, ch); loaded {
		return prev.(chan struct{})
	}
	srv.RegisterOnShutdown(func() { close(ch) })
	return ch
}
