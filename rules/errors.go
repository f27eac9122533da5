package rules

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// ErrTimeout is wrapped by every error of a Lua call that ran out of its time
// budget (Options.CallTimeout). Callers test it with errors.Is.
var ErrTimeout = errors.New("rules: Lua call exceeded its time budget")

// ErrScript is wrapped by every error raised by an operator's Lua function at
// call time (validate, a permission predicate, a projection key or reducer).
// It is the operator's bug, not the client's: callers answer 500.
var ErrScript = errors.New("rules: Lua error")

// ErrClosed is returned by calls on a Set after Close.
var ErrClosed = errors.New("rules: set is closed")

// Error is one problem in a rule file, located by file name and line (1-based;
// 0 when the place is unknown).
type Error struct {
	File string
	Line int
	Msg  string
}

// Error prints "file:line: message", the form editors and CI annotate.
func (e Error) Error() string {
	switch {
	case e.File == "":
		return e.Msg
	case e.Line <= 0:
		return e.File + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// Errors is every problem found in a rule set, in file then line order. A
// bad edit is reported all at once so the operator fixes it in one pass.
type Errors []Error

// Error prints one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// errorList accumulates Errors during loading.
type errorList struct{ errs Errors }

func (l *errorList) add(file string, line int, format string, args ...any) {
	l.errs = append(l.errs, Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// sorted returns the errors in file, then line order (stable, so problems
// on one line keep the order they were found in).
func (l *errorList) sorted() Errors {
	sort.SliceStable(l.errs, func(i, j int) bool {
		a, b := l.errs[i], l.errs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return l.errs
}

// luaError turns an error from gopher-lua (syntax or runtime) into an Error in
// the "file:line: message" form. gopher-lua prefixes runtime messages with
// "chunkname:line:" and reports syntax errors as *parse.Error.
func luaError(file string, err error) Error {
	var pe *parse.Error
	if errors.As(err, &pe) {
		line := pe.Pos.Line
		if line == parse.EOF {
			return Error{File: file, Line: 0, Msg: "syntax error at end of file: " + strings.TrimSpace(pe.Message)}
		}
		msg := strings.TrimSpace(pe.Message)
		if pe.Token != "" {
			msg += " near '" + pe.Token + "'"
		}
		return Error{File: file, Line: line, Msg: msg}
	}
	var ae *lua.ApiError
	msg := err.Error()
	if errors.As(err, &ae) {
		if ae.Cause != nil && ae.Type == lua.ApiErrorSyntax {
			return luaError(file, ae.Cause)
		}
		if ae.Object != nil {
			msg = ae.Object.String()
		}
	}
	f, line, rest := splitWhere(msg)
	if f != "" {
		return Error{File: f, Line: line, Msg: rest}
	}
	return Error{File: file, Msg: msg}
}

// splitWhere splits gopher-lua's "name:line: msg" prefix. It returns an empty
// name when msg has no such prefix.
func splitWhere(msg string) (file string, line int, rest string) {
	msg = strings.TrimSpace(msg)
	// The first line is the message; gopher-lua may append a traceback.
	if i := strings.Index(msg, "\nstack traceback:"); i >= 0 {
		msg = msg[:i]
	}
	i := strings.Index(msg, ":")
	if i <= 0 {
		return "", 0, msg
	}
	j := strings.Index(msg[i+1:], ":")
	if j <= 0 {
		return "", 0, msg
	}
	n, err := strconv.Atoi(msg[i+1 : i+1+j])
	if err != nil {
		return "", 0, msg
	}
	return msg[:i], n, strings.TrimSpace(msg[i+1+j+1:])
}
