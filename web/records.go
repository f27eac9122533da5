package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	lithair "github.com/lithair/lithair"
	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/metrics"
	"github.com/lithair/lithair/rules"
)

// anonymous is the actor of writes made without signing in (models whose
// rules let "public" write): the audit trail shows it as the user, and
// ?user=anonymous finds those writes.
const anonymous = "anonymous"

// retriesOnRace bounds how often an unconditional update is re-read and
// re-validated when another writer changed the record in between.
const retriesOnRace = 5

func (s *Server) ruleContext(ctx context.Context, u *rules.User) rules.Context {
	st := s.app.State()
	return rules.Context{
		Ctx:  ctx,
		User: u,
		Exists: func(model, id string) bool {
			_, ok := st.Get(model, id)
			return ok
		},
	}
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, m *rules.Model) {
	u := userFrom(r)
	input, aerr := readObject(w, r, s.app.Config().HTTP.MaxBody)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if aerr := forbiddenFields(m, u, input, nil); aerr != nil {
		writeError(w, aerr)
		return
	}
	fields, raw, aerr := s.prepare(r.Context(), m, u, input, nil)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	id, err := uuid.NewV7()
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "internal", "no id could be generated"))
		return
	}
	if aerr := s.predicate(r.Context(), m, rules.ActionCreate, u, "", nil, fields); aerr != nil {
		writeError(w, aerr)
		return
	}
	if aerr := s.uniqueTaken(m, "", fields); aerr != nil {
		writeError(w, aerr)
		return
	}
	c := &event.Command{Op: event.OpCreate, Model: m.Name, ID: id.String(), Fields: raw, Actor: actorOf(r), Time: time.Now().UnixNano()}
	rec, err := s.commit(r, c)
	if err != nil {
		writeError(w, s.proposeError(err))
		return
	}
	w.Header().Set("Location", m.Path+"/"+rec.ID)
	s.writeRecord(w, http.StatusCreated, m, u, rec)
}

// lookup returns the record id of m that u may read, or the answer to give.
func (s *Server) lookup(ctx context.Context, m *rules.Model, u *rules.User, id string) (*index.Record, *apiError) {
	rec, ok := s.app.State().Get(m.Name, id)
	if ok {
		ok, aerr := s.readable(ctx, m, u, rec)
		if aerr != nil {
			return nil, aerr
		}
		if ok {
			return rec, nil
		}
	}
	return nil, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("no %s with id %s", m.Name, id))
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, m *rules.Model, id string) {
	u := userFrom(r)
	rec, aerr := s.lookup(r.Context(), m, u, id)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, rec.Version) {
		w.Header().Set("ETag", etag(rec.Version))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.writeRecord(w, http.StatusOK, m, u, rec)
}

