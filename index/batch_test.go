package index

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/btree"
	"github.com/stretchr/testify/require"

	"github.com/lithair/lithair/event"
)

// dump renders everything a State holds that a reader or a later command
// could notice: records with their histories, tombs, unique maps, every
// secondary index entry, the audit trail and the name lists. Index entries
// must point at the live record itself.
func dump(t *testing.T, s *State) string {
	t.Helper()
	s.WaitForIndexes()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(s.tables)) {
		tb := s.tables[name]
		fmt.Fprintf(&b, "table %s\n", name)
		for _, tree := range []struct {
			name string
			tree *btree.BTreeG[*Record]
		}{{"live", tb.byID}, {"tomb", tb.tombs}} {
			tree.tree.Ascend(func(r *Record) bool {
				var versions []string
				if r.more != nil {
					versions = r.more.versions
				}
				fmt.Fprintf(&b, "%s %s v%d created %d@%d %s %v %q\n", tree.name, r.ID, r.Version, r.created, r.CreatedAt, r.fields, r.stamps(), versions)
				return true
			})
		}
		for _, f := range slices.Sorted(maps.Keys(tb.unique)) {
			var lines []string
			for k, id := range tb.unique[f] {
				lines = append(lines, fmt.Sprintf("unique %s %v=%s\n", f, k, id))
			}
			slices.Sort(lines)
			b.WriteString(strings.Join(lines, ""))
		}
		for _, f := range slices.Sorted(maps.Keys(tb.indexes)) {
			tb.indexes[f].Ascend(func(e entry) bool {
				live, ok := tb.byID.Get(e.rec)
				require.True(t, ok && live == e.rec, "index %s of %s holds %s, which is not the live record", f, name, e.rec.ID)
				fmt.Fprintf(&b, "index %s %v %s\n", f, e.key, e.rec.ID)
				return true
			})
		}
	}
	for _, a := range s.audit {
		fmt.Fprintf(&b, "audit %d %s %s %d\n", a.Index, s.actors.name(a.actor), s.models.name(uint32(a.model)), a.kind)
	}
	fmt.Fprintf(&b, "actors %q %d\nmodels %q %d\n", s.actors.list, len(s.actors.ids), s.models.list, len(s.models.ids))
	return b.String()
}

func cmd(op event.Op, model, id string, expected uint64, fields string) *event.Command {
	c := &event.Command{Op: op, Model: model, ID: id, Expected: expected, Actor: "loader", Time: 7e9}
	if fields != "" {
		c.Fields = json.RawMessage(fields)
	}
	return c
}

func batchRefusal(t *testing.T, err error) *event.BatchRefusal {
	t.Helper()
	var br *event.BatchRefusal
	require.True(t, errors.As(err, &br), "want a batch refusal, got %v", err)
	return br
}

// listed is what a reader finds through each index and by id.
func listed(t *testing.T, s *State) string {
	var b strings.Builder
	for _, q := range []Query{
		{Model: "Product", Limit: 1000},
		{Model: "Product", Sort: "price", Limit: 1000},
		{Model: "Product", Sort: "name", Desc: true, Limit: 1000},
		{Model: "Product", Sort: "sku", Limit: 1000},
	} {
		p, err := s.List(q)
		require.NoError(t, err)
		fmt.Fprintln(&b, ids(p))
	}
	for _, sku := range []string{"s1", "s2", "s3", "s4", "s9"} {
		r, ok := s.GetUnique("Product", "sku", sku)
		if ok {
			fmt.Fprintln(&b, sku, r.ID, r.Version)
		}
	}
	audit, _ := s.Audit(AuditQuery{Limit: 100})
	fmt.Fprintln(&b, audit)
	return b.String()
}

// seeded is a state with a few products, one updated and one deleted.
func seeded(t *testing.T) *world {
	w := newWorld(t)
	w.must(event.OpCreate, "p1", `{"name":"a","price":1,"sku":"s1"}`)
	w.must(event.OpCreate, "p2", `{"name":"b","price":2,"sku":"s2"}`)
	w.must(event.OpCreate, "p3", `{"name":"c","price":3,"sku":"s3"}`)
	w.must(event.OpUpdate, "p2", `{"name":"b2","price":20,"sku":"s2"}`)
	w.must(event.OpDelete, "p3", "")
	return w
}

