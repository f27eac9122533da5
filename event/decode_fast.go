package event

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/lithair/lithair/internal/jsonscan"
)

// decodeRecordCommand decodes the common command, a create, update or
// delete of one record, in the exact compact form Encode writes, without
// encoding/json's reflection: every node decodes every entry it applies,
// and json.Unmarshal was 13% of a follower's CPU. It reports false for
// anything else (a batch, rules, whitespace, escapes, a key it does not
// know or sees twice, a number that is not plain digits), and the caller
// then decodes with encoding/json, so the result never differs from it.
func decodeRecordCommand(b []byte) (*Command, bool) {
	c := &Command{}
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	var seen [7]bool
	i := 1
	for {
		key, next, ok := plainString(b, i)
		if !ok || next >= len(b) || b[next] != ':' {
			return nil, false
		}
		i = next + 1
		k := keyIndex(key)
		if k < 0 || seen[k] {
			return nil, false
		}
		seen[k] = true
		switch k {
		case 0, 1, 2, 5: // op, model, id, actor
			var s []byte
			if s, i, ok = plainString(b, i); !ok {
				return nil, false
			}
			switch k {
			case 0:
				c.Op = opOf(s)
			case 1:
				c.Model = string(s)
			case 2:
				c.ID = string(s)
			case 5:
				c.Actor = string(s)
			}
		case 3: // expected
			var digits []byte
			if digits, i = number(b, i); len(digits) == 0 || digits[0] == '-' {
				return nil, false
			}
			v, err := strconv.ParseUint(string(digits), 10, 64)
			if err != nil {
				return nil, false
			}
			c.Expected = v
		case 6: // time
			var digits []byte
			if digits, i = number(b, i); len(digits) == 0 {
				return nil, false
			}
			v, err := strconv.ParseInt(string(digits), 10, 64)
			if err != nil {
				return nil, false
			}
			c.Time = v
		case 4: // fields: an object, kept as it is
			if i >= len(b) || b[i] != '{' {
				return nil, false
			}
			end, ok := jsonscan.Value(b, i)
			if !ok || !json.Valid(b[i:end]) {
				return nil, false
			}
			c.Fields = append(json.RawMessage(nil), b[i:end]...)
			i = end
		}
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			if i != len(b)-1 || c.Op == OpBatch || c.Op == OpRules {
				return nil, false
			}
			return c, true
		default:
			return nil, false
		}
	}
}

// opOf returns the Op named s, without allocating for the usual ones.
func opOf(s []byte) Op {
	switch string(s) {
	case string(OpCreate):
		return OpCreate
	case string(OpUpdate):
		return OpUpdate
	case string(OpDelete):
		return OpDelete
	}
	return Op(s)
}

// keyIndex numbers the members decodeRecordCommand knows, -1 for others.
func keyIndex(k []byte) int {
	switch string(k) {
	case "op":
		return 0
	case "model":
		return 1
	case "id":
		return 2
	case "expected":
		return 3
	case "fields":
		return 4
	case "actor":
		return 5
	case "time":
		return 6
	}
	return -1
}

// plainString reads the JSON string starting at b[i] when it needs no
// decoding: no escapes, no control characters, valid UTF-8 (encoding/json
// would replace invalid bytes). It returns its contents and the index
// after its closing quote.
func plainString(b []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	ascii := true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s = b[i+1 : j]
			if !ascii && !utf8.Valid(s) {
				return nil, 0, false
			}
			return s, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, 0, false
}

// number reads an optional minus sign and decimal digits from b[i], with
// no leading zero; anything else makes it return no digits.
func number(b []byte, i int) (digits []byte, next int) {
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	start := j
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	if j == start || (b[start] == '0' && j-start > 1) {
		return nil, i
	}
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		return nil, i
	}
	return b[i:j], j
}
