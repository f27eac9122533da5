package lithair

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/raftlog"
	"github.com/lithair/lithair/rules"
)

// feedNode is a node in miniature: the real state machine applies commands
// to a State and tells the feed, as the FSM does, and a map stands in for
// the log a replay reads back.
type feedNode struct {
	t       testing.TB
	mu      sync.Mutex
	log     map[uint64]*event.Command // nil: an entry that is no command
	first   uint64                    // entries below it are gone
	last    uint64
	machine *raftlog.Machine
	feed    *feed
	done    chan struct{}
	// truth is every change applied, in order, as the machine told it.
	truth []*Change
}

func newFeedNode(t testing.TB, ring int) *feedNode {
	n := &feedNode{t: t, log: map[uint64]*event.Command{}, first: 1, done: make(chan struct{})}
	state := index.New()
	n.machine = raftlog.NewMachine(state, rules.Options{})
	n.feed = newFeed(ring, n.done, state, func(m string) bool { return strings.HasPrefix(m, "_") }, n.read, n.command)
	n.machine.OnApply = func(idx uint64, c *event.Command, a index.Applied) {
		if !strings.HasPrefix(c.Model, "_") {
			ch := &Change{Index: idx, Kind: a.Kind, Model: c.Model, ID: c.ID, Time: c.Time, Actor: c.Actor}
			if a.Kind == event.Deleted {
				ch.Version, ch.Removed = a.Old.Version, a.Old.RawFields()
			} else {
				ch.Version, ch.Fields = a.New.Version, c.Fields
			}
			n.mu.Lock()
			n.truth = append(n.truth, ch)
			n.mu.Unlock()
		}
		n.feed.onApply(idx, c, a)
	}
	return n
}

// apply commits c at the next index and applies it, as raft's apply
// goroutine would; nil stands for a noop entry. It reports whether a
// command changed anything.
func (n *feedNode) apply(c *event.Command) bool {
	n.mu.Lock()
	n.last++
	idx := n.last
	n.log[idx] = c
	n.mu.Unlock()
	changed := true
	if c == nil {
		n.machine.State().SetApplied(idx)
	} else {
		data, err := c.Encode()
		if err != nil {
			n.t.Fatal(err)
		}
		changed = n.machine.ApplyEntry(idx, data).Err == nil
	}
	n.feed.entryApplied(idx)
	return changed
}

// read serves a replay a few entries at a time, so that refills run often.
func (n *feedNode) read(from, to uint64) ([]loggedCommand, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if from < n.first {
		return nil, fmt.Errorf("%w: index %d", ErrReplayGap, from)
	}
	var out []loggedCommand
	for idx := from; idx <= to && idx <= n.last && len(out) < 7; idx++ {
		out = append(out, loggedCommand{idx: idx, c: n.log[idx]})
	}
	return out, nil
}

func (n *feedNode) command(idx uint64) (*event.Command, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.log[idx]; c != nil && idx >= n.first {
		return c, nil
	}
	return nil, fmt.Errorf("no command at %d", idx)
}

func (n *feedNode) changesAfter(after uint64) []*Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*Change
	for _, c := range n.truth {
		if c.Index > after {
			out = append(out, c)
		}
	}
	return out
}

func create(id string, v int) *event.Command {
	return &event.Command{Op: event.OpCreate, Model: "Product", ID: id, Fields: fields(v), Actor: "u1", Time: int64(v)}
}

func update(id string, v int) *event.Command {
	return &event.Command{Op: event.OpUpdate, Model: "Product", ID: id, Fields: fields(v), Actor: "u2", Time: int64(v)}
}

func remove(id string) *event.Command {
	return &event.Command{Op: event.OpDelete, Model: "Product", ID: id, Actor: "u3", Time: 7}
}

