package web

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Shape limits of a request body.
const (
	maxDepth     = 32        // how deeply objects and arrays may nest
	maxStringLen = 256 << 10 // bytes in one string (a value, decoded)
	maxKeyLen    = 256       // bytes in one object key
)

// checkShape refuses what encoding/json would silently accept: a key
// given twice in one object (also when the two differ only in case: which
// one would win is a guess), nesting deeper than maxDepth, a string longer
// than maxStringLen and a key longer than maxKeyLen (both counted in bytes
// once decoded). It returns "" for a body of good shape, and leaves syntax
// errors to the decoder.
//
// It runs on every body before the decoder, so it scans the bytes itself
// rather than asking encoding/json for one token at a time, which
// allocates for every token. It follows json.Decoder.Token step by step,
// syntax included: where Token would stop at a syntax error it returns "",
// and until then it finds the same faults in the same order, so every body
// gets the same answer as before. That includes a body of several values
// one after the other, which Token reads in turn.
func checkShape(body []byte) string {
	var frameBuf [maxDepth]shapeFrame
	frames := frameBuf[:0]
	// Keys of the objects open at the moment, innermost last: each frame
	// knows where its own keys start.
	var keyBuf [2 * shapeLinearKeys][]byte
	keys := keyBuf[:0]
	state := shapeTopValue
	i := 0
	for {
		for i < len(body) && isJSONSpace(body[i]) {
			i++
		}
		if i == len(body) {
			return ""
		}
		c := body[i]
		switch c {
		case '{', '[':
			if !state.valueAllowed() {
				return ""
			}
			if len(frames) == maxDepth {
				return "malformed JSON: nested deeper than " + strconv.Itoa(maxDepth) + " levels"
			}
			frames = append(frames, shapeFrame{parent: state, keysFrom: len(keys)})
			state = shapeArrayStart
			if c == '{' {
				state = shapeObjectStart
			}
			i++
		case '}', ']':
			if c == '}' && state != shapeObjectStart && state != shapeObjectComma ||
				c == ']' && state != shapeArrayStart && state != shapeArrayComma {
				return ""
			}
			f := frames[len(frames)-1]
			frames = frames[:len(frames)-1]
			keys = keys[:f.keysFrom]
			state = f.parent.valueEnd()
			i++
		case ':':
			if state != shapeObjectColon {
				return ""
			}
			state = shapeObjectValue
			i++
		case ',':
			switch state {
			case shapeArrayComma:
				state = shapeArrayValue
			case shapeObjectComma:
				state = shapeObjectKey
			default:
				return ""
			}
			i++
		default:
			if c == '"' && (state == shapeObjectStart || state == shapeObjectKey) {
				end, esc, high, ok := scanJSONString(body, i)
				if !ok {
					return ""
				}
				var msg string
				keys, msg = addKey(&frames[len(frames)-1], keys, body[i:end], esc, high)
				if msg != "" {
					return msg
				}
				state = shapeObjectColon
				i = end
				continue
			}
			if !state.valueAllowed() {
				return ""
			}
			end, ok := 0, false
			switch c {
			case '"':
				var esc, high bool
				if end, esc, high, ok = scanJSONString(body, i); ok && stringTooLong(body[i:end], esc, high) {
					return "malformed JSON: a string is longer than " + strconv.Itoa(maxStringLen) + " bytes"
				}
			case 't':
				end, ok = i+4, bytes.HasPrefix(body[i:], []byte("true"))
			case 'f':
				end, ok = i+5, bytes.HasPrefix(body[i:], []byte("false"))
			case 'n':
				end, ok = i+4, bytes.HasPrefix(body[i:], []byte("null"))
			default:
				end, ok = scanJSONNumber(body, i)
			}
			if !ok {
				return ""
			}
			state = state.valueEnd()
			i = end
		}
	}
}

// shapeState is where json.Decoder.Token stands between two tokens: what
// may come next.
type shapeState uint8

const (
	shapeTopValue shapeState = iota
	shapeArrayStart
	shapeArrayValue
	shapeArrayComma
	shapeObjectStart
	shapeObjectKey
	shapeObjectColon
	shapeObjectValue
	shapeObjectComma
)

func (s shapeState) valueAllowed() bool {
	switch s {
	case shapeTopValue, shapeArrayStart, shapeArrayValue, shapeObjectValue:
		return true
	}
	return false
}

// valueEnd is the state after a whole value read in state s.
func (s shapeState) valueEnd() shapeState {
	switch s {
	case shapeArrayStart, shapeArrayValue:
		return shapeArrayComma
	case shapeObjectValue:
		return shapeObjectComma
	}
	return s
}

// shapeLinearKeys is how many keys an object may have before its keys go
// in a map: below it, comparing a new key with each one before it is
// quicker than hashing, and allocates nothing.
const shapeLinearKeys = 32

