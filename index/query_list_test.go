package index

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lithair/lithair/event"
)

// sortKeys parses "name,-price,id" into a Query's Sort, Desc and Then.
func sortKeys(q *Query, spec string) {
	for i, item := range strings.Split(spec, ",") {
		field, desc := strings.CutPrefix(item, "-")
		if i == 0 {
			q.Sort, q.Desc = field, desc
			continue
		}
		q.Then = append(q.Then, SortKey{Field: field, Desc: desc})
	}
}

// pageAll pages through q, limit records a page, and returns the ids in
// the order the pages gave them; between pages it calls between with the
// cursor to go on from.
func pageAll(t *testing.T, s *State, q Query, between func(page int, next *Cursor)) []string {
	t.Helper()
	var out []string
	for page := 0; ; page++ {
		require.Less(t, page, 10000, "paging does not end")
		p, err := s.List(q)
		require.NoError(t, err)
		require.LessOrEqual(t, len(p.Records), max(q.Limit, 1))
		out = append(out, ids(p)...)
		if p.Next == nil {
			return out
		}
		q.After = p.Next
		if between != nil {
			between(page, p.Next)
		}
	}
}

// expected is the order a sort spec gives, worked out the slow way: every
// record's values decoded, sorted with the documented rules (missing
// first, booleans < numbers < strings, "-" reverses one field, the id
// last in the direction of the last key unless given).
func expected(t *testing.T, s *State, spec string, filters []Filter) []string {
	t.Helper()
	type sortRow struct {
		id   string
		keys []Key
	}
	items := strings.Split(spec, ",")
	idDesc := strings.HasPrefix(items[len(items)-1], "-")
	if f := strings.TrimPrefix(items[len(items)-1], "-"); f == "id" {
		items = items[:len(items)-1]
	}
	var rows []sortRow
	s.mu.RLock()
	s.tables["Product"].byID.Ascend(func(r *Record) bool {
		vals := r.Fields()
		for _, f := range filters {
			if !f.match(vals[f.Field]) {
				return true
			}
		}
		sr := sortRow{id: r.ID}
		for _, item := range items {
			k, _ := KeyOf(vals[strings.TrimPrefix(item, "-")])
			sr.keys = append(sr.keys, k)
		}
		rows = append(rows, sr)
		return true
	})
	s.mu.RUnlock()
	slices.SortFunc(rows, func(a, b sortRow) int {
		for i, item := range items {
			c := a.keys[i].Compare(b.keys[i])
			if strings.HasPrefix(item, "-") {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		if idDesc {
			return cmp.Compare(b.id, a.id)
		}
		return cmp.Compare(a.id, b.id)
	})
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.id
	}
	return out
}

func TestMultiFieldSortOrders(t *testing.T) {
	w := newWorld(t)
	// name and price are indexed; stock is not. Some records lack a value,
	// or hold one of another JSON type than the rest of the field.
	for i, f := range []string{
		`{"name":"b","price":2,"stock":5}`,
		`{"name":"a","price":2,"stock":1}`,
		`{"name":"b","price":1,"stock":5}`,
		`{"name":"a","price":3}`,
		`{"name":"b","price":2,"stock":"many"}`,
		`{"price":1,"stock":2}`,
		`{"name":"a","stock":true}`,
		`{"name":"b","price":null,"stock":3}`,
		`{"name":"c","price":2,"stock":5}`,
		`{"name":"a","price":2,"stock":1}`,
		`{"name":"c","price":"n/a","stock":[1,2]}`,
		`{"stock":0}`,
	} {
		w.must(event.OpCreate, fmt.Sprintf("r%02d", i), f)
	}
	for _, tc := range []struct {
		name string
		sort string
		want string // ids, by number, a run of equal sort values between ()
	}{
		{"one indexed field ascending: missing first, ties by id", "name", "05 11 01 03 06 09 00 02 04 07 08 10"},
		{"one indexed field descending: missing last, ties by id descending", "-name", "10 08 07 04 02 00 09 06 03 01 11 05"},
		{"id tie-break reversed against the field", "-name,id", "08 10 00 02 04 07 01 03 06 09 05 11"},
		{"ascending then descending, ties broken by id descending", "name,-stock", "05 11 09 01 06 03 04 02 00 07 08 10"},
		{"descending then ascending", "-price,stock", "10 03 01 09 00 08 04 05 02 06 11 07"},
		{"mixed types: booleans, numbers, strings", "price,stock", "06 11 07 05 02 01 09 00 08 04 03 10"},
		{"three fields", "name,price,-stock", "11 05 06 09 01 03 07 02 04 00 08 10"},
		{"explicit descending id after ascending fields", "price,name,-id", "11 06 07 05 02 09 01 04 00 08 03 10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, n := range strings.Fields(tc.want) {
				want = append(want, "r"+n)
			}
			require.Equal(t, want, expected(t, w.s, tc.sort, nil), "the slow reference disagrees with the hand-written order")
			for _, limit := range []int{1, 2, 5, 100} {
				q := Query{Model: "Product", Limit: limit}
				sortKeys(&q, tc.sort)
				require.Equal(t, want, pageAll(t, w.s, q, nil), "limit %d", limit)
			}
		})
	}
}

