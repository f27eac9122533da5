package index

import (
	"cmp"
	"slices"

	"github.com/lithair/lithair/event"
)

// EventRef locates one event of a record in the log. The event itself (its
// fields, its actor) is read from the log when asked for.
type EventRef struct {
	Index   uint64 // the log index of the command
	Time    int64  // Unix nanoseconds
	Version uint64 // the record's version after the event (unchanged by a delete)
	Kind    event.Kind
}

// AuditRef is one change of an audited model, newest last in the trail.
type AuditRef struct {
	Index uint64
	Time  int64
	Model string
	ID    string
	Actor string
	Kind  event.Kind
}

// History returns a record's events, oldest first, whether it is live or
// deleted, and whether it exists now.
func (s *State) History(model, id string) (events []EventRef, live bool, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tables[model]
	if t == nil {
		return nil, false, false
	}
	if r, found := t.byID.Get(&Record{ID: id}); found {
		return eventRefs(r.events, false), true, true
	}
	if r, found := t.tombs.Get(&Record{ID: id}); found {
		return eventRefs(r.events, true), false, true
	}
	return nil, false, false
}

// eventRefs spells out a record's compact history: the first event
// created version 1, each next one the next version, and a deleted
// record's last event is its delete.
func eventRefs(stamps []stamp, deleted bool) []EventRef {
	out := make([]EventRef, len(stamps))
	for i, st := range stamps {
		out[i] = EventRef{Index: st.Index, Time: st.Time, Version: uint64(i + 1), Kind: event.Updated}
		switch {
		case i == 0:
			out[i].Kind = event.Created
		case deleted && i == len(stamps)-1:
			out[i].Kind, out[i].Version = event.Deleted, uint64(i)
		}
	}
	return out
}

// Version returns the JSON of version v of a record if the state still
// holds it: the current version, or one of the last N for a model with
// versioned = N. Otherwise the caller rebuilds it from the log.
func (s *State) Version(model, id string, v uint64) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tables[model]
	if t == nil {
		return nil, false
	}
	r, found := t.byID.Get(&Record{ID: id})
	if !found {
		if r, found = t.tombs.Get(&Record{ID: id}); !found {
			return nil, false
		}
	}
	if r.JSON != nil && r.Version == v {
		return r.JSON, true
	}
	back := r.Version - v // how many versions ago
	if v < r.Version && back <= uint64(len(r.versions)) {
		return r.versions[uint64(len(r.versions))-back], true
	}
	return nil, false
}

// BuildRecord renders a record as it was after an event, for versions
// the state no longer holds (rebuilt from the log by the caller).
func BuildRecord(id string, version uint64, created, updated int64, fields []byte) []byte {
	b, _ := encodeRecord(id, version, created, updated, fields)
	return b
}

// AuditQuery selects audit entries; empty fields match everything.
type AuditQuery struct {
	Model, ID, Actor string
	Before           uint64 // only entries with a log index below this; 0 = newest
	Limit            int
}

// Audit returns matching audit entries newest first, and whether more
// follow (continue with Before = the last entry's Index).
func (s *State) Audit(q AuditQuery) ([]AuditRef, bool) {
	s.mu.RLock()
	trail := s.audit
	s.mu.RUnlock()
	var out []AuditRef
	for i := len(trail) - 1; i >= 0; i-- {
		a := trail[i]
		if q.Before != 0 && a.Index >= q.Before {
			continue
		}
		if (q.Model != "" && a.Model != q.Model) || (q.ID != "" && a.ID != q.ID) || (q.Actor != "" && a.Actor != q.Actor) {
			continue
		}
		if len(out) == q.Limit {
			return out, true
		}
		out = append(out, a)
	}
	return out, false
}

// ModelEvent is one successful event of some record of a model.
type ModelEvent struct {
	EventRef
	ID string
}

// ModelEvents returns every successful event of every record, live or
// deleted, of model in log order: what a projection rebuild replays.
func (s *State) ModelEvents(model string) []ModelEvent {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tables[model]
	if t == nil {
		return nil
	}
	var out []ModelEvent
	collect := func(deleted bool) func(r *Record) bool {
		return func(r *Record) bool {
			for _, ev := range eventRefs(r.events, deleted) {
				out = append(out, ModelEvent{EventRef: ev, ID: r.ID})
			}
			return true
		}
	}
	t.byID.Ascend(collect(false))
	t.tombs.Ascend(collect(true))
	slices.SortFunc(out, func(a, b ModelEvent) int { return cmp.Compare(a.Index, b.Index) })
	return out
}
