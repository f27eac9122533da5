package rules

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// builder turns the declarations captured from Lua into Models and
// Projections, checking every key. Running it twice over the same
// declarations yields the same function slots, which is how each pooled VM
// finds its own copy of a function.
type builder struct {
	set   *Set
	pos   map[string]positions // file -> positions
	errs  errorList
	funcs []*lua.LFunction
	// models and projections, filled only when building the set itself.
	models      []*Model
	projections []*Projection
}

func newBuilder(s *Set) *builder {
	b := &builder{set: s, pos: map[string]positions{}}
	for _, f := range s.compiled {
		b.pos[f.name] = f.pos
	}
	return b
}

// loc is where a key sits: the declaration and the key path inside it.
type loc struct {
	def  *definition
	path []string
	ctx  string // "field \"price\" of model \"Product\""
}

// withCtx is l with another description for messages.
func (l loc) withCtx(ctx string) loc { return loc{def: l.def, path: l.path, ctx: ctx} }

func (l loc) with(key, ctx string) loc {
	p := append(append([]string(nil), l.path...), key)
	if ctx == "" {
		ctx = l.ctx
	}
	return loc{def: l.def, path: p, ctx: ctx}
}

func (b *builder) line(l loc) int {
	full := append([]string{l.def.kind, l.def.name}, l.path...)
	if n := b.pos[l.def.file].line(full...); n > 0 {
		return n
	}
	return l.def.line
}

func (b *builder) errorf(l loc, format string, args ...any) {
	b.errs.add(l.def.file, b.line(l), format, args...)
}

// slot records fn and returns its index in every VM's funcs.
func (b *builder) slot(fn *lua.LFunction) int {
	b.funcs = append(b.funcs, fn)
	return len(b.funcs) - 1
}

// entries returns t's string-keyed entries in insertion order (gopher-lua
// keeps hash keys in a slice, so declaration order survives) and reports
// keys that are not names.
func (b *builder) entries(l loc, t *lua.LTable) []kv {
	var out []kv
	for k, v := t.Next(lua.LNil); k != lua.LNil; k, v = t.Next(k) {
		ks, ok := k.(lua.LString)
		if !ok {
			b.errorf(l, "unexpected list item %s in %s (expected name = value)", luaShow(v), l.ctx)
			continue
		}
		out = append(out, kv{string(ks), v})
	}
	return out
}

type kv struct {
	key string
	val lua.LValue
}

// build processes every declaration. It touches nothing shared: pool VMs
// run it concurrently with calls to get their function slots.
func (b *builder) build(defs []*definition) {
	names := map[string]*definition{}
	for _, d := range defs {
		if prev, dup := names[d.kind+" "+d.name]; dup {
			b.errs.add(d.file, d.line, "%s %q is already declared at %s:%d", d.kind, d.name, prev.file, prev.line)
			continue
		}
		names[d.kind+" "+d.name] = d
		switch d.kind {
		case "model":
			if m := b.model(d); m != nil {
				b.models = append(b.models, m)
			}
		case "projection":
			if p := b.projection(d); p != nil {
				b.projections = append(b.projections, p)
			}
		}
	}
}

// link checks what crosses declarations (paths, references, projection
// sources) and installs the models and projections in the set. Only the
// load does this, before the set is shared.
func (b *builder) link() {
	s := b.set
	s.Models, s.Projections = b.models, b.projections
	s.byName, s.byPath, s.projByNm = map[string]*Model{}, map[string]*Model{}, map[string]*Projection{}
	for _, m := range b.models {
		s.byName[m.Name] = m
		if prev, dup := s.byPath[m.Path]; dup {
			b.errs.add(m.File, m.Line, "model %q has path %q, already used by model %q", m.Name, m.Path, prev.Name)
			continue
		}
		s.byPath[m.Path] = m
	}
	for _, m := range b.models {
		for _, f := range m.Fields {
			if f.Type == TypeReference && s.byName[f.Ref] == nil {
				b.errs.add(m.File, f.Line, "field %q of model %q references unknown model %q", f.Name, m.Name, f.Ref)
			}
		}
	}
	for _, p := range b.projections {
		s.projByNm[p.Name] = p
		src := s.byName[p.From]
		if src == nil {
			b.errs.add(p.File, p.Line, "projection %q: from = %q is not a declared model", p.Name, p.From)
			continue
		}
		for _, a := range p.Aggregates {
			if a.Kind == AggCount {
				continue
			}
			f := src.Field(a.Field)
			switch {
			case f == nil:
				b.errs.add(p.File, a.line, "projection %q: aggregate %q uses unknown field %q of model %q", p.Name, a.Name, a.Field, p.From)
			case f.Type != TypeNumber && f.Type != TypeInteger:
				b.errs.add(p.File, a.line, "projection %q: aggregate %q needs a number or integer field; %q is %s", p.Name, a.Name, a.Field, f.Type)
			}
		}
		if p.keyField != "" && src.Field(p.keyField) == nil && !slices.Contains(SystemFields, p.keyField) {
			b.errs.add(p.File, p.Line, "projection %q: key field %q is not a field of model %q", p.Name, p.keyField, p.From)
		}
	}
}