// update serves PUT (replace: the body is the whole new record) and PATCH
// (merge: the body's members replace the record's, null removes one).
func (s *Server) update(w http.ResponseWriter, r *http.Request, m *rules.Model, id string, merge bool) {
	u := userFrom(r)
	input, aerr := readObject(w, r, s.app.Config().HTTP.MaxBody)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	expected, conditional, aerr := ifMatch(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	for attempt := 0; ; attempt++ {
		old, aerr := s.lookup(r.Context(), m, u, id)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		if conditional && old.Version != expected {
			writeError(w, preconditionFailed(m, old, expected))
			return
		}
		oldFields := old.Fields()
		if aerr := forbiddenFields(m, u, input, oldFields); aerr != nil {
			writeError(w, aerr)
			return
		}
		var candidate map[string]any
		if merge {
			candidate = rules.MergePatch(oldFields, input)
		} else {
			candidate = withDefaults(m, input)
		}
		candidate = cloneFields(candidate)
		keepProtected(m, u, candidate, oldFields)
		fields, raw, aerr := s.prepare(r.Context(), m, u, candidate, oldFields)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		if aerr := s.predicate(r.Context(), m, rules.ActionUpdate, u, id, oldFields, fields); aerr != nil {
			writeError(w, aerr)
			return
		}
		if aerr := s.uniqueTaken(m, id, fields); aerr != nil {
			writeError(w, aerr)
			return
		}
		c := &event.Command{Op: event.OpUpdate, Model: m.Name, ID: id, Expected: old.Version, Fields: raw, Actor: actorOf(r), Time: time.Now().UnixNano()}
		rec, err := s.commit(r, c)
		var ref *event.Refusal
		if !conditional && attempt < retriesOnRace && errors.As(err, &ref) && ref.Code == event.CodeVersionMismatch {
			continue // someone else won the race: re-read and validate again
		}
		if err != nil {
			writeError(w, s.proposeError(err))
			return
		}
		s.writeRecord(w, http.StatusOK, m, u, rec)
		return
	}
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, m *rules.Model, id string) {
	u := userFrom(r)
	expected, conditional, aerr := ifMatch(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	// What the state machine would refuse is answered here, so that only
	// true races reach the log.
	old, aerr := s.lookup(r.Context(), m, u, id)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if conditional && old.Version != expected {
		writeError(w, preconditionFailed(m, old, expected))
		return
	}
	if m.HasPredicate(rules.ActionDelete) {
		if aerr := s.predicate(r.Context(), m, rules.ActionDelete, u, id, old.Fields(), nil); aerr != nil {
			writeError(w, aerr)
			return
		}
		if !conditional {
			expected = old.Version // the version the predicate judged
		}
	}
	c := &event.Command{Op: event.OpDelete, Model: m.Name, ID: id, Expected: expected, Actor: actorOf(r), Time: time.Now().UnixNano()}
	if _, err := s.commit(r, c); err != nil {
		writeError(w, s.proposeError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// prepare validates a candidate record against the model and returns its
// fields, also encoded in the model's field order.
func (s *Server) prepare(ctx context.Context, m *rules.Model, u *rules.User, input, old map[string]any) (map[string]any, json.RawMessage, *apiError) {
	start := time.Now()
	fields, ferrs, err := m.Prepare(input, old, s.ruleContext(ctx, u))
	d := time.Since(start)
	s.app.Metrics().ObserveStage(metrics.StageValidation, d)
	if ri, ok := ctx.Value(infoKey{}).(*reqInfo); ok {
		ri.validation += d
	}
	if err != nil || len(ferrs) > 0 {
		s.app.Metrics().ValidationFailed(m.Name)
	}
	if err != nil {
		s.logger.Warn("validation script failed", "model", m.Name, "err", err)
		return nil, nil, &apiError{Status: http.StatusUnprocessableEntity, Code: "validation_failed", Message: "the model's validate function failed: " + err.Error()}
	}
	if len(ferrs) > 0 {
		return nil, nil, &apiError{Status: http.StatusUnprocessableEntity, Code: "validation_failed",
			Message: "the record does not fit the model " + m.Name, Fields: ferrs}
	}
	raw, err := m.Encode(fields)
	if err != nil {
		return nil, nil, errorf(http.StatusUnprocessableEntity, "validation_failed", err.Error())
	}
	return fields, raw, nil
}

func cloneFields(in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// withDefaults gives a replacement (PUT) body the constant defaults of the
// fields it leaves out, as a create would: a replaced record is whole.
// Read-only and immutable fields keep their stored values instead.
func withDefaults(m *rules.Model, input map[string]any) map[string]any {
	out := input
	for _, f := range m.Fields {
		if _, ok := input[f.Name]; ok || f.Default == nil || f.ReadOnly || f.Immutable {
			continue
		}
		if len(out) == len(input) {
			out = make(map[string]any, len(input)+1)
			for k, v := range input {
				out[k] = v
			}
		}
		out[f.Name] = f.Default
	}
	return out
}

func (s *Server) proposeError(err error) *apiError {
	var ref *event.Refusal
	switch {
	case errors.As(err, &ref):
		switch ref.Code {
		case event.CodeNotFound:
			return errorf(http.StatusNotFound, "not_found", ref.Message)
		case event.CodeVersionMismatch:
			return errorf(http.StatusPreconditionFailed, "version_mismatch", ref.Message)
		case event.CodeConflict:
			e := errorf(http.StatusConflict, "conflict", ref.Message)
			if ref.Field != "" {
				e.Fields = map[string]string{ref.Field: "is already taken"}
			}
			return e
		}
		return errorf(http.StatusUnprocessableEntity, "validation_failed", ref.Message)
	case errors.Is(err, lithair.ErrDiskFull):
		return errorf(http.StatusInsufficientStorage, "disk_full", err.Error())
	case errors.Is(err, lithair.ErrStorageFailed):
		return errorf(http.StatusServiceUnavailable, "storage_failed", err.Error())
	case errors.Is(err, lithair.ErrUnavailable), errors.Is(err, lithair.ErrNotReady):
		return errorf(http.StatusServiceUnavailable, "unavailable", err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusServiceUnavailable, "timeout", "the write was not confirmed in time; it may or may not have been applied")
	}
	s.logger.Error("write failed", "err", err)
	return errorf(http.StatusInternalServerError, "internal", "the write failed: "+err.Error())
}

func (s *Server) writeRecord(w http.ResponseWriter, status int, m *rules.Model, u *rules.User, rec *index.Record) {
	h := w.Header()
	h.Set("ETag", etag(rec.Version))
	if m.CacheTTL > 0 {
		h.Set("Cache-Control", cacheControl(m))
		h["Vary"] = varyCredentials
	}
	start := time.Now()
	body := withoutFields(rec.JSON(), m.Hidden(u))
	s.stage(metrics.StageSerialization, start)
	writeRaw(w, status, body)
}

// commit proposes c through Raft and waits until it is durable and
// applied: the raft_commit stage.
func (s *Server) commit(r *http.Request, c *event.Command) (*index.Record, error) {
	defer s.stage(metrics.StageRaftCommit, time.Now())
	return s.app.Propose(r.Context(), c)
}

func etag(version uint64) string { return `"` + strconv.FormatUint(version, 10) + `"` }

func etagMatches(header string, version uint64) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag(version) {
			return true
		}
	}
	return false
}

// ifMatch reads an If-Match header holding one version, quoted or not.
func ifMatch(r *http.Request) (version uint64, present bool, e *apiError) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		return 0, false, nil
	}
	v, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	if err != nil || v == 0 {
		return 0, false, errorf(http.StatusBadRequest, "bad_header", `If-Match must hold one record version, like "3"`)
	}
	return v, true, nil
}

func preconditionFailed(m *rules.Model, rec *index.Record, expected uint64) *apiError {
	return errorf(http.StatusPreconditionFailed, "version_mismatch",
		fmt.Sprintf("%s %s is at version %d, not %d", m.Name, rec.ID, rec.Version, expected))
}

// cacheControl is the Cache-Control of a model's records. What depends on
// who asks (a role to read, a read predicate, a field some roles may not
// see) may be kept by the client only, never by a shared cache.
func cacheControl(m *rules.Model) string {
	age := "max-age=" + strconv.Itoa(int(m.CacheTTL/time.Second))
	personal := !m.RoleAllowed(rules.ActionRead, nil) || m.HasPredicate(rules.ActionRead)
	for _, f := range m.Fields {
		personal = personal || f.ReadRoles != nil
	}
	if personal {
		return "private, " + age
	}
	return "public, " + age
}

// uniqueTaken answers 409 when a unique value of fields is held by another
// record now. The state machine checks again when the write is applied, so
// of two racing writers one still loses there; this only keeps the plain
// case out of the log.
func (s *Server) uniqueTaken(m *rules.Model, self string, fields map[string]any) *apiError {
	for _, f := range m.Fields {
		v, ok := fields[f.Name]
		if !f.Unique || !ok {
			continue
		}
		if rec, taken := s.app.State().GetUnique(m.Name, f.Name, v); taken && rec.ID != self {
			v, _ := json.Marshal(v)
			return &apiError{Status: http.StatusConflict, Code: "conflict", Message: fmt.Sprintf("%s %s is already taken", f.Name, v),
				Fields: map[string]string{f.Name: "is already taken"}}
		}
	}
	return nil
}
