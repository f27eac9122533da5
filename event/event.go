// Package event holds the domain types every layer of Lithair shares: the
// Command a leader proposes through Raft, the Event it becomes, and the
// Result the state machine answers with. It imports nothing of the project
// but internal/jsonscan, a leaf, so the log, the state and the HTTP layer
// can all speak it.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Op names what a Command asks the state machine to do.
type Op string

// The operations a Command can carry.
const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
	// OpRules deploys a new rule set; every node switches at the same index.
	OpRules Op = "rules"
	// OpBatch carries creates, updates and deletes of different records in
	// Batch, applied in order at one log index, all or none.
	OpBatch Op = "batch"
)

// MaxBatch is the most operations one OpBatch command carries.
const MaxBatch = 1000

// Kind is the kind of an Event, as projections and the history API see it.
type Kind string

// The event kinds a record goes through.
const (
	Created Kind = "created"
	Updated Kind = "updated"
	Deleted Kind = "deleted"
)

// Command is the unit proposed through Raft. Everything non-deterministic
// (the id, the time, the actor) is fixed by the leader before proposing, so
// that applying it is a pure function of the state and the command.
type Command struct {
	Op    Op     `json:"op"`
	Model string `json:"model,omitempty"`
	ID    string `json:"id,omitempty"`
	// Expected is the version the writer based its change on. Apply refuses
	// the command with CodeVersionMismatch when the record moved on.
	Expected uint64 `json:"expected,omitempty"`
	// Fields is the record's complete new field set as a JSON object, already
	// validated and normalized by the leader (empty for a delete).
	Fields json.RawMessage `json:"fields,omitempty"`
	Actor  string          `json:"actor,omitempty"`
	// Time is the leader's clock in Unix nanoseconds.
	Time int64 `json:"time"`
	// Rules carries a rule set for OpRules: file names and sources.
	Rules []RuleFile `json:"rules,omitempty"`
	// Batch carries the operations of an OpBatch, each a whole record
	// command of its own (model, id, expected version, fields, actor, time).
	Batch Batch `json:"batch,omitempty"`
}

// Ops returns the record commands c carries: a batch's operations, or c
// itself.
func (c *Command) Ops() []*Command {
	if c.Op == OpBatch {
		return c.Batch
	}
	return []*Command{c}
}

// For returns the command that changed the record id of model at c's log
// index: c itself when c is not a batch, and for a batch its operation on
// that record, or nil if it has none. A batch changes a record at most once,
// so one log index is at most one event of a record: whatever reads a
// record's history back from the log picks its command with For.
func (c *Command) For(model, id string) *Command {
	if c.Op != OpBatch {
		return c
	}
	for _, op := range c.Batch {
		if op.Model == model && op.ID == id {
			return op
		}
	}
	return nil
}

// Batch is the operations of an OpBatch command.
type Batch []*Command

// UnmarshalJSON decodes a batch's operations one by one, so that a list
// longer than MaxBatch is refused before it is read whole, and an
// operation's own "batch" member is taken raw, never decoded in turn: a log
// entry of nested batches costs no more to refuse than its length.
func (b *Batch) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		*b = nil
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return errors.New("batch: not a list")
	}
	out := Batch{}
	for dec.More() {
		if len(out) == MaxBatch {
			return fmt.Errorf("batch: more than %d operations", MaxBatch)
		}
		var op struct {
			*plainCommand
			Batch json.RawMessage `json:"batch"`
		}
		op.plainCommand = &plainCommand{}
		if err := dec.Decode(&op); err != nil {
			return err
		}
		if len(op.Batch) > 0 && string(op.Batch) != "null" {
			return fmt.Errorf("batch: operation %d is a batch itself", len(out))
		}
		out = append(out, (*Command)(op.plainCommand))
	}
	*b = out
	return nil
}

// plainCommand is a Command without its methods, for decoding a batch's
// operations with their "batch" member shadowed.
type plainCommand Command

// RuleFile is one Lua rule file inside an OpRules command.
type RuleFile struct {
	Name   string `json:"name"`
	Source []byte `json:"source"`
}

// formatV1 is the first byte of every encoded Command: it lets a later
// version change the encoding while still reading old logs.
const formatV1 = 1

// ErrFormat reports a Command that cannot be decoded.
var ErrFormat = errors.New("event: bad command encoding")

// Encode returns the Command's wire form: a format byte then JSON.
func (c *Command) Encode() ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(body)+1)
	out = append(out, formatV1)
	return append(out, body...), nil
}

// Decode parses a Command produced by Encode.
func Decode(b []byte) (*Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrFormat)
	}
	if b[0] != formatV1 {
		return nil, fmt.Errorf("%w: unknown format %d", ErrFormat, b[0])
	}
	if c, ok := decodeRecordCommand(b[1:]); ok {
		return c, nil
	}
	var c Command
	if err := json.Unmarshal(b[1:], &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	switch {
	case c.Op == OpBatch && len(c.Batch) == 0:
		return nil, fmt.Errorf("%w: a batch without operations", ErrFormat)
	case c.Op != OpBatch && c.Batch != nil:
		return nil, fmt.Errorf("%w: a %q command with batch operations", ErrFormat, c.Op)
	}
	return &c, nil
}

// Code classifies why the state machine refused a Command.
type Code string

// The refusals Apply can answer with; each maps to one HTTP status.
const (
	CodeNotFound        Code = "not_found"        // 404
	CodeVersionMismatch Code = "version_mismatch" // 412
	CodeConflict        Code = "conflict"         // 409: id exists or unique value taken
	CodeInvalid         Code = "invalid"          // 422: command does not fit the schema
)

// Refusal is the error a Command is refused with inside Apply. It changes
// nothing in the state; the same refusal happens on every node.
type Refusal struct {
	Code    Code   `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// BatchRefusal is the refusal of a whole batch because of one of its
// operations: the one at Index (from 0) was refused with Refusal, and so
// nothing of the batch was applied. It unwraps to that Refusal, so code
// that handles single commands maps it the same way.
type BatchRefusal struct {
	Index   int
	Refusal *Refusal
}

func (r *BatchRefusal) Error() string {
	return fmt.Sprintf("batch operation %d: %v", r.Index, r.Refusal)
}

// Unwrap returns the refused operation's Refusal.
func (r *BatchRefusal) Unwrap() error { return r.Refusal }

func (r *Refusal) Error() string {
	if r.Field != "" {
		return fmt.Sprintf("%s: %s: %s", r.Code, r.Field, r.Message)
	}
	return fmt.Sprintf("%s: %s", r.Code, r.Message)
}
