package rules

import (
	"context"
	"slices"

	lua "github.com/yuin/gopher-lua"
)

// Roles returns the roles allowed to perform a. An action the rule file does
// not list is allowed to RoleAdmin only: forgetting a line must not open a
// model to everyone.
func (m *Model) Roles(a Action) []string {
	if r, ok := m.Permissions[a]; ok {
		return r
	}
	return []string{RoleAdmin}
}

// RoleAllowed is the model-level check: does u hold one of the roles of a?
// "public" admits anyone including anonymous clients, "authenticated" any
// logged-in user. It runs no Lua, so the HTTP layer can refuse before
// decoding a body.
func (m *Model) RoleAllowed(a Action, u *User) bool { return admits(m.Roles(a), u) }

// admits reports whether u holds one of roles, with the special meaning of
// "public" and "authenticated".
func admits(roles []string, u *User) bool {
	for _, r := range roles {
		switch {
		case r == RolePublic:
			return true
		case r == RoleAuthenticated && u != nil:
			return true
		case u.HasRole(r):
			return true
		}
	}
	return false
}

// Allowed checks the roles of a and then, when the model declares one, the
// Lua predicate permissions.<a>_if(user, old, new). old is nil for create,
// new is nil for read and delete. The predicate allows when it returns a
// true value. An error means the predicate failed (ErrScript, ErrTimeout);
// the caller should refuse and answer 500.
func (m *Model) Allowed(a Action, u *User, old, new map[string]any) (bool, error) {
	return m.AllowedContext(context.Background(), a, u, old, new)
}

// AllowedContext is Allowed bounded by ctx as well as Options.CallTimeout.
func (m *Model) AllowedContext(ctx context.Context, a Action, u *User, old, new map[string]any) (bool, error) {
	if !m.RoleAllowed(a, u) {
		return false, nil
	}
	slot, ok := m.predicates[a]
	if !ok {
		return true, nil
	}
	allowed := false
	err := m.set.call(ctx, slot, m.what("permissions."+string(a)+"_if"), 1, func(v *vm) []lua.LValue {
		return []lua.LValue{v.user(u), v.record(old), v.record(new)}
	}, func(rets []lua.LValue) error {
		allowed = lua.LVAsBool(rets[0])
		return nil
	})
	if err != nil {
		return false, err
	}
	return allowed, nil
}

// Readable reports whether u may see the field's value.
func (f *Field) Readable(u *User) bool { return f.ReadRoles == nil || admits(f.ReadRoles, u) }

// Writable reports whether u may set the field's value.
func (f *Field) Writable(u *User) bool { return f.WriteRoles == nil || admits(f.WriteRoles, u) }

// Hidden returns the fields u may not read, nil when u may read them all
// (the common case, which then costs no copy of the record).
func (m *Model) Hidden(u *User) []string {
	var out []string
	for _, f := range m.Fields {
		if !f.Readable(u) {
			out = append(out, f.Name)
		}
	}
	return out
}

// Unwritable returns, sorted, the keys of input that name fields u may not
// write. The caller refuses the request: a protected field is never
// silently dropped.
func (m *Model) Unwritable(u *User, input map[string]any) []string {
	var out []string
	for k := range input {
		if f := m.fieldIndex[k]; f != nil && !f.Writable(u) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
