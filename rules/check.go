package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// check type-checks and range-checks one value of f (never nil) and returns
// it normalized (json.Number for numbers), or a message for the client.
// exists, when set, checks reference targets.
func (f *Field) check(v any, exists func(model, id string) bool) (any, string) {
	switch f.Type {
	case TypeString, TypeText:
		s, ok := v.(string)
		if !ok {
			return nil, "expected string"
		}
		n := -1 // count runes only when a bound needs it
		if f.MinLength != nil || f.MaxLength != nil {
			n = utf8.RuneCountInString(s)
		}
		if f.MinLength != nil && n < *f.MinLength {
			return nil, "must be at least " + plural(*f.MinLength, "character")
		}
		if f.MaxLength != nil && n > *f.MaxLength {
			return nil, "must be at most " + plural(*f.MaxLength, "character")
		}
		if f.Pattern != nil && !f.Pattern.MatchString(s) {
			return nil, "must match the pattern " + f.Pattern.String()
		}
		return s, ""
	case TypeInteger, TypeNumber:
		num, ok := toNumber(v)
		if !ok {
			return nil, "expected " + string(f.Type)
		}
		if f.Type == TypeInteger && !isIntegerLiteral(string(num)) {
			return nil, "expected integer"
		}
		if !boundedNumber(string(num)) {
			return nil, fmt.Sprintf("is too large or too precise (at most %d digits and an exponent within ±%d)", maxDigits, maxExponent)
		}
		if f.Min != nil || f.Max != nil {
			r, ok := new(big.Rat).SetString(string(num))
			if !ok {
				return nil, "expected " + string(f.Type)
			}
			if f.Min != nil && r.Cmp(f.bound(&f.minRat, *f.Min)) < 0 {
				return nil, "must be >= " + formatBound(*f.Min)
			}
			if f.Max != nil && r.Cmp(f.bound(&f.maxRat, *f.Max)) > 0 {
				return nil, "must be <= " + formatBound(*f.Max)
			}
		}
		return num, ""
	case TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, "expected boolean"
		}
		return b, ""
	case TypeDatetime:
		s, ok := v.(string)
		if !ok {
			return nil, "expected datetime (RFC 3339 string)"
		}
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return nil, "expected datetime (RFC 3339, e.g. 2024-09-13T10:00:00Z)"
		}
		return s, ""
	case TypeEnum:
		s, ok := v.(string)
		if ok {
			for _, x := range f.Values {
				if x == s {
					return s, ""
				}
			}
		}
		return nil, "must be one of " + strings.Join(f.Values, ", ")
	case TypeJSON:
		return normalizeJSON(v), ""
	case TypeList:
		items, ok := v.([]any)
		if !ok {
			return nil, "expected list"
		}
		if f.MinLength != nil && len(items) < *f.MinLength {
			return nil, "must have at least " + plural(*f.MinLength, "item")
		}
		if f.MaxLength != nil && len(items) > *f.MaxLength {
			return nil, "must have at most " + plural(*f.MaxLength, "item")
		}
		out := make([]any, len(items))
		elem := &Field{Type: f.Items}
		for i, it := range items {
			if f.Items == "" {
				out[i] = normalizeJSON(it)
				continue
			}
			if it == nil {
				return nil, fmt.Sprintf("item %d: expected %s", i+1, f.Items)
			}
			nv, msg := elem.check(it, nil)
			if msg != "" {
				return nil, fmt.Sprintf("item %d: %s", i+1, msg)
			}
			out[i] = nv
		}
		return out, ""
	case TypeReference:
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, "expected the id (string) of a " + f.Ref
		}
		if exists != nil && !exists(f.Ref, s) {
			return nil, "references a missing " + f.Ref
		}
		return s, ""
	}
	return nil, "has an unknown type"
}

// bound returns the cached exact value of a bound. Fields are built before
// the set is shared, so the cache is filled at load and only read after.
func (f *Field) bound(cache **big.Rat, x float64) *big.Rat {
	if *cache == nil {
		*cache = ratOf(x)
	}
	return *cache
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func formatBound(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// ratOf is the value of a bound as the operator wrote it: the shortest
// decimal that reads back as the float64 Lua parsed (min = 0.1 means 1/10,
// not the binary float just above it). Clients' numbers are compared to it
// exactly, never rounded.
func ratOf(x float64) *big.Rat {
	r := new(big.Rat)
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return r
	}
	if _, ok := r.SetString(strconv.FormatFloat(x, 'g', -1, 64)); !ok {
		r.SetFloat64(x)
	}
	return r
}

var numberRe = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// isIntegerLiteral reports whether a JSON number is written as an integer.
// "1.0" and "1e3" are refused: an integer field holds what the client wrote,
// digit for digit.
// Bounds on a number's literal. Numbers are kept exact, digit for digit;
// without a bound, a 10-byte literal such as 1e999999 would cost a million
// digits to every comparison and every exact sum a projection keeps.
const (
	maxDigits   = 1000
	maxExponent = 1000
)

// boundedNumber reports whether a JSON number literal has at most
// maxDigits digits and an exponent within ±maxExponent.
func boundedNumber(s string) bool {
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	digits := 0
	for i := 0; i < len(mant); i++ {
		if mant[i] >= '0' && mant[i] <= '9' {
			digits++
		}
	}
	if digits > maxDigits {
		return false
	}
	if !hasExp {
		return true
	}
	exp = strings.TrimLeft(exp, "+-")
	exp = strings.TrimLeft(exp, "0")
	return len(exp) <= 4 && (exp == "" || atoiSmall(exp) <= maxExponent)
}

func atoiSmall(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func isIntegerLiteral(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// toNumber accepts what JSON decoding (with or without UseNumber) and Lua
// produce for a number and returns it as a json.Number.
func toNumber(v any) (json.Number, bool) {
	switch x := v.(type) {
	case json.Number:
		if !numberRe.MatchString(string(x)) {
			return "", false
		}
		return x, true
	case float64:
		return floatNumber(x)
	case float32:
		return floatNumber(float64(x))
	case int:
		return json.Number(strconv.FormatInt(int64(x), 10)), true
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), true
	case int32:
		return json.Number(strconv.FormatInt(int64(x), 10)), true
	case uint64:
		return json.Number(strconv.FormatUint(x, 10)), true
	}
	return "", false
}

// floatNumber formats a float64 as a JSON number: integral values without a
// fraction or exponent (so an integer field accepts 12.0 from Lua), others in
// the shortest form that reads back the same.
func floatNumber(x float64) (json.Number, bool) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "", false
	}
	if x == math.Trunc(x) && math.Abs(x) < 1e15 {
		return json.Number(strconv.FormatInt(int64(x), 10)), true
	}
	return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), true
}

// normalizeJSON converts Go numbers inside a json value to json.Number.
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeJSON(e)
		}
		return out
	case json.Number, string, bool, nil:
		return x
	}
	if n, ok := toNumber(v); ok {
		return n
	}
	return v
}