// The reference order is compared with List on random data: random
// values (some missing, some of another type), random orders of one to
// three fields, filters, limits and scan bounds.
func TestMultiFieldSortMatchesTheSlowOrder(t *testing.T) {
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(1, 2))
	val := func(kinds ...string) string {
		switch kinds[rng.IntN(len(kinds))] {
		case "num":
			return fmt.Sprint(rng.IntN(4))
		case "str":
			return fmt.Sprintf(`"%c"`, 'a'+rng.IntN(3))
		case "bool":
			return fmt.Sprint(rng.IntN(2) == 0)
		case "null":
			return "null"
		}
		return ""
	}
	for i := 0; i < 150; i++ {
		var members []string
		for _, f := range []struct{ name, v string }{
			{"name", val("str", "str", "str", "num", "absent")},
			{"price", val("num", "num", "num", "str", "null", "absent")},
			{"stock", val("num", "num", "bool", "str", "absent")},
		} {
			if f.v != "" {
				members = append(members, fmt.Sprintf("%q:%s", f.name, f.v))
			}
		}
		w.must(event.OpCreate, fmt.Sprintf("r%03d", i), "{"+strings.Join(members, ",")+"}")
	}
	firsts := []string{"name", "-name", "price", "-price"}
	thens := []string{"", ",stock", ",-stock,-id", ",id", ",-id", ",price,stock", ",-name,-stock"}
	filters := [][]Filter{
		nil,
		{{Field: "stock", Op: OpGte, Values: []Key{key(json.Number("2"))}}},
		{{Field: "price", Op: OpNe, Values: []Key{key(json.Number("1"))}}},
		{{Field: "name", Op: OpIn, Values: []Key{key("a"), key("c")}}},
	}
	for _, first := range firsts {
		for _, then := range thens {
			spec := first + then
			if strings.Count(spec, strings.TrimPrefix(first, "-")) > 1 {
				continue
			}
			for fi, fs := range filters {
				want := expected(t, w.s, spec, fs)
				for _, b := range []struct{ limit, maxScan int }{{7, 0}, {50, 0}, {4, 13}} {
					q := Query{Model: "Product", Filters: fs, Limit: b.limit, MaxScan: b.maxScan}
					sortKeys(&q, spec)
					require.Equal(t, want, pageAll(t, w.s, q, nil), "sort=%s filters #%d limit %d max scan %d", spec, fi, b.limit, b.maxScan)
				}
			}
		}
	}
}

