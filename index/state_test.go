package index

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lithair/lithair/event"
)

var productSpec = ModelSpec{Name: "Product", Unique: []string{"sku"}, Indexed: []string{"name", "price"}, Audited: true, Versioned: 3}

// world is a state fed by numbered commands, the way the FSM feeds it.
type world struct {
	t    *testing.T
	s    *State
	next uint64
}

func newWorld(t *testing.T) *world {
	s := New()
	s.SetModels([]ModelSpec{productSpec})
	return &world{t: t, s: s}
}

func (w *world) apply(op event.Op, id string, expected uint64, fields string) (Applied, error) {
	w.next++
	c := &event.Command{Op: op, Model: "Product", ID: id, Expected: expected, Time: int64(w.next) * 1e9, Actor: "alice"}
	if fields != "" {
		c.Fields = json.RawMessage(fields)
	}
	return w.s.Apply(w.next, c)
}

func (w *world) must(op event.Op, id string, fields string) *Record {
	w.t.Helper()
	a, err := w.apply(op, id, 0, fields)
	require.NoError(w.t, err)
	return a.New
}

func refusal(t *testing.T, err error) *event.Refusal {
	t.Helper()
	ref, ok := err.(*event.Refusal)
	require.True(t, ok, "want a refusal, got %v", err)
	return ref
}

func TestRecordJSONHasSystemFieldsThenFieldsInOrder(t *testing.T) {
	w := newWorld(t)
	r := w.must(event.OpCreate, "p1", `{"name":"Lamp","price":12.50,"sku":"L-1"}`)
	require.Equal(t, `{"id":"p1","version":1,"created_at":"1970-01-01T00:00:01Z","updated_at":"1970-01-01T00:00:01Z","name":"Lamp","price":12.50,"sku":"L-1"}`, string(r.JSON()))
	require.Equal(t, json.RawMessage(`{"name":"Lamp","price":12.50,"sku":"L-1"}`), r.RawFields())
	require.Equal(t, json.Number("12.50"), r.Fields()["price"])
}

func TestUniqueValueTakenIsAConflictNamingTheField(t *testing.T) {
	w := newWorld(t)
	w.must(event.OpCreate, "p1", `{"name":"A","sku":"S"}`)
	_, err := w.apply(event.OpCreate, "p2", 0, `{"name":"B","sku":"S"}`)
	ref := refusal(t, err)
	require.Equal(t, event.CodeConflict, ref.Code)
	require.Equal(t, "sku", ref.Field)
	_, ok := w.s.Get("Product", "p2")
	require.False(t, ok, "a refused create must change nothing")
	// The owner may keep its value; once it lets go, another may take it.
	w.must(event.OpUpdate, "p1", `{"name":"A2","sku":"S"}`)
	w.must(event.OpUpdate, "p1", `{"name":"A2","sku":"T"}`)
	w.must(event.OpCreate, "p2", `{"name":"B","sku":"S"}`)
	w.must(event.OpDelete, "p2", "")
	w.must(event.OpCreate, "p3", `{"name":"C","sku":"S"}`)
}

func TestStaleExpectedVersionChangesNothing(t *testing.T) {
	w := newWorld(t)
	w.must(event.OpCreate, "p1", `{"name":"A"}`)
	w.must(event.OpUpdate, "p1", `{"name":"B"}`)
	_, err := w.apply(event.OpUpdate, "p1", 1, `{"name":"C"}`)
	require.Equal(t, event.CodeVersionMismatch, refusal(t, err).Code)
	_, err = w.apply(event.OpDelete, "p1", 1, "")
	require.Equal(t, event.CodeVersionMismatch, refusal(t, err).Code)
	r, _ := w.s.Get("Product", "p1")
	require.Equal(t, uint64(2), r.Version)
	require.Equal(t, "B", r.Fields()["name"])
	a, err := w.apply(event.OpUpdate, "p1", 2, `{"name":"C"}`)
	require.NoError(t, err)
	require.Equal(t, uint64(3), a.New.Version)
}

