package rules

import (
	"strings"

	"github.com/lithair/lithair/rules/internal/luapm"
	lua "github.com/yuin/gopher-lua"
)

// capStringLib replaces the string functions that can allocate or loop in Go
// (where the VM's per-instruction deadline check does not run) with bounded
// versions. They are installed into the real string table, which is also
// what ("x"):rep(...) reaches through the string metatable.
func capStringLib(L *lua.LState, str *lua.LTable) {
	str.RawSetString("rep", L.NewFunction(strRep))
	str.RawSetString("gsub", L.NewFunction(strGsub))
	if orig, ok := str.RawGetString("format").(*lua.LFunction); ok {
		str.RawSetString("format", L.NewFunction(strFormat(orig)))
	}
	// Pattern functions run on luapm, which stops at the call's deadline
	// (Lua patterns backtrack: a few ".-" over a long subject is exponential),
	// with the subject capped. gopher-lua's gsub is also quadratic in the
	// number of matches, hence the rewrite below.
	str.RawSetString("find", L.NewFunction(strFind))
	str.RawSetString("match", L.NewFunction(strMatch))
	str.RawSetString("gmatch", L.NewFunction(strGmatch))
}

func tooLong(L *lua.LState, fn string) {
	L.RaiseError("string.%s: result would exceed %d bytes", fn, MaxStringResult)
}

func strRep(L *lua.LState) int {
	s := L.CheckString(1)
	n := L.CheckInt(2)
	sep := L.OptString(3, "")
	if n <= 0 {
		L.Push(lua.LString(""))
		return 1
	}
	if int64(len(s)+len(sep))*int64(n) > MaxStringResult {
		tooLong(L, "rep")
	}
	if sep == "" {
		L.Push(lua.LString(strings.Repeat(s, n)))
		return 1
	}
	var b strings.Builder
	b.Grow((len(s) + len(sep)) * n)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(s)
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// strFormat refuses widths and precisions over two digits (as C Lua does)
// and bounds the result size before formatting.
func strFormat(orig *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		f := L.CheckString(1)
		size := len(f)
		for i := 0; i < len(f); i++ {
			if f[i] != '%' {
				continue
			}
			i++
			for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
				i++
			}
			digits := 0
			for i < len(f) && f[i] >= '0' && f[i] <= '9' {
				i++
				digits++
			}
			if i < len(f) && f[i] == '.' {
				i++
				pd := 0
				for i < len(f) && f[i] >= '0' && f[i] <= '9' {
					i++
					pd++
				}
				digits = max(digits, pd)
			}
			if digits > 2 {
				L.RaiseError("string.format: invalid format (width or precision too long)")
			}
			size += 100
		}
		for i := 2; i <= L.GetTop(); i++ {
			if s, ok := L.Get(i).(lua.LString); ok {
				size += len(s)
			}
		}
		if size > MaxStringResult {
			tooLong(L, "format")
		}
		return callOrig(L, orig)
	}
}

// subject returns argument 1 of a pattern function, refusing long ones.
func subject(L *lua.LState, fn string) string {
	s := L.CheckString(1)
	if len(s) > MaxStringResult {
		L.RaiseError("string.%s: subject longer than %d bytes", fn, MaxStringResult)
	}
	return s
}

// find runs luapm.Find and turns its error into a Lua error.
func find(L *lua.LState, pat, s string, offset, limit int) []*luapm.MatchData {
	mds, err := luapm.Find(L.Context(), pat, []byte(s), offset, limit)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	return mds
}

// pushCaptures pushes the captures of m (or the whole match when it has
// none and whole is set) and returns how many.
func pushCaptures(L *lua.LState, m *luapm.MatchData, s string, whole bool) int {
	if m.CaptureLength() == 2 {
		if !whole {
			return 0
		}
		L.Push(lua.LString(s[m.Capture(0):m.Capture(1)]))
		return 1
	}
	n := 0
	for i := 2; i < m.CaptureLength(); i += 2 {
		L.Push(captureValue(m, s, i))
		n++
	}
	return n
}

