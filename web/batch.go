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

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/rules"
)

// A batch is up to event.MaxBatch creates, updates and deletes proposed
// as one command through Raft, for clients that load data: one log entry,
// applied all or none. Each operation goes through the checks its single
// write goes through, with the caller's identity: role, writable fields,
// validation, predicates, and the read predicate for the record it
// changes. If one fails, nothing is proposed and the answer lists every
// operation that failed. What only the state machine can check (unique
// values, versions, ids) it checks for the operations in order, each
// against the state as the earlier ones left it, and refuses the whole
// batch if one fails.
//
// Operations are checked against the records as they were before the
// batch: a batch changes a record at most once, so nothing it does to one
// record can change another's checks, but validate functions and
// reference checks do not see records the batch creates.

// batchOp is one operation of a batch request, parsed.
type batchOp struct {
	op      string // create, update, patch or delete
	model   *rules.Model
	id      string
	fields  map[string]any
	ifMatch uint64 // 0 when the operation gave none
}

// opError is the failure of one operation of a batch.
type opError struct {
	Index  int       `json:"index"`
	Status int       `json:"status"`
	Error  *apiError `json:"error"`
}

// batchResult is what one operation of an applied batch did.
type batchResult struct {
	Index  int             `json:"index"`
	Op     string          `json:"op"`
	Model  string          `json:"model"`
	ID     string          `json:"id"`
	Status int             `json:"status"`
	Record json.RawMessage `json:"record,omitempty"`
}

// batch serves POST /api/_batch.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	body, aerr := readObject(w, r, s.app.Config().HTTP.MaxBody)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	ops, failed, aerr := parseBatch(s.app.Rules(), body)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if len(failed) > 0 {
		writeBatchFailed(w, len(ops), failed)
		return
	}
	for attempt := 0; ; attempt++ {
		c, failed := s.batchCommand(r, ops)
		if len(failed) > 0 {
			writeBatchFailed(w, len(ops), failed)
			return
		}
		_, err := s.commit(r, c)
		var br *event.BatchRefusal
		if errors.As(err, &br) && br.Index < len(ops) {
			if br.Refusal.Code == event.CodeVersionMismatch && ops[br.Index].ifMatch == 0 && attempt < retriesOnRace {
				continue // a write raced one of the records: read and check again
			}
			aerr := s.proposeError(br.Refusal)
			writeBatchFailed(w, len(ops), []opError{{Index: br.Index, Status: aerr.Status, Error: aerr}})
			return
		}
		if err != nil {
			writeError(w, s.proposeError(err))
			return
		}
		s.writeBatchResults(w, userFrom(r), ops, c)
		return
	}
}

// parseBatch reads a batch request: {"operations":[{op, model, id,
// fields, if_match}, …]}. A body of the wrong shape is an error; an
// operation of the wrong shape is a failure of that operation.
func parseBatch(set *rules.Set, body map[string]any) ([]batchOp, []opError, *apiError) {
	for k := range body {
		if k != "operations" {
			return nil, nil, &apiError{Status: http.StatusUnprocessableEntity, Code: "validation_failed",
				Message: "a batch is {\"operations\":[…]}", Fields: map[string]string{k: "unknown field"}}
		}
	}
	list, ok := body["operations"].([]any)
	msg := ""
	switch {
	case !ok:
		msg = "must be a list of operations"
	case len(list) == 0:
		msg = "must hold at least one operation"
	case len(list) > event.MaxBatch:
		msg = fmt.Sprintf("must hold at most %d operations, not %d", event.MaxBatch, len(list))
	}
	if msg != "" {
		return nil, nil, &apiError{Status: http.StatusUnprocessableEntity, Code: "validation_failed",
			Message: "a batch is {\"operations\":[…]}", Fields: map[string]string{"operations": msg}}
	}
	ops := make([]batchOp, len(list))
	var failed []opError
	first := map[[2]string]int{}
	for i, item := range list {
		op, fields := parseOp(set, item)
		if len(fields) == 0 && op.id != "" {
			key := [2]string{op.model.Name, op.id}
			if j, dup := first[key]; dup {
				fields = map[string]string{"id": fmt.Sprintf("operation %d changes this %s already; a batch changes a record once", j, op.model.Name)}
			} else {
				first[key] = i
			}
		}
		if len(fields) > 0 {
			failed = append(failed, opError{Index: i, Status: http.StatusUnprocessableEntity, Error: &apiError{
				Status: http.StatusUnprocessableEntity, Code: "validation_failed", Message: "the operation is not one a batch can hold", Fields: fields}})
		}
		ops[i] = op
	}
	return ops, failed, nil
}

