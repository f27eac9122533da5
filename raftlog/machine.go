package raftlog

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/rules"
)

// Machine is Lithair's state machine: it applies decoded commands to the
// state and switches rule sets at the index where they were deployed.
// Recovery and tests drive it directly; the FSM only feeds it from Raft.
type Machine struct {
	state    *index.State
	ruleOpts rules.Options
	rules    atomic.Pointer[rules.Set]
	proj     projections
	// commands reads a committed command back from the log, for rebuilding
	// a projection whose definition changed; nil disables rebuilds.
	commands func(idx uint64) (*event.Command, error)
	// Logger receives what Apply cannot return: projection failures.
	Logger *slog.Logger
	// OnApply, when set before the first Apply, is told of every record
	// change applied (not of refusals), on the apply goroutine, in log
	// order: the live event stream feeds on it. It must not block.
	OnApply func(idx uint64, c *event.Command, applied index.Applied)
	// OnSnapshot, when set, is told how long each snapshot took to write
	// and whether it failed. For metrics.
	OnSnapshot func(d time.Duration, err error)
	// logApplied is the last index this node applied from its own log,
	// never raised by a snapshot restore: entries up to it were committed.
	logApplied atomic.Uint64
}

// LogApplied returns the last log index this node applied entry by entry
// (not through a snapshot). Entries up to it are known to be committed.
func (m *Machine) LogApplied() uint64 { return m.logApplied.Load() }

// noteApplied records that the entry at idx was applied from the log.
func (m *Machine) noteApplied(idx uint64) {
	if idx > m.logApplied.Load() {
		m.logApplied.Store(idx)
	}
}

// SetCommandSource tells the machine how to read past commands back.
func (m *Machine) SetCommandSource(read func(idx uint64) (*event.Command, error)) {
	m.commands = read
}

// NewMachine returns a Machine applying to state.
func NewMachine(state *index.State, opts rules.Options) *Machine {
	return &Machine{state: state, ruleOpts: opts}
}

// Rules returns the active rule set, nil before the first deployment.
func (m *Machine) Rules() *rules.Set { return m.rules.Load() }

// State returns the state the machine applies to.
func (m *Machine) State() *index.State { return m.state }

// ApplyEntry decodes and applies the command in one log entry. It is a
// pure function of the state and the entry: every node gets the same
// result.
func (m *Machine) ApplyEntry(idx uint64, data []byte) *Result {
	defer m.noteApplied(idx)
	c, err := event.Decode(data)
	if err != nil {
		// A committed entry that does not decode is skipped on every node
		// alike, so the state stays the same everywhere.
		m.state.SetApplied(idx)
		return applyRefusal(err)
	}
	return m.Apply(idx, c)
}

// Apply applies one command.
func (m *Machine) Apply(idx uint64, c *event.Command) *Result {
	if c.Op == event.OpRules {
		// The applied index moves last: whoever waits for this index
		// (a read barrier, a forwarded write) must find the new rules.
		defer m.state.SetApplied(idx)
		set, err := compileRules(c.Rules, m.ruleOpts)
		if err != nil {
			return applyRefusal(err)
		}
		m.state.SetModels(ModelSpecs(set))
		m.rules.Store(set)
		m.switchProjections(set)
		return &Result{}
	}
	if c.Op == event.OpBatch {
		return m.applyBatch(idx, c)
	}
	applied, err := m.state.Apply(idx, c)
	if err == nil {
		m.feedProjections(c.Model, applied)
		if m.OnApply != nil {
			m.OnApply(idx, c, applied)
		}
	}
	return &Result{Record: applied.New, Err: err}
}

// applyBatch applies a batch's operations all or none, then hands each
// change, in order, to the projections (all of them before any reader of
// the projections sees one) and to OnApply. The Result carries no record:
// the caller reads them back from the state.
func (m *Machine) applyBatch(idx uint64, c *event.Command) *Result {
	applied, err := m.state.ApplyBatch(idx, c.Batch)
	if err != nil {
		return &Result{Err: err}
	}
	m.proj.mu.Lock()
	for i, a := range applied {
		m.feedProjectionsLocked(c.Batch[i].Model, a)
	}
	m.proj.mu.Unlock()
	if m.OnApply != nil {
		for i, a := range applied {
			m.OnApply(idx, c.Batch[i], a)
		}
	}
	return &Result{}
}

func compileRules(files []event.RuleFile, opts rules.Options) (*rules.Set, error) {
	rf := make([]rules.File, len(files))
	for i, file := range files {
		rf[i] = rules.File{Name: file.Name, Source: file.Source}
	}
	set, err := rules.LoadFiles(rf, opts)
	if err != nil {
		return nil, fmt.Errorf("rules deployment refused: %w", err)
	}
	return set, nil
}

// ModelSpecs extracts what the state must enforce from a rule set.
func ModelSpecs(set *rules.Set) []index.ModelSpec {
	if set == nil {
		return nil
	}
	specs := make([]index.ModelSpec, 0, len(set.Models))
	for _, m := range set.Models {
		sp := index.ModelSpec{Name: m.Name, Audited: m.Audited, Versioned: m.Versioned}
		for _, fd := range m.Fields {
			if fd.Unique {
				sp.Unique = append(sp.Unique, fd.Name)
			}
			if fd.Indexed {
				sp.Indexed = append(sp.Indexed, fd.Name)
			}
		}
		specs = append(specs, sp)
	}
	return specs
}
