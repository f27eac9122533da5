package log

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
)

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }

// check is a tiny stand-in for testify's require (testify's yaml dependency
// is not in go.sum): every method stops the test on failure.
var check checker

type checker struct{}

func msg(args []any) string {
	if len(args) == 0 {
		return ""
	}
	if f, ok := args[0].(string); ok {
		return ": " + fmt.Sprintf(f, args[1:]...)
	}
	return ": " + fmt.Sprint(args...)
}

func (checker) NoError(t testing.TB, err error, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error %v%s", err, msg(args))
	}
}

func (checker) ErrorIs(t testing.TB, err, target error, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v is not %v%s", err, target, msg(args))
	}
}

func (checker) Equal(t testing.TB, want, got any, args ...any) {
	t.Helper()
	if wb, ok := want.([]byte); ok {
		if gb, ok := got.([]byte); ok && bytes.Equal(wb, gb) {
			return
		}
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("got %v, want %v%s", got, want, msg(args))
	}
}

func (checker) True(t testing.TB, ok bool, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf("not true%s", msg(args))
	}
}

func (checker) Nil(t testing.TB, v any, args ...any) {
	t.Helper()
	if v != nil && !reflect.ValueOf(v).IsNil() {
		t.Fatalf("got %v, want nil%s", v, msg(args))
	}
}

func (checker) Len(t testing.TB, v any, n int, args ...any) {
	t.Helper()
	if l := reflect.ValueOf(v).Len(); l != n {
		t.Fatalf("length %d, want %d%s", l, n, msg(args))
	}
}

func greater[T cmp.Ordered](t testing.TB, a, b T, args ...any) {
	t.Helper()
	if !(a > b) {
		t.Fatalf("%v is not greater than %v%s", a, b, msg(args))
	}
}

func less[T cmp.Ordered](t testing.TB, a, b T, args ...any) {
	t.Helper()
	if !(a < b) {
		t.Fatalf("%v is not less than %v%s", a, b, msg(args))
	}
}

func atLeast[T cmp.Ordered](t testing.TB, a, b T, args ...any) {
	t.Helper()
	if a < b {
		t.Fatalf("%v is less than %v%s", a, b, msg(args))
	}
}
