package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// FieldErrors maps a field name to a message for the client, e.g.
// {"price": "must be >= 0"}. A message about the record as a whole (a Lua
// validate that returned a string) is under RecordKey.
type FieldErrors map[string]string

// RecordKey holds a validation message that belongs to no single field.
const RecordKey = "_record"

// Error lists the messages in field order, for logs.
func (fe FieldErrors) Error() string {
	keys := make([]string, 0, len(fe))
	for k := range fe {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + fe[k]
	}
	return strings.Join(parts, "; ")
}

// Prepare turns a client's input into the candidate record's fields.
//
// input is the complete new field set: for a create the body, for a replace
// (PUT) the body, for a merge (PATCH) MergePatch(old, body). old is the
// current record's fields, nil for a create. System fields (id, version,
// created_at, updated_at) in input are ignored: the server owns them.
//
// It rejects unknown fields, read-only fields set by the client (on update a
// read-only field may be sent back unchanged) and changes to immutable
// fields; type- and range-checks every field; on create fills defaults
// (constants or Lua functions); checks required fields; then, only if all
// that passed, runs the model's Lua validate(new, old, ctx) and returns its
// messages. Fields a client may not send (read-only, immutable) keep their
// old value on update when absent from input.
//
// It returns the normalized fields (numbers as json.Number), the messages
// for the client (answer 422), or an error when Lua failed (ErrScript,
// ErrTimeout: answer 500).
func (m *Model) Prepare(input, old map[string]any, c Context) (map[string]any, FieldErrors, error) {
	errs := FieldErrors{}
	out := make(map[string]any, len(m.Fields))
	for k, v := range input {
		if slices.Contains(SystemFields, k) {
			continue
		}
		f := m.fieldIndex[k]
		if f == nil {
			errs[k] = "unknown field"
			continue
		}
		if v == nil {
			continue // null clears an optional field; required is checked below
		}
		if f.ReadOnly {
			if old != nil && equalJSON(old[k], v) {
				out[k] = old[k]
				continue
			}
			errs[k] = "is read-only"
			continue
		}
		nv, msg := f.check(v, c.Exists)
		if msg != "" {
			errs[k] = msg
			continue
		}
		if old != nil && f.Immutable && !equalJSON(old[k], nv) {
			errs[k] = "cannot be changed"
			continue
		}
		out[k] = nv
	}
	for _, f := range m.Fields {
		if _, set := out[f.Name]; set || errs[f.Name] != "" {
			continue
		}
		if old != nil {
			if ov := old[f.Name]; ov != nil && (f.ReadOnly || f.Immutable) {
				out[f.Name] = ov
				continue
			}
		} else if f.defaultFn >= 0 {
			v, err := m.defaultValue(f, c)
			if err != nil {
				return nil, nil, err
			}
			if v != nil {
				out[f.Name] = v
			}
		} else if f.Default != nil {
			out[f.Name] = cloneJSON(f.Default)
		}
		if _, set := out[f.Name]; !set && f.Required {
			errs[f.Name] = "is required"
		}
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	if m.validate >= 0 {
		lerrs, err := m.runValidate(out, old, c)
		if err != nil || len(lerrs) > 0 {
			return nil, lerrs, err
		}
	}
	return out, nil, nil
}

// MergePatch applies a PATCH body to the old fields: keys in patch replace,
// a null removes, the rest is kept. Pass the result to Prepare.
func MergePatch(old, patch map[string]any) map[string]any {
	out := make(map[string]any, len(old)+len(patch))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// what describes a Lua function of the model for errors, lazily.
func (m *Model) what(fn string) func() string {
	return func() string { return fmt.Sprintf("%s of model %q (%s:%d)", fn, m.Name, m.File, m.Line) }
}

func ctxOf(c Context) context.Context {
	if c.Ctx != nil {
		return c.Ctx
	}
	return context.Background()
}

// defaultValue calls a field's Lua default function with ctx and checks
// what it returns like client input (it must fit the field).
func (m *Model) defaultValue(f *Field, c Context) (any, error) {
	what := m.what(fmt.Sprintf("default of field %q", f.Name))
	var out any
	err := m.set.call(ctxOf(c), f.defaultFn, what, 1, func(v *vm) []lua.LValue {
		return []lua.LValue{v.ctx(c.User, ActionCreate)}
	}, func(rets []lua.LValue) error {
		v, err := fromLua(rets[0])
		if err != nil {
			return fmt.Errorf("%w in %s: returned %v", ErrScript, what(), err)
		}
		if v == nil {
			return nil
		}
		nv, msg := f.check(v, nil)
		if msg != "" {
			return fmt.Errorf("%w in %s: returned a value that does not fit the field: %s", ErrScript, what(), msg)
		}
		out = nv
		return nil
	})
	return out, err
}

// runValidate calls validate(new, old, ctx). It may return nil or true (the
// record is fine), a table { field = "message" }, or a string (a message
// about the whole record).
func (m *Model) runValidate(rec, old map[string]any, c Context) (FieldErrors, error) {
	action := ActionCreate
	if old != nil {
		action = ActionUpdate
	}
	what := m.what("validate")
	var fe FieldErrors
	err := m.set.call(ctxOf(c), m.validate, what, 1, func(v *vm) []lua.LValue {
		return []lua.LValue{v.record(rec), v.record(old), v.ctx(c.User, action)}
	}, func(rets []lua.LValue) error {
		switch r := rets[0].(type) {
		case *lua.LNilType:
			return nil
		case lua.LBool:
			if !r {
				fe = FieldErrors{RecordKey: "is invalid"}
			}
			return nil
		case lua.LString:
			fe = FieldErrors{RecordKey: string(r)}
			return nil
		case *lua.LTable:
			fe = FieldErrors{}
			for k, v := r.Next(lua.LNil); k != lua.LNil; k, v = r.Next(k) {
				ks, ok1 := k.(lua.LString)
				if !ok1 || (v.Type() != lua.LTString && v.Type() != lua.LTNumber) {
					return fmt.Errorf("%w in %s: must return { field = \"message\" }, got key %s = %s", ErrScript, what(), luaShow(k), luaShow(v))
				}
				fe[string(ks)] = lua.LVAsString(v)
			}
			if len(fe) == 0 {
				fe = nil
			}
			return nil
		}
		return fmt.Errorf("%w in %s: must return nil, a message or { field = \"message\" }, not a %s", ErrScript, what(), rets[0].Type())
	})
	return fe, err
}

// equalJSON compares two JSON-shaped values; numbers compare by value so
// "1.50" equals 1.5.
func equalJSON(a, b any) bool {
	if na, ok := toNumber(a); ok {
		nb, ok := toNumber(b)
		if !ok {
			return false
		}
		ra, ok1 := new(big.Rat).SetString(string(na))
		rb, ok2 := new(big.Rat).SetString(string(nb))
		return ok1 && ok2 && ra.Cmp(rb) == 0
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalJSON(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

// cloneJSON copies lists and objects so a default value is never shared
// between records.
func cloneJSON(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneJSON(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneJSON(e)
		}
		return out
	}
	return v
}

// Encode writes prepared fields as a JSON object in the model's field
// order, so that every node stores and serves the same bytes.
func (m *Model) Encode(fields map[string]any) (json.RawMessage, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for _, f := range m.Fields {
		v, ok := fields[f.Name]
		if !ok {
			continue
		}
		val, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("field %s: %v", f.Name, err)
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		name, _ := json.Marshal(f.Name)
		b.Write(name)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