func TestBatchAppliesEveryOperationAtOneIndex(t *testing.T) {
	w := seeded(t)
	done, err := w.s.ApplyBatch(10, []*event.Command{
		cmd(event.OpCreate, "Product", "n1", 0, `{"name":"x","price":5,"sku":"s9"}`),
		// p1 lets go of s1 and the next create takes it: later operations
		// see the earlier ones.
		cmd(event.OpUpdate, "Product", "p1", 1, `{"name":"a2","price":1,"sku":"s4"}`),
		cmd(event.OpCreate, "Product", "n2", 0, `{"name":"y","price":6,"sku":"s1"}`),
		cmd(event.OpDelete, "Product", "p2", 2, ""),
	})
	require.NoError(t, err)
	require.Len(t, done, 4)
	require.Equal(t, []event.Kind{event.Created, event.Updated, event.Created, event.Deleted},
		[]event.Kind{done[0].Kind, done[1].Kind, done[2].Kind, done[3].Kind})
	require.Equal(t, uint64(2), done[1].New.Version)
	require.Equal(t, uint64(10), w.s.AppliedIndex())
	r, ok := w.s.GetUnique("Product", "sku", "s1")
	require.True(t, ok)
	require.Equal(t, "n2", r.ID)
	_, ok = w.s.Get("Product", "p2")
	require.False(t, ok)
	evs, _, _ := w.s.History("Product", "p1")
	require.Equal(t, uint64(10), evs[len(evs)-1].Index)

	// The audit trail tells the batch's changes apart: the Seq-th
	// operation on the model, newest first.
	audit, more := w.s.Audit(AuditQuery{Limit: 4})
	require.False(t, more && len(audit) < 4)
	require.Len(t, audit, 4)
	for i, a := range audit {
		require.Equal(t, uint64(10), a.Index)
		require.Equal(t, 3-i, a.Seq)
		require.Equal(t, "loader", a.Actor)
	}
	// A page never ends inside a batch: asking for 2 gets the 4 changes
	// of index 10, and the next page starts below it.
	page, more := w.s.Audit(AuditQuery{Limit: 2})
	require.Len(t, page, 4)
	require.True(t, more)
	rest, _ := w.s.Audit(AuditQuery{Limit: 2, Before: page[len(page)-1].Index})
	require.Equal(t, uint64(5), rest[0].Index)
}

// A refused batch leaves every record, index, unique value and audit
// entry as it was; only the applied index moves.
func TestRefusedBatchChangesNothing(t *testing.T) {
	ok1 := cmd(event.OpCreate, "Product", "n1", 0, `{"name":"x","price":5,"sku":"s9"}`)
	ok2 := cmd(event.OpUpdate, "Product", "p1", 1, `{"name":"a2","price":7,"sku":"s4"}`)
	for _, tc := range []struct {
		name  string
		third *event.Command
		code  event.Code
	}{
		{"unique value taken by an earlier operation", cmd(event.OpCreate, "Product", "n2", 0, `{"name":"z","sku":"s9"}`), event.CodeConflict},
		{"unique value still held by a record", cmd(event.OpCreate, "Product", "n2", 0, `{"name":"z","sku":"s2"}`), event.CodeConflict},
		{"stale expected version", cmd(event.OpUpdate, "Product", "p2", 1, `{"name":"b3"}`), event.CodeVersionMismatch},
		{"delete with a stale expected version", cmd(event.OpDelete, "Product", "p2", 1, ""), event.CodeVersionMismatch},
		{"update of a deleted record", cmd(event.OpUpdate, "Product", "p3", 0, `{"name":"c2"}`), event.CodeNotFound},
		{"delete of a record that never was", cmd(event.OpDelete, "Product", "nope", 0, ""), event.CodeNotFound},
		{"create over a deleted record's id", cmd(event.OpCreate, "Product", "p3", 0, `{"name":"c3"}`), event.CodeConflict},
		{"create over a live id", cmd(event.OpCreate, "Product", "p2", 0, `{"name":"c3"}`), event.CodeConflict},
		{"fields that are not an object", cmd(event.OpCreate, "Product", "n2", 0, `{"sku":`), event.CodeInvalid},
		{"the same record twice", cmd(event.OpDelete, "Product", "p1", 0, ""), event.CodeInvalid},
		{"a rules deployment inside", &event.Command{Op: event.OpRules}, event.CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := seeded(t)
			// A model seen for the first time in the batch: its table goes too.
			first := cmd(event.OpCreate, "Brand", "b1", 0, `{"name":"acme"}`)
			beforeDump, beforeList, beforeHash := dump(t, w.s), listed(t, w.s), w.s.View().Hash()
			_, err := w.s.ApplyBatch(10, []*event.Command{first, ok1, ok2, tc.third})
			br := batchRefusal(t, err)
			require.Equal(t, 3, br.Index)
			require.Equal(t, tc.code, br.Refusal.Code)
			var ref *event.Refusal
			require.True(t, errors.As(err, &ref), "a batch refusal unwraps to the operation's refusal")
			require.Equal(t, beforeDump, dump(t, w.s))
			require.Equal(t, beforeList, listed(t, w.s))
			require.Equal(t, beforeHash, w.s.View().Hash())
			require.Equal(t, uint64(10), w.s.AppliedIndex())
			// The state goes on as if the batch never came.
			_, err = w.s.ApplyBatch(11, []*event.Command{ok1, ok2})
			require.NoError(t, err)
		})
	}
}

