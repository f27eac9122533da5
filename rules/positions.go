package rules

import (
	"reflect"
	"strconv"
	"strings"

	"github.com/yuin/gopher-lua/ast"
)

// positions maps a key path inside a declaration ("model", "Product",
// "fields", "price", "min") to the source line where it is written. Lua
// tables keep no line numbers, so the loader reads them from the syntax tree
// of each `model "X" { ... }` / `projection "X" { ... }` call. Tables built
// by code (a field list assembled in a loop) have no entry; errors inside
// them fall back to the nearest enclosing key that has one.
type positions map[string]int

func pathKey(path []string) string { return strings.Join(path, "\x00") }

// line returns the line of path, or of its longest prefix that has one.
func (p positions) line(path ...string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := p[pathKey(path[:n])]; ok {
			return l
		}
	}
	return 0
}

// indexPositions walks a parsed file for declaration calls.
func indexPositions(chunk any) positions {
	pos := positions{}
	walkAST(reflect.ValueOf(chunk), func(n any) {
		call, ok := n.(*ast.FuncCallExpr)
		if !ok || len(call.Args) != 1 {
			return
		}
		inner, ok := call.Func.(*ast.FuncCallExpr)
		if !ok || len(inner.Args) != 1 {
			return
		}
		id, ok := inner.Func.(*ast.IdentExpr)
		if !ok || (id.Value != "model" && id.Value != "projection") {
			return
		}
		name, ok := inner.Args[0].(*ast.StringExpr)
		if !ok {
			return
		}
		path := []string{id.Value, name.Value}
		if _, dup := pos[pathKey(path)]; dup {
			return // a duplicate declaration; the first one keeps its lines
		}
		pos[pathKey(path)] = call.Line()
		if t, ok := call.Args[0].(*ast.TableExpr); ok {
			indexTable(pos, path, t)
		}
	})
	return pos
}

func indexTable(pos positions, path []string, t *ast.TableExpr) {
	n := 0
	for _, f := range t.Fields {
		var key string
		switch k := f.Key.(type) {
		case nil:
			n++
			key = strconv.Itoa(n)
		case *ast.StringExpr:
			key = k.Value
		case *ast.NumberExpr:
			key = k.Value
		default:
			continue
		}
		p := append(append([]string(nil), path...), key)
		line := f.Value.Line()
		if f.Key != nil && f.Key.Line() > 0 {
			line = f.Key.Line()
		}
		pos[pathKey(p)] = line
		if sub, ok := f.Value.(*ast.TableExpr); ok {
			indexTable(pos, p, sub)
		}
	}
}

// walkAST visits every node reachable from v. The syntax tree is a tree of
// pointers, interfaces and slices, so a reflective walk avoids a visitor for
// each of gopher-lua's node types.
func walkAST(v reflect.Value, visit func(any)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return
		}
		if v.Kind() == reflect.Pointer && v.CanInterface() {
			visit(v.Interface())
		}
		walkAST(v.Elem(), visit)
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walkAST(v.Index(i), visit)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walkAST(v.Field(i), visit)
			}
		}
	}
}
