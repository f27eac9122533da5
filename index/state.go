// Package index is Lithair's in-memory state: every live record of every
// model in google/btree trees, secondary indexes on the fields the rules
// mark indexed, the unique-value maps Apply enforces, each record's
// history and the audit trail. It is derived from events only: the state
// machine feeds it Commands in log order and it can always be rebuilt.
package index

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/google/btree"

	"github.com/lithair/lithair/event"
)

// ModelSpec is what the state needs to know of a model's schema.
type ModelSpec struct {
	Name      string
	Unique    []string // values unique among live records
	Indexed   []string // fields with a secondary index (unique implies indexed)
	Audited   bool     // changes go to the audit trail
	Versioned int      // how many versions stay directly addressable (>= 1)
}

// State holds the current records of every model. Reads take a shared
// lock; Apply, which runs only on the Raft apply goroutine, takes it
// exclusively for the few microseconds a change needs.
type State struct {
	mu      sync.RWMutex
	tables  map[string]*table
	specs   map[string]ModelSpec
	audit   []auditEntry
	actors  names // actor names, each stored once
	models  names // model names, each stored once
	applied uint64
}

// table is one model's records and indexes.
type table struct {
	byID    *btree.BTreeG[*Record]
	tombs   *btree.BTreeG[*Record] // deleted records, kept for their history
	unique  map[string]map[Key]string
	indexes map[string]*btree.BTreeG[entry]
	// watched is every field an index or a unique map needs, so Apply
	// decodes only those members.
	watched map[string]struct{}
	// build is set while the secondary indexes are filled in the
	// background after a restore; see finishBuildLocked.
	build *backgroundBuild
}

func lessByID(a, b *Record) bool { return a.ID < b.ID }

func newTable() *table {
	return &table{byID: btree.NewG(32, lessByID), tombs: btree.NewG(32, lessByID)}
}

// New returns an empty State.
func New() *State {
	return &State{tables: map[string]*table{}, specs: map[string]ModelSpec{}}
}

// SetModels installs the schema facts of the active rules. Indexes whose
// definition changed are rebuilt from the live records.
func (s *State) SetModels(specs []ModelSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.specs
	s.specs = make(map[string]ModelSpec, len(specs))
	for _, sp := range specs {
		s.specs[sp.Name] = sp
	}
	for name, t := range s.tables {
		if !sameIndexes(old[name], s.specs[name]) || t.watched == nil {
			s.reindexLocked(name, t)
		}
	}
}

func sameIndexes(a, b ModelSpec) bool {
	return slices.Equal(a.Unique, b.Unique) && slices.Equal(a.Indexed, b.Indexed)
}

// reindexLocked rebuilds a table's unique maps and secondary indexes.
func (s *State) reindexLocked(model string, t *table) {
	t.finishBuildLocked()
	t.setupIndexes(s.specs[model])
	if len(t.watched) == 0 {
		return
	}
	b := t.startBuild()
	batch := make([]*Record, 0, buildBatch)
	t.byID.Ascend(func(r *Record) bool {
		t.addUnique(r)
		if batch = append(batch, r); len(batch) == buildBatch {
			b.add(batch)
			batch = make([]*Record, 0, buildBatch)
		}
		return true
	})
	b.add(batch)
	b.close()
	b.wait()
}

// setupIndexes makes empty unique maps and secondary indexes for sp.
func (t *table) setupIndexes(sp ModelSpec) {
	t.unique = map[string]map[Key]string{}
	t.indexes = map[string]*btree.BTreeG[entry]{}
	t.watched = map[string]struct{}{}
	for _, f := range sp.Unique {
		t.unique[f] = map[Key]string{}
		t.watched[f] = struct{}{}
	}
	for _, f := range append(slices.Clone(sp.Indexed), sp.Unique...) {
		if t.indexes[f] == nil {
			t.indexes[f] = newSecondary()
		}
		t.watched[f] = struct{}{}
	}
}

