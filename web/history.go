package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/rules"
)

// eventJSON is one event of a record's history as the API shows it.
type eventJSON struct {
	Index   uint64          `json:"index"`
	Kind    event.Kind      `json:"kind"`
	Version uint64          `json:"version"`
	Time    string          `json:"time"`
	Actor   string          `json:"actor,omitempty"`
	Fields  json.RawMessage `json:"fields,omitempty"`
}

// events serves GET /api/{path}/{id}/events: the record's events, oldest
// first, also after it was deleted.
func (s *Server) events(w http.ResponseWriter, r *http.Request, m *rules.Model, id string) {
	u := userFrom(r)
	refs, _, ok := s.app.State().History(m.Name, id)
	if ok {
		ok = s.historyReadable(r, m, u, id, refs)
	}
	if !ok {
		writeError(w, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("no %s with id %s, now or ever", m.Name, id)))
		return
	}
	hidden := m.Hidden(u)
	out := make([]eventJSON, 0, len(refs))
	for _, ref := range refs {
		c, err := s.commandFor(ref.Index, m.Name, id)
		if err != nil {
			writeError(w, errorf(http.StatusInternalServerError, "history_unavailable", err.Error()))
			return
		}
		out = append(out, eventJSON{Index: ref.Index, Kind: ref.Kind, Version: ref.Version,
			Time: index.FormatTime(ref.Time), Actor: c.Actor, Fields: withoutFields(c.Fields, hidden)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"model": m.Name, "id": id, "events": out})
}

// pastVersion serves GET /api/{path}/{id}?version=N or ?at=RFC3339: the
// record as it was. Recent versions of versioned models come from memory;
// older ones are rebuilt from the log and its archive.
func (s *Server) pastVersion(w http.ResponseWriter, r *http.Request, m *rules.Model, id string) {
	q := r.URL.Query()
	u := userFrom(r)
	refs, _, ok := s.app.State().History(m.Name, id)
	if ok {
		ok = s.historyReadable(r, m, u, id, refs)
	}
	if !ok {
		writeError(w, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("no %s with id %s", m.Name, id)))
		return
	}
	var target *index.EventRef
	if v := q.Get("version"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			writeError(w, badQuery("version", "must be a positive integer"))
			return
		}
		for i := range refs {
			if refs[i].Kind != event.Deleted && refs[i].Version == n {
				target = &refs[i]
			}
		}
		if target == nil {
			writeError(w, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("%s %s has no version %d", m.Name, id, n)))
			return
		}
	} else {
		// A "+01:00" offset sent without URL-encoding arrives as " 01:00".
		at, err := time.Parse(time.RFC3339Nano, strings.ReplaceAll(q.Get("at"), " ", "+"))
		if err != nil {
			writeError(w, badQuery("at", "must be an RFC 3339 time, like 2026-01-02T15:04:05Z"))
			return
		}
		for i := range refs {
			if refs[i].Time <= at.UnixNano() {
				target = &refs[i]
			}
		}
		if target == nil || target.Kind == event.Deleted {
			writeError(w, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("%s %s did not exist at %s", m.Name, id, at.Format(time.RFC3339Nano))))
			return
		}
	}
	body, ok := s.app.State().Version(m.Name, id, target.Version)
	if !ok {
		c, err := s.commandFor(target.Index, m.Name, id)
		if err != nil {
			writeError(w, errorf(http.StatusInternalServerError, "history_unavailable", err.Error()))
			return
		}
		body = index.BuildRecord(id, target.Version, refs[0].Time, target.Time, c.Fields)
	}
	w.Header().Set("ETag", etag(target.Version))
	writeRaw(w, http.StatusOK, withoutFields(body, m.Hidden(u)))
}

// historyReadable decides whether u may read a record's past: by the read
// predicate on the record as it is now, or, once deleted, as it last was.
func (s *Server) historyReadable(r *http.Request, m *rules.Model, u *rules.User, id string, refs []index.EventRef) bool {
	if !m.HasPredicate(rules.ActionRead) {
		return true
	}
	if rec, ok := s.app.State().Get(m.Name, id); ok {
		ok, _ := s.readable(r.Context(), m, u, rec)
		return ok
	}
	for i := len(refs) - 1; i >= 0; i-- {
		if refs[i].Kind == event.Deleted {
			continue
		}
		c, err := s.commandFor(refs[i].Index, m.Name, id)
		if err != nil {
			return false
		}
		var fields map[string]any
		dec := json.NewDecoder(bytes.NewReader(c.Fields))
		dec.UseNumber()
		if dec.Decode(&fields) != nil {
			return false
		}
		return s.predicate(r.Context(), m, rules.ActionRead, u, id, fields, nil) == nil
	}
	return false
}