func fields(v int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"name":"p","price":%d}`, v)) }

// drain reads what s has now, without waiting.
func drain(t testing.TB, s *Subscription) []*Change {
	t.Helper()
	var out []*Change
	for {
		c, err := s.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if c == nil {
			return out
		}
		out = append(out, c)
	}
}

// sameChanges compares what a subscriber got with what was applied.
func sameChanges(t testing.TB, who string, got, want []*Change) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d changes, want %d (first got %v, first want %v)", who, len(got), len(want), first(got), first(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Index != w.Index || g.Kind != w.Kind || g.Model != w.Model || g.ID != w.ID || g.Version != w.Version ||
			g.Time != w.Time || g.Actor != w.Actor || !bytes.Equal(g.Fields, w.Fields) || !bytes.Equal(g.Removed, w.Removed) {
			t.Fatalf("%s: change %d is %+v, want %+v", who, i, *g, *w)
		}
	}
}

func first(cs []*Change) any {
	if len(cs) == 0 {
		return nil
	}
	return *cs[0]
}

// mixedWorkload applies n entries of every sort a log holds: creates,
// updates, deletes, refused commands, batches (one refused), a system
// model's records and noops.
func mixedWorkload(n *feedNode, rng *rand.Rand, entries int, live *[]string) {
	for range entries {
		next := len(*live) + int(n.last)
		switch r := rng.IntN(20); {
		case r < 6 || len(*live) == 0:
			id := fmt.Sprintf("p%d", next)
			n.apply(create(id, next))
			*live = append(*live, id)
		case r < 11:
			n.apply(update((*live)[rng.IntN(len(*live))], next))
		case r < 13:
			i := rng.IntN(len(*live))
			n.apply(remove((*live)[i]))
			*live = append((*live)[:i], (*live)[i+1:]...)
		case r < 14:
			n.apply(update("nobody", next)) // refused: not found
		case r < 15:
			n.apply(create((*live)[0], next)) // refused: the id exists
		case r < 17:
			a, b := fmt.Sprintf("p%d", next), (*live)[rng.IntN(len(*live))]
			if n.apply(&event.Command{Op: event.OpBatch, Time: 9, Batch: event.Batch{create(a, next), update(b, next)}}) {
				*live = append(*live, a)
			}
		case r < 18:
			// Refused whole: its second operation names no record.
			n.apply(&event.Command{Op: event.OpBatch, Time: 9, Batch: event.Batch{create(fmt.Sprintf("x%d", next), next), update("nobody", next)}})
		case r < 19:
			n.apply(&event.Command{Op: event.OpCreate, Model: "_Session", ID: fmt.Sprintf("s%d", next), Fields: json.RawMessage(`{"token_hash":"secret"}`)})
		default:
			n.apply(nil)
		}
	}
}

func TestFeedFansOutEveryChangeInLogOrder(t *testing.T) {
	n := newFeedNode(t, 1024)
	a, b := n.feed.subscribe(0, false), n.feed.subscribe(0, false)
	defer a.Close()
	defer b.Close()
	var live []string
	mixedWorkload(n, rand.New(rand.NewPCG(1, 2)), 300, &live)
	want := n.changesAfter(0)
	gotA, gotB := drain(t, a), drain(t, b)
	sameChanges(t, "first subscriber", gotA, want)
	sameChanges(t, "second subscriber", gotB, want)
	if a.Position() != n.last {
		t.Errorf("Position is %d after the last change, want the last index %d", a.Position(), n.last)
	}
	for _, c := range gotA {
		if strings.HasPrefix(c.Model, "_") {
			t.Fatalf("a system model's change was published: %+v", *c)
		}
	}
	// A batch's changes share one index; Position reaches it only with
	// the last of them, so a client cut off in between resumes before it.
	n.apply(&event.Command{Op: event.OpBatch, Time: 9, Batch: event.Batch{create("b1", 1), create("b2", 2), create("b3", 3)}})
	for i := range 3 {
		c, err := a.Next()
		if err != nil || c == nil || c.Index != n.last {
			t.Fatalf("batch change %d: %v, %v", i, c, err)
		}
		if want := n.last - 1; i < 2 && a.Position() != want {
			t.Errorf("Position inside a batch is %d, want %d", a.Position(), want)
		}
	}
	if a.Position() != n.last {
		t.Errorf("Position after a batch is %d, want %d", a.Position(), n.last)
	}
}

func TestFeedDropsASlowSubscriberAndNeverWaitsForIt(t *testing.T) {
	const ring = 64
	n := newFeedNode(t, ring)
	slow, fast := n.feed.subscribe(0, false), n.feed.subscribe(0, false)
	defer slow.Close()
	defer fast.Close()
	for i := range 10 {
		n.apply(create(fmt.Sprintf("p%d", i), i))
	}
	slowGot, fastGot := drain(t, slow), drain(t, fast)
	// The slow subscriber stops reading. The writer goes on for many
	// times the ring; the fast one reads after every write. A publish
	// that waited for the slow one would hang here.
	start := time.Now()
	for i := 10; i < 50*ring; i++ {
		n.apply(update(fmt.Sprintf("p%d", i%10), i))
		fastGot = append(fastGot, drain(t, fast)...)
	}
	t.Logf("%d writes with a stalled subscriber: %v", 50*ring-10, time.Since(start))
	sameChanges(t, "fast subscriber", fastGot, n.changesAfter(0))
	if c, err := slow.Next(); !errors.Is(err, ErrDropped) {
		t.Fatalf("the slow subscriber got %v, %v; want ErrDropped", c, err)
	}
	if _, err := slow.Next(); !errors.Is(err, ErrDropped) {
		t.Fatalf("ErrDropped must be final, got %v", err)
	}
	if slow.Position() != 10 {
		t.Fatalf("the dropped subscriber's Position is %d, want 10 (the last index it read)", slow.Position())
	}
	// Resuming where it was dropped gives the rest, from the log.
	again := n.feed.subscribe(slow.Position(), true)
	defer again.Close()
	sameChanges(t, "resumed subscriber", append(slowGot, drain(t, again)...), n.changesAfter(0))
}

func TestFeedResumesWithoutGapOrRepeatWhileWritesGoOn(t *testing.T) {
	n := newFeedNode(t, 256) // small: readers get dropped and resume
	const entries = 4000
	writing := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]struct {
		after   uint64
		got     []*Change
		resumes int
	}, 8)
	for r := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
			n.mu.Lock()
			after := uint64(rng.Int64N(int64(n.last) + 1))
			n.mu.Unlock()
			res := &results[r]
			res.after = after
			s := n.feed.subscribe(after, true)
			defer func() { s.Close() }()
			for {
				writerDone := false
				select {
				case <-writing:
					writerDone = true
				default:
				}
				c, err := s.Next()
				switch {
				case errors.Is(err, ErrDropped):
					pos := s.Position()
					s.Close()
					s = n.feed.subscribe(pos, true)
					res.resumes++
					continue
				case err != nil:
					t.Errorf("reader %d: %v", r, err)
					return
				case c != nil:
					res.got = append(res.got, c)
					if rng.IntN(50) == 0 {
						time.Sleep(50 * time.Microsecond) // now and then, slow
					}
					continue
				}
				if writerDone {
					// Caught up with a writer that is done: all is here.
					if last := n.changesAfter(0); len(last) > 0 && s.Position() < last[len(last)-1].Index {
						t.Errorf("reader %d caught up at %d, before the last change %d", r, s.Position(), last[len(last)-1].Index)
					}
					return
				}
				select {
				case <-s.Wait():
				case <-writing:
				}
			}
		}()
	}
	var live []string
	mixedWorkload(n, rand.New(rand.NewPCG(3, 4)), entries, &live)
	close(writing)
	wg.Wait()
	resumes := 0
	for r, res := range results {
		sameChanges(t, fmt.Sprintf("reader %d (after %d)", r, res.after), res.got, n.changesAfter(res.after))
		resumes += res.resumes
	}
	t.Logf("%d changes; readers were dropped and resumed %d times", len(n.changesAfter(0)), resumes)
}

func TestFeedTellsOfAGapWhenTheLogNoLongerHoldsTheChanges(t *testing.T) {
	n := newFeedNode(t, 64)
	for i := range 20 {
		n.apply(create(fmt.Sprintf("p%d", i), i))
	}
	n.first = 11 // retention removed 1..10
	s := n.feed.subscribe(5, true)
	defer s.Close()
	if _, err := s.Next(); !errors.Is(err, ErrReplayGap) {
		t.Fatalf("resuming after a removed index: %v, want ErrReplayGap", err)
	}
	if s.Position() != 20 {
		t.Errorf("Position after the gap is %d, want the start, 20", s.Position())
	}
	n.apply(create("after", 1))
	sameChanges(t, "after the gap", drain(t, s), n.changesAfter(20))

	ahead := n.feed.subscribe(1000, true)
	defer ahead.Close()
	if ahead.Position() != 1000 {
		t.Errorf("Position before the gap is told is %d, want the client's own 1000", ahead.Position())
	}
	if _, err := ahead.Next(); !errors.Is(err, ErrReplayGap) {
		t.Fatalf("resuming after an index beyond the log: %v, want ErrReplayGap", err)
	}
	if ahead.Position() != n.last {
		t.Errorf("Position after the gap is %d, want the start, %d", ahead.Position(), n.last)
	}
	// Resuming within what the log holds replays it.
	s2 := n.feed.subscribe(12, true)
	defer s2.Close()
	sameChanges(t, "after 12", drain(t, s2), n.changesAfter(12))
}

func TestFeedEndsWhenTheNodeStops(t *testing.T) {
	n := newFeedNode(t, 64)
	s := n.feed.subscribe(0, false)
	defer s.Close()
	wait := s.Wait()
	close(n.done)
	select {
	case <-s.Done():
	case <-time.After(time.Second):
		t.Fatal("Done not closed")
	}
	if _, err := s.Next(); !errors.Is(err, ErrFeedClosed) {
		t.Fatalf("Next after the stop: %v", err)
	}
	select {
	case <-wait:
		t.Fatal("Wait fired with nothing published")
	default:
	}
}

// BenchmarkFeedPublish measures what publishing costs the apply goroutine
// with no subscriber, one, and a thousand that never read: the ratio to
// none is what the stream adds to every write.
func BenchmarkFeedPublish(b *testing.B) {
	for _, subs := range []int{0, 1, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			f := newFeed(feedRing, nil, index.New(), func(string) bool { return false }, nil, nil)
			for range subs {
				defer f.subscribe(0, false).Close()
			}
			c := update("p", 1)
			applied := index.Applied{Kind: event.Updated, New: &index.Record{Version: 2}}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				f.onApply(uint64(i+1), c, applied)
				f.entryApplied(uint64(i + 1))
			}
		})
	}
}
