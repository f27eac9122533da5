package index

import (
	"cmp"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/google/btree"
)

// Key is a field value as a secondary index orders it: booleans, then
// numbers (numerically), then strings (bytewise). Absent and null values,
// lists and objects are not indexed.
type Key struct {
	kind kind
	num  float64
	str  string
}

type kind uint8

const (
	kindBool kind = iota + 1
	kindNumber
	kindString
)

// KeyOf returns the index key of a decoded field value.
func KeyOf(v any) (Key, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return Key{kind: kindBool, num: 1}, true
		}
		return Key{kind: kindBool}, true
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return Key{}, false
		}
		return Key{kind: kindNumber, num: f}, true
	case float64:
		return Key{kind: kindNumber, num: x}, true
	case string:
		return Key{kind: kindString, str: x}, true
	}
	return Key{}, false
}

// Compare orders two keys.
func (a Key) Compare(b Key) int {
	if c := cmp.Compare(a.kind, b.kind); c != 0 {
		return c
	}
	if a.kind == kindString {
		return strings.Compare(a.str, b.str)
	}
	return cmp.Compare(a.num, b.num)
}

// Value returns the key as a JSON-ready value.
func (a Key) Value() any {
	switch a.kind {
	case kindBool:
		return a.num == 1
	case kindNumber:
		return json.Number(strconv.FormatFloat(a.num, 'g', -1, 64))
	}
	return a.str
}

// entry is one (value, record) pair of a secondary index; the record id
// breaks ties so that equal values keep a stable order. Holding the record
// itself saves a lookup by id for every entry a list walks.
type entry struct {
	key Key
	rec *Record
}

func lessEntry(a, b entry) bool {
	if c := a.key.Compare(b.key); c != 0 {
		return c < 0
	}
	return a.rec.ID < b.rec.ID
}

func newSecondary() *btree.BTreeG[entry] { return btree.NewG(32, lessEntry) }

// probe is an entry that sorts with key and id, to start or stop a walk.
func probe(k Key, id string) entry { return entry{k, &Record{ID: id}} }