func (b *builder) model(d *definition) *Model {
	m := &Model{
		Name: d.name, File: d.file, Line: d.line,
		Path:        "/api/" + strings.ToLower(d.name) + "s",
		Permissions: map[Action][]string{},
		set:         b.set, fieldIndex: map[string]*Field{}, predicates: map[Action]int{},
		validate: -1,
	}
	l := loc{def: d, ctx: fmt.Sprintf("model %q", d.name)}
	m.System = d.file == SystemFile
	for _, e := range b.entries(l, d.table) {
		el := l.with(e.key, "")
		switch e.key {
		case "path":
			s, ok := e.val.(lua.LString)
			p := string(s)
			if !ok || !strings.HasPrefix(p, "/") || len(p) < 2 || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "{}?# ") {
				b.errorf(el, "path of model %q must be a string like \"/api/products\"", d.name)
				continue
			}
			m.Path = p
		case "description":
			m.Description, _ = b.str(el, e.val, "description")
		case "fields":
			b.fields(m, el, e.val)
		case "lifecycle":
			b.lifecycle(m, el, e.val)
		case "cache":
			t := b.table(el, e.val, "cache")
			for _, c := range b.entries(el.withCtx("cache of "+l.ctx), t) {
				cl := el.with(c.key, "cache of "+l.ctx)
				if c.key != "ttl" {
					b.unknown(cl, c.key)
					continue
				}
				if n, ok := c.val.(lua.LNumber); ok && n >= 0 && !math.IsInf(float64(n), 0) {
					m.CacheTTL = time.Duration(float64(n) * float64(time.Second))
				} else {
					b.errorf(cl, "cache.ttl of model %q must be a number of seconds >= 0", d.name)
				}
			}
		case "permissions":
			b.permissions(m, el, e.val)
		case "validate":
			if fn := b.fn(el, e.val, "validate"); fn != nil {
				m.validate = b.slot(fn)
			}
		default:
			b.unknown(el, e.key)
		}
	}
	if len(m.Fields) == 0 && d.table.RawGetString("fields") == lua.LNil {
		b.errorf(l, "model %q declares no fields", d.name)
	}
	if !m.System && strings.HasPrefix(m.Path, reservedPrefix) {
		b.errorf(l, "path %q of model %q is reserved: paths under %s belong to Lithair itself", m.Path, d.name, reservedPrefix)
	}
	return m
}

func (b *builder) unknown(l loc, key string) {
	b.errorf(l, "unknown key %q in %s", key, l.ctx)
}

func (b *builder) table(l loc, v lua.LValue, what string) *lua.LTable {
	t, ok := v.(*lua.LTable)
	if !ok {
		b.errorf(l, "%s in %s must be a table, not %s", what, l.ctx, v.Type())
		return &lua.LTable{}
	}
	return t
}

func (b *builder) str(l loc, v lua.LValue, what string) (string, bool) {
	s, ok := v.(lua.LString)
	if !ok {
		b.errorf(l, "%s in %s must be a string, not %s", what, l.ctx, v.Type())
	}
	return string(s), ok
}

func (b *builder) boolean(l loc, v lua.LValue, what string) bool {
	x, ok := v.(lua.LBool)
	if !ok {
		b.errorf(l, "%s in %s must be true or false, not %s", what, l.ctx, v.Type())
	}
	return bool(x)
}

func (b *builder) fn(l loc, v lua.LValue, what string) *lua.LFunction {
	f, ok := v.(*lua.LFunction)
	if !ok {
		b.errorf(l, "%s in %s must be a function, not %s", what, l.ctx, v.Type())
		return nil
	}
	return f
}

// strList reads { "a", "b" } (or a single string).
func (b *builder) strList(l loc, v lua.LValue, what string) []string {
	if s, ok := v.(lua.LString); ok {
		return []string{string(s)}
	}
	t, ok := v.(*lua.LTable)
	if !ok {
		b.errorf(l, "%s in %s must be a list of strings", what, l.ctx)
		return nil
	}
	var out []string
	n := t.Len()
	count := 0
	for k, item := t.Next(lua.LNil); k != lua.LNil; k, item = t.Next(k) {
		count++
		if _, isNum := k.(lua.LNumber); !isNum {
			b.errorf(l, "%s in %s must be a list of strings, found key %s", what, l.ctx, luaShow(k))
			return nil
		}
		_ = item
	}
	if count != n {
		b.errorf(l, "%s in %s must be a list without holes", what, l.ctx)
		return nil
	}
	for i := 1; i <= n; i++ {
		s, ok := t.RawGetInt(i).(lua.LString)
		if !ok {
			b.errorf(l, "%s in %s must be a list of strings, item %d is %s", what, l.ctx, i, t.RawGetInt(i).Type())
			return nil
		}
		out = append(out, string(s))
	}
	return out
}