// parseOp reads one operation, or says what is wrong with it, member by
// member.
func parseOp(set *rules.Set, item any) (batchOp, map[string]string) {
	var op batchOp
	obj, ok := item.(map[string]any)
	if !ok {
		return op, map[string]string{"operation": "must be an object"}
	}
	bad := map[string]string{}
	for k := range obj {
		switch k {
		case "op", "model", "id", "fields", "if_match":
		default:
			bad[k] = "unknown field (op, model, id, fields, if_match)"
		}
	}
	op.op, _ = obj["op"].(string)
	switch op.op {
	case "create", "update", "patch", "delete":
	default:
		bad["op"] = "must be create, update, patch or delete"
	}
	name, _ := obj["model"].(string)
	if op.model = set.Model(name); op.model == nil || op.model.System {
		op.model = nil
		bad["model"] = "must name a model of the rules"
	}
	id, hasID := obj["id"]
	op.id, _ = id.(string)
	switch {
	case op.op == "create" && hasID:
		bad["id"] = "is chosen by the server on create"
	case op.op != "create" && op.id == "":
		bad["id"] = "must be the id of the record to change"
	}
	fields, hasFields := obj["fields"]
	op.fields, _ = fields.(map[string]any)
	switch {
	case op.op == "delete" && hasFields:
		bad["fields"] = "has no place in a delete"
	case op.op != "delete" && op.fields == nil:
		bad["fields"] = "must be an object of the record's fields"
	}
	if v, ok := obj["if_match"]; ok {
		op.ifMatch = versionOf(v)
		switch {
		case op.op == "create":
			bad["if_match"] = "has no place in a create"
		case op.ifMatch == 0:
			bad["if_match"] = `must be a record version, like 3 or "3"`
		}
	}
	if len(bad) > 0 {
		op.id = ""
		return op, bad
	}
	return op, nil
}

