package raftlog_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"sort"

	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/raftlog"
)

// plModel is what the workload was told: every record as its last
// acknowledged write left it, and the writes not acknowledged since,
// which a crash may or may not have kept.
type plModel struct {
	recs    map[string]plRec  // acknowledged live records
	gone    map[string]bool   // acknowledged deletes
	live    []string          // ids of recs, for picking at random
	pending [][]plOp          // unacknowledged commands
	ackedAt map[uint64][]byte // the log index and data of every acknowledged command
	nextID  int
	gen     int
}

type plRec struct {
	fields  string
	version uint64
}

// plOp is one record operation of a command and the record after it.
type plOp struct {
	id     string
	exists bool
	rec    plRec
}

const plModelName = "Item"

func (m *plModel) fields(rng *rand.Rand, id string) json.RawMessage {
	m.gen++
	pad := make([]byte, rng.Intn(400))
	for i := range pad {
		pad[i] = 'a' + byte(rng.Intn(26))
	}
	return json.RawMessage(fmt.Sprintf(`{"gen":"%s/%d","pad":"%s"}`, id, m.gen, pad))
}

// op makes one record command on an id not in busy.
func (m *plModel) op(rng *rand.Rand, busy map[string]bool) (*event.Command, plOp) {
	t := fixedTime + int64(m.gen)
	if p := rng.Intn(100); p >= 45 && len(m.live) > len(busy) {
		id := m.live[rng.Intn(len(m.live))]
		for busy[id] {
			id = m.live[rng.Intn(len(m.live))]
		}
		busy[id] = true
		old := m.recs[id]
		if p < 80 {
			f := m.fields(rng, id)
			return &event.Command{Op: event.OpUpdate, Model: plModelName, ID: id, Expected: old.version, Fields: f, Time: t},
				plOp{id: id, exists: true, rec: plRec{fields: string(f), version: old.version + 1}}
		}
		return &event.Command{Op: event.OpDelete, Model: plModelName, ID: id, Expected: old.version, Time: t}, plOp{id: id}
	}
	id := fmt.Sprintf("r%d", m.nextID)
	m.nextID++
	busy[id] = true
	f := m.fields(rng, id)
	return &event.Command{Op: event.OpCreate, Model: plModelName, ID: id, Fields: f, Time: t},
		plOp{id: id, exists: true, rec: plRec{fields: string(f), version: 1}}
}

// command makes a record command or, one time in eight, a batch.
func (m *plModel) command(rng *rand.Rand, busy map[string]bool) ([]byte, []plOp) {
	var c *event.Command
	var ops []plOp
	if rng.Intn(8) == 0 {
		c = &event.Command{Op: event.OpBatch, Time: fixedTime}
		for range 2 + rng.Intn(4) {
			oc, op := m.op(rng, busy)
			c.Batch, ops = append(c.Batch, oc), append(ops, op)
		}
	} else {
		oc, op := m.op(rng, busy)
		c, ops = oc, []plOp{op}
	}
	b, err := c.Encode()
	if err != nil {
		panic(err)
	}
	return b, ops
}

func (m *plModel) set(op plOp) {
	_, had := m.recs[op.id]
	switch {
	case op.exists && !had:
		m.live = append(m.live, op.id)
	case !op.exists && had:
		for i, id := range m.live {
			if id == op.id {
				m.live[i] = m.live[len(m.live)-1]
				m.live = m.live[:len(m.live)-1]
				break
			}
		}
	}
	if op.exists {
		m.recs[op.id] = op.rec
	} else {
		delete(m.recs, op.id)
		m.gone[op.id] = true
	}
}

// run applies random commands until the power goes or steps are done.
// Nothing is acknowledged but what Apply returned without an error.
func (m *plModel) run(n *plNode, rng *rand.Rand, steps int, st *plStats) error {
	for range steps {
		if n.fs.PowerLost() {
			return nil
		}
		k := 1
		switch p := rng.Intn(100); {
		case p < 4:
			err := n.raft.Snapshot().Error()
			if err == nil {
				st.userSnapshots.Add(1)
			} else if !errors.Is(err, raft.ErrNothingNewToSnapshot) && !n.fs.PowerLost() {
				return fmt.Errorf("user snapshot failed with the power on: %w", err)
			}
			continue
		case p < 12:
			k = 2 + rng.Intn(6) // concurrent applies: raft batches them
		}
		busy := map[string]bool{}
		cmds := make([][]byte, k)
		ops := make([][]plOp, k)
		futures := make([]raft.ApplyFuture, k)
		for i := range k {
			cmds[i], ops[i] = m.command(rng, busy)
		}
		for i := range k {
			futures[i] = n.raft.Apply(cmds[i], waitTimeout)
		}
		var failed error
		for i, f := range futures {
			if err := f.Error(); err != nil {
				m.pending = append(m.pending, ops[i])
				failed = err
				continue
			}
			if res, ok := f.Response().(*raftlog.Result); !ok || res.Err != nil {
				return fmt.Errorf("command refused, the model and the state disagree: %+v", f.Response())
			}
			for _, op := range ops[i] {
				m.set(op)
			}
			m.ackedAt[f.Index()] = cmds[i]
			st.acked.Add(1)
			st.ackedOps.Add(int64(len(ops[i])))
		}
		if failed != nil {
			if !n.fs.PowerLost() {
				return fmt.Errorf("apply failed with the power on: %w", failed)
			}
			return nil
		}
	}
	return nil
}

// matches reports whether the state holds op's outcome for its record.
func matches(s *index.State, op plOp) bool {
	r, ok := s.Get(plModelName, op.id)
	if !op.exists || !ok {
		return ok == op.exists
	}
	return r.Version == op.rec.version && string(r.RawFields()) == op.rec.fields
}

// check compares the state after a crash with the model: unacknowledged
// commands are found applied whole or not at all and become the truth;
// then every record the model knows must be exactly as acknowledged, and
// the state must hold nothing else.
func (m *plModel) check(s *index.State, st *plStats) error {
	for _, ops := range m.pending {
		applied, untouched := true, true
		for _, op := range ops {
			applied = applied && matches(s, op)
			before := plOp{id: op.id}
			before.rec, before.exists = m.recs[op.id]
			untouched = untouched && matches(s, before)
		}
		switch {
		case applied:
			for _, op := range ops {
				m.set(op)
			}
		case !untouched:
			return fmt.Errorf("an unacknowledged command of %d operations is neither applied nor absent: %+v", len(ops), ops)
		}
	}
	m.pending = nil
	ids := make([]string, 0, len(m.recs))
	for id := range m.recs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		want := m.recs[id]
		r, ok := s.Get(plModelName, id)
		if !ok {
			return fmt.Errorf("acknowledged record %s (version %d) is lost", id, want.version)
		}
		if r.Version != want.version || string(r.RawFields()) != want.fields {
			return fmt.Errorf("acknowledged record %s: version %d %.60s, want version %d %.60s", id, r.Version, r.RawFields(), want.version, want.fields)
		}
	}
	for id := range m.gone {
		if _, ok := s.Get(plModelName, id); ok {
			return fmt.Errorf("record %s, deleted and acknowledged, is back", id)
		}
	}
	if got := s.Count(plModelName); got != len(m.recs) {
		return fmt.Errorf("the state holds %d records, the model %d", got, len(m.recs))
	}
	st.recordChecks.Add(int64(len(m.recs) + len(m.gone)))
	return nil
}
