package raftlog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/klauspost/compress/zstd"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/raftlog"
)

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
	failAfter         int // fail writes once this many bytes were written; 0: never
}

func (s *memSink) ID() string { return "mem" }

func (s *memSink) Write(p []byte) (int, error) {
	if s.failAfter > 0 && s.Len()+len(p) > s.failAfter {
		return 0, errors.New("disk full")
	}
	return s.Buffer.Write(p)
}

func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

// persist takes a snapshot of f the way raft does and returns its bytes.
func persist(t *testing.T, f *raftlog.FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	defer snap.Release()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	if !sink.closed || sink.cancelled {
		t.Fatalf("Persist left the sink closed=%v cancelled=%v, want closed only", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

func restore(f *raftlog.FSM, b []byte) error {
	return f.Restore(io.NopCloser(bytes.NewReader(b)))
}

// categoryRules makes Category names unique, so a restored state must
// rebuild its unique index for the rule to keep holding.
var categoryRules = []event.RuleFile{{Name: "category.lua", Source: []byte(`
model "Category" {
  path = "/api/categories",
  fields = {
    name = { type = "string", required = true, unique = true },
  },
  permissions = {
    read = { "public" }, create = { "public" }, update = { "public" }, delete = { "public" },
  },
}
`)}}

// busyFSM returns an FSM that went through rules, creates, updates and
// deletes of two models, tagged so two busy FSMs differ.
func busyFSM(t *testing.T, tag string) *raftlog.FSM {
	t.Helper()
	f := newFSM()
	cmds := [][]byte{encode(t, &event.Command{Op: event.OpRules, Rules: categoryRules, Time: fixedTime})}
	for i := range 50 {
		cmds = append(cmds, createCmd(t, fmt.Sprintf("%s-p%03d", tag, i), fmt.Sprintf("%s product %d", tag, i)))
	}
	for i := range 5 {
		cmds = append(cmds, encode(t, &event.Command{Op: event.OpCreate, Model: "Category", ID: fmt.Sprintf("%s-c%d", tag, i),
			Fields: json.RawMessage(fmt.Sprintf(`{"name":"%s category %d"}`, tag, i)), Time: fixedTime}))
	}
	for i := range 10 {
		cmds = append(cmds, encode(t, &event.Command{Op: event.OpUpdate, Model: "Product", ID: fmt.Sprintf("%s-p%03d", tag, i),
			Expected: 1, Fields: json.RawMessage(`{"name":"renamed","price":12.5}`), Time: fixedTime + 1}))
	}
	for i := 10; i < 15; i++ {
		cmds = append(cmds, encode(t, &event.Command{Op: event.OpDelete, Model: "Product", ID: fmt.Sprintf("%s-p%03d", tag, i), Time: fixedTime + 2}))
	}
	applyDirect(t, f, 1, cmds...)
	return f
}

// decompress returns what a snapshot holds under zstd.
func decompress(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("decompress snapshot: %v", err)
	}
	return out
}

func compress(t *testing.T, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return zw.EncodeAll(b, nil)
}

func TestSnapshotRoundTrip(t *testing.T) {
	src := busyFSM(t, "a")
	snap := persist(t, src)

	for _, tc := range []struct {
		name string
		dst  *raftlog.FSM
	}{
		{"into an empty FSM", newFSM()},
		{"over another state", busyFSM(t, "b")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := tc.dst
			if err := restore(dst, snap); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if got, want := stateHash(dst), stateHash(src); got != want {
				t.Fatalf("restored state hash %x, want %x", got, want)
			}
			if got, want := dst.State().AppliedIndex(), src.State().AppliedIndex(); got != want {
				t.Fatalf("restored applied index %d, want %d", got, want)
			}
			if n := dst.State().Count("Product"); n != 45 {
				t.Fatalf("restored %d products, want 45", n)
			}
			if _, ok := dst.State().Get("Product", "b-p020"); ok {
				t.Fatal("a record of the replaced state survived the restore")
			}
			if dst.Rules() == nil || dst.Rules().Version != src.Rules().Version {
				t.Fatalf("restored rules %v, want version %s", dst.Rules(), src.Rules().Version)
			}
			// Everything the snapshot carries (tombstones, history, audit
			// included) comes back: a snapshot of the restored FSM holds the
			// same bytes.
			if !bytes.Equal(decompress(t, persist(t, dst)), decompress(t, snap)) {
				t.Fatal("a snapshot of the restored FSM differs from the one it was restored from")
			}
			// The unique index was rebuilt: the restored node refuses what
			// the source node would refuse.
			dup := &raft.Log{Index: 1000, Term: 1, Type: raft.LogCommand, Data: encode(t, &event.Command{Op: event.OpCreate,
				Model: "Category", ID: "dup", Fields: json.RawMessage(`{"name":"a category 3"}`), Time: fixedTime})}
			res := dst.ApplyBatch([]*raft.Log{dup})[0].(*raftlog.Result)
			var refusal *event.Refusal
			if !errors.As(res.Err, &refusal) || refusal.Code != event.CodeConflict {
				t.Fatalf("duplicate unique name after restore: %v, want a conflict", res.Err)
			}
		})
	}

	t.Run("empty state over a busy one", func(t *testing.T) {
		dst := busyFSM(t, "b")
		if err := restore(dst, persist(t, newFSM())); err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if stateHash(dst) != stateHash(newFSM()) || dst.State().Count("Product") != 0 {
			t.Fatal("restoring an empty snapshot left records behind")
		}
		if dst.Rules() != nil {
			t.Fatal("restoring a snapshot taken before any rules left the old rules active")
		}
	})
}

// TestSnapshotRefusesDamage: a snapshot that does not check out is refused
// with ErrSnapshot before anything changes, so a node keeps serving the
// state it had.
func TestSnapshotRefusesDamage(t *testing.T) {
	good := persist(t, busyFSM(t, "a"))
	plain := decompress(t, good)
	flip := func(b []byte, at int) []byte {
		b = bytes.Clone(b)
		b[at] ^= 0x20
		return b
	}
	garbage := make([]byte, 4096)
	rand.New(rand.NewSource(1)).Read(garbage)

	cases := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"garbage", garbage},
		{"cut short to the first bytes", good[:8]},
		{"cut short at half", good[:len(good)/2]},
		{"cut short by one byte", good[:len(good)-1]},
		{"byte flipped at a quarter", flip(good, len(good)/4)},
		{"byte flipped at half", flip(good, len(good)/2)},
		{"byte flipped near the end", flip(good, len(good)-10)},
		{"trailing garbage after the stream", append(bytes.Clone(good), garbage[:100]...)},
		{"not compressed", plain},
		{"compressed, but not a snapshot", compress(t, []byte("LITHAIR? no, a text file\n"))},
		{"other format version", compress(t, append([]byte("LITHAIR-SNAPSHOT 9"), plain[18:]...))},
		// zstd's frame checksum cannot catch these: the bytes were altered
		// before compression, so only our own checksums can.
		{"header byte altered, then recompressed", compress(t, flip(plain, 25))},
		{"record byte altered, then recompressed", compress(t, flip(plain, len(plain)/2))},
		{"state checksum altered, then recompressed", compress(t, flip(plain, len(plain)-1))},
		{"state cut short, then recompressed", compress(t, plain[:len(plain)-9])},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := busyFSM(t, "b")
			hash, applied, rules := stateHash(dst), dst.State().AppliedIndex(), dst.Rules()
			err := restore(dst, tc.data)
			if !errors.Is(err, raftlog.ErrSnapshot) {
				t.Fatalf("Restore: %v, want raftlog.ErrSnapshot", err)
			}
			if stateHash(dst) != hash || dst.State().AppliedIndex() != applied || dst.Rules() != rules {
				t.Fatal("a refused snapshot changed the state")
			}
		})
	}

	// Every single flipped byte is refused, or, if zstd does not care about
	// that bit, restores the very same state: never something else.
	t.Run("every byte flipped", func(t *testing.T) {
		want := stateHash(busyFSM(t, "a"))
		dst := busyFSM(t, "b")
		before := stateHash(dst)
		accepted := 0
		for at := range good {
			err := restore(dst, flip(good, at))
			switch {
			case err == nil:
				accepted++
				if stateHash(dst) != want {
					t.Fatalf("byte %d flipped: restored a different state", at)
				}
				if err := restore(dst, persist(t, busyFSM(t, "b"))); err != nil {
					t.Fatal(err)
				}
			case !errors.Is(err, raftlog.ErrSnapshot):
				t.Fatalf("byte %d flipped: %v, want raftlog.ErrSnapshot", at, err)
			case stateHash(dst) != before:
				t.Fatalf("byte %d flipped: refused, but the state changed", at)
			}
		}
		t.Logf("%d of %d flips refused", len(good)-accepted, len(good))
	})
}

func TestSnapshotPersistFailureCancelsTheSink(t *testing.T) {
	snap, err := busyFSM(t, "a").Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{failAfter: 10}
	if err := snap.Persist(sink); err == nil {
		t.Fatal("Persist into a failing sink succeeded")
	}
	if !sink.cancelled || sink.closed {
		t.Fatalf("after a failed Persist the sink is closed=%v cancelled=%v: raft would keep a partial snapshot",
			sink.closed, sink.cancelled)
	}
}