// A cursor is a position in the order, not an offset: records inserted
// while a client pages (before the cursor, after it, inside the run it
// stands in) and the deletion of the cursor's own record neither repeat
// nor skip a record that was there when paging began.
func TestCursorsHoldWhileRecordsAreInserted(t *testing.T) {
	for _, spec := range []string{"name", "-name", "price,-stock", "-price,stock,id", "name,price,stock"} {
		t.Run(spec, func(t *testing.T) {
			w := newWorld(t)
			rng := rand.New(rand.NewPCG(3, 4))
			fields := func() string {
				f := fmt.Sprintf(`"name":"n%d","stock":%d`, rng.IntN(5), rng.IntN(3))
				if rng.IntN(6) > 0 {
					f += fmt.Sprintf(`,"price":%d`, rng.IntN(4))
				}
				return "{" + f + "}"
			}
			for i := 0; i < 120; i++ {
				w.must(event.OpCreate, fmt.Sprintf("a%03d", i), fields())
			}
			before := expected(t, w.s, spec, nil)
			q := Query{Model: "Product", Limit: 7}
			sortKeys(&q, spec)
			deleted := map[string]bool{}
			got := pageAll(t, w.s, q, func(page int, next *Cursor) {
				for j := 0; j < 4; j++ {
					// Ids below and above the existing ones: new records land
					// on both sides of the cursor and inside its run.
					w.must(event.OpCreate, fmt.Sprintf("%c%02d-%d", "0z"[j%2], page, j), fields())
				}
				if page%3 == 1 && !next.Past {
					// The record the cursor stands on goes away.
					w.must(event.OpDelete, next.ID, "")
					deleted[next.ID] = true
				}
			})
			var old []string
			seen := map[string]int{}
			for _, id := range got {
				seen[id]++
				if strings.HasPrefix(id, "a") {
					old = append(old, id)
				}
			}
			for id, n := range seen {
				require.Equal(t, 1, n, "%s listed %d times", id, n)
			}
			require.Equal(t, before, old, "every record present before paging, once, in order")
			// What was listed is itself in order, the new records included.
			live := slices.DeleteFunc(slices.Clone(got), func(id string) bool { return deleted[id] })
			require.Equal(t, expectedAmong(t, w.s, spec, live), live)
			require.NotEmpty(t, deleted)
		})
	}
}

// expectedAmong is the reference order of the given records.
func expectedAmong(t *testing.T, s *State, spec string, idList []string) []string {
	all := expected(t, s, spec, nil)
	keep := map[string]bool{}
	for _, id := range idList {
		keep[id] = true
	}
	return slices.DeleteFunc(all, func(id string) bool { return !keep[id] })
}

func TestOrderBoundsAndRefusals(t *testing.T) {
	w := newWorld(t)
	for i := 0; i < 40; i++ {
		f := fmt.Sprintf(`{"name":"n%d","price":%d,"stock":%d}`, i%2, i%2, 40-i)
		if i%10 == 9 {
			f = fmt.Sprintf(`{"name":"n%d","stock":%d}`, i%2, 40-i)
		}
		w.must(event.OpCreate, fmt.Sprintf("r%02d", i), f)
	}
	q := func(spec string, maxScan, maxRun int) Query {
		q := Query{Model: "Product", Limit: 5, MaxScan: maxScan, MaxRun: maxRun}
		sortKeys(&q, spec)
		return q
	}

	t.Run("a run longer than MaxScan is still examined whole and in order", func(t *testing.T) {
		require.Equal(t, expected(t, w.s, "name,stock", nil), pageAll(t, w.s, q("name,stock", 3, 0), nil))
	})
	t.Run("a run longer than MaxRun is refused, naming the value", func(t *testing.T) {
		_, err := w.s.List(q("name,stock", 0, 19))
		require.ErrorIs(t, err, ErrRunTooLong)
		require.Contains(t, err.Error(), "more than 19 records have name n0")
		// Without further fields the index is streamed: no run is collected.
		require.Equal(t, expected(t, w.s, "name", nil), pageAll(t, w.s, q("name", 0, 19), nil))
	})
	t.Run("records without the first value are found by a walk of every record, bounded too", func(t *testing.T) {
		require.Equal(t, expected(t, w.s, "price,-stock", nil)[:4], pageAll(t, w.s, q("price,-stock", 0, 40), nil)[:4])
		_, err := w.s.List(q("price,-stock", 0, 39))
		require.ErrorIs(t, err, ErrRunTooLong)
		require.Contains(t, err.Error(), "4 records without a price")
		// Descending, they come last: the first page needs no such walk.
		p, err := w.s.List(q("-price,-stock", 0, 39))
		require.NoError(t, err)
		require.Len(t, p.Records, 5)
		// A filter on the first field excludes them: no walk either.
		ge := []Filter{{Field: "price", Op: OpGte, Values: []Key{key(json.Number("0"))}}}
		qq := q("price,-stock", 0, 39)
		qq.Filters = ge
		require.Equal(t, expected(t, w.s, "price,-stock", ge), pageAll(t, w.s, qq, nil))
	})
	t.Run("unindexed first field", func(t *testing.T) {
		_, err := w.s.List(q("stock,name", 0, 0))
		require.ErrorIs(t, err, ErrNotIndexed)
	})
	t.Run("orders that are not orders", func(t *testing.T) {
		for _, spec := range []string{"name,id,price", "name,stock,stock", "name,name"} {
			_, err := w.s.List(q(spec, 0, 0))
			require.ErrorIs(t, err, ErrBadOrder, spec)
		}
		_, err := w.s.List(Query{Model: "Product", Then: []SortKey{{Field: "stock"}}, Limit: 5})
		require.ErrorIs(t, err, ErrBadOrder)
	})
	t.Run("a cursor of another order is refused", func(t *testing.T) {
		p, err := w.s.List(q("name,stock", 0, 0))
		require.NoError(t, err)
		for _, spec := range []string{"name,-stock", "name", "-name,stock", "price,stock"} {
			other := q(spec, 0, 0)
			other.After = p.Next
			_, err := w.s.List(other)
			require.ErrorIs(t, err, ErrCursor, spec)
		}
		forged := *p.Next
		forged.Keys = forged.Keys[:1]
		other := q("name,stock", 0, 0)
		other.After = &forged
		_, err = w.s.List(other)
		require.ErrorIs(t, err, ErrCursor)
	})
}