func TestBatchFormIsCheckedFirst(t *testing.T) {
	w := seeded(t)
	before := dump(t, w.s)
	_, err := w.s.ApplyBatch(10, nil)
	require.Equal(t, event.CodeInvalid, refusal(t, err).Code)
	_, err = w.s.ApplyBatch(11, make([]*event.Command, event.MaxBatch+1))
	require.Equal(t, event.CodeInvalid, refusal(t, err).Code)
	_, err = w.s.ApplyBatch(12, []*event.Command{cmd(event.OpCreate, "Product", "n1", 0, `{}`), nil})
	require.Equal(t, 1, batchRefusal(t, err).Index)
	require.Equal(t, before, dump(t, w.s))
}

// Two records held one value before the field became unique; the map
// names one owner. Undoing a change to the other must not hand it over.
func TestUndoKeepsTheOwnerOfAValueTwoRecordsHold(t *testing.T) {
	s := New()
	loose := productSpec
	loose.Unique = nil
	s.SetModels([]ModelSpec{loose})
	for i, id := range []string{"p1", "p2"} {
		_, err := s.Apply(uint64(i+1), cmd(event.OpCreate, "Product", id, 0, `{"name":"a","sku":"same"}`))
		require.NoError(t, err)
	}
	s.SetModels([]ModelSpec{productSpec})
	owner, _ := s.GetUnique("Product", "sku", "same")
	other := map[string]string{"p1": "p2", "p2": "p1"}[owner.ID]
	before := dump(t, s)
	_, err := s.ApplyBatch(3, []*event.Command{
		cmd(event.OpUpdate, "Product", other, 0, `{"name":"b","sku":"own"}`),
		cmd(event.OpDelete, "Product", "missing", 0, ""),
	})
	require.Equal(t, 1, batchRefusal(t, err).Index)
	require.Equal(t, before, dump(t, s))
	now, _ := s.GetUnique("Product", "sku", "same")
	require.Equal(t, owner.ID, now.ID)
}

// After a restore the secondary indexes are still being built while
// batches come; a refused one queues its undo behind its changes.
func TestRefusedBatchDuringTheBackgroundIndexBuild(t *testing.T) {
	w := newWorld(t)
	for i := 0; i < 20000; i++ {
		w.must(event.OpCreate, fmt.Sprintf("p%05d", i), fmt.Sprintf(`{"name":"n%05d","price":%d,"sku":"s%d"}`, i, i%100, i))
	}
	var buf bytes.Buffer
	_, err := w.s.View().WriteTo(&buf)
	require.NoError(t, err)
	restore := func() *State {
		s := New()
		require.NoError(t, s.Restore(bytes.NewReader(buf.Bytes()), []ModelSpec{productSpec}, nil))
		return s
	}
	touched, untouched := restore(), restore()
	_, err = touched.ApplyBatch(w.next+1, []*event.Command{
		cmd(event.OpUpdate, "Product", "p00001", 0, `{"name":"moved","price":1000,"sku":"s1"}`),
		cmd(event.OpDelete, "Product", "p00002", 0, ""),
		cmd(event.OpCreate, "Product", "q1", 0, `{"name":"q","price":1000,"sku":"s3"}`),
	})
	require.Equal(t, 2, batchRefusal(t, err).Index)
	require.Equal(t, dump(t, untouched), dump(t, touched))
}

