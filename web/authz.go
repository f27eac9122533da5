package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/metrics"
	"github.com/lithair/lithair/rules"
)

// Permissions are checked in two steps, as rules/permission.go defines
// them: the model's role list for the action, which needs no record and
// runs before the body is read, then the model's Lua predicate, which
// needs the record (old and new) and runs once it is known.

// actionOf maps a method on a model's routes to the action it performs.
func actionOf(method string) rules.Action {
	switch method {
	case http.MethodPost:
		return rules.ActionCreate
	case http.MethodPut, http.MethodPatch:
		return rules.ActionUpdate
	case http.MethodDelete:
		return rules.ActionDelete
	}
	return rules.ActionRead
}

// predicate runs the model's Lua predicate for a. A record the caller may
// not read is answered as absent (404), so ids of others' records reveal
// nothing; a refused write is 403.
func (s *Server) predicate(ctx context.Context, m *rules.Model, a rules.Action, u *rules.User, id string, old, new map[string]any) *apiError {
	if !m.HasPredicate(a) {
		return nil
	}
	start := time.Now()
	ok, err := m.AllowedContext(ctx, a, u, old, new)
	s.stage(metrics.StagePermissions, start)
	if err != nil {
		s.logger.Warn("permission script failed", "model", m.Name, "action", a, "err", err)
		return errorf(http.StatusInternalServerError, "permission_failed", "the model's permission function failed")
	}
	if ok {
		return nil
	}
	s.app.Metrics().PermissionDenied(m.Name)
	if a == rules.ActionRead {
		return errorf(http.StatusNotFound, "not_found", fmt.Sprintf("no %s with id %s", m.Name, id))
	}
	return denied(u, string(a)+" this "+m.Name)
}

// readable reports whether u may read rec: the read predicate, when the
// model has one, decides per record.
func (s *Server) readable(ctx context.Context, m *rules.Model, u *rules.User, rec *index.Record) (bool, *apiError) {
	if !m.HasPredicate(rules.ActionRead) {
		return true, nil
	}
	if aerr := s.predicate(ctx, m, rules.ActionRead, u, rec.ID, rec.Fields(), nil); aerr != nil {
		if aerr.Status == http.StatusNotFound {
			return false, nil
		}
		return false, aerr
	}
	return true, nil
}

// forbiddenFields refuses input that sets fields u may not write. On an
// update a protected field may be sent back with its stored value (a
// client that PUTs the record it read); anything else is a 403 naming the
// fields. Nothing is dropped silently.
func forbiddenFields(m *rules.Model, u *rules.User, input, old map[string]any) *apiError {
	names := m.Unwritable(u, input)
	names = slices.DeleteFunc(names, func(n string) bool {
		return old != nil && sameJSON(input[n], old[n])
	})
	if len(names) == 0 {
		return nil
	}
	fields := make(map[string]string, len(names))
	for _, n := range names {
		fields[n] = "you may not set this field"
	}
	return &apiError{Status: http.StatusForbidden, Code: "forbidden_field", Message: "the request sets fields your roles may not write", Fields: fields}
}

// keepProtected gives fields u may not write their stored values in a
// candidate record, so a PUT that leaves one out does not reset it.
func keepProtected(m *rules.Model, u *rules.User, candidate, old map[string]any) {
	for _, f := range m.Fields {
		if f.Writable(u) {
			continue
		}
		if v, ok := old[f.Name]; ok {
			candidate[f.Name] = v
		} else {
			delete(candidate, f.Name)
		}
	}
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// visibleJSON is rec as u may see it: without the fields u may not read.
func (s *Server) visibleJSON(u *rules.User, m *rules.Model, rec *index.Record) []byte {
	return withoutFields(rec.JSON(), m.Hidden(u))
}

// withoutFields removes the members named hidden from a JSON object,
// keeping the others in order. With nothing to hide it returns raw as is.
func withoutFields(raw []byte, hidden []string) []byte {
	if len(hidden) == 0 || len(raw) == 0 || raw[0] != '{' {
		return raw
	}
	return filterMembers(raw, func(key string) bool { return !slices.Contains(hidden, key) })
}

// filterMembers keeps the members of a JSON object whose key keep admits,
// in the object's order; a malformed object gives {}. Records are our own
// compact encoding, so a key is copied as it stands, escapes and all.
func filterMembers(raw []byte, keep func(key string) bool) []byte {
	out := make([]byte, 1, len(raw))
	out[0] = '{'
	err := index.EachMember(raw, func(key, val []byte) {
		if !keep(string(key)) {
			return
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, key...)
		out = append(out, '"', ':')
		out = append(out, val...)
	})
	if err != nil {
		return []byte("{}")
	}
	return append(out, '}')
}