// strFind is string.find(s, pattern [, init [, plain]]).
func strFind(L *lua.LState) int {
	s := subject(L, "find")
	pat := L.CheckString(2)
	if len(pat) == 0 {
		L.Push(lua.LNumber(1))
		L.Push(lua.LNumber(0))
		return 2
	}
	init := L.OptInt(3, 1)
	if init != 0 {
		init--
	}
	if init < 0 {
		init = max(len(s)+init+1, 0)
	}
	if lua.LVAsBool(L.Get(4)) {
		if init > len(s) {
			L.Push(lua.LNil)
			return 1
		}
		pos := strings.Index(s[init:], pat)
		if pos < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(init + pos + 1))
		L.Push(lua.LNumber(init + pos + len(pat)))
		return 2
	}
	mds := find(L, pat, s, init, 1)
	if len(mds) == 0 {
		L.Push(lua.LNil)
		return 1
	}
	m := mds[0]
	L.Push(lua.LNumber(m.Capture(0) + 1))
	L.Push(lua.LNumber(m.Capture(1)))
	return 2 + pushCaptures(L, m, s, false)
}

// strMatch is string.match(s, pattern [, init]).
func strMatch(L *lua.LState) int {
	s := subject(L, "match")
	pat := L.CheckString(2)
	offset := L.OptInt(3, 1)
	if offset < 0 {
		offset = len(s) + offset + 1
	}
	offset = max(offset-1, 0)
	mds := find(L, pat, s, offset, 1)
	if len(mds) == 0 {
		L.Push(lua.LNil)
		return 1
	}
	return pushCaptures(L, mds[0], s, true)
}

// strGmatch is string.gmatch(s, pattern). It finds one match per iteration
// rather than all of them up front, so memory and time follow what the
// loop consumes.
func strGmatch(L *lua.LState) int {
	s := subject(L, "gmatch")
	pat := L.CheckString(2)
	offset, done := 0, false
	L.Push(L.NewFunction(func(L *lua.LState) int {
		if done || offset > len(s) {
			return 0
		}
		mds := find(L, pat, s, offset, 1)
		if len(mds) == 0 {
			done = true
			return 0
		}
		m := mds[0]
		offset = max(m.Capture(0)+1, m.Capture(1))
		if strings.HasPrefix(pat, "^") {
			done = true
		}
		return pushCaptures(L, m, s, true)
	}))
	return 1
}

// callOrig calls a library Go function with the current arguments.
func callOrig(L *lua.LState, orig *lua.LFunction) int {
	n := L.GetTop()
	L.Push(orig)
	for i := 1; i <= n; i++ {
		L.Push(L.Get(i))
	}
	L.Call(n, lua.MultRet)
	return L.GetTop() - n
}

// strGsub is string.gsub with output built in one pass (gopher-lua's copies
// the whole buffer for every match) and capped at MaxStringResult.
func strGsub(L *lua.LState) int {
	s := L.CheckString(1)
	pat := L.CheckString(2)
	L.CheckTypes(3, lua.LTString, lua.LTTable, lua.LTFunction)
	repl := L.Get(3)
	limit := L.OptInt(4, -1)
	if len(s) > MaxStringResult {
		L.RaiseError("string.gsub: subject longer than %d bytes", MaxStringResult)
	}
	var b strings.Builder
	last, count := 0, 0
	write := func(part string) {
		if b.Len()+len(part) > MaxStringResult {
			tooLong(L, "gsub")
		}
		b.WriteString(part)
	}
	src := []byte(s)
	ctx := L.Context()
	// Matches are found in batches: between batches the deadline is checked,
	// since a million matches take longer than a call's budget.
	const batch = 1024
	anchored := strings.HasPrefix(pat, "^")
	for offset := 0; offset <= len(s) && (limit < 0 || count < limit); {
		n := batch
		if limit >= 0 {
			n = min(n, limit-count)
		}
		mds, err := luapm.Find(L.Context(), pat, src, offset, n)
		if err != nil {
			L.RaiseError("%s", err.Error())
		}
		for _, m := range mds {
			gsubOne(L, m, s, repl, last, write)
			last = m.Capture(1)
			offset = max(m.Capture(0)+1, m.Capture(1))
		}
		count += len(mds)
		if len(mds) < n || anchored {
			break
		}
		if ctx != nil && ctx.Err() != nil {
			L.RaiseError("%s", ctx.Err().Error())
		}
	}
	write(s[last:])
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(count))
	return 2
}