func (b *builder) lifecycle(m *Model, l loc, v lua.LValue) {
	ctx := "lifecycle of model " + fmt.Sprintf("%q", m.Name)
	t := b.table(l, v, "lifecycle")
	for _, e := range b.entries(l.withCtx(ctx), t) {
		el := l.with(e.key, ctx)
		switch e.key {
		case "audited":
			m.Audited = b.boolean(el, e.val, "audited")
		case "versioned":
			switch x := e.val.(type) {
			case lua.LBool:
				if x {
					m.Versioned = 10
				}
			case lua.LNumber:
				if x < 0 || x != lua.LNumber(math.Trunc(float64(x))) || x > 1e6 {
					b.errorf(el, "versioned in %s must be a whole number of versions between 0 and 1000000", ctx)
					continue
				}
				m.Versioned = int(x)
			default:
				b.errorf(el, "versioned in %s must be a number of versions to keep", ctx)
			}
		default:
			b.unknown(el, e.key)
		}
	}
}

var actions = []Action{ActionRead, ActionCreate, ActionUpdate, ActionDelete}

func (b *builder) permissions(m *Model, l loc, v lua.LValue) {
	ctx := fmt.Sprintf("permissions of model %q", m.Name)
	t := b.table(l, v, "permissions")
	for _, e := range b.entries(l.withCtx(ctx), t) {
		el := l.with(e.key, ctx)
		a, isPred := Action(strings.TrimSuffix(e.key, "_if")), strings.HasSuffix(e.key, "_if")
		if !slices.Contains(actions, a) {
			b.unknown(el, e.key)
			continue
		}
		if isPred {
			if fn := b.fn(el, e.val, e.key); fn != nil {
				m.predicates[a] = b.slot(fn)
			}
			continue
		}
		roles := b.strList(el, e.val, e.key)
		if roles == nil {
			roles = []string{}
		}
		m.Permissions[a] = roles
	}
}

// SortedActions lists the actions in their usual order; a helper for docs
// and admin pages.
func SortedActions() []Action { return slices.Clone(actions) }

var fieldNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (b *builder) fields(m *Model, l loc, v lua.LValue) {
	t := b.table(l, v, "fields")
	for _, e := range b.entries(l.withCtx(fmt.Sprintf("fields of model %q", m.Name)), t) {
		ctx := fmt.Sprintf("field %q of model %q", e.key, m.Name)
		fl := l.with(e.key, ctx)
		switch {
		case slices.Contains(SystemFields, e.key):
			b.errorf(fl, "field name %q of model %q is reserved (system fields: %s)", e.key, m.Name, strings.Join(SystemFields, ", "))
			continue
		case !fieldNameRe.MatchString(e.key):
			b.errorf(fl, "field name %q of model %q must hold only letters, digits and _", e.key, m.Name)
			continue
		}
		ft, ok := e.val.(*lua.LTable)
		if !ok {
			b.errorf(fl, "%s must be a table like { type = \"string\" }", ctx)
			continue
		}
		f := b.field(fl, e.key, ft)
		f.Line = b.line(fl)
		m.Fields = append(m.Fields, f)
		m.fieldIndex[f.Name] = f
	}
}