func TestEachMatchCountsWithinItsBound(t *testing.T) {
	w := newWorld(t)
	for i := 0; i < 100; i++ {
		w.must(event.OpCreate, fmt.Sprintf("r%03d", i), fmt.Sprintf(`{"name":"n%d","price":%d,"stock":%d}`, i%4, i, i%3))
	}
	count := func(max int, filters ...Filter) (int, bool) {
		n := 0
		complete := w.s.EachMatch(Query{Model: "Product", Filters: filters}, max, func(*Record) bool { n++; return true })
		return n, complete
	}
	price := func(op Op, v int) Filter {
		return Filter{Field: "price", Op: op, Values: []Key{key(json.Number(fmt.Sprint(v)))}}
	}
	stock := Filter{Field: "stock", Op: OpEq, Values: []Key{key(json.Number("0"))}}
	for _, tc := range []struct {
		name     string
		max      int
		filters  []Filter
		n        int
		complete bool
	}{
		{"no filter", 0, nil, 100, true},
		{"an index range examines only the range", 25, []Filter{price(OpGte, 10), price(OpLt, 35)}, 25, true},
		{"a range and a plain field", 25, []Filter{price(OpGte, 10), price(OpLt, 35), stock}, 8, true},
		{"a plain field scans every record", 0, []Filter{stock}, 34, true},
		{"cut short by the bound: a lower bound", 50, []Filter{stock}, 17, false},
		{"a range larger than the bound", 10, []Filter{price(OpGte, 50)}, 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, complete := count(tc.max, tc.filters...)
			require.Equal(t, tc.n, n)
			require.Equal(t, tc.complete, complete)
		})
	}
	// Stopped by its caller: not complete.
	n := 0
	require.False(t, w.s.EachMatch(Query{Model: "Product"}, 0, func(*Record) bool { n++; return n < 3 }))
	require.Equal(t, 3, n)
}