// shapeFrame is one open object or array.
type shapeFrame struct {
	parent   shapeState          // the state to go back to when it closes
	keysFrom int                 // where its keys start in checkShape's keys
	seen     map[string]struct{} // its lower-cased keys, once it has many
}

// addKey records one key (raw, with its quotes) of the object f, and
// returns the message for a key too long or seen before in f. keys holds
// each key in a form that compares with equalFoldASCII exactly as
// strings.ToLower of the decoded keys would: a key of plain ASCII as it
// stands, any other lower-cased (after which only its ASCII letters could
// still differ in case, and they are lower already).
func addKey(f *shapeFrame, keys [][]byte, raw []byte, esc, high bool) ([][]byte, string) {
	k := raw[1 : len(raw)-1]
	n := len(k) // decoded, a key of plain ASCII is as it stands
	var decoded string
	if esc || high {
		decoded = decodeJSONString(raw, esc)
		n = len(decoded)
	}
	if n > maxStringLen {
		return keys, "malformed JSON: a string is longer than " + strconv.Itoa(maxStringLen) + " bytes"
	}
	if n > maxKeyLen {
		return keys, "malformed JSON: a key is longer than " + strconv.Itoa(maxKeyLen) + " bytes"
	}
	if esc || high {
		k = []byte(strings.ToLower(decoded))
	}
	dup := false
	if f.seen != nil {
		lower := string(lowerASCII(k))
		_, dup = f.seen[lower]
		f.seen[lower] = struct{}{}
	} else {
		for _, old := range keys[f.keysFrom:] {
			if equalFoldASCII(old, k) {
				dup = true
				break
			}
		}
		keys = append(keys, k)
		if len(keys)-f.keysFrom > shapeLinearKeys {
			// A large object would make the comparisons quadratic.
			f.seen = make(map[string]struct{}, 2*shapeLinearKeys)
			for _, old := range keys[f.keysFrom:] {
				f.seen[string(lowerASCII(old))] = struct{}{}
			}
			keys = keys[:f.keysFrom]
		}
	}
	if dup {
		if !esc && !high {
			decoded = string(raw[1 : len(raw)-1])
		}
		return keys, "malformed JSON: key \"" + decoded + "\" appears twice in one object"
	}
	return keys, ""
}

// stringTooLong reports whether the string raw (with its quotes) is longer
// than maxStringLen once decoded. Decoding never lengthens valid UTF-8 (an
// escape is longer than what it stands for), so only a string that is not
// valid UTF-8, or one with escapes that is too long as it stands, needs
// decoding to be measured.
func stringTooLong(raw []byte, esc, high bool) bool {
	n := len(raw) - 2
	valid := !high || utf8.Valid(raw[1:len(raw)-1])
	if valid && (!esc || n <= maxStringLen) {
		return n > maxStringLen
	}
	return len(decodeJSONString(raw, esc)) > maxStringLen
}

// decodeJSONString decodes a string scanJSONString accepted, exactly as
// encoding/json does (a lone surrogate escape or a byte that is not UTF-8
// becomes U+FFFD).
func decodeJSONString(raw []byte, esc bool) string {
	s := raw[1 : len(raw)-1]
	if !esc && utf8.Valid(s) {
		return string(s)
	}
	var v string
	json.Unmarshal(raw, &v) // cannot fail: the string was scanned as JSON
	return v
}

// scanJSONString scans the string starting at b[i], a quote, the way
// encoding/json's scanner does. It returns the index after the closing
// quote, whether the string has escapes, and whether it has bytes beyond
// ASCII.
func scanJSONString(b []byte, i int) (end int, esc, high, ok bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc, high, true
		case c == '\\':
			esc = true
			i++
			if i == len(b) {
				return 0, false, false, false
			}
			switch b[i] {
			case 'b', 'f', 'n', 'r', 't', '\\', '/', '"':
			case 'u':
				if i+4 >= len(b) {
					return 0, false, false, false
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0, false, false, false
					}
				}
				i += 4
			default:
				return 0, false, false, false
			}
		case c < 0x20:
			return 0, false, false, false
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	return 0, false, false, false
}

// scanJSONNumber scans the number starting at b[i] and returns the index
// after it. Like encoding/json's scanner it stops where the grammar does,
// whatever the next byte: "01" is the number 0 and then whatever follows.
func scanJSONNumber(b []byte, i int) (int, bool) {
	digits := func(i int) int {
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i == len(b):
		return 0, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = digits(i + 1)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		if i+1 == len(b) || b[i+1] < '0' || b[i+1] > '9' {
			return 0, false
		}
		i = digits(i + 1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i == len(b) || b[i] < '0' || b[i] > '9' {
			return 0, false
		}
		i = digits(i)
	}
	return i, true
}

func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

func equalFoldASCII(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func lowerASCII(k []byte) []byte {
	l := make([]byte, len(k))
	for i, c := range k {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		l[i] = c
	}
	return l
}
