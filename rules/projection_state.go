package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// ProjectionState holds the rows of one projection. It is plain data: the
// state machine owns it, feeds it events through Projection.Apply (never
// concurrently), and snapshots it with Marshal. Sums are kept as exact
// rationals so the result does not depend on float rounding, and min/max
// keep a count of every value so a deleted record can be taken back out.
type ProjectionState struct {
	rows map[string]*rowState
	proj *Projection // the projection last applied, for Rows
}

type rowState struct {
	N      int64          `json:"n"` // records contributing to the row
	Aggs   []*aggState    `json:"aggs"`
	Custom map[string]any `json:"custom,omitempty"` // what reduce returned
}

type aggState struct {
	Sum    *big.Rat         `json:"sum,omitempty"`
	Count  int64            `json:"count"` // values seen (records with the field set)
	Scale  int              `json:"scale,omitempty"`
	Values map[string]int64 `json:"values,omitempty"` // min/max: value -> records
}

// maxScale caps the decimals a sum is printed with.
const maxScale = 18

// NewProjectionState returns an empty state.
func NewProjectionState() *ProjectionState {
	return &ProjectionState{rows: map[string]*rowState{}}
}

// NewState returns an empty state bound to p (see ProjectionState.Rows).
func (p *Projection) NewState() *ProjectionState {
	return &ProjectionState{rows: map[string]*rowState{}, proj: p}
}

// Bind makes s read through p, e.g. after Unmarshal or a rules reload that
// kept the projection unchanged. (A changed projection needs its state
// rebuilt from the events.)
func (s *ProjectionState) Bind(p *Projection) { s.proj = p }

// Rows is Projection.Rows for the projection s is bound to (the last one
// that applied an event, or Bind); nil when unbound.
func (s *ProjectionState) Rows() map[string]map[string]any {
	if s.proj == nil {
		return nil
	}
	return s.proj.Rows(s)
}

// Apply feeds one event of the projection's source model: kind is "created"
// (new set, old nil), "updated" (both) or "deleted" (old set, new nil).
// Events the projection does not listen to are ignored. A record's
// contribution is taken out of its old row and added to its new row, so
// sums, counts and averages always describe the current records. Apply
// changes nothing when it returns an error (a Lua key, where or reduce
// function failed).
func (p *Projection) Apply(state *ProjectionState, kind string, new, old map[string]any) error {
	return p.ApplyContext(context.Background(), state, kind, new, old)
}

