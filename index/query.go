package index

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
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
// (Values has one key, except for OpIn). A record without a value for
// Field (absent, null, a list or an object) passes only OpNe.
type Filter struct {
	Field  string
	Op     Op
	Values []Key
}

// IDField names the record id in an order.
const IDField = "id"

// SortKey is one field of a list's order.
type SortKey struct {
	Field string // a field name, or IDField
	Desc  bool
}

// Query describes one page of a list.
//
// The order is total: Sort, then each key of Then, then the id. On every
// field a missing value sorts before any other and keys compare as Key
// does (booleans, numbers, strings); Desc reverses one field.
type Query struct {
	Model   string
	Filters []Filter
	// Sort is the indexed field to order by first; "" orders by id
	// (creation order). Desc reverses it.
	Sort string
	Desc bool
	// ByID keeps the id order when Sort is "" even though a filter could
	// walk an index (which then orders the list): the client asked for it.
	ByID bool
	// Then orders the records that share a Sort value; its fields need no
	// index. The id breaks the last ties in the direction of the last
	// key, unless Then ends with IDField to set it.
	Then    []SortKey
	After   *Cursor
	Limit   int // records per page, at least 1
	MaxScan int // records examined before a page is cut short; 0 = DefaultMaxScan
	MaxRun  int // records one run of equal Sort values may hold when Then is used; 0 = DefaultMaxRun
}

// Cursor is a position in a list's order, where a page ended: the sort
// values (Keys, one per sort field, the zero Key for a missing value) and
// id of the last record the page returned or examined. With Past it
// holds the first sort value only and stands after every record that has
// it. The next page holds the records strictly after it.
type Cursor struct {
	Order string // the order it belongs to, as "price,-name,-id"
	Keys  []Key
	ID    string
	Past  bool
}

// Page is one page of a list. Next is nil on the last page. A page cut
// short by MaxScan has fewer than Limit records but a Next.
type Page struct {
	Records []*Record
	Next    *Cursor
	Field   string // the field the page is ordered by first ("" for id)
}

// Bounds on the records one call examines.
const (
	// DefaultMaxScan bounds the records a list without a usable index
	// examines per page.
	DefaultMaxScan = 10000
	// DefaultMaxRun bounds the records that share one value of the first
	// sort field when further fields order them: each page that reaches
	// such a run examines and sorts all of it.
	DefaultMaxRun = 100000
	// DefaultMaxCount bounds the records EachMatch examines.
	DefaultMaxCount = 100000
)

// Errors of List.
var (
	// ErrNotIndexed refuses a first sort field that has no index.
	ErrNotIndexed = errors.New("index: field is not indexed")
	// ErrRunTooLong refuses an order whose run of equal first sort values
	// holds more than Query.MaxRun records.
	ErrRunTooLong = errors.New("index: too many records share one value of the first sort field")
	// ErrBadOrder refuses a Query whose sort keys make no order.
	ErrBadOrder = errors.New("index: not an order")
	// ErrCursor refuses a cursor that is not a position in the query's order.
	ErrCursor = errors.New("index: not a position in this list's order")
)

// maxID sorts after every id: ids are UUIDs, so any byte above '~' will do.
const maxID = "\xff"

// Missing reports whether k stands for a missing value (the zero Key,
// which sorts before every other).
func (a Key) Missing() bool { return a.kind == 0 }

// List returns one page of a query, in the query's order.
//
// A list ordered by a field walks that field's index; one without a sort
// but filtered on an indexed field walks that field's index within the
// filter's range (and comes in its order); any other walks the records
// in id order. At most MaxScan records are examined per page, except
// that a run of equal first sort values is examined whole when Then
// orders it. Records without a value for the first sort field are not in
// its index: they are found by a walk in id order, and only when the
// model has some and no filter on that field excludes them.
func (s *State) List(q Query) (Page, error) {
	s.waitForIndexes(q.Model)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if q.MaxScan <= 0 {
		q.MaxScan = DefaultMaxScan
	}
	if q.MaxRun <= 0 {
		q.MaxRun = DefaultMaxRun
	}
	q.Limit = max(q.Limit, 1)
	t := s.tables[q.Model]
	if q.Sort != "" && (t == nil && !s.isIndexedLocked(q.Model, q.Sort) || t != nil && t.indexes[q.Sort] == nil) {
		return Page{}, fmt.Errorf("%w: %s", ErrNotIndexed, q.Sort)
	}
	o, err := orderOf(q, t)
	if err != nil {
		return Page{}, err
	}
	if err := o.check(q.After); err != nil {
		return Page{}, err
	}
	if t == nil {
		return Page{Field: o.first()}, nil
	}
	l := newLister(q, o, t)
	l.walk()
	return l.page, l.err
}

