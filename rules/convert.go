package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// maxConvertDepth bounds nesting when converting between Go and Lua values,
// so a self-referencing Lua table is an error, not a stack overflow.
const maxConvertDepth = 64

// toLua converts a JSON-shaped Go value for a Lua function. Numbers become
// Lua numbers (float64): Lua sees integers beyond 2^53 rounded, but the
// record itself is never rebuilt from what Lua saw.
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case string:
		return lua.LString(x)
	case bool:
		return lua.LBool(x)
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil && f == 0 {
			return lua.LString(string(x))
		}
		return lua.LNumber(f)
	case float64:
		return lua.LNumber(x)
	case int:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.CreateTable(len(x), 0)
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case []string:
		t := L.CreateTable(len(x), 0)
		for _, e := range x {
			t.Append(lua.LString(e))
		}
		return t
	}
	return lua.LString(fmt.Sprint(v))
}

// fromLua converts a Lua value to a JSON-shaped Go value. Tables with only
// keys 1..n become lists, others objects (string keys only); numbers become
// json.Number. Functions and userdata are refused.
func fromLua(v lua.LValue) (any, error) { return fromLuaDepth(v, 0) }

func fromLuaDepth(v lua.LValue, depth int) (any, error) {
	if depth > maxConvertDepth {
		return nil, fmt.Errorf("value nested deeper than %d levels", maxConvertDepth)
	}
	switch x := v.(type) {
	case *lua.LNilType:
		return nil, nil
	case lua.LBool:
		return bool(x), nil
	case lua.LString:
		return string(x), nil
	case lua.LNumber:
		n, ok := floatNumber(float64(x))
		if !ok {
			return nil, fmt.Errorf("number %v cannot be stored (not finite)", float64(x))
		}
		return n, nil
	case *lua.LTable:
		n := x.Len()
		count := 0
		allInt := true
		for k, _ := x.Next(lua.LNil); k != lua.LNil; k, _ = x.Next(k) {
			count++
			if kn, ok := k.(lua.LNumber); !ok || float64(kn) != math.Trunc(float64(kn)) {
				allInt = false
			}
		}
		if count == 0 {
			return map[string]any{}, nil
		}
		if allInt && count == n {
			out := make([]any, n)
			for i := 1; i <= n; i++ {
				e, err := fromLuaDepth(x.RawGetInt(i), depth+1)
				if err != nil {
					return nil, err
				}
				out[i-1] = e
			}
			return out, nil
		}
		out := make(map[string]any, count)
		for k, e := x.Next(lua.LNil); k != lua.LNil; k, e = x.Next(k) {
			ks, ok := k.(lua.LString)
			if !ok {
				return nil, fmt.Errorf("table key %s is not a string", luaShow(k))
			}
			ge, err := fromLuaDepth(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[string(ks)] = ge
		}
		return out, nil
	}
	return nil, fmt.Errorf("a %s cannot be stored", v.Type())
}
