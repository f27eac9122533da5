package index

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/btree"
)

// Op is a list filter's comparison.
type Op string

// The comparisons a list filter can make.
const (
	OpEq     Op = "eq"
	OpNe     Op = "ne"
	OpLt     Op = "lt"
	OpLte    Op = "lte"
	OpGt     Op = "gt"
	OpGte    Op = "gte"
	OpPrefix Op = "prefix"
	OpIn     Op = "in"
)

// Filter keeps the records whose Field compares to Values as Op says
// (Values has one key, except for OpIn).
type Filter struct {
	Field  string
	Op     Op
	Values []Key
}

// Cursor is where a page ended: the ordering field's key (for a field
// order) and the record id.
type Cursor struct {
	Field string
	Key   Key
	ID    string
}

// Query describes one page of a list.
type Query struct {
	Model   string
	Filters []Filter
	// Sort is an indexed field to order by; "" orders by id (creation
	// order). Desc reverses the order.
	Sort    string
	Desc    bool
	After   *Cursor
	Limit   int
	MaxScan int // records examined before a page is cut short; 0 = DefaultMaxScan
}

// Page is one page of a list. Next is nil on the last page. A page cut
// short by MaxScan has fewer than Limit records but a Next.
type Page struct {
	Records []*Record
	Next    *Cursor
	Field   string // the field the page is ordered by ("" for id)
}

// DefaultMaxScan bounds the records a list without a usable index
// examines per page.
const DefaultMaxScan = 10000

// ErrNotIndexed refuses a sort on a field that has no index.
var ErrNotIndexed = errors.New("index: field is not indexed")

// maxID sorts after every id: ids are UUIDs, so any byte above '~' will do.
const maxID = "\xff"

// List returns one page of a query. It walks a secondary index when the
// query sorts by an indexed field or filters on one, and the records in
// id order otherwise, examining at most MaxScan records.
func (s *State) List(q Query) (Page, error) {
	s.waitForIndexes(q.Model)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if q.MaxScan <= 0 {
		q.MaxScan = DefaultMaxScan
	}
	t := s.tables[q.Model]
	if t == nil {
		if q.Sort != "" && !s.isIndexedLocked(q.Model, q.Sort) {
			return Page{}, fmt.Errorf("%w: %s", ErrNotIndexed, q.Sort)
		}
		return Page{Field: q.Sort}, nil
	}
	field, lo, hi := q.Sort, (*bound)(nil), (*bound)(nil)
	if field != "" {
		if t.indexes[field] == nil {
			return Page{}, fmt.Errorf("%w: %s", ErrNotIndexed, field)
		}
		lo, hi = rangeOf(q.Filters, field)
	} else if !q.Desc {
		// No order asked: a filter on an indexed field picks the walk.
		for _, f := range q.Filters {
			if t.indexes[f.Field] != nil && f.Op != OpNe {
				field = f.Field
				lo, hi = rangeOf(q.Filters, field)
				break
			}
		}
	}
	page := Page{Field: field}
	filterFields := map[string]struct{}{}
	for _, f := range q.Filters {
		filterFields[f.Field] = struct{}{}
	}
	scanned := 0
	var last *Cursor
	visit := func(r *Record, key Key) bool {
		scanned++
		if matchAll(r, q.Filters, filterFields) {
			if len(page.Records) == q.Limit {
				page.Next = last
				return false
			}
			page.Records = append(page.Records, r)
		}
		last = &Cursor{Field: field, Key: key, ID: r.ID}
		if scanned >= q.MaxScan {
			page.Next = last
			return false
		}
		return true
	}
	if field == "" {
		walkIDs(t.byID, q.After, q.Desc, visit)
	} else {
		if q.After != nil && q.After.Field != field {
			return Page{}, errors.New("index: cursor belongs to another ordering")
		}
		walkIndex(t, field, lo, hi, q.After, q.Desc, visit)
	}
	return page, nil
}

func (s *State) isIndexedLocked(model, field string) bool {
	sp := s.specs[model]
	for _, f := range append(sp.Indexed, sp.Unique...) {
		if f == field {
			return true
		}
	}
	return false
}

func walkIDs(tree *btree.BTreeG[*Record], after *Cursor, desc bool, visit func(*Record, Key) bool) {
	fn := func(r *Record) bool {
		if after != nil && r.ID == after.ID {
			return true
		}
		return visit(r, Key{})
	}
	switch {
	case desc && after != nil:
		tree.DescendLessOrEqual(&Record{ID: after.ID}, fn)
	case desc:
		tree.Descend(fn)
	case after != nil:
		tree.AscendGreaterOrEqual(&Record{ID: after.ID}, fn)
	default:
		tree.Ascend(fn)
	}
}