// EachMatch lets the lock go every DefaultMaxScan records: the walk must
// go on exactly where it stopped, by id and along an index.
func TestEachMatchGoesOnAcrossLockReleases(t *testing.T) {
	w := newWorld(t)
	const n = DefaultMaxScan + DefaultMaxScan/5
	for i := 0; i < n; i++ {
		w.must(event.OpCreate, fmt.Sprintf("r%05d", i), fmt.Sprintf(`{"price":%d,"stock":%d}`, i%3, i%2))
	}
	for _, tc := range []struct {
		name    string
		filters []Filter
		want    int
	}{
		{"by id", []Filter{{Field: "stock", Op: OpEq, Values: []Key{key(json.Number("1"))}}}, n / 2},
		{"along an index", []Filter{{Field: "price", Op: OpGte, Values: []Key{key(json.Number("0"))}}}, n},
	} {
		seen := map[string]bool{}
		complete := w.s.EachMatch(Query{Model: "Product", Filters: tc.filters}, 0, func(r *Record) bool {
			require.False(t, seen[r.ID], "%s: %s seen twice", tc.name, r.ID)
			seen[r.ID] = true
			return true
		})
		require.True(t, complete, tc.name)
		require.Len(t, seen, tc.want, tc.name)
	}
}

// Records without a value are in no index today, and List finds them by
// a walk of every record. An index that held them under the zero Key
// would make that walk needless; List must give the same pages with one.
func TestListAgreesWithAnIndexOfMissingValues(t *testing.T) {
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 60; i++ {
		f := fmt.Sprintf(`"stock":%d`, rng.IntN(3))
		if rng.IntN(3) > 0 {
			f += fmt.Sprintf(`,"price":%d`, rng.IntN(4))
		}
		w.must(event.OpCreate, fmt.Sprintf("r%02d", i), "{"+f+"}")
	}
	specs := []string{"price", "-price", "price,stock", "-price,-stock,id", "price,id"}
	filters := [][]Filter{nil, {{Field: "price", Op: OpNe, Values: []Key{key(json.Number("2"))}}}, {{Field: "price", Op: OpLt, Values: []Key{key(json.Number("2"))}}}}
	list := func() []string {
		var all []string
		for _, spec := range specs {
			for _, fs := range filters {
				q := Query{Model: "Product", Filters: fs, Limit: 4, MaxScan: 9}
				sortKeys(&q, spec)
				got := pageAll(t, w.s, q, nil)
				require.Equal(t, expected(t, w.s, spec, fs), got, "sort=%s %v", spec, fs)
				all = append(all, strings.Join(got, " "))
			}
		}
		return all
	}
	before := list()
	w.s.mu.Lock()
	tb := w.s.tables["Product"]
	tb.byID.Ascend(func(r *Record) bool {
		if _, ok := fieldKey(r.fieldBytes(), "price"); !ok {
			tb.indexes["price"].ReplaceOrInsert(entry{Key{}, r})
		}
		return true
	})
	require.Equal(t, tb.byID.Len(), tb.indexes["price"].Len())
	w.s.mu.Unlock()
	require.Equal(t, before, list())
}

// BenchmarkListPage measures one page of 50 under each way of walking,
// beside the plain walk of one index ("one indexed field"), the figure
// the others are a ratio of.
func BenchmarkListPage(b *testing.B) {
	s := New()
	s.SetModels([]ModelSpec{productSpec})
	const n = 100000
	for i := 0; i < n; i++ {
		c := &event.Command{Op: event.OpCreate, Model: "Product", ID: fmt.Sprintf("r%06d", i), Time: int64(i),
			Fields: json.RawMessage(fmt.Sprintf(`{"name":"n%06d","price":%d,"stock":%d}`, (i*7919)%n, i%100, i%37))}
		if _, err := s.Apply(uint64(i+1), c); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct{ name, sort string }{
		{"one indexed field", "price"},
		{"runs of one record", "name,stock"},
		{"runs of 1000 records", "price,-stock"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := Query{Model: "Product", Limit: 50}
			sortKeys(&q, bc.sort)
			for b.Loop() {
				if _, err := s.List(q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("count of an index range of 10000", func(b *testing.B) {
		q := Query{Model: "Product", Filters: []Filter{{Field: "price", Op: OpLt, Values: []Key{key(json.Number("10"))}}}}
		for b.Loop() {
			s.EachMatch(q, 0, func(*Record) bool { return true })
		}
	})
	b.Run("count of a plain field over 100000", func(b *testing.B) {
		q := Query{Model: "Product", Filters: []Filter{{Field: "stock", Op: OpEq, Values: []Key{key(json.Number("3"))}}}}
		for b.Loop() {
			s.EachMatch(q, 0, func(*Record) bool { return true })
		}
	})
}