// EachMatch calls fn with every record of q.Model that passes q.Filters,
// in no set order, examining at most max records (DefaultMaxCount when
// max <= 0), and stops when fn returns false. It reports whether fn saw
// every matching record. fn runs under the state's read lock: it must be
// quick and must not call the State.
//
// The lock is let go every DefaultMaxScan records, so that a long count
// holds writes up no longer than a page does; the walk goes on from where
// it stopped, and may or may not see the changes made in between.
func (s *State) EachMatch(q Query, max int, fn func(*Record) bool) bool {
	if max <= 0 {
		max = DefaultMaxCount
	}
	examined, field := 0, ""
	var at *entry // the last record examined, with its key on field's index
	for chunk := 0; ; chunk++ {
		s.waitForIndexes(q.Model)
		s.mu.RLock()
		t := s.tables[q.Model]
		if t == nil {
			s.mu.RUnlock()
			return chunk == 0
		}
		if chunk == 0 {
			field = walkField(t, q.Filters)
		} else if field != "" && t.indexes[field] == nil {
			s.mu.RUnlock()
			return false // the rules changed under the walk
		}
		l := newLister(q, order{}, t)
		l.prepareMatch(field)
		complete, more, end := true, false, examined+DefaultMaxScan
		visit := func(r *Record, k Key, present bool) bool {
			if at != nil && r.ID == at.rec.ID && k.Compare(at.key) == 0 {
				return true
			}
			switch examined {
			case max:
				complete = false
				return false
			case end:
				more = true
				return false
			}
			examined++
			at = &entry{k, r}
			if _, ok := l.values(r, k, present); ok && !fn(r) {
				complete = false
				return false
			}
			return true
		}
		if field == "" {
			afterID := ""
			if at != nil {
				afterID = at.rec.ID
			}
			walkIDs(t.byID, afterID, false, func(r *Record) bool { return visit(r, Key{}, false) })
		} else {
			lo, hi := rangeOf(q.Filters, field)
			walkIndex(t.indexes[field], lo, hi, at, false, func(e entry) bool { return visit(e.rec, e.key, !e.key.Missing()) })
		}
		s.mu.RUnlock()
		if !more {
			return complete
		}
	}
}

func (s *State) isIndexedLocked(model, field string) bool {
	sp := s.specs[model]
	return slices.Contains(sp.Indexed, field) || slices.Contains(sp.Unique, field)
}

// order is a list's complete order: its sort keys, the first walked on
// its index, and the id last.
type order struct {
	keys   []SortKey
	idDesc bool
}

func orderOf(q Query, t *table) (order, error) {
	if q.Sort == "" {
		if len(q.Then) > 0 {
			return order{}, fmt.Errorf("%w: further sort keys need a first one", ErrBadOrder)
		}
		if !q.Desc && !q.ByID && t != nil {
			if f := walkField(t, q.Filters); f != "" {
				return order{keys: []SortKey{{Field: f}}}, nil
			}
		}
		return order{idDesc: q.Desc}, nil
	}
	o := order{keys: []SortKey{{Field: q.Sort, Desc: q.Desc}}, idDesc: q.Desc}
	for i, k := range q.Then {
		if k.Field == IDField {
			if i != len(q.Then)-1 {
				return order{}, fmt.Errorf("%w: the id is unique, nothing can follow it", ErrBadOrder)
			}
			o.idDesc = k.Desc
			break
		}
		if slices.ContainsFunc(o.keys, func(x SortKey) bool { return x.Field == k.Field }) {
			return order{}, fmt.Errorf("%w: %s appears twice", ErrBadOrder, k.Field)
		}
		o.keys = append(o.keys, k)
		o.idDesc = k.Desc
	}
	return o, nil
}

// walkField picks the indexed field whose filter narrows a walk best:
// equality, then a set, a prefix, a range; the field name breaks ties, so
// the same query always walks, and is ordered by, the same index.
func walkField(t *table, filters []Filter) string {
	rank := map[Op]int{OpEq: 0, OpIn: 1, OpPrefix: 2, OpLt: 3, OpLte: 3, OpGt: 3, OpGte: 3}
	best, bestRank := "", len(rank)
	for _, f := range filters {
		r, ok := rank[f.Op]
		if !ok || t.indexes[f.Field] == nil {
			continue
		}
		if r < bestRank || r == bestRank && f.Field < best {
			best, bestRank = f.Field, r
		}
	}
	return best
}

