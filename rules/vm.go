package rules

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/lithair/lithair/rules/internal/luapm"
	lua "github.com/yuin/gopher-lua"
)

// vm is one sandboxed Lua state with every rule file instantiated in it.
// Function values are per state (an LState is not goroutine-safe), so each
// vm runs the compiled files once and keeps its own copy of each function
// in funcs, indexed by the slot numbers the schema holds.
type vm struct {
	L       *lua.LState
	base    *lua.LTable
	defs    []*definition
	funcs   []*lua.LFunction
	loading bool
	file    string
	viewMT  *lua.LTable // metatable of record/user/ctx views
	dl      *deadline   // reusable call deadline
}

// definition is one `model "X" { ... }` or `projection "X" { ... }` call.
type definition struct {
	kind  string // "model" or "projection"
	name  string
	file  string
	line  int
	table *lua.LTable
}

// aggSpec is what sum "total", count(), avg/min/max "f" evaluate to. It is
// carried in userdata so a plain table cannot pass for an aggregate.
type aggSpec struct {
	kind  AggregateKind
	field string
}

var nameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// newVM creates a VM and runs every file of s in it, each in its own
// environment, collecting the declarations. Errors are the files' Lua
// errors (syntax errors are caught earlier, at compile). quiet drops what
// the files print while loading: the pool's later VMs would repeat it.
func newVM(s *Set, quiet bool) (*vm, Errors) {
	v := &vm{loading: true, dl: newDeadline()}
	var printFn func(string)
	if s.opts.Print != nil {
		printFn = func(msg string) {
			if !(quiet && v.loading) {
				s.opts.Print(v.file, msg)
			}
		}
	}
	L, base := newSandboxState(printFn)
	v.L, v.base = L, base
	v.installViews()
	base.RawSetString("model", L.NewFunction(v.declare("model")))
	base.RawSetString("projection", L.NewFunction(v.declare("projection")))
	for _, k := range []AggregateKind{AggSum, AggAvg, AggMin, AggMax} {
		base.RawSetString(string(k), L.NewFunction(aggregateFunc(k)))
	}
	base.RawSetString("count", L.NewFunction(func(L *lua.LState) int {
		ud := L.NewUserData()
		ud.Value = &aggSpec{kind: AggCount}
		L.Push(ud)
		return 1
	}))
	var errs errorList
	for _, f := range s.compiled {
		v.file = f.name
		fn := L.NewFunctionFromProto(f.proto)
		env := newFileEnv(L, base)
		fn.Env = env
		before := len(v.defs)
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.LoadTimeout)
		L.SetContext(ctx)
		L.Push(fn)
		err := L.PCall(0, 0, nil)
		timedOut := ctx.Err() != nil
		L.RemoveContext()
		cancel()
		L.SetTop(0)
		switch {
		case err != nil && timedOut:
			errs.add(f.name, 0, "loading took longer than %v (an endless loop at top level?)", s.opts.LoadTimeout)
		case err != nil:
			errs.errs = append(errs.errs, luaError(f.name, err))
		case len(v.defs) == before:
			errs.add(f.name, 0, "declares no model or projection")
		}
		freezeEnv(L, env, base)
	}
	v.loading = false
	v.file = ""
	return v, errs.errs
}

func (v *vm) close() {
	if v != nil && v.L != nil {
		v.L.Close()
		v.dl.stop()
	}
}

// declare returns the Lua function behind `model` or `projection`: called
// with a name it returns a function that takes the declaration table, which
// is what lets `model "Product" { ... }` read like a declaration.
func (v *vm) declare(kind string) lua.LGFunction {
	return func(L *lua.LState) int {
		if !v.loading {
			L.RaiseError("%s can only be declared at the top level of a rule file", kind)
		}
		nameV, ok := L.Get(1).(lua.LString)
		if !ok {
			L.RaiseError(`%s needs a name: %s "Name" { ... }`, kind, kind)
		}
		name := string(nameV)
		if !nameRe.MatchString(name) && (v.file != SystemFile || !nameRe.MatchString(strings.TrimPrefix(name, "_"))) {
			L.RaiseError("%s name %q must start with a letter and hold only letters, digits and _", kind, name)
		}
		file, line := v.file, whereLine(L)
		L.Push(L.NewFunction(func(L *lua.LState) int {
			if !v.loading {
				L.RaiseError("%s can only be declared at the top level of a rule file", kind)
			}
			t, ok := L.Get(1).(*lua.LTable)
			if !ok {
				L.RaiseError(`%s %q needs a table: %s %q { ... }`, kind, name, kind, name)
			}
			v.defs = append(v.defs, &definition{kind: kind, name: name, file: file, line: line, table: t})
			return 0
		}))
		return 1
	}
}

// whereLine is the line of the Lua code calling the current Go function.
func whereLine(L *lua.LState) int {
	w := strings.TrimSuffix(L.Where(1), ":")
	if i := strings.LastIndex(w, ":"); i >= 0 {
		if n, err := strconv.Atoi(w[i+1:]); err == nil {
			return n
		}
	}
	return 0
}

func aggregateFunc(kind AggregateKind) lua.LGFunction {
	return func(L *lua.LState) int {
		f, ok := L.Get(1).(lua.LString)
		if !ok {
			L.RaiseError(`%s needs a field name: %s "total"`, kind, kind)
		}
		ud := L.NewUserData()
		ud.Value = &aggSpec{kind: kind, field: string(f)}
		L.Push(ud)
		return 1
	}
}

// call runs function slot with args on this VM under ctx, returning up to
// nret results. The caller owns the VM for the duration.
func (v *vm) call(ctx context.Context, slot int, args []lua.LValue, nret int) (rets []lua.LValue, err error) {
	L := v.L
	defer func() {
		// PCall recovers Lua errors; this catches a Go panic in a library
		// function so it becomes an error, never a crash of the server.
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
		L.RemoveContext()
		L.SetTop(0)
	}()
	L.SetContext(ctx)
	L.Push(v.funcs[slot])
	for _, a := range args {
		L.Push(a)
	}
	if err := L.PCall(len(args), nret, nil); err != nil {
		return nil, err
	}
	rets = make([]lua.LValue, nret)
	for i := range rets {
		rets[i] = L.Get(i + 1)
	}
	return rets, nil
}

// callError turns a failed call into ErrTimeout or ErrScript, naming what
// was called.
func callError(what string, budget fmt.Stringer, ctx context.Context, err error) error {
	if interrupted(ctx, err) {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w: %s ran longer than %v", ErrTimeout, what, budget)
		}
		return fmt.Errorf("rules: %s: %w", what, ctx.Err())
	}
	le := luaError("", err)
	return fmt.Errorf("%w in %s: %v", ErrScript, what, le)
}

// interrupted reports whether err is the VM stopping the call because ctx
// ended, as opposed to a script error that happened to come late.
func interrupted(ctx context.Context, err error) bool {
	if ctx.Err() == nil || err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, ctx.Err().Error()) || strings.Contains(msg, luapm.ErrStopped)
}
