package index

import (
	"errors"
	"fmt"

	"github.com/lithair/lithair/event"
)

// ApplyBatch applies the record commands of one batch at log index idx,
// in order, all or none: each is checked against the state as the earlier
// ones left it (ids, versions, unique values), as if applied one by one.
// If one is refused, the batch is refused with an *event.BatchRefusal
// naming it and the state is left as it was, but for the applied index.
// Readers never see part of a batch: the lock is held throughout.
//
// A batch changes a record at most once, so that one log index is at most
// one event in a record's history; a batch naming a record twice, holding
// anything but creates, updates and deletes, or holding no or more than
// event.MaxBatch commands is refused whole.
//
// The commands are applied for real and, on a refusal, undone in reverse.
// Undoing needs no copy of the state: the record trees and secondary
// indexes are exact sets, so each change has an exact inverse; the
// audit trail and the name lists only grow, so they are cut back; a table
// the batch made is dropped. Only the unique maps can lose information (a
// value two records held from before the field became unique has one
// owner in the map, and undoing a change to the other one would hand the
// value to it), so the entries a command is about to touch are saved
// before it runs and put back exactly.
func (s *State) ApplyBatch(idx uint64, cmds []*event.Command) ([]Applied, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx > s.applied {
		s.applied = idx
	}
	if err := checkBatch(cmds); err != nil {
		return nil, err
	}
	u := &batchUndo{audit: len(s.audit), actors: len(s.actors.list), models: len(s.models.list), unique: map[uniqueSlot]uniqueOwner{}}
	done := make([]Applied, 0, len(cmds))
	for i, c := range cmds {
		if s.tables[c.Model] == nil {
			u.tables = append(u.tables, c.Model)
		} else {
			u.saveUniqueLocked(s.tables[c.Model], c)
		}
		a, err := s.applyLocked(idx, c)
		if err != nil {
			s.undoLocked(u, cmds, done)
			return nil, &event.BatchRefusal{Index: i, Refusal: asRefusal(err)}
		}
		done = append(done, a)
	}
	return done, nil
}

// checkBatch refuses a batch whose form is wrong, before anything runs.
func checkBatch(cmds []*event.Command) error {
	switch {
	case len(cmds) == 0:
		return &event.Refusal{Code: event.CodeInvalid, Message: "a batch without operations"}
	case len(cmds) > event.MaxBatch:
		return &event.Refusal{Code: event.CodeInvalid, Message: fmt.Sprintf("a batch of %d operations; at most %d", len(cmds), event.MaxBatch)}
	}
	seen := make(map[[2]string]int, len(cmds))
	for i, c := range cmds {
		if c == nil {
			return &event.BatchRefusal{Index: i, Refusal: &event.Refusal{Code: event.CodeInvalid, Message: "an empty operation"}}
		}
		switch c.Op {
		case event.OpCreate, event.OpUpdate, event.OpDelete:
		default:
			return &event.BatchRefusal{Index: i, Refusal: &event.Refusal{Code: event.CodeInvalid, Message: fmt.Sprintf("a batch cannot carry a %q operation", c.Op)}}
		}
		key := [2]string{c.Model, c.ID}
		if j, dup := seen[key]; dup {
			return &event.BatchRefusal{Index: i, Refusal: &event.Refusal{Code: event.CodeInvalid,
				Message: fmt.Sprintf("%s %s is already changed by operation %d of the batch", c.Model, c.ID, j)}}
		}
		seen[key] = i
	}
	return nil
}

func asRefusal(err error) *event.Refusal {
	var ref *event.Refusal
	if errors.As(err, &ref) {
		return ref
	}
	return &event.Refusal{Code: event.CodeInvalid, Message: err.Error()}
}

// batchUndo is what undoing a batch needs beyond the Applied changes.
type batchUndo struct {
	audit, actors, models int      // lengths before the batch
	tables                []string // tables the batch made
	unique                map[uniqueSlot]uniqueOwner
}

// uniqueSlot is one entry of a table's unique maps.
type uniqueSlot struct {
	model, field string
	key          Key
}

type uniqueOwner struct {
	id      string
	present bool
}

// saveUniqueLocked saves the unique-map entries the command c can touch,
// unless an earlier command of the batch saved them first: the values of
// the record it changes and those of its new fields, exactly what
// applyLocked unindexes and indexes.
func (u *batchUndo) saveUniqueLocked(t *table, c *event.Command) {
	if len(t.unique) == 0 {
		return
	}
	raws := [][]byte{c.Fields}
	if old, ok := t.byID.Get(&Record{ID: c.ID}); ok {
		raws = append(raws, old.fieldBytes())
	}
	for _, raw := range raws {
		vals, _ := pickFields(raw, t.watched, false)
		for f, m := range t.unique {
			k, ok := KeyOf(vals[f])
			if !ok {
				continue
			}
			slot := uniqueSlot{c.Model, f, k}
			if _, saved := u.unique[slot]; saved {
				continue
			}
			id, present := m[k]
			u.unique[slot] = uniqueOwner{id, present}
		}
	}
}

// undoLocked undoes the changes done by the first commands of a batch,
// newest first, and puts back what u saved.
func (s *State) undoLocked(u *batchUndo, cmds []*event.Command, done []Applied) {
	for i := len(done) - 1; i >= 0; i-- {
		t, a := s.tables[cmds[i].Model], done[i]
		switch a.Kind {
		case event.Created:
			t.unindexLocked(a.New, t.valuesOf(a.New))
			t.byID.Delete(a.New)
		case event.Updated:
			t.unindexLocked(a.New, t.valuesOf(a.New))
			t.byID.ReplaceOrInsert(a.Old)
			t.indexLocked(a.Old, t.valuesOf(a.Old))
		case event.Deleted:
			t.tombs.Delete(a.Old)
			t.byID.ReplaceOrInsert(a.Old)
			t.indexLocked(a.Old, t.valuesOf(a.Old))
		}
	}
	for slot, owner := range u.unique {
		m := s.tables[slot.model].unique[slot.field]
		if owner.present {
			m[slot.key] = owner.id
		} else {
			delete(m, slot.key)
		}
	}
	for _, name := range u.tables {
		delete(s.tables, name)
	}
	// Views taken before the batch hold these slices cut at their length
	// then, so writing past it again later is invisible to them.
	s.audit = s.audit[:u.audit]
	s.actors.truncate(u.actors)
	s.models.truncate(u.models)
}

// valuesOf decodes the members of r the indexes and unique maps need.
func (t *table) valuesOf(r *Record) map[string]any {
	vals, _ := pickFields(r.fieldBytes(), t.watched, false)
	return vals
}

// truncate forgets every name after the first l.
func (n *names) truncate(l int) {
	for _, name := range n.list[l:] {
		delete(n.ids, name)
	}
	n.list = n.list[:l]
}