// The oracle: a batch does what applying its commands one by one at the
// same index does, or, if one of them is refused, nothing at all. Random
// batches run against random states, with records deleted, values that
// collide, stale versions, models seen for the first time, and values
// two records hold from before their field became unique.
func TestBatchIsSequentialApplyOrNothing(t *testing.T) {
	rounds, batches := 60, 25
	if testing.Short() {
		rounds = 10
	}
	rng := rand.New(rand.NewPCG(7, 11))
	tagSpec := ModelSpec{Name: "Tag", Unique: []string{"label"}, Indexed: []string{"rank"}, Versioned: 1}
	loose := productSpec
	loose.Unique = nil
	refused := 0
	for round := 0; round < rounds; round++ {
		type step struct {
			specs []ModelSpec
			cmds  []*event.Command
			idx   uint64
		}
		var steps []step
		replay := func() *State {
			s := New()
			for _, st := range steps {
				if st.specs != nil {
					s.SetModels(st.specs)
				}
				for _, c := range st.cmds {
					s.Apply(st.idx, c)
				}
			}
			return s
		}
		s := New()
		setModels := func(specs []ModelSpec) {
			s.SetModels(specs)
			steps = append(steps, step{specs: specs})
		}
		var idx uint64
		fresh := 0
		gen := func() *event.Command {
			models := []string{"Product", "Product", "Tag"}
			if rng.IntN(20) == 0 {
				models = append(models, fmt.Sprintf("Fresh%d", rng.IntN(3)))
			}
			model := models[rng.IntN(len(models))]
			// Mostly a live record or a new id; now and then any id
			// used so far, deleted or not.
			fresh++
			id := fmt.Sprintf("r%d", fresh)
			if p, _ := s.List(Query{Model: model, Limit: 1000}); len(p.Records) > 0 && rng.IntN(2) == 0 {
				id = p.Records[rng.IntN(len(p.Records))].ID
			} else if rng.IntN(8) == 0 {
				id = fmt.Sprintf("r%d", 1+rng.IntN(fresh))
			}
			fields := fmt.Sprintf(`{"name":"n%d","price":%d,"sku":"s%d"}`, rng.IntN(4), rng.IntN(5), rng.IntN(30))
			if model != "Product" {
				fields = fmt.Sprintf(`{"label":"l%d","rank":%d}`, rng.IntN(20), rng.IntN(3))
			}
			if rng.IntN(4) == 0 {
				fields = fmt.Sprintf(`{"name":"n%d"}`, rng.IntN(4))
			}
			if rng.IntN(40) == 0 {
				fields = `{"sku":`
			}
			var expected uint64
			live, exists := s.Get(model, id)
			op := event.OpCreate
			switch r := rng.IntN(10); {
			case exists && r < 6, !exists && r == 8:
				op = event.OpUpdate
			case exists && r < 9, !exists && r == 9:
				op, fields = event.OpDelete, ""
			}
			if exists && rng.IntN(4) == 0 {
				expected = live.Version - uint64(rng.IntN(2))
			}
			return cmd(op, model, id, expected, fields)
		}
		setModels([]ModelSpec{loose, tagSpec})
		for i := 0; i < 30; i++ {
			idx++
			c := gen()
			s.Apply(idx, c)
			steps = append(steps, step{cmds: []*event.Command{c}, idx: idx})
		}
		setModels([]ModelSpec{productSpec, tagSpec})
		for b := 0; b < batches; b++ {
			idx++
			n := 1 + rng.IntN(6)
			var cmds []*event.Command
			seen := map[[2]string]bool{}
			for len(cmds) < n {
				c := gen()
				if k := [2]string{c.Model, c.ID}; !seen[k] || rng.IntN(15) == 0 {
					seen[k] = true
					cmds = append(cmds, c)
				}
			}
			duplicate := len(seen) < len(cmds)
			before := dump(t, s)
			done, err := s.ApplyBatch(idx, cmds)

			if duplicate {
				require.Equal(t, event.CodeInvalid, batchRefusal(t, err).Refusal.Code)
				require.Equal(t, before, dump(t, s), "round %d batch %d", round, b)
				refused++
				continue
			}
			twin := replay()
			failed, twinErr := -1, error(nil)
			for i, c := range cmds {
				if _, err := twin.Apply(idx, c); err != nil {
					failed, twinErr = i, err
					break
				}
			}
			if failed >= 0 {
				br := batchRefusal(t, err)
				require.Equal(t, failed, br.Index, "round %d batch %d", round, b)
				require.Equal(t, twinErr, error(br.Refusal))
				require.Nil(t, done)
				require.Equal(t, before, dump(t, s), "round %d batch %d: a refused batch changed the state", round, b)
				refused++
				continue
			}
			require.NoError(t, err, "round %d batch %d", round, b)
			require.Len(t, done, len(cmds))
			steps = append(steps, step{cmds: cmds, idx: idx})
			require.Equal(t, dump(t, twin), dump(t, s), "round %d batch %d", round, b)
		}
		require.Equal(t, idx, s.AppliedIndex())
	}
	t.Logf("%d rounds of %d batches, %d refused", rounds, batches, refused)
	require.Greater(t, refused, rounds*batches/5, "the generator must make refusals common")
	require.Less(t, refused, rounds*batches*4/5, "and successes too")
}