// ApplyContext is Apply bounded by ctx as well as Options.CallTimeout.
func (p *Projection) ApplyContext(ctx context.Context, state *ProjectionState, kind string, new, old map[string]any) error {
	if state.rows == nil {
		state.rows = map[string]*rowState{}
	}
	state.proj = p
	switch kind {
	case EventCreated:
		old = nil
	case EventDeleted:
		new = nil
	case EventUpdated:
	default:
		return fmt.Errorf("rules: projection %q: unknown event kind %q", p.Name, kind)
	}
	if !p.Listens(kind) {
		return nil
	}
	oldKey, err := p.recordKey(ctx, old)
	if err != nil {
		return err
	}
	newKey, err := p.recordKey(ctx, new)
	if err != nil {
		return err
	}
	// Work on copies of the (at most two) touched rows; commit at the end.
	touched := map[string]*rowState{}
	row := func(key string) *rowState {
		if r, ok := touched[key]; ok {
			return r
		}
		r := p.cloneRow(state.rows[key])
		touched[key] = r
		return r
	}
	if oldKey != "" {
		r := row(oldKey)
		r.N--
		for i, a := range p.Aggregates {
			r.Aggs[i].retract(a, old)
		}
	}
	if newKey != "" {
		r := row(newKey)
		r.N++
		for i, a := range p.Aggregates {
			r.Aggs[i].add(a, new)
		}
	}
	if p.reduceFn >= 0 {
		keys := []string{}
		for _, k := range []string{oldKey, newKey} {
			if k != "" && (len(keys) == 0 || keys[0] != k) {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			r := row(k)
			custom, err := p.reduce(ctx, k, r.Custom, kind, new, old)
			if err != nil {
				return err
			}
			r.Custom = custom
		}
	}
	for k, r := range touched {
		if r.N <= 0 && r.Custom == nil {
			delete(state.rows, k)
			continue
		}
		state.rows[k] = r
	}
	return nil
}

func (p *Projection) cloneRow(r *rowState) *rowState {
	out := &rowState{Aggs: make([]*aggState, len(p.Aggregates))}
	if r != nil {
		out.N = r.N
		out.Custom = r.Custom // replaced, never mutated, by reduce
	}
	for i := range out.Aggs {
		a := &aggState{Sum: new(big.Rat)}
		if r != nil && i < len(r.Aggs) && r.Aggs[i] != nil {
			o := r.Aggs[i]
			a.Count, a.Scale = o.Count, o.Scale
			if o.Sum != nil {
				a.Sum.Set(o.Sum)
			}
			if o.Values != nil {
				a.Values = make(map[string]int64, len(o.Values))
				for k, v := range o.Values {
					a.Values[k] = v
				}
			}
		}
		out.Aggs[i] = a
	}
	return out
}

// value reads the aggregated field of rec as an exact number.
func aggValue(a *Aggregate, rec map[string]any) (*big.Rat, string, bool) {
	n, ok := toNumber(rec[a.Field])
	if !ok {
		return nil, "", false
	}
	r, ok := new(big.Rat).SetString(string(n))
	return r, string(n), ok
}

func (s *aggState) add(a *Aggregate, rec map[string]any) { s.change(a, rec, 1) }

func (s *aggState) retract(a *Aggregate, rec map[string]any) { s.change(a, rec, -1) }

func (s *aggState) change(a *Aggregate, rec map[string]any, sign int64) {
	if a.Kind == AggCount {
		s.Count += sign
		return
	}
	r, text, ok := aggValue(a, rec)
	if !ok {
		return
	}
	s.Count += sign
	switch a.Kind {
	case AggSum, AggAvg:
		if sign < 0 {
			r.Neg(r)
		}
		s.Sum.Add(s.Sum, r)
		if sc := decimals(text); sc > s.Scale {
			s.Scale = min(sc, maxScale)
		}
	case AggMin, AggMax:
		if s.Values == nil {
			s.Values = map[string]int64{}
		}
		s.Values[text] += sign
		if s.Values[text] <= 0 {
			delete(s.Values, text)
		}
	}
}

// decimals counts the digits after the point of a JSON number.
func decimals(s string) int {
	if strings.ContainsAny(s, "eE") {
		return 6
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// result is the value of one aggregate for Rows.
func (s *aggState) result(a *Aggregate) any {
	switch a.Kind {
	case AggCount:
		return json.Number(strconv.FormatInt(s.Count, 10))
	case AggSum:
		return json.Number(s.Sum.FloatString(s.Scale))
	case AggAvg:
		if s.Count == 0 {
			return nil
		}
		avg := new(big.Rat).Quo(s.Sum, big.NewRat(s.Count, 1))
		f, _ := avg.Float64()
		n, ok := floatNumber(f)
		if !ok {
			return nil
		}
		return n
	case AggMin, AggMax:
		var best *big.Rat
		var bestText string
		for text := range s.Values {
			r, ok := new(big.Rat).SetString(text)
			if !ok {
				continue
			}
			c := 0
			if best != nil {
				c = r.Cmp(best)
			}
			if best == nil || (a.Kind == AggMin && c < 0) || (a.Kind == AggMax && c > 0) ||
				(c == 0 && text < bestText) { // equal values: pick one deterministically
				best, bestText = r, text
			}
		}
		if best == nil {
			return nil
		}
		return json.Number(bestText)
	}
	return nil
}

// reduce calls reduce(row, event) for the row at key. row is a copy of the
// row's custom fields (empty for a new row); event is { kind, key, new, old }.
// It returns the new custom fields, or nil when reduce returned nil (the
// row's custom part is removed).
func (p *Projection) reduce(ctx context.Context, key string, row map[string]any, kind string, new, old map[string]any) (map[string]any, error) {
	what := p.what("reduce")
	var out map[string]any
	err := p.set.call(ctx, p.reduceFn, what, 1, func(v *vm) []lua.LValue {
		r := row
		if r == nil {
			r = map[string]any{}
		}
		ev := v.L.CreateTable(0, 4)
		ev.RawSetString("kind", lua.LString(kind))
		ev.RawSetString("key", lua.LString(key))
		ev.RawSetString("new", v.record(new))
		ev.RawSetString("old", v.record(old))
		return []lua.LValue{toLua(v.L, r), ev}
	}, func(rets []lua.LValue) error {
		if rets[0] == lua.LNil {
			return nil
		}
		v, err := fromLua(rets[0])
		if err != nil {
			return fmt.Errorf("%w in %s: %v", ErrScript, what(), err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%w in %s: must return the row table { name = value } or nil", ErrScript, what())
		}
		out = m
		return nil
	})
	return out, err
}

// Rows returns every row, key -> column -> value (json.Number for numbers).
// Built-in aggregates come first; a reducer's fields are added beside them.
func (p *Projection) Rows(state *ProjectionState) map[string]map[string]any {
	out := make(map[string]map[string]any, len(state.rows))
	for k := range state.rows {
		out[k] = p.Row(state, k)
	}
	return out
}

// Row returns one row, or nil when the key has none.
func (p *Projection) Row(state *ProjectionState, key string) map[string]any {
	r := state.rows[key]
	if r == nil {
		return nil
	}
	row := make(map[string]any, len(p.Aggregates)+len(r.Custom))
	for k, v := range r.Custom {
		row[k] = cloneJSON(v)
	}
	for i, a := range p.Aggregates {
		if i < len(r.Aggs) {
			row[a.Name] = r.Aggs[i].result(a)
		}
	}
	return row
}

// Len is the number of rows.
func (s *ProjectionState) Len() int { return len(s.rows) }

// Marshal encodes the state for a snapshot. The encoding is deterministic
// (map keys sorted), so equal states give equal bytes on every node.
func (s *ProjectionState) Marshal() ([]byte, error) {
	rows := s.rows
	if rows == nil {
		rows = map[string]*rowState{}
	}
	return json.Marshal(rows)
}

// Unmarshal replaces the state with one encoded by Marshal.
func (s *ProjectionState) Unmarshal(data []byte) error {
	rows := map[string]*rowState{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&rows); err != nil {
		return fmt.Errorf("rules: decoding projection state: %w", err)
	}
	for _, r := range rows {
		if r == nil {
			return fmt.Errorf("rules: decoding projection state: null row")
		}
		for _, a := range r.Aggs {
			if a == nil {
				return fmt.Errorf("rules: decoding projection state: null aggregate")
			}
			if a.Sum == nil {
				a.Sum = new(big.Rat)
			}
		}
	}
	s.rows = rows
	return nil
}
