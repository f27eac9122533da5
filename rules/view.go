package rules

import (
	"sort"

	lua "github.com/yuin/gopher-lua"
)

// Records, the user and ctx reach Lua as read-only views (userdata) over
// the Go values rather than as tables built for every call. Two reasons:
//
//   - speed: a gopher-lua table with string keys costs three Go maps, and a
//     validate usually reads two or three fields of the records it is given;
//     a view converts only the fields read.
//   - determinism: a table built from a Go map iterates in random order, so
//     a projection reducer that used pairs() could give different rows on
//     different nodes; pairs() over a view goes in sorted key order.
//
// Views cannot be written to (a validate that changed `new` would otherwise
// look as if it changed the record). type(v) is "userdata".

type recordView struct {
	m    map[string]any
	keys []string // sorted, built on first pairs()
}

type userView struct {
	u     *User
	roles lua.LValue // built on first access
}

type ctxView struct {
	user   lua.LValue
	action Action
}

// installViews creates the views' shared metatable and the pairs that
// understands them.
func (v *vm) installViews() {
	L := v.L
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(viewIndex))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("cannot assign %s: records, user and ctx are read-only (copy what you need into a local table)", L.ToStringMeta(L.Get(2)).String())
		return 0
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		switch L.CheckUserData(1).Value.(type) {
		case *recordView:
			L.Push(lua.LString("record"))
		case *userView:
			L.Push(lua.LString("user"))
		default:
			L.Push(lua.LString("ctx"))
		}
		return 1
	}))
	mt.RawSetString("__metatable", lua.LString("protected"))
	v.viewMT = mt
	if orig, ok := v.base.RawGetString("pairs").(*lua.LFunction); ok {
		v.base.RawSetString("pairs", L.NewFunction(viewPairs(orig)))
	}
}

func (v *vm) newView(val any) *lua.LUserData {
	ud := v.L.NewUserData()
	ud.Value = val
	ud.Metatable = v.viewMT
	return ud
}

// record is the Lua value of a record: a view, or nil.
func (v *vm) record(m map[string]any) lua.LValue {
	if m == nil {
		return lua.LNil
	}
	return v.newView(&recordView{m: m})
}

// user is the Lua value of the caller: a view with id, name and roles, or
// nil for an anonymous client.
func (v *vm) user(u *User) lua.LValue {
	if u == nil {
		return lua.LNil
	}
	return v.newView(&userView{u: u})
}

// ctx is the third argument of validate and the argument of a default
// function: { user = ..., action = "create" | "update" }.
func (v *vm) ctx(u *User, a Action) lua.LValue {
	return v.newView(&ctxView{user: v.user(u), action: a})
}

func viewIndex(L *lua.LState) int {
	ud := L.CheckUserData(1)
	key, ok := L.Get(2).(lua.LString)
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	switch x := ud.Value.(type) {
	case *recordView:
		L.Push(toLua(L, x.m[string(key)]))
	case *userView:
		switch key {
		case "id":
			L.Push(lua.LString(x.u.ID))
		case "name":
			L.Push(lua.LString(x.u.Name))
		case "roles":
			if x.roles == nil {
				x.roles = toLua(L, x.u.Roles)
			}
			L.Push(x.roles)
		default:
			L.Push(lua.LNil)
		}
	case *ctxView:
		switch key {
		case "user":
			L.Push(x.user)
		case "action":
			L.Push(lua.LString(x.action))
		default:
			L.Push(lua.LNil)
		}
	default:
		L.Push(lua.LNil)
	}
	return 1
}

// viewPairs is pairs() that also walks views, in sorted key order.
func viewPairs(orig *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		ud, ok := L.Get(1).(*lua.LUserData)
		if !ok {
			return callOrig(L, orig)
		}
		var keys []string
		var get func(k string) lua.LValue
		switch x := ud.Value.(type) {
		case *recordView:
			if x.keys == nil {
				x.keys = make([]string, 0, len(x.m))
				for k := range x.m {
					x.keys = append(x.keys, k)
				}
				sort.Strings(x.keys)
			}
			keys = x.keys
			get = func(k string) lua.LValue { return toLua(L, x.m[k]) }
		case *userView, *ctxView:
			if _, isUser := x.(*userView); isUser {
				keys = []string{"id", "name", "roles"}
			} else {
				keys = []string{"action", "user"}
			}
			get = func(k string) lua.LValue {
				L.Push(L.GetMetaField(ud, "__index"))
				L.Push(ud)
				L.Push(lua.LString(k))
				L.Call(2, 1)
				r := L.Get(-1)
				L.Pop(1)
				return r
			}
		default:
			L.ArgError(1, "table expected")
		}
		i := 0
		L.Push(L.NewFunction(func(L *lua.LState) int {
			for i < len(keys) {
				k := keys[i]
				i++
				if val := get(k); val != lua.LNil {
					L.Push(lua.LString(k))
					L.Push(val)
					return 2
				}
			}
			L.Push(lua.LNil)
			return 1
		}))
		L.Push(ud)
		L.Push(lua.LNil)
		return 3
	}
}