func TestHistoryVersionsAndDeletedRecords(t *testing.T) {
	w := newWorld(t)
	w.must(event.OpCreate, "p1", `{"name":"v1"}`)
	for i := 2; i <= 5; i++ {
		w.must(event.OpUpdate, "p1", fmt.Sprintf(`{"name":"v%d"}`, i))
	}
	// versioned = 3: the current version and the two before it are held.
	for v := uint64(3); v <= 5; v++ {
		b, ok := w.s.Version("Product", "p1", v)
		require.True(t, ok, "version %d", v)
		require.Contains(t, string(b), fmt.Sprintf(`"version":%d`, v))
		require.Contains(t, string(b), fmt.Sprintf(`"name":"v%d"`, v))
	}
	_, ok := w.s.Version("Product", "p1", 2)
	require.False(t, ok, "older versions are rebuilt from the log, not held")
	w.must(event.OpDelete, "p1", "")
	evs, live, ok := w.s.History("Product", "p1")
	require.True(t, ok)
	require.False(t, live)
	require.Len(t, evs, 6)
	require.Equal(t, event.Created, evs[0].Kind)
	require.Equal(t, event.Updated, evs[4].Kind)
	require.Equal(t, uint64(5), evs[4].Version)
	require.Equal(t, event.Deleted, evs[5].Kind)
	require.Equal(t, uint64(6), evs[5].Index)
	_, ok = w.s.Version("Product", "p1", 5)
	require.True(t, ok, "a deleted record's last versions stay addressable")
}

func TestAuditNewestFirstFilteredAndPaged(t *testing.T) {
	w := newWorld(t)
	w.must(event.OpCreate, "p1", `{"name":"a"}`)
	w.must(event.OpCreate, "p2", `{"name":"b"}`)
	w.must(event.OpUpdate, "p1", `{"name":"c"}`)
	w.must(event.OpDelete, "p2", "")
	all, more := w.s.Audit(AuditQuery{Limit: 10})
	require.False(t, more)
	require.Len(t, all, 4)
	require.Equal(t, []uint64{4, 3, 2, 1}, []uint64{all[0].Index, all[1].Index, all[2].Index, all[3].Index})
	require.Equal(t, event.Deleted, all[0].Kind)
	require.Equal(t, "alice", all[0].Actor)
	p1, _ := w.s.Audit(AuditQuery{ID: "p1", Limit: 10})
	require.Len(t, p1, 2)
	page, more := w.s.Audit(AuditQuery{Limit: 3})
	require.True(t, more)
	rest, more := w.s.Audit(AuditQuery{Limit: 3, Before: page[2].Index})
	require.False(t, more)
	require.Len(t, rest, 1)
	require.Equal(t, uint64(1), rest[0].Index)
	none, _ := w.s.Audit(AuditQuery{Actor: "bob", Limit: 10})
	require.Empty(t, none)
}

func ids(p Page) []string {
	var out []string
	for _, r := range p.Records {
		out = append(out, r.ID)
	}
	return out
}

func key(v any) Key {
	k, ok := KeyOf(v)
	if !ok {
		panic(v)
	}
	return k
}

