package index

import (
	"bytes"
	"encoding/json"
	"errors"
	"unsafe"

	"github.com/lithair/lithair/internal/jsonscan"
)

// errScan reports a fields object that is not the compact JSON object the
// leader encodes. It cannot happen for commands Lithair wrote itself.
var errScan = errors.New("index: fields are not a JSON object")

// eachMember calls fn with the raw key (without quotes) and raw value of
// every top-level member of the JSON object raw. It is a small scanner,
// far cheaper than decoding into a map, for the hot paths that need only
// the indexed fields: Apply and snapshot restore.
func eachMember(raw []byte, fn func(key, val []byte)) error {
	i := jsonscan.Space(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return errScan
	}
	i = jsonscan.Space(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return nil
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return errScan
		}
		end, ok := jsonscan.String(raw, i)
		if !ok {
			return errScan
		}
		key := raw[i+1 : end-1]
		i = jsonscan.Space(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return errScan
		}
		i = jsonscan.Space(raw, i+1)
		vend, ok := jsonscan.Value(raw, i)
		if !ok {
			return errScan
		}
		fn(key, raw[i:vend])
		i = jsonscan.Space(raw, vend)
		if i >= len(raw) {
			return errScan
		}
		if raw[i] == '}' {
			return nil
		}
		if raw[i] != ',' {
			return errScan
		}
		i = jsonscan.Space(raw, i+1)
	}
}

// EachMember is eachMember for the HTTP layer, which filters the members
// of records it sends: the key is raw (escapes kept), the value raw JSON.
func EachMember(raw []byte, fn func(key, val []byte)) error { return eachMember(raw, fn) }

// decodeValue turns one raw JSON value into what encoding/json with
// UseNumber yields, with a fast path for plain strings and numbers. With
// shared, those strings point into raw, which must then never change: the
// index keys of a record share its JSON rather than copy it.
func decodeValue(raw []byte, shared bool) (any, error) {
	if len(raw) == 0 {
		return nil, errScan
	}
	str := func(b []byte) string {
		if shared && len(b) > 0 {
			return unsafe.String(&b[0], len(b))
		}
		return string(b)
	}
	switch c := raw[0]; {
	case c == '"' && bytes.IndexByte(raw, '\\') < 0:
		return str(raw[1 : len(raw)-1]), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return json.Number(str(raw)), nil
	case c == 't' && string(raw) == "true":
		return true, nil
	case c == 'f' && string(raw) == "false":
		return false, nil
	case c == 'n' && string(raw) == "null":
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// pickFields decodes only the named members of a JSON object; see
// decodeValue for shared.
func pickFields(raw []byte, names map[string]struct{}, shared bool) (map[string]any, error) {
	out := make(map[string]any, len(names))
	if len(names) == 0 {
		return out, nil
	}
	var derr error
	err := eachMember(raw, func(key, val []byte) {
		if _, ok := names[string(key)]; !ok {
			return
		}
		v, err := decodeValue(val, shared)
		if err != nil {
			derr = err
			return
		}
		out[string(key)] = v
	})
	if err == nil {
		err = derr
	}
	return out, err
}
