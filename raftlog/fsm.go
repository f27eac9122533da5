package raftlog

import (
	"io"

	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/rules"
)

// Result is what FSM.Apply answers for a command: the record it produced
// (nil for a delete or a rules deployment) or the refusal.
type Result struct {
	Record *index.Record
	Err    error
}

// FSM is the thin adapter between hashicorp/raft and Lithair's state
// machine (Machine): it decodes entries and hands them over in order.
type FSM struct {
	m         *Machine
	OnApplied func(idx uint64) // optional, called after every applied entry
}

var _ raft.BatchingFSM = (*FSM)(nil)

// NewFSM returns an FSM over a fresh Machine applying to state; rule sets
// it deploys are compiled with opts.
func NewFSM(state *index.State, opts rules.Options) *FSM {
	return &FSM{m: NewMachine(state, opts)}
}

// Machine returns the state machine behind the FSM.
func (f *FSM) Machine() *Machine { return f.m }

// Rules returns the active rule set, nil before the first deployment.
func (f *FSM) Rules() *rules.Set { return f.m.Rules() }

// State returns the state the FSM applies to.
func (f *FSM) State() *index.State { return f.m.state }

// Apply applies one committed entry.
func (f *FSM) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries in order.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			f.m.state.SetApplied(l.Index)
			f.m.noteApplied(l.Index)
			out[i] = &Result{}
		} else {
			out[i] = f.m.ApplyEntry(l.Index, l.Data)
		}
		if f.OnApplied != nil {
			f.OnApplied(l.Index)
		}
	}
	return out
}

// Snapshot freezes the state; Persist streams it while Apply goes on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) { return f.m.Snapshot(), nil }

// Restore replaces the whole state with a snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return f.m.Restore(rc)
}

// applyRefusal wraps a decoding failure as a refusal every node gives.
func applyRefusal(err error) *Result {
	return &Result{Err: &event.Refusal{Code: event.CodeInvalid, Message: err.Error()}}
}
