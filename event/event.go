// Package event holds the domain types every layer of Lithair shares: the
// Command a leader proposes through Raft, the Event it becomes, and the
// Result the state machine answers with. It imports nothing of the project,
// so the log, the state and the HTTP layer can all speak it.
package event

import (
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
)

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
}

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
	var c Command
	if err := json.Unmarshal(b[1:], &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
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

func (r *Refusal) Error() string {
	if r.Field != "" {
		return fmt.Sprintf("%s: %s: %s", r.Code, r.Field, r.Message)
	}
	return fmt.Sprintf("%s: %s", r.Code, r.Message)
}