// first is the field walked on its index, "" for id order.
func (o order) first() string {
	if len(o.keys) == 0 {
		return ""
	}
	return o.keys[0].Field
}

// String is the order as sort= writes it, the id made explicit:
// "price,-name,-id".
func (o order) String() string {
	var b strings.Builder
	for _, k := range append(slices.Clone(o.keys), SortKey{IDField, o.idDesc}) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if k.Desc {
			b.WriteByte('-')
		}
		b.WriteString(k.Field)
	}
	return b.String()
}

// streams reports whether the first field's index already holds the
// records in the order: no further field, and ties by id in the first
// field's direction. Otherwise each run of equal first values is
// collected and sorted.
func (o order) streams() bool {
	return len(o.keys) <= 1 && (len(o.keys) == 0 || o.idDesc == o.keys[0].Desc)
}

// compare orders two records by their sort values and ids.
func (o order) compare(ak []Key, aid string, bk []Key, bid string) int {
	for i, k := range o.keys {
		c := ak[i].Compare(bk[i])
		if k.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	c := cmp.Compare(aid, bid)
	if o.idDesc {
		c = -c
	}
	return c
}

// check refuses a cursor made for another order, or forged.
func (o order) check(c *Cursor) error {
	switch {
	case c == nil:
		return nil
	case c.Order != o.String():
		return fmt.Errorf("%w: it was made for sort=%s, not sort=%s", ErrCursor, c.Order, o.String())
	case c.Past && (len(o.keys) == 0 || len(c.Keys) != 1), !c.Past && (len(c.Keys) != len(o.keys) || c.ID == ""):
		return fmt.Errorf("%w: malformed", ErrCursor)
	}
	return nil
}

// row is a record with the values it is ordered by.
type row struct {
	rec  *Record
	keys []Key
}

// lister is one List call under way: the page it fills and the bounds it
// keeps.
type lister struct {
	q     Query
	o     order
	ord   string // o.String(), for the cursors
	t     *table
	after *Cursor
	page  Page
	// needs is the fields decoded per record: the filters' (unless the
	// walked index key decides them all: keyOnly) and Then's.
	needs   map[string]struct{}
	keyOnly bool
	scanned int
	last    pos  // the position reached, where a cut-short page goes on
	lastRow pos  // the position of the last record on the page
	full    bool // the page holds Limit records: the walk only looks for one more
	run     *run // the run being collected
	stopped bool
	err     error
}

// run is the records of one stretch of equal first sort values that are
// candidates for the page: they pass the filters and follow the cursor.
type run struct {
	key  Key
	size int // records examined, candidates or not
	rows []row
}

func newLister(q Query, o order, t *table) *lister {
	l := &lister{q: q, o: o, ord: o.String(), t: t, after: q.After, page: Page{Field: o.first()}}
	l.prepareMatch(o.first())
	return l
}

// prepareMatch settles what values need decoding when field's index is
// walked ("" when the walk is by id).
func (l *lister) prepareMatch(field string) {
	l.needs = map[string]struct{}{}
	l.keyOnly = field != ""
	for _, f := range l.q.Filters {
		if f.Field != field {
			l.keyOnly = false
		}
	}
	if !l.keyOnly {
		for _, f := range l.q.Filters {
			l.needs[f.Field] = struct{}{}
		}
	}
	for _, k := range l.o.keys[min(1, len(l.o.keys)):] {
		l.needs[k.Field] = struct{}{}
	}
}

// values decodes what r needs and checks the filters; k is r's key on the
// walked index (present false when r has none there).
func (l *lister) values(r *Record, k Key, present bool) (map[string]any, bool) {
	var vals map[string]any
	if len(l.needs) > 0 {
		v, err := pickFields(r.fieldBytes(), l.needs, false)
		if err != nil {
			return nil, false
		}
		vals = v
	}
	for _, f := range l.q.Filters {
		if l.keyOnly {
			if !f.matchKey(k, present) {
				return nil, false
			}
		} else if !f.match(vals[f.Field]) {
			return nil, false
		}
	}
	return vals, true
}

func (l *lister) halt() bool {
	l.stopped = true
	return false
}

// pos is a position in the order, made a Cursor only if the page ends
// there: a streaming walk passes thousands of positions per page.
type pos struct {
	first Key   // the first sort value, when keys is nil
	keys  []Key // every sort value
	id    string
	past  bool
}

// endAt ends the page with its next page starting after p.
func (l *lister) endAt(p pos) bool {
	c := &Cursor{Order: l.ord, Keys: p.keys, ID: p.id, Past: p.past}
	if c.Keys == nil && len(l.o.keys) > 0 {
		c.Keys = []Key{p.first}
	}
	l.page.Next = c
	return l.halt()
}

// walk fills the page. Records without a value for the first sort field
// are in no index: when the model has some that the filters let pass,
// they are walked apart, first in ascending order and last in descending
// order, and a cursor among them says so by a missing first key.
func (l *lister) walk() {
	field := l.o.first()
	if field == "" {
		walkIDs(l.t.byID, l.afterID(), l.o.idDesc, func(r *Record) bool { return l.take(r, Key{}, true, true) })
		return
	}
	tree := l.t.indexes[field]
	apart := l.t.byID.Len() > tree.Len()
	for _, f := range l.q.Filters {
		if f.Field == field && f.Op != OpNe {
			apart = false // a value is needed to pass
		}
	}
	c := l.after
	inMissing := apart && c != nil && c.Keys[0].Missing()
	switch {
	case !apart:
		l.walkTree(tree, c)
	case l.o.keys[0].Desc:
		if !inMissing {
			l.walkTree(tree, c)
		}
		if !(inMissing && c.Past) && !l.stopped {
			l.walkMissing(field)
		}
	default:
		if c == nil || inMissing && !c.Past {
			l.walkMissing(field)
		}
		if !l.stopped {
			if inMissing {
				c = nil
			}
			l.walkTree(tree, c)
		}
	}
	if !l.stopped && l.run != nil {
		l.flush(true)
	}
}

func (l *lister) afterID() string {
	if l.after == nil || l.after.Past {
		return ""
	}
	return l.after.ID
}

// walkTree walks the first field's index from the cursor c, or from the
// start of the filters' range when c is nil.
func (l *lister) walkTree(tree *btree.BTreeG[entry], c *Cursor) {
	desc := l.o.keys[0].Desc
	lo, hi := rangeOf(l.q.Filters, l.o.first())
	var from *entry
	skip := func(entry) bool { return false }
	if c != nil {
		k := c.Keys[0]
		switch {
		case c.Past:
			skip = func(e entry) bool { return e.key.Compare(k) == 0 }
			from = &entry{k, &Record{ID: maxID}}
			if desc {
				from = &entry{k, &Record{}}
			}
		case l.o.streams():
			skip = func(e entry) bool { return e.key.Compare(k) == 0 && e.rec.ID == c.ID }
			from = &entry{k, &Record{ID: c.ID}}
		default:
			// The whole run of the cursor's value is examined again: its
			// order is not the index's.
			from = &entry{k, &Record{}}
			if desc {
				from = &entry{k, &Record{ID: maxID}}
			}
		}
	}
	walkIndex(tree, lo, hi, from, desc, func(e entry) bool {
		if skip(e) {
			return true
		}
		// An index may hold the zero Key for a missing value.
		if l.o.streams() {
			return l.take(e.rec, e.key, !e.key.Missing(), true)
		}
		return l.collect(e.rec, e.key, !e.key.Missing())
	})
}

// walkMissing walks the records without a value for the first sort
// field. They are in no index: the walk is by id, which is also their
// order when no further field orders them.
func (l *lister) walkMissing(field string) {
	if l.o.streams() {
		afterID := ""
		if l.after != nil && l.after.Keys[0].Missing() {
			afterID = l.afterID()
		}
		walkIDs(l.t.byID, afterID, l.o.idDesc, func(r *Record) bool {
			_, has := fieldKey(r.fieldBytes(), field)
			return l.take(r, Key{}, false, !has)
		})
		return
	}
	if n := l.t.byID.Len(); n > l.q.MaxRun {
		l.err = fmt.Errorf("%w: finding the %d records without a %s to order them means examining all %d records, more than %d",
			ErrRunTooLong, n-l.t.indexes[field].Len(), field, n, l.q.MaxRun)
		l.halt()
		return
	}
	l.t.byID.Ascend(func(r *Record) bool {
		if _, has := fieldKey(r.fieldBytes(), field); has {
			l.scanned++
			return true
		}
		return l.collect(r, Key{}, false)
	})
}

// take is the visit of a walk already in the list's order. member is
// false for a record walked past that does not belong to the walk's
// stretch of the order (a record with a first sort value, met while
// walking those without).
func (l *lister) take(r *Record, k Key, present, member bool) bool {
	l.scanned++
	if member {
		if _, ok := l.values(r, k, present); ok {
			if l.full {
				return l.endAt(l.last)
			}
			l.page.Records = append(l.page.Records, r)
			l.full = len(l.page.Records) == l.q.Limit
		}
	}
	l.last = pos{first: k, id: r.ID}
	if l.scanned >= l.q.MaxScan {
		return l.endAt(l.last)
	}
	return true
}

// collect is the visit of a walk whose runs of equal first values must be
// sorted by the further fields: it gathers a run's candidates and hands
// the run to flush when the next run starts.
func (l *lister) collect(r *Record, k Key, present bool) bool {
	if l.run != nil && l.run.key.Compare(k) != 0 && !l.flush(false) {
		return false
	}
	if l.run == nil {
		l.run = &run{key: k}
	}
	l.run.size++
	l.scanned++
	if l.run.size > l.q.MaxRun {
		what := fmt.Sprintf("%s %v", l.o.first(), k.Value())
		if k.Missing() {
			what = "no " + l.o.first()
		}
		l.err = fmt.Errorf("%w: more than %d records have %s", ErrRunTooLong, l.q.MaxRun, what)
		return l.halt()
	}
	vals, ok := l.values(r, k, present)
	if !ok {
		return true
	}
	rw := row{rec: r, keys: make([]Key, len(l.o.keys))}
	rw.keys[0] = k
	for i, sk := range l.o.keys[1:] {
		rw.keys[i+1], _ = KeyOf(vals[sk.Field])
	}
	if c := l.after; c != nil && !c.Past && l.o.compare(rw.keys, r.ID, c.Keys, c.ID) <= 0 {
		return true
	}
	if l.full {
		return l.endAt(l.lastRow)
	}
	l.run.rows = append(l.run.rows, rw)
	return true
}

// flush puts the collected run on the page in order. Unless the walk is
// over (final), a page that examined MaxScan records is cut short here.
func (l *lister) flush(final bool) bool {
	rn := l.run
	l.run = nil
	slices.SortFunc(rn.rows, func(a, b row) int { return l.o.compare(a.keys, a.rec.ID, b.keys, b.rec.ID) })
	l.last = pos{first: rn.key, past: true}
	for _, rw := range rn.rows {
		if l.full {
			return l.endAt(l.lastRow)
		}
		l.page.Records = append(l.page.Records, rw.rec)
		l.full = len(l.page.Records) == l.q.Limit
		l.lastRow = pos{keys: rw.keys, id: rw.rec.ID}
		l.last = l.lastRow
	}
	if !final && l.scanned >= l.q.MaxScan {
		if l.full {
			return l.endAt(l.lastRow)
		}
		return l.endAt(l.last)
	}
	return true
}

// walkIDs walks the records by id from just after afterID ("" for the
// start).
func walkIDs(tree *btree.BTreeG[*Record], afterID string, desc bool, visit func(*Record) bool) {
	fn := func(r *Record) bool {
		if afterID != "" && r.ID == afterID {
			return true
		}
		return visit(r)
	}
	switch {
	case desc && afterID != "":
		tree.DescendLessOrEqual(&Record{ID: afterID}, fn)
	case desc:
		tree.Descend(fn)
	case afterID != "":
		tree.AscendGreaterOrEqual(&Record{ID: afterID}, fn)
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

// walkIndex calls visit with the entries of an index within lo and hi, in
// order (reversed when desc), starting at from (inclusive) when it is set.
func walkIndex(tree *btree.BTreeG[entry], lo, hi *bound, from *entry, desc bool, visit func(entry) bool) {
	fn := func(e entry) bool {
		if !desc && hi != nil && beyondHigh(e.key, hi) {
			return false
		}
		if desc && lo != nil && beyondLow(e.key, lo) {
			return false
		}
		if lo != nil && lo.prefix != "" && !strings.HasPrefix(e.key.str, lo.prefix) {
			return desc // ascending: past the prefix's keys, stop
		}
		return visit(e)
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
		if from != nil && (!started || lessEntry(start, *from)) {
			start, started = *from, true
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
	if from != nil && (!started || lessEntry(*from, start)) {
		start, started = *from, true
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

func (f Filter) match(v any) bool {
	k, ok := KeyOf(v)
	return f.matchKey(k, ok)
}

// matchKey checks a value's key; present is false for a missing value.
func (f Filter) matchKey(k Key, present bool) bool {
	if !present {
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
