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

// History returns a record's events, oldest first, whether it is live or
// deleted, and whether it exists now.
func (s *State) History(model, id string) (events []EventRef, live bool, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, live, ok := s.findLocked(model, id)
	if !ok {
		return nil, false, false
	}
	return eventRefs(r.stamps(), !live), live, true
}

// findLocked finds a record, live or deleted.
func (s *State) findLocked(model, id string) (*Record, bool, bool) {
	t := s.tables[model]
	if t == nil {
		return nil, false, false
	}
	if r, found := t.byID.Get(&Record{ID: id}); found {
		return r, true, true
	}
	if r, found := t.tombs.Get(&Record{ID: id}); found {
		return r, false, true
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
	r, _, ok := s.findLocked(model, id)
	if !ok || v == 0 || v > r.Version {
		return nil, false
	}
	if v == r.Version {
		return appendRecord(nil, r.ID, v, r.CreatedAt, r.UpdatedAt(), r.fields), true
	}
	if r.more == nil {
		return nil, false
	}
	back := r.Version - v // how many versions ago
	if back > uint64(len(r.more.versions)) {
		return nil, false
	}
	// Version v was written by event v-1 (0 is the create).
	updated := r.CreatedAt
	if v > 1 {
		updated = r.more.events[v-2].Time
	}
	fields := r.more.versions[uint64(len(r.more.versions))-back]
	return appendRecord(nil, r.ID, v, r.CreatedAt, updated, fields), true
}

// BuildRecord renders a record as it was after an event, for versions
// the state no longer holds (rebuilt from the log by the caller).
func BuildRecord(id string, version uint64, created, updated int64, fields []byte) []byte {
	return appendRecord(nil, id, version, created, updated, string(fields))
}

// AuditRef is one change of an audited model. ID and Actor are filled
// when the state knows them; otherwise the caller reads them from the
// command at Index.
type AuditRef struct {
	Index uint64
	Model string
	ID    string
	Actor string
	Kind  event.Kind
	// Seq tells apart the changes one batch made to records of Model: the
	// change is the batch's Seq-th operation (from 0) on Model. It is 0
	// for a command that changes one record, and when ID is set.
	Seq int
}

// auditEntry is the compact form the trail keeps: 16 bytes a change.
type auditEntry struct {
	Index uint64
	actor uint32
	model uint16
	kind  uint8
}

var kinds = []event.Kind{event.Created, event.Updated, event.Deleted}

func kindCode(k event.Kind) uint8 { return uint8(slices.Index(kinds, k)) }

// names stores each name once and hands out small numbers for it.
type names struct {
	list []string
	ids  map[string]uint32
}

func (n *names) id(name string) uint32 {
	if id, ok := n.ids[name]; ok {
		return id
	}
	if n.ids == nil {
		n.ids = map[string]uint32{}
	}
	n.ids[name] = uint32(len(n.list))
	n.list = append(n.list, name)
	return n.ids[name]
}

func (n *names) name(id uint32) string {
	if int(id) < len(n.list) {
		return n.list[id]
	}
	return ""
}

// AuditQuery selects audit entries; empty fields match everything.
type AuditQuery struct {
	Model, ID, Actor string
	Before           uint64 // only entries with a log index below this; 0 = newest
	Limit            int
}

// Audit returns matching audit entries newest first, and whether more
// follow (continue with Before = the last entry's Index). A page never
// ends inside the changes of one log entry, so the last one may take it
// past Limit by the rest of a batch's changes. With an ID, the
// entries come from that record's history and their Actor is left for the
// caller to read from the log (and to filter on).
func (s *State) Audit(q AuditQuery) ([]AuditRef, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []AuditRef
	if q.ID != "" {
		for model, t := range s.tables {
			if (q.Model != "" && model != q.Model) || !s.specs[model].Audited || t == nil {
				continue
			}
			r, live, ok := s.findLocked(model, q.ID)
			if !ok {
				continue
			}
			evs := eventRefs(r.stamps(), !live)
			for i := len(evs) - 1; i >= 0; i-- {
				if q.Before != 0 && evs[i].Index >= q.Before {
					continue
				}
				if len(out) == q.Limit {
					return out, true
				}
				out = append(out, AuditRef{Index: evs[i].Index, Model: model, ID: q.ID, Kind: evs[i].Kind})
			}
		}
		return out, false
	}
	for i := len(s.audit) - 1; i >= 0; i-- {
		a := s.audit[i]
		if q.Before != 0 && a.Index >= q.Before {
			continue
		}
		model, actor := s.models.name(uint32(a.model)), s.actors.name(a.actor)
		if (q.Model != "" && model != q.Model) || (q.Actor != "" && actor != q.Actor) {
			continue
		}
		if len(out) >= q.Limit && (len(out) == 0 || out[len(out)-1].Index != a.Index) {
			return out, true
		}
		seq := 0
		for j := i - 1; j >= 0 && s.audit[j].Index == a.Index; j-- {
			if s.audit[j].model == a.model {
				seq++
			}
		}
		out = append(out, AuditRef{Index: a.Index, Model: model, Actor: actor, Kind: kinds[a.kind], Seq: seq})
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
			for _, ev := range eventRefs(r.stamps(), deleted) {
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