// auditJSON is one audit entry: who did what to which record, when, with
// the values before and after.
type auditJSON struct {
	Index  uint64          `json:"index"`
	Time   string          `json:"time"`
	Model  string          `json:"model"`
	ID     string          `json:"id"`
	User   string          `json:"user"`
	Action event.Kind      `json:"action"`
	Old    json.RawMessage `json:"old"`
	New    json.RawMessage `json:"new"`
}

// audit serves GET /api/_audit?model=&id=&user=&limit=&cursor=, newest first.
func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	aq := index.AuditQuery{Model: q.Get("model"), ID: q.Get("id"), Actor: q.Get("user"), Limit: defaultLimit}
	for param := range q {
		switch param {
		case "model", "id", "user", "limit", "cursor":
		default:
			writeError(w, badQuery(param, "unknown parameter (model, id, user, limit, cursor)"))
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			writeError(w, badQuery("limit", fmt.Sprintf("must be an integer from 1 to %d", maxLimit)))
			return
		}
		aq.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			writeError(w, badQuery("cursor", "is not a cursor this server gave"))
			return
		}
		aq.Before = n
	}
	refs, more := s.app.State().Audit(aq)
	set, u := s.app.Rules(), userFrom(r)
	items := make([]auditJSON, 0, len(refs))
	for _, a := range refs {
		c, err := s.app.Command(a.Index)
		if err == nil {
			c, err = auditedOp(c, a)
		}
		if err != nil {
			writeError(w, errorf(http.StatusInternalServerError, "history_unavailable", err.Error()))
			return
		}
		user := c.Actor
		if user == "" {
			user = anonymous
		}
		if aq.Actor != "" && c.Actor != aq.Actor {
			continue // entries of one record come without their actor
		}
		item := auditJSON{Index: a.Index, Time: index.FormatTime(c.Time), Model: a.Model, ID: c.ID, User: user, Action: a.Kind,
			Old: json.RawMessage("null"), New: json.RawMessage("null")}
		var hidden []string
		if m := set.Model(a.Model); m != nil {
			hidden = m.Hidden(u)
		}
		if a.Kind != event.Deleted {
			item.New = withoutFields(c.Fields, hidden)
		}
		if prev, ok := s.previousFields(a.Model, c.ID, a.Index); ok {
			item.Old = withoutFields(prev, hidden)
		} else if a.Kind != event.Created {
			writeError(w, errorf(http.StatusInternalServerError, "history_unavailable", "the previous version is no longer in the log"))
			return
		}
		items = append(items, item)
	}
	var b bytes.Buffer
	body, _ := json.Marshal(items)
	b.WriteString(`{"items":`)
	b.Write(body)
	b.WriteString(`,"next_cursor":`)
	if more && len(refs) > 0 {
		b.WriteString(strconv.Quote(strconv.FormatUint(refs[len(refs)-1].Index, 10)))
	} else {
		b.WriteString("null")
	}
	b.WriteByte('}')
	writeRaw(w, http.StatusOK, b.Bytes())
}

// previousFields returns a record's fields before the change at idx.
func (s *Server) previousFields(model, id string, idx uint64) (json.RawMessage, bool) {
	refs, _, _ := s.app.State().History(model, id)
	var prev *index.EventRef
	for i := range refs {
		if refs[i].Index >= idx {
			break
		}
		prev = &refs[i]
	}
	if prev == nil {
		return json.RawMessage("null"), true
	}
	c, err := s.commandFor(prev.Index, model, id)
	if err != nil {
		return nil, false
	}
	return c.Fields, true
}

// commandFor reads back the command that made the event of the record id
// of model at log index idx: the command there, or its operation on the
// record when it is a batch.
func (s *Server) commandFor(idx uint64, model, id string) (*event.Command, error) {
	c, err := s.app.Command(idx)
	if err != nil {
		return nil, err
	}
	if op := c.For(model, id); op != nil {
		return op, nil
	}
	return nil, fmt.Errorf("the command at index %d does not change %s %s", idx, model, id)
}

// auditedOp picks out of the command at an audit entry's index the
// operation the entry is about. Entries of the whole trail do not know
// their record: in a batch, the entry is the a.Seq-th operation on a.Model.
func auditedOp(c *event.Command, a index.AuditRef) (*event.Command, error) {
	if c.Op != event.OpBatch {
		return c, nil
	}
	if a.ID != "" {
		if op := c.For(a.Model, a.ID); op != nil {
			return op, nil
		}
	} else {
		n := a.Seq
		for _, op := range c.Batch {
			if op.Model != a.Model {
				continue
			}
			if n == 0 {
				return op, nil
			}
			n--
		}
	}
	return nil, fmt.Errorf("the batch at index %d has no change %d of %s", a.Index, a.Seq, a.Model)
}