func TestListWalksIndexesWithRangesSortAndCursor(t *testing.T) {
	w := newWorld(t)
	for i := 0; i < 20; i++ {
		w.must(event.OpCreate, fmt.Sprintf("p%02d", i), fmt.Sprintf(`{"name":"n%d","price":%d,"stock":%d}`, i%4, 20-i, i%2))
	}
	// Range on an indexed field, ordered by it.
	p, err := w.s.List(Query{Model: "Product", Filters: []Filter{{Field: "price", Op: OpGte, Values: []Key{key(json.Number("15"))}}}, Limit: 3})
	require.NoError(t, err)
	require.Equal(t, []string{"p05", "p04", "p03"}, ids(p))
	require.Equal(t, "price", p.Field)
	require.NotNil(t, p.Next)
	p, err = w.s.List(Query{Model: "Product", Filters: []Filter{{Field: "price", Op: OpGte, Values: []Key{key(json.Number("15"))}}}, Limit: 10, After: p.Next})
	require.NoError(t, err)
	require.Equal(t, []string{"p02", "p01", "p00"}, ids(p))
	require.Nil(t, p.Next)
	// Equality on an index plus a filter on a plain field.
	p, _ = w.s.List(Query{Model: "Product", Filters: []Filter{
		{Field: "name", Op: OpEq, Values: []Key{key("n1")}},
		{Field: "stock", Op: OpEq, Values: []Key{key(json.Number("1"))}},
	}, Limit: 10})
	require.Equal(t, []string{"p01", "p05", "p09", "p13", "p17"}, ids(p))
	// Sort descending by an index, paging through all records.
	var seen []string
	q := Query{Model: "Product", Sort: "price", Desc: true, Limit: 7}
	for {
		p, err = w.s.List(q)
		require.NoError(t, err)
		seen = append(seen, ids(p)...)
		if p.Next == nil {
			break
		}
		q.After = p.Next
	}
	require.Len(t, seen, 20)
	require.Equal(t, "p00", seen[0])
	require.Equal(t, "p19", seen[19])
	// Prefix and in.
	p, _ = w.s.List(Query{Model: "Product", Filters: []Filter{{Field: "name", Op: OpIn, Values: []Key{key("n3"), key("n0")}}}, Limit: 3})
	require.Equal(t, []string{"p00", "p04", "p08"}, ids(p))
	// No usable index: scanned in id order, at most MaxScan records a page.
	p, _ = w.s.List(Query{Model: "Product", Filters: []Filter{{Field: "stock", Op: OpEq, Values: []Key{key(json.Number("1"))}}}, Limit: 100, MaxScan: 5})
	require.Equal(t, []string{"p01", "p03"}, ids(p))
	require.NotNil(t, p.Next, "a page cut short by the scan bound says where to go on")
	// Sorting needs an index.
	_, err = w.s.List(Query{Model: "Product", Sort: "stock", Limit: 10})
	require.ErrorIs(t, err, ErrNotIndexed)
}

func TestReplayingTheSameCommandsGivesTheSameState(t *testing.T) {
	run := func() uint64 {
		w := newWorld(t)
		for i := 0; i < 200; i++ {
			id := fmt.Sprintf("p%d", i%37)
			if _, ok := w.s.Get("Product", id); ok {
				if i%5 == 0 {
					w.apply(event.OpDelete, id, 0, "")
				} else {
					w.apply(event.OpUpdate, id, 0, fmt.Sprintf(`{"name":"x%d","price":%d}`, i, i))
				}
			} else {
				w.apply(event.OpCreate, id, 0, fmt.Sprintf(`{"name":"x%d","sku":"s%d"}`, i, i%11))
			}
		}
		return w.s.View().Hash()
	}
	require.Equal(t, run(), run())
}

func TestSnapshotRoundTripAndCorruption(t *testing.T) {
	w := newWorld(t)
	for i := 0; i < 50; i++ {
		w.must(event.OpCreate, fmt.Sprintf("p%02d", i), fmt.Sprintf(`{"name":"n%d","price":%d,"sku":"s%d"}`, i, i, i))
	}
	w.must(event.OpUpdate, "p01", `{"name":"renamed","sku":"s1"}`)
	w.must(event.OpDelete, "p02", "")
	v := w.s.View()
	var buf bytes.Buffer
	_, err := v.WriteTo(&buf)
	require.NoError(t, err)

	// Writes after the view do not leak into it.
	w.must(event.OpCreate, "late", `{"name":"late"}`)

	restored := New()
	require.NoError(t, restored.Restore(bytes.NewReader(buf.Bytes()), []ModelSpec{productSpec}, nil))
	require.Equal(t, v.Hash(), restored.View().Hash())
	require.Equal(t, v.Applied, restored.AppliedIndex())
	evs, live, ok := restored.History("Product", "p02")
	require.True(t, ok)
	require.False(t, live)
	require.Len(t, evs, 2)
	audit, _ := restored.Audit(AuditQuery{Limit: 100})
	require.Len(t, audit, 52)
	// Indexes and unique values come back too.
	_, err = (&world{t: t, s: restored, next: 100}).apply(event.OpCreate, "dup", 0, `{"sku":"s3"}`)
	require.Equal(t, "sku", refusal(t, err).Field)
	p, _ := restored.List(Query{Model: "Product", Filters: []Filter{{Field: "name", Op: OpEq, Values: []Key{key("renamed")}}}, Limit: 5})
	require.Equal(t, []string{"p01"}, ids(p))

	good := restored.View().Hash()
	for name, bad := range map[string][]byte{
		"truncated":        buf.Bytes()[:buf.Len()/2],
		"flipped byte":     flip(buf.Bytes(), buf.Len()/3),
		"flipped checksum": flip(buf.Bytes(), buf.Len()-1),
		"garbage":          []byte("not a snapshot at all"),
		"empty":            nil,
	} {
		err := restored.Restore(bytes.NewReader(bad), []ModelSpec{productSpec}, nil)
		require.ErrorIs(t, err, ErrState, name)
		require.Equal(t, good, restored.View().Hash(), "%s: a refused restore must leave the state alone", name)
	}
}