func (b *builder) field(l loc, name string, t *lua.LTable) *Field {
	f := &Field{Name: name, defaultFn: -1}
	var defVal lua.LValue = lua.LNil
	var defLoc loc
	numPtr := func(el loc, v lua.LValue, key string) *float64 {
		n, ok := v.(lua.LNumber)
		if !ok || math.IsNaN(float64(n)) {
			b.errorf(el, "%s in %s must be a number", key, l.ctx)
			return nil
		}
		x := float64(n)
		return &x
	}
	intPtr := func(el loc, v lua.LValue, key string) *int {
		n, ok := v.(lua.LNumber)
		if !ok || n < 0 || n != lua.LNumber(math.Trunc(float64(n))) || n > math.MaxInt32 {
			b.errorf(el, "%s in %s must be a whole number >= 0", key, l.ctx)
			return nil
		}
		x := int(n)
		return &x
	}
	present := map[string]bool{}
	for _, e := range b.entries(l, t) {
		el := l.with(e.key, "")
		present[e.key] = true
		switch e.key {
		case "type":
			s, ok := b.str(el, e.val, "type")
			if ok {
				f.Type = FieldType(s)
				if !slices.Contains(fieldTypes, f.Type) {
					b.errorf(el, "unknown type %q in %s (types: %s)", s, l.ctx, typeList())
				}
			}
		case "required":
			f.Required = b.boolean(el, e.val, e.key)
		case "indexed":
			f.Indexed = b.boolean(el, e.val, e.key)
		case "unique":
			f.Unique = b.boolean(el, e.val, e.key)
		case "immutable":
			f.Immutable = b.boolean(el, e.val, e.key)
		case "readonly":
			f.ReadOnly = b.boolean(el, e.val, e.key)
		case "default":
			defVal, defLoc = e.val, el
		case "min":
			f.Min = numPtr(el, e.val, e.key)
		case "max":
			f.Max = numPtr(el, e.val, e.key)
		case "min_length":
			f.MinLength = intPtr(el, e.val, e.key)
		case "max_length":
			f.MaxLength = intPtr(el, e.val, e.key)
		case "pattern":
			if s, ok := b.str(el, e.val, e.key); ok {
				re, err := regexp.Compile(s)
				if err != nil {
					b.errorf(el, "pattern in %s is not a valid Go regexp: %v", l.ctx, err)
				}
				f.Pattern = re
			}
		case "values":
			f.Values = b.strList(el, e.val, e.key)
		case "items":
			if s, ok := b.str(el, e.val, e.key); ok {
				f.Items = FieldType(s)
				if !slices.Contains(fieldTypes, f.Items) || f.Items == TypeList || f.Items == TypeEnum || f.Items == TypeReference {
					b.errorf(el, "items in %s must be one of string, text, integer, number, boolean, datetime, json", l.ctx)
				}
			}
		case "model":
			if s, ok := b.str(el, e.val, e.key); ok {
				f.Ref = s
			}
		case "description":
			f.Description, _ = b.str(el, e.val, e.key)
		case "read", "write":
			roles := b.strList(el, e.val, e.key)
			if roles == nil {
				roles = []string{}
			}
			if e.key == "read" {
				f.ReadRoles = roles
			} else {
				f.WriteRoles = roles
			}
		default:
			b.unknown(el, e.key)
		}
	}
	if !present["type"] {
		b.errorf(l, "%s has no type (types: %s)", l.ctx, typeList())
		return f
	}
	// Constraints that make no sense for the type are mistakes, not no-ops.
	only := func(key string, types ...FieldType) {
		if present[key] && !slices.Contains(types, f.Type) {
			b.errorf(l.with(key, ""), "%s does not apply to %s fields (%s)", key, f.Type, l.ctx)
		}
	}
	only("min", TypeInteger, TypeNumber)
	only("max", TypeInteger, TypeNumber)
	only("min_length", TypeString, TypeText, TypeList)
	only("max_length", TypeString, TypeText, TypeList)
	only("pattern", TypeString, TypeText)
	only("values", TypeEnum)
	only("items", TypeList)
	only("model", TypeReference)
	if f.Type == TypeEnum && len(f.Values) == 0 {
		b.errorf(l, "enum %s needs values = { ... }", l.ctx)
	}
	if f.Type == TypeReference && f.Ref == "" {
		b.errorf(l, "reference %s needs model = \"Name\"", l.ctx)
	}
	if f.Min != nil {
		f.minRat = ratOf(*f.Min)
	}
	if f.Max != nil {
		f.maxRat = ratOf(*f.Max)
	}
	if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
		b.errorf(l.with("max", ""), "max is below min in %s", l.ctx)
	}
	if f.MinLength != nil && f.MaxLength != nil && *f.MinLength > *f.MaxLength {
		b.errorf(l.with("max_length", ""), "max_length is below min_length in %s", l.ctx)
	}
	switch dv := defVal.(type) {
	case *lua.LNilType:
	case *lua.LFunction:
		f.defaultFn = b.slot(dv)
	default:
		val, err := fromLua(dv)
		if err != nil {
			b.errorf(defLoc, "default in %s: %v", l.ctx, err)
			break
		}
		norm, msg := f.check(val, nil)
		if msg != "" {
			b.errorf(defLoc, "default in %s: %s", l.ctx, msg)
			break
		}
		f.Default = norm
	}
	return f
}

func typeList() string {
	s := make([]string, len(fieldTypes))
	for i, t := range fieldTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// luaShow prints a Lua value for a message.
func luaShow(v lua.LValue) string {
	switch x := v.(type) {
	case lua.LString:
		return fmt.Sprintf("%q", string(x))
	case lua.LNumber, lua.LBool:
		return x.String()
	}
	return v.Type().String()
}