// versionOf reads an if_match: a number, or an ETag as If-Match takes it
// ("3", "\"3\"", "W/\"3\""). 0 means neither.
func versionOf(v any) uint64 {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.Trim(strings.TrimPrefix(strings.TrimSpace(x), "W/"), `"`)
	default:
		return 0
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// batchCommand checks every operation as its single write would be
// checked and returns the batch command, or every operation's failure.
func (s *Server) batchCommand(r *http.Request, ops []batchOp) (*event.Command, []opError) {
	u, actor, now := userFrom(r), actorOf(r), time.Now().UnixNano()
	c := &event.Command{Op: event.OpBatch, Actor: actor, Time: now, Batch: make(event.Batch, len(ops))}
	var failed []opError
	for i, op := range ops {
		sub, aerr := s.batchOpCommand(r.Context(), u, op)
		if aerr != nil {
			failed = append(failed, opError{Index: i, Status: aerr.Status, Error: aerr})
			continue
		}
		sub.Model, sub.Actor, sub.Time = op.model.Name, actor, now
		c.Batch[i] = sub
	}
	return c, failed
}

// batchOpCommand is create, update and delete of records.go for one
// operation, up to the command they propose.
func (s *Server) batchOpCommand(ctx context.Context, u *rules.User, op batchOp) (*event.Command, *apiError) {
	m := op.model
	action := rules.ActionUpdate
	switch op.op {
	case "create":
		action = rules.ActionCreate
	case "delete":
		action = rules.ActionDelete
	}
	if !m.RoleAllowed(action, u) {
		return nil, denied(u, string(action)+" "+m.Name+" records")
	}
	if op.op == "create" {
		if aerr := forbiddenFields(m, u, op.fields, nil); aerr != nil {
			return nil, aerr
		}
		fields, raw, aerr := s.prepare(ctx, m, u, op.fields, nil)
		if aerr != nil {
			return nil, aerr
		}
		if aerr := s.predicate(ctx, m, rules.ActionCreate, u, "", nil, fields); aerr != nil {
			return nil, aerr
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, errorf(http.StatusInternalServerError, "internal", "no id could be generated")
		}
		return &event.Command{Op: event.OpCreate, ID: id.String(), Fields: raw}, nil
	}
	old, aerr := s.lookup(ctx, m, u, op.id)
	if aerr != nil {
		return nil, aerr
	}
	if op.ifMatch != 0 && old.Version != op.ifMatch {
		return nil, preconditionFailed(m, old, op.ifMatch)
	}
	oldFields := old.Fields()
	if op.op == "delete" {
		expected := op.ifMatch
		if m.HasPredicate(rules.ActionDelete) || m.HasPredicate(rules.ActionRead) {
			if aerr := s.predicate(ctx, m, rules.ActionDelete, u, op.id, oldFields, nil); aerr != nil {
				return nil, aerr
			}
			expected = old.Version // the version the predicate judged
		}
		return &event.Command{Op: event.OpDelete, ID: op.id, Expected: expected}, nil
	}
	if aerr := forbiddenFields(m, u, op.fields, oldFields); aerr != nil {
		return nil, aerr
	}
	var candidate map[string]any
	if op.op == "patch" {
		candidate = rules.MergePatch(oldFields, op.fields)
	} else {
		candidate = withDefaults(m, op.fields)
	}
	candidate = cloneFields(candidate)
	keepProtected(m, u, candidate, oldFields)
	fields, raw, aerr := s.prepare(ctx, m, u, candidate, oldFields)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.predicate(ctx, m, rules.ActionUpdate, u, op.id, oldFields, fields); aerr != nil {
		return nil, aerr
	}
	return &event.Command{Op: event.OpUpdate, ID: op.id, Expected: old.Version, Fields: raw}, nil
}

// writeBatchFailed answers a batch of which nothing was written, with the
// status of its first failed operation.
func writeBatchFailed(w http.ResponseWriter, total int, failed []opError) {
	msg := fmt.Sprintf("%d of %d operations failed; nothing was written", len(failed), total)
	if len(failed) == 1 && total > 1 {
		msg = fmt.Sprintf("operation %d failed; nothing was written", failed[0].Index)
	}
	writeJSON(w, failed[0].Status, map[string]any{"error": map[string]any{
		"code": "batch_failed", "message": msg, "operations": failed}})
}

// writeBatchResults answers an applied batch: per operation its status as
// the single write would have answered, and the record as the caller may
// see it. The state machine's answer holds no records, so they are read
// back from the state at the version the batch wrote: the state holds it
// while it is current or among a versioned model's last ones, and the log
// holds it otherwise (another write may come in between).
func (s *Server) writeBatchResults(w http.ResponseWriter, u *rules.User, ops []batchOp, c *event.Command) {
	out := make([]batchResult, len(ops))
	for i, op := range ops {
		sub := c.Batch[i]
		res := batchResult{Index: i, Op: op.op, Model: op.model.Name, ID: sub.ID, Status: http.StatusOK}
		var version uint64
		switch sub.Op {
		case event.OpCreate:
			res.Status, version = http.StatusCreated, 1
		case event.OpUpdate:
			version = sub.Expected + 1
		case event.OpDelete:
			res.Status = http.StatusNoContent
		}
		if version != 0 {
			body, err := s.recordVersion(op.model, sub.ID, version)
			if err != nil {
				s.logger.Error("reading back a batch's record", "model", op.model.Name, "id", sub.ID, "err", err)
				writeError(w, errorf(http.StatusInternalServerError, "history_unavailable",
					"the batch was written, but a record could not be read back: "+err.Error()))
				return
			}
			res.Record = withoutFields(body, op.model.Hidden(u))
		}
		out[i] = res
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
}

// recordVersion renders version v of a record: from the state if it still
// holds it, else rebuilt from the command that wrote it.
func (s *Server) recordVersion(m *rules.Model, id string, v uint64) ([]byte, error) {
	st := s.app.State()
	if body, ok := st.Version(m.Name, id, v); ok {
		return body, nil
	}
	refs, _, _ := st.History(m.Name, id)
	for _, ref := range refs {
		if ref.Kind == event.Deleted || ref.Version != v {
			continue
		}
		c, err := s.commandFor(ref.Index, m.Name, id)
		if err != nil {
			return nil, err
		}
		return index.BuildRecord(id, v, refs[0].Time, ref.Time, c.Fields), nil
	}
	return nil, fmt.Errorf("%s %s has no version %d", m.Name, id, v)
}