// gsubOne writes the text before match m and its replacement.
func gsubOne(L *lua.LState, m *luapm.MatchData, s string, repl lua.LValue, last int, write func(string)) {
	start, end := m.Capture(0), m.Capture(1)
	write(s[last:start])
	whole := s[start:end]
	var out lua.LValue
	switch r := repl.(type) {
	case lua.LString:
		write(expandRepl(L, string(r), m, s))
		return
	case *lua.LTable:
		out = L.GetTable(r, firstCapture(m, s))
	case *lua.LFunction:
		L.Push(r)
		nargs := 0
		if m.CaptureLength() > 2 {
			for i := 2; i < m.CaptureLength(); i += 2 {
				L.Push(captureValue(m, s, i))
				nargs++
			}
		} else {
			L.Push(lua.LString(whole))
			nargs = 1
		}
		L.Call(nargs, 1)
		out = L.Get(-1)
		L.Pop(1)
	}
	switch v := out.(type) {
	case lua.LString:
		write(string(v))
	case lua.LNumber:
		write(v.String())
	case *lua.LNilType:
		write(whole)
	case lua.LBool:
		if v {
			L.RaiseError("string.gsub: invalid replacement value (a boolean)")
		}
		write(whole)
	default:
		L.RaiseError("string.gsub: invalid replacement value (a %s)", out.Type().String())
	}
}

func captureValue(m *luapm.MatchData, s string, i int) lua.LValue {
	if m.IsPosCapture(i) {
		return lua.LNumber(m.Capture(i))
	}
	return lua.LString(s[m.Capture(i):m.Capture(i+1)])
}

func firstCapture(m *luapm.MatchData, s string) lua.LValue {
	if m.CaptureLength() > 2 {
		return captureValue(m, s, 2)
	}
	return lua.LString(s[m.Capture(0):m.Capture(1)])
}

// expandRepl expands %0-%9 and %% in a gsub replacement string.
func expandRepl(L *lua.LState, repl string, m *luapm.MatchData, s string) string {
	if strings.IndexByte(repl, '%') < 0 {
		return repl
	}
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '%' || i+1 == len(repl) {
			b.WriteByte(c)
			continue
		}
		i++
		d := repl[i]
		if d < '0' || d > '9' {
			b.WriteByte(d)
			continue
		}
		idx := int(d-'0') * 2
		switch {
		case idx == 0 || (idx == 2 && m.CaptureLength() == 2):
			b.WriteString(s[m.Capture(0):m.Capture(1)])
		case idx >= m.CaptureLength():
			L.RaiseError("string.gsub: invalid capture index %%%c", d)
		default:
			b.WriteString(lua.LVAsString(captureValue(m, s, idx)))
		}
		if b.Len() > MaxStringResult {
			tooLong(L, "gsub")
		}
	}
	return b.String()
}

// tableConcat is table.concat with the result size checked before anything
// is joined.
func tableConcat(L *lua.LState) int {
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	i := L.OptInt(3, 1)
	j := L.OptInt(4, t.Len())
	if i > j {
		L.Push(lua.LString(""))
		return 1
	}
	if j-i > MaxStringResult {
		tooLong(L, "concat")
	}
	parts := make([]string, 0, j-i+1)
	size := 0
	for k := i; k <= j; k++ {
		var p string
		switch v := t.RawGetInt(k).(type) {
		case lua.LString:
			p = string(v)
		case lua.LNumber:
			p = v.String()
		default:
			L.RaiseError("table.concat: invalid value (at index %d) in table for 'concat'", k)
		}
		size += len(p)
		if k > i {
			size += len(sep)
		}
		if size > MaxStringResult {
			L.RaiseError("table.concat: result would exceed %d bytes", MaxStringResult)
		}
		parts = append(parts, p)
	}
	L.Push(lua.LString(strings.Join(parts, sep)))
	return 1
}