// bound is one end of a range on an index: a key, inclusive or not.
type bound struct {
	key       Key
	inclusive bool
	prefix    string // for OpPrefix: keys must start with it
}

// rangeOf narrows the walk of field's index with the filters on it. The
// filters are still checked record by record; the range only saves work.
func rangeOf(filters []Filter, field string) (lo, hi *bound) {
	for _, f := range filters {
		if f.Field != field || len(f.Values) == 0 {
			continue
		}
		k := f.Values[0]
		switch f.Op {
		case OpEq:
			lo, hi = &bound{key: k, inclusive: true}, &bound{key: k, inclusive: true}
		case OpGt:
			lo = &bound{key: k}
		case OpGte:
			lo = &bound{key: k, inclusive: true}
		case OpLt:
			hi = &bound{key: k}
		case OpLte:
			hi = &bound{key: k, inclusive: true}
		case OpPrefix:
			if k.kind == kindString {
				lo = &bound{key: k, inclusive: true, prefix: k.str}
			}
		case OpIn:
			minK, maxK := k, k
			for _, v := range f.Values[1:] {
				if v.Compare(minK) < 0 {
					minK = v
				}
				if v.Compare(maxK) > 0 {
					maxK = v
				}
			}
			lo, hi = &bound{key: minK, inclusive: true}, &bound{key: maxK, inclusive: true}
		}
	}
	return lo, hi
}

func walkIndex(t *table, field string, lo, hi *bound, after *Cursor, desc bool, visit func(*Record, Key) bool) {
	tree := t.indexes[field]
	var afterEntry *entry
	if after != nil {
		p := probe(after.Key, after.ID)
		afterEntry = &p
	}
	fn := func(e entry) bool {
		if afterEntry != nil && e.key.Compare(afterEntry.key) == 0 && e.rec.ID == afterEntry.rec.ID {
			return true
		}
		if !desc && hi != nil && beyondHigh(e.key, hi) {
			return false
		}
		if desc && lo != nil && beyondLow(e.key, lo) {
			return false
		}
		if lo != nil && lo.prefix != "" && !strings.HasPrefix(e.key.str, lo.prefix) {
			return desc // ascending: past the prefix's keys, stop
		}
		return visit(e.rec, e.key)
	}
	if !desc {
		var start entry
		started := false
		if lo != nil {
			start, started = probe(lo.key, ""), true
			if !lo.inclusive {
				start = probe(lo.key, maxID)
			}
		}
		if afterEntry != nil && (!started || lessEntry(start, *afterEntry)) {
			start, started = *afterEntry, true
		}
		if started {
			tree.AscendGreaterOrEqual(start, fn)
		} else {
			tree.Ascend(fn)
		}
		return
	}
	var start entry
	started := false
	if hi != nil {
		start, started = probe(hi.key, maxID), true
		if !hi.inclusive {
			start = probe(hi.key, "")
		}
	}
	if afterEntry != nil && (!started || lessEntry(*afterEntry, start)) {
		start, started = *afterEntry, true
	}
	if started {
		tree.DescendLessOrEqual(start, fn)
	} else {
		tree.Descend(fn)
	}
}

func beyondHigh(k Key, hi *bound) bool {
	c := k.Compare(hi.key)
	return c > 0 || (c == 0 && !hi.inclusive)
}

func beyondLow(k Key, lo *bound) bool {
	c := k.Compare(lo.key)
	return c < 0 || (c == 0 && !lo.inclusive)
}

// matchAll checks every filter against a record's values.
func matchAll(r *Record, filters []Filter, fields map[string]struct{}) bool {
	if len(filters) == 0 {
		return true
	}
	vals, err := pickFields(r.fieldBytes(), fields, false)
	if err != nil {
		return false
	}
	for _, f := range filters {
		if !f.match(vals[f.Field]) {
			return false
		}
	}
	return true
}

func (f Filter) match(v any) bool {
	k, ok := KeyOf(v)
	if !ok {
		return f.Op == OpNe
	}
	for _, want := range f.Values {
		c := k.Compare(want)
		var hit bool
		switch f.Op {
		case OpEq, OpIn:
			hit = c == 0
		case OpNe:
			hit = c != 0
		case OpLt:
			hit = c < 0
		case OpLte:
			hit = c <= 0
		case OpGt:
			hit = c > 0
		case OpGte:
			hit = c >= 0
		case OpPrefix:
			hit = k.kind == kindString && want.kind == kindString && strings.HasPrefix(k.str, want.str)
		}
		if hit {
			return true
		}
	}
	return false
}
