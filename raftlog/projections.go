package raftlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/rules"
)

// projections holds the rows of every projection of the active rules.
// Apply feeds them; HTTP readers take the read lock.
type projections struct {
	mu     sync.RWMutex
	byName map[string]*projection
}

type projection struct {
	def         *rules.Projection
	fingerprint uint64 // of the file that defines it: a change means a rebuild
	state       *rules.ProjectionState
}

// fingerprint identifies a projection's definition by its name and the
// source of the file declaring it.
func fingerprint(set *rules.Set, p *rules.Projection) uint64 {
	h := xxhash.New()
	h.WriteString(p.Name)
	for _, f := range set.Files {
		if f.Name == p.File {
			h.Write(f.Source)
		}
	}
	return h.Sum64()
}

// ProjectionRows returns a projection's rows (key -> column -> value), or
// false when the active rules declare no such projection.
func (m *Machine) ProjectionRows(name string) (map[string]map[string]any, bool) {
	m.proj.mu.RLock()
	defer m.proj.mu.RUnlock()
	p := m.proj.byName[name]
	if p == nil {
		return nil, false
	}
	return p.def.Rows(p.state), true
}

// ProjectionNames lists the active projections, sorted.
func (m *Machine) ProjectionNames() []string {
	m.proj.mu.RLock()
	defer m.proj.mu.RUnlock()
	names := make([]string, 0, len(m.proj.byName))
	for n := range m.proj.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// feedProjections hands one applied change to the projections that listen
// to its model. A projection whose Lua fails skips the event; the failure
// is logged, the record change stands.
func (m *Machine) feedProjections(model string, a index.Applied) {
	m.proj.mu.Lock()
	defer m.proj.mu.Unlock()
	m.feedProjectionsLocked(model, a)
}

func (m *Machine) feedProjectionsLocked(model string, a index.Applied) {
	var newRec, oldRec map[string]any
	decoded := false
	for _, p := range m.proj.byName {
		if p.def.From != model || !p.def.Listens(string(a.Kind)) {
			continue
		}
		if !decoded {
			newRec, oldRec, decoded = recordMap(a.New), recordMap(a.Old), true
		}
		if err := p.def.Apply(p.state, string(a.Kind), newRec, oldRec); err != nil {
			m.logger().Warn("projection skipped an event", "projection", p.def.Name, "err", err)
		}
	}
}

// recordMap is a record as projections see it: system fields included.
func recordMap(r *index.Record) map[string]any {
	if r == nil {
		return nil
	}
	return decodeObject(r.JSON())
}

func decodeObject(b []byte) map[string]any {
	out := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.Decode(&out)
	return out
}

// switchProjections installs the projections of a new rule set: those
// whose definition did not change keep their rows, the others are rebuilt
// from the history of their source model.
func (m *Machine) switchProjections(set *rules.Set) {
	next := map[string]*projection{}
	m.proj.mu.RLock()
	old := m.proj.byName
	m.proj.mu.RUnlock()
	for _, def := range set.Projections {
		fp := fingerprint(set, def)
		if prev := old[def.Name]; prev != nil && prev.fingerprint == fp {
			next[def.Name] = &projection{def: def, fingerprint: fp, state: prev.state}
			continue
		}
		p := &projection{def: def, fingerprint: fp, state: rules.NewProjectionState()}
		if err := m.rebuild(p); err != nil {
			m.logger().Error("projection rebuild incomplete", "projection", def.Name, "err", err)
		}
		next[def.Name] = p
	}
	m.proj.mu.Lock()
	m.proj.byName = next
	m.proj.mu.Unlock()
}

// rebuild replays every successful event of the projection's source model,
// read back from the log and its archive.
func (m *Machine) rebuild(p *projection) error {
	if m.commands == nil {
		return nil
	}
	current := map[string]map[string]any{}
	created := map[string]int64{}
	for _, ev := range m.state.ModelEvents(p.def.From) {
		var newRec map[string]any
		if ev.Kind != event.Deleted {
			c, err := m.commands(ev.Index)
			if err != nil {
				return fmt.Errorf("event %d: %w", ev.Index, err)
			}
			if c = c.For(p.def.From, ev.ID); c == nil {
				return fmt.Errorf("event %d: the command there does not change %s %s", ev.Index, p.def.From, ev.ID)
			}
			if ev.Kind == event.Created {
				created[ev.ID] = ev.Time
			}
			newRec = decodeObject(index.BuildRecord(ev.ID, ev.Version, created[ev.ID], ev.Time, c.Fields))
		}
		if p.def.Listens(string(ev.Kind)) {
			if err := p.def.Apply(p.state, string(ev.Kind), newRec, current[ev.ID]); err != nil {
				m.logger().Warn("projection skipped an event", "projection", p.def.Name, "index", ev.Index, "err", err)
			}
		}
		if newRec == nil {
			delete(current, ev.ID)
		} else {
			current[ev.ID] = newRec
		}
	}
	return nil
}

// savedProjection is a projection's rows as a snapshot carries them.
type savedProjection struct {
	Name        string          `json:"name"`
	Fingerprint uint64          `json:"fingerprint"`
	State       json.RawMessage `json:"state"`
}

func (m *Machine) saveProjections() ([]savedProjection, error) {
	m.proj.mu.RLock()
	defer m.proj.mu.RUnlock()
	var out []savedProjection
	for _, name := range sortedKeys(m.proj.byName) {
		p := m.proj.byName[name]
		b, err := p.state.Marshal()
		if err != nil {
			return nil, err
		}
		out = append(out, savedProjection{Name: name, Fingerprint: p.fingerprint, State: b})
	}
	return out, nil
}

// loadProjections installs a snapshot's rows for a rule set; projections
// the snapshot lacks, or whose definition differs, are rebuilt.
func (m *Machine) loadProjections(set *rules.Set, saved []savedProjection) error {
	prev := map[string]*projection{}
	for _, sp := range saved {
		def := set.Projection(sp.Name)
		if def == nil {
			continue
		}
		st := rules.NewProjectionState()
		if err := st.Unmarshal(sp.State); err != nil {
			return err
		}
		prev[sp.Name] = &projection{def: def, fingerprint: sp.Fingerprint, state: st}
	}
	m.proj.mu.Lock()
	m.proj.byName = prev
	m.proj.mu.Unlock()
	m.switchProjections(set)
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (m *Machine) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}
