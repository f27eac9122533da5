package rules

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// MaxStringResult caps every string a sandboxed library function may build
// (string.rep, string.format, string.gsub, table.concat) and the subject of
// pattern functions. Without it one call such as string.rep("x", 1e10)
// allocates in Go, where the per-instruction time check cannot stop it.
const MaxStringResult = 1 << 20

// VM limits. The call stack bounds recursion depth (deep recursion fails with
// "stack overflow" instead of growing), the registry bounds values on the
// data stack (unpack of a huge range fails instead of allocating).
const (
	callStackSize   = 200
	registrySize    = 1024 * 4
	registryMaxSize = 1024 * 256
	// registryGrowStep is large because gopher-lua copies the whole registry
	// on each growth: with its default step of 32, filling it costs
	// gigabytes of copying, seconds spent in Go where no deadline applies.
	registryGrowStep = 1024 * 8
	// maxResults caps the values one library call may push (unpack,
	// string.byte), as C Lua's stack limit does.
	maxResults = 8000
)

// allowedBase is the part of Lua's base library a rule may use. Left out on
// purpose: load, loadstring, dofile, loadfile, require, module (code or files
// from elsewhere), getfenv, setfenv (escape the environment), rawset (write
// through read-only proxies), collectgarbage, newproxy, _printregs, and
// print, which is replaced by one that goes to Options.Print.
var allowedBase = []string{
	"assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget",
	"select", "setmetatable", "getmetatable", "tonumber", "tostring", "type",
	"unpack", "xpcall", "_VERSION",
}

// newSandboxState returns an LState holding only the allowed libraries, and
// the read-only table of globals (base) every file environment reads through.
func newSandboxState(print func(msg string)) (*lua.LState, *lua.LTable) {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:     true,
		CallStackSize:    callStackSize,
		RegistrySize:     registrySize,
		RegistryMaxSize:  registryMaxSize,
		RegistryGrowStep: registryGrowStep,
	})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	base := L.NewTable()
	for _, name := range allowedBase {
		base.RawSetString(name, g.RawGetString(name))
	}
	base.RawSetString("print", L.NewFunction(func(L *lua.LState) int {
		if print != nil {
			parts := make([]string, L.GetTop())
			for i := range parts {
				parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
			}
			print(strings.Join(parts, "\t"))
		}
		return 0
	}))
	base.RawSetString("has_role", L.NewFunction(luaHasRole))
	if orig, ok := g.RawGetString("unpack").(*lua.LFunction); ok {
		base.RawSetString("unpack", L.NewFunction(capUnpack(orig)))
	}

	str := g.RawGetString("string").(*lua.LTable)
	capStringLib(L, str)
	if orig, ok := str.RawGetString("byte").(*lua.LFunction); ok {
		str.RawSetString("byte", L.NewFunction(strByte(orig)))
	}
	tbl := g.RawGetString("table").(*lua.LTable)
	tbl.RawSetString("concat", L.NewFunction(tableConcat))
	math := g.RawGetString("math").(*lua.LTable)
	// Projections must give the same answer on every node and on replay:
	// nothing random. (There is no os.time either.)
	math.RawSetString("random", lua.LNil)
	math.RawSetString("randomseed", lua.LNil)

	base.RawSetString("string", readOnly(L, str, "string"))
	base.RawSetString("table", readOnly(L, tbl, "table"))
	base.RawSetString("math", readOnly(L, math, "math"))

	// Methods on strings ("x"):rep(...) reach the real string table through
	// the string metatable; protect that metatable so getmetatable("") does
	// not hand out the writable table.
	// gopher-lua uses the string table itself as the metatable (with
	// string.__index = string), which would make ("").__index the writable
	// table: give strings a metatable of their own instead.
	str.RawSetString("__index", lua.LNil)
	str.RawSetString("gfind", lua.LNil) // an alias of gmatch that would bypass its cap
	smt := L.NewTable()
	smt.RawSetString("__index", str)
	smt.RawSetString("__metatable", lua.LString("protected"))
	L.SetMetatable(lua.LString(""), smt)
	// Nothing may reach the full global table: clear it.
	for _, k := range tableKeys(g) {
		g.RawSet(k, lua.LNil)
	}
	return L, base
}

