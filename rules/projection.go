package rules

import (
	"context"
	"fmt"
	"slices"

	lua "github.com/yuin/gopher-lua"
)

// AggregateKind is a built-in aggregate of a projection.
type AggregateKind string

// The built-in aggregates.
const (
	AggSum   AggregateKind = "sum"   // sum "field"
	AggCount AggregateKind = "count" // count()
	AggAvg   AggregateKind = "avg"   // avg "field"
	AggMin   AggregateKind = "min"   // min "field"
	AggMax   AggregateKind = "max"   // max "field"
)

// Event kinds a projection can listen to.
const (
	EventCreated = "created"
	EventUpdated = "updated"
	EventDeleted = "deleted"
)

var eventKinds = []string{EventCreated, EventUpdated, EventDeleted}

// Aggregate is one output column of a projection.
type Aggregate struct {
	Name  string
	Kind  AggregateKind
	Field string // "" for count
	line  int
}

// Projection is a derived table declared with `projection "Name" { ... }`:
// records of model From are grouped by a key and aggregated. Rows are a
// pure function of the events fed to Apply, in order.
type Projection struct {
	Name        string
	Description string
	From        string
	// On lists the event kinds that change the projection (default all).
	On []string
	// Aggregates are the built-in columns, in declaration order.
	Aggregates []*Aggregate
	File       string
	Line       int

	set      *Set
	keyField string // key = "field"
	keyFn    int    // key = function(record), -1 when none
	whereFn  int    // where = function(record), -1 when none
	reduceFn int    // reduce = function(row, event), -1 when none
}

// Listens reports whether the projection reacts to events of kind.
func (p *Projection) Listens(kind string) bool { return slices.Contains(p.On, kind) }

func (b *builder) projection(d *definition) *Projection {
	p := &Projection{Name: d.name, File: d.file, Line: d.line, On: slices.Clone(eventKinds),
		set: b.set, keyFn: -1, whereFn: -1, reduceFn: -1}
	l := loc{def: d, ctx: fmt.Sprintf("projection %q", d.name)}
	hasKey := false
	for _, e := range b.entries(l, d.table) {
		el := l.with(e.key, "")
		switch e.key {
		case "from":
			p.From, _ = b.str(el, e.val, "from")
		case "description":
			p.Description, _ = b.str(el, e.val, "description")
		case "on":
			p.On = b.strList(el, e.val, "on")
			for _, k := range p.On {
				if !slices.Contains(eventKinds, k) {
					b.errorf(el, "on in %s: unknown event %q (events: created, updated, deleted)", l.ctx, k)
				}
			}
		case "key":
			hasKey = true
			switch k := e.val.(type) {
			case lua.LString:
				p.keyField = string(k)
			case *lua.LFunction:
				p.keyFn = b.slot(k)
			default:
				b.errorf(el, "key in %s must be a field name or function(record) returning the row key", l.ctx)
			}
		case "where":
			if fn := b.fn(el, e.val, "where"); fn != nil {
				p.whereFn = b.slot(fn)
			}
		case "reduce":
			if fn := b.fn(el, e.val, "reduce"); fn != nil {
				p.reduceFn = b.slot(fn)
			}
		case "aggregates":
			t := b.table(el, e.val, "aggregates")
			actx := "aggregates of " + l.ctx
			for _, a := range b.entries(l.withCtx(actx), t) {
				al := el.with(a.key, actx)
				ud, ok := a.val.(*lua.LUserData)
				spec, ok2 := (*aggSpec)(nil), false
				if ok {
					spec, ok2 = ud.Value.(*aggSpec)
				}
				if !ok2 {
					b.errorf(al, "aggregate %q in %s must be sum \"field\", count(), avg \"field\", min \"field\" or max \"field\"", a.key, l.ctx)
					continue
				}
				p.Aggregates = append(p.Aggregates, &Aggregate{Name: a.key, Kind: spec.kind, Field: spec.field, line: b.line(al)})
			}
		default:
			b.unknown(el, e.key)
		}
	}
	if p.From == "" {
		b.errorf(l, "%s needs from = \"Model\"", l.ctx)
	}
	if !hasKey {
		b.errorf(l, "%s needs a key (a field name or function(record) returning the row key)", l.ctx)
	}
	if d.table.RawGetString("aggregates") == lua.LNil && d.table.RawGetString("reduce") == lua.LNil {
		b.errorf(l, "%s needs aggregates = { ... } or reduce = function(row, event)", l.ctx)
	}
	return p
}

// recordKey computes the row key of rec, or "" when the record belongs to no
// row (the key is nil or where() is false).
func (p *Projection) recordKey(ctx context.Context, rec map[string]any) (string, error) {
	if rec == nil {
		return "", nil
	}
	if p.whereFn >= 0 {
		keep := false
		err := p.set.call(ctx, p.whereFn, p.what("where"), 1, func(v *vm) []lua.LValue {
			return []lua.LValue{v.record(rec)}
		}, func(rets []lua.LValue) error {
			keep = lua.LVAsBool(rets[0])
			return nil
		})
		if err != nil || !keep {
			return "", err
		}
	}
	if p.keyFn < 0 {
		return keyString(rec[p.keyField]), nil
	}
	var key string
	err := p.set.call(ctx, p.keyFn, p.what("key"), 1, func(v *vm) []lua.LValue {
		return []lua.LValue{v.record(rec)}
	}, func(rets []lua.LValue) error {
		switch k := rets[0].(type) {
		case *lua.LNilType:
		case lua.LString, lua.LNumber, lua.LBool:
			key = lua.LVAsString(k)
			if _, isBool := k.(lua.LBool); isBool {
				key = k.String()
			}
		default:
			return fmt.Errorf("%w in %s: must return a string or number, not a %s", ErrScript, p.what("key")(), k.Type())
		}
		return nil
	})
	return key, err
}

func keyString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// what describes a Lua function of the projection for errors, lazily.
func (p *Projection) what(fn string) func() string {
	return func() string { return fmt.Sprintf("%s of projection %q (%s:%d)", fn, p.Name, p.File, p.Line) }
}