func flip(b []byte, at int) []byte {
	out := bytes.Clone(b)
	out[at] ^= 0x40
	return out
}

// After a restore, indexes finish building in the background while
// writes go on; what a list then finds must be exactly the live state.
func TestWritesDuringTheBackgroundIndexBuild(t *testing.T) {
	w := newWorld(t)
	const n = 30000
	for i := 0; i < n; i++ {
		w.must(event.OpCreate, fmt.Sprintf("p%05d", i), fmt.Sprintf(`{"name":"n%05d","price":%d,"sku":"s%d"}`, i, i%100, i))
	}
	var buf bytes.Buffer
	if _, err := w.s.View().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		restored := New()
		require.NoError(t, restored.Restore(bytes.NewReader(buf.Bytes()), []ModelSpec{productSpec}, nil))
		rw := &world{t: t, s: restored, next: w.next}
		// Straight away: move some prices, delete some records, add some.
		for i := 0; i < 300; i++ {
			rw.must(event.OpUpdate, fmt.Sprintf("p%05d", i), fmt.Sprintf(`{"name":"n%05d","price":1000,"sku":"s%d"}`, i, i))
			rw.must(event.OpDelete, fmt.Sprintf("p%05d", n-1-i), "")
			rw.must(event.OpCreate, fmt.Sprintf("q%05d", i), fmt.Sprintf(`{"name":"m%05d","price":1000}`, i))
		}
		// Unique values are enforced at once, build or no build.
		_, err := rw.apply(event.OpCreate, "dup", 0, `{"sku":"s500"}`)
		require.Equal(t, "sku", refusal(t, err).Field)
		p, err := restored.List(Query{Model: "Product", Filters: []Filter{{Field: "price", Op: OpEq, Values: []Key{key(json.Number("1000"))}}}, Limit: 1000})
		require.NoError(t, err)
		require.Len(t, p.Records, 600)
		p, _ = restored.List(Query{Model: "Product", Filters: []Filter{{Field: "name", Op: OpEq, Values: []Key{key(fmt.Sprintf("n%05d", n-1))}}}, Limit: 10})
		require.Empty(t, p.Records, "a deleted record is still in the name index")
		total := 0
		q := Query{Model: "Product", Sort: "price", Limit: 1000, MaxScan: 1 << 30}
		for {
			p, err := restored.List(q)
			require.NoError(t, err)
			total += len(p.Records)
			if p.Next == nil {
				break
			}
			q.After = p.Next
		}
		require.Equal(t, n, total, "the price index holds every live record once")
	}
}

// TestOverlappingRestoresTurnTheCollectorBackOn: the GC setting is the
// process's; restores that overlap must leave it as they found it.
func TestOverlappingRestoresTurnTheCollectorBackOn(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	resumes := []func(){pauseGC(), pauseGC()}
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("collector at %d during a restore, want off", got)
	}
	resumes[0]() // the first ends before the second
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("collector at %d while a restore still runs, want off", got)
	}
	resumes[1]()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("collector at %d after every restore ended, want 100", got)
	}
}