// readOnly returns a proxy that reads through to t and refuses writes, so a
// call cannot poison a library for the calls after it.
func readOnly(L *lua.LState, t *lua.LTable, name string) *lua.LTable {
	proxy := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", t)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("cannot assign %s.%s: the %s library is read-only", name, L.ToStringMeta(L.Get(2)).String(), name)
		return 0
	}))
	mt.RawSetString("__metatable", lua.LString("protected"))
	proxy.Metatable = mt
	return proxy
}

// newFileEnv returns the global environment of one rule file. While the file
// loads, its top level may define globals (helper functions, constants);
// they land in env itself. freezeEnv then makes env read-only.
func newFileEnv(L *lua.LState, base *lua.LTable) *lua.LTable {
	env := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", base)
	mt.RawSetString("__metatable", lua.LString("protected"))
	env.Metatable = mt
	return env
}

// freezeEnv moves what the file's top level defined into a table behind env
// and makes assignments to globals an error. Functions keep env as their
// environment, so after this no call can leave a global for the next call
// (which may run on the same VM) to find.
//
// The table behind env holds a copy of base as well, so reading a global
// costs one metamethod hop instead of two (globals such as has_role and
// string are read on every call).
func freezeEnv(L *lua.LState, env, base *lua.LTable) {
	defined := L.NewTable()
	for k, v := base.Next(lua.LNil); k != lua.LNil; k, v = base.Next(k) {
		defined.RawSet(k, v)
	}
	for _, k := range tableKeys(env) {
		defined.RawSet(k, env.RawGet(k))
		env.RawSet(k, lua.LNil)
	}
	mt := env.Metatable.(*lua.LTable)
	mt.RawSetString("__index", defined)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("assignment to global %q: rule functions cannot set globals (declare it local)", L.ToStringMeta(L.Get(2)).String())
		return 0
	}))
}

// tableKeys lists t's keys (in iteration order) so t can be changed while
// going through them.
func tableKeys(t *lua.LTable) []lua.LValue {
	var keys []lua.LValue
	for k, _ := t.Next(lua.LNil); k != lua.LNil; k, _ = t.Next(k) {
		keys = append(keys, k)
	}
	return keys
}

// luaHasRole is has_role(user, role): true when user (a ctx.user table or
// nil) holds role.
func luaHasRole(L *lua.LState) int {
	role := L.CheckString(2)
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		uv, ok := ud.Value.(*userView)
		L.Push(lua.LBool(ok && uv.u.HasRole(role)))
		return 1
	}
	u, ok := L.Get(1).(*lua.LTable)
	if !ok {
		L.Push(lua.LFalse)
		return 1
	}
	roles, ok := u.RawGetString("roles").(*lua.LTable)
	if !ok {
		L.Push(lua.LFalse)
		return 1
	}
	for i := 1; i <= roles.Len(); i++ {
		if s, ok := roles.RawGetInt(i).(lua.LString); ok && string(s) == role {
			L.Push(lua.LTrue)
			return 1
		}
	}
	L.Push(lua.LFalse)
	return 1
}

// capUnpack refuses to unpack more than maxResults values.
func capUnpack(orig *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		t := L.CheckTable(1)
		i, j := L.OptInt(2, 1), L.OptInt(3, t.Len())
		if j-i >= maxResults {
			L.RaiseError("unpack: too many results (more than %d)", maxResults)
		}
		return callOrig(L, orig)
	}
}

// strByte refuses string.byte ranges over maxResults.
func strByte(orig *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		n := len(L.CheckString(1))
		i, j := L.OptInt(2, 1), L.OptInt(3, L.OptInt(2, 1))
		if i < 0 {
			i = n + i + 1
		}
		if j < 0 {
			j = n + j + 1
		}
		if j-i >= maxResults {
			L.RaiseError("string.byte: too many results (more than %d)", maxResults)
		}
		return callOrig(L, orig)
	}
}