// addUnique enters a record's unique values. Unique maps are always
// complete: Apply checks them, so they are never built in the background.
func (t *table) addUnique(r *Record) {
	for f, m := range t.unique {
		if k, ok := fieldKey(r.fieldBytes(), f); ok {
			m[k] = r.ID
		}
	}
}

// AppliedIndex is the log index of the last command applied.
func (s *State) AppliedIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// SetApplied records that the log entry at idx was applied even though it
// carried no record change (a configuration entry, a rules deployment).
func (s *State) SetApplied(idx uint64) {
	s.mu.Lock()
	if idx > s.applied {
		s.applied = idx
	}
	s.mu.Unlock()
}

// Get returns the live record of model with id.
func (s *State) Get(model, id string) (*Record, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tables[model]
	if t == nil {
		return nil, false
	}
	return t.byID.Get(&Record{ID: id})
}

// GetUnique returns the live record of model whose unique field holds v.
func (s *State) GetUnique(model, field string, v any) (*Record, bool) {
	k, ok := KeyOf(v)
	if !ok {
		return nil, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tables[model]
	if t == nil {
		return nil, false
	}
	id, ok := t.unique[field][k]
	if !ok {
		return nil, false
	}
	return t.byID.Get(&Record{ID: id})
}

// Count returns how many live records model has.
func (s *State) Count(model string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t := s.tables[model]; t != nil {
		return t.byID.Len()
	}
	return 0
}

// Applied is what one applied command changed: the record before and
// after (either nil for a create or a delete).
type Applied struct {
	Kind event.Kind
	Old  *Record
	New  *Record
}

// Apply applies one command at log index idx. A refused command returns an
// *event.Refusal and changes nothing but the applied index. Apply must stay
// a pure function of the state and the command: every node runs it.
func (s *State) Apply(idx uint64, c *event.Command) (Applied, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applyLocked(idx, c)
}

// applyLocked is Apply under the caller's lock. Every refusal comes before
// the first change to a record, index or the audit trail (a table made for
// a model seen for the first time stays): ApplyBatch's undo relies on it.
func (s *State) applyLocked(idx uint64, c *event.Command) (Applied, error) {
	if idx > s.applied {
		s.applied = idx
	}
	t := s.tables[c.Model]
	if t == nil {
		t = newTable()
		s.tables[c.Model] = t
		s.reindexLocked(c.Model, t)
	}
	sp := s.specs[c.Model]
	old, exists := t.byID.Get(&Record{ID: c.ID})
	at := stamp{idx, c.Time}
	switch c.Op {
	case event.OpCreate, event.OpUpdate:
		var rec *Record
		kind := event.Created
		if c.Op == event.OpCreate {
			if exists {
				return Applied{}, &event.Refusal{Code: event.CodeConflict, Message: fmt.Sprintf("a %s with id %s already exists", c.Model, c.ID)}
			}
			if _, wasDeleted := t.tombs.Get(&Record{ID: c.ID}); wasDeleted {
				return Applied{}, &event.Refusal{Code: event.CodeConflict, Message: fmt.Sprintf("a deleted %s had id %s", c.Model, c.ID)}
			}
			rec = newRecord(c.ID, c.Fields)
			rec.Version, rec.CreatedAt, rec.created = 1, c.Time, idx
		} else {
			if !exists {
				return Applied{}, notFound(c)
			}
			if c.Expected != 0 && c.Expected != old.Version {
				return Applied{}, versionMismatch(c, old)
			}
			kind = event.Updated
			rec = newRecord(old.ID, c.Fields)
			rec.Version, rec.CreatedAt, rec.created, rec.more = old.Version+1, old.CreatedAt, old.created, old.followedBy(at, sp.Versioned)
		}
		newVals, err := pickFields(rec.fieldBytes(), t.watched, true)
		if err != nil {
			return Applied{}, &event.Refusal{Code: event.CodeInvalid, Message: err.Error()}
		}
		if err := t.checkUnique(newVals, c.ID); err != nil {
			return Applied{}, err
		}
		if old != nil {
			oldVals, _ := pickFields(old.fieldBytes(), t.watched, false)
			t.unindexLocked(old, oldVals)
		}
		t.byID.ReplaceOrInsert(rec)
		t.indexLocked(rec, newVals)
		s.auditLocked(sp, idx, c, kind)
		return Applied{Kind: kind, Old: old, New: rec}, nil
	case event.OpDelete:
		if !exists {
			return Applied{}, notFound(c)
		}
		if c.Expected != 0 && c.Expected != old.Version {
			return Applied{}, versionMismatch(c, old)
		}
		oldVals, _ := pickFields(old.fieldBytes(), t.watched, false)
		t.unindexLocked(old, oldVals)
		t.byID.Delete(old)
		tomb := *old
		tomb.more = old.followedBy(at, sp.Versioned)
		if sp.Versioned > 1 {
			// The deleted version's fields stay the tomb's own; the list of
			// earlier ones must not hold them twice.
			tomb.more.versions = tomb.more.versions[:len(tomb.more.versions)-1]
		}
		t.tombs.ReplaceOrInsert(&tomb)
		s.auditLocked(sp, idx, c, event.Deleted)
		return Applied{Kind: event.Deleted, Old: old}, nil
	}
	return Applied{}, &event.Refusal{Code: event.CodeInvalid, Message: fmt.Sprintf("unknown operation %q", c.Op)}
}

func (s *State) auditLocked(sp ModelSpec, idx uint64, c *event.Command, kind event.Kind) {
	if !sp.Audited {
		return
	}
	s.audit = append(s.audit, auditEntry{Index: idx, model: uint16(s.models.id(sp.Name)), actor: s.actors.id(c.Actor), kind: kindCode(kind)})
}

func notFound(c *event.Command) error {
	return &event.Refusal{Code: event.CodeNotFound, Message: fmt.Sprintf("no %s with id %s", c.Model, c.ID)}
}

func versionMismatch(c *event.Command, old *Record) error {
	return &event.Refusal{Code: event.CodeVersionMismatch,
		Message: fmt.Sprintf("%s %s is at version %d, not %d", c.Model, c.ID, old.Version, c.Expected)}
}

// checkUnique refuses values when one of them belongs to another live
// record. self is the id allowed to hold a value already.
func (t *table) checkUnique(vals map[string]any, self string) error {
	for f, m := range t.unique {
		k, ok := KeyOf(vals[f])
		if !ok {
			continue
		}
		if owner, taken := m[k]; taken && owner != self {
			v, _ := json.Marshal(k.Value())
			return &event.Refusal{Code: event.CodeConflict, Field: f, Message: fmt.Sprintf("%s %s is already taken", f, v)}
		}
	}
	return nil
}

func (t *table) indexLocked(r *Record, vals map[string]any) {
	for f, tree := range t.indexes {
		if k, ok := KeyOf(vals[f]); ok {
			t.treeOpLocked(f, tree, entry{k, r}, true)
			if m := t.unique[f]; m != nil {
				m[k] = r.ID
			}
		}
	}
}

func (t *table) unindexLocked(r *Record, vals map[string]any) {
	for f, tree := range t.indexes {
		if k, ok := KeyOf(vals[f]); ok {
			t.treeOpLocked(f, tree, entry{k, r}, false)
			if m := t.unique[f]; m != nil && m[k] == r.ID {
				delete(m, k)
			}
		}
	}
}

// treeOpLocked inserts or deletes an index entry, or queues it while the
// index is still being built in the background.
func (t *table) treeOpLocked(field string, tree *btree.BTreeG[entry], e entry, insert bool) {
	if t.build != nil {
		t.build.pending = append(t.build.pending, treeOp{field, e, insert})
		return
	}
	if insert {
		tree.ReplaceOrInsert(e)
	} else {
		tree.Delete(e)
	}
}
