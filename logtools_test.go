package lithair

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/event"
	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/raftlog"
)

// TestDecodeLogEntryMatchesRaftlog keeps decodeLogEntry in step with the
// encoding raftlog.LogStore writes.
func TestDecodeLogEntryMatchesRaftlog(t *testing.T) {
	l, err := wal.Open(filepath.Join(t.TempDir(), "log"), wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := &event.Command{Op: event.OpCreate, Model: "Product", ID: "p1", Fields: []byte(`{"name":"x"}`), Time: 42,
		Rules: []event.RuleFile{{Name: "a.lua", Source: []byte("abc")}}}
	data, _ := cmd.Encode()
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: "node1", Address: "node1"}}}
	logs := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: raft.EncodeConfiguration(conf)},
		{Index: 2, Term: 2, Type: raft.LogNoop},
		{Index: 3, Term: 2, Type: raft.LogCommand, Data: data, Extensions: []byte("ext")},
	}
	if err := raftlog.NewLogStore(l).StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	raw := func(i uint64) []byte {
		b, err := l.Read(i)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if e := decodeLogEntry(1, raw(1)); e.Type != "configuration" || e.Term != 1 || len(e.Configuration) != 1 || e.Configuration[0].ID != "node1" {
		t.Fatalf("configuration entry: %+v", e)
	}
	if e := decodeLogEntry(2, raw(2)); e.Type != "noop" || e.Term != 2 || e.Error != "" {
		t.Fatalf("noop entry: %+v", e)
	}
	e := decodeLogEntry(3, raw(3))
	if e.Type != "command" || e.Error != "" || e.Command == nil || e.Command.Model != "Product" || string(e.Command.Fields) != `{"name":"x"}` ||
		len(e.Command.Rules) != 1 || e.Command.Rules[0].Bytes != 3 {
		t.Fatalf("command entry: %+v", e)
	}
	if e := decodeLogEntry(4, []byte{0x80}); e.Error == "" {
		t.Fatal("a malformed entry decoded")
	}
}

// TestReplayLogMatchesTheLiveState: a node that took a snapshot, had its
// log compacted into the archive, changed its rules and went on writing
// serves a state hash that a replay of its whole log, archive first and
// no snapshot, reproduces. Once retention has deleted the oldest archived
// segment, the replay says it cannot start at index 1 instead of hashing
// part of the history.
func TestReplayLogMatchesTheLiveState(t *testing.T) {
	rulesDir := t.TempDir()
	src, _ := filepath.Glob(filepath.Join("configs", "rules", "*.lua"))
	for _, f := range src {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(rulesDir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := DefaultConfig()
	cfg.EventStore.Dir = filepath.Join(t.TempDir(), "data")
	cfg.EventStore.SegmentSize = 1 << 16 // several sealed segments to archive
	cfg.EventStore.Sync = "periodic"     // durability is not what this test is about
	cfg.Rules.Dir = rulesDir
	cfg.Rules.Watch = false
	a, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	write := func(c *event.Command) {
		t.Helper()
		c.Actor, c.Time = "admin", time.Now().UnixNano()
		if _, err := a.Propose(ctx, c); err != nil {
			t.Fatalf("%s %s %s: %v", c.Op, c.Model, c.ID, err)
		}
	}
	product := func(i, stock int) []byte {
		return []byte(fmt.Sprintf(`{"name":"product %d with a name long enough to fill segments","price":%d,"stock":%d}`, i, i, stock))
	}
	for i := range 600 {
		write(&event.Command{Op: event.OpCreate, Model: "Product", ID: fmt.Sprintf("p%04d", i), Fields: product(i, 0)})
	}
	for i := 0; i < 600; i += 3 {
		write(&event.Command{Op: event.OpUpdate, Model: "Product", ID: fmt.Sprintf("p%04d", i), Fields: product(i, 7)})
		write(&event.Command{Op: event.OpDelete, Model: "Product", ID: fmt.Sprintf("p%04d", i+1)})
	}

	// A rules change: a new model, written to at once.
	note := `model "Note" { fields = { text = { type = "string" } }, permissions = { read = { "public" } } }`
	if err := os.WriteFile(filepath.Join(rulesDir, "note.lua"), []byte(note), 0o644); err != nil {
		t.Fatal(err)
	}
	if rep, err := a.ReloadRules(ctx, "test"); err != nil || !rep.Changed {
		t.Fatalf("rules reload: %+v, %v", rep, err)
	}
	for i := range 20 {
		write(&event.Command{Op: event.OpCreate, Model: "Note", ID: fmt.Sprintf("n%02d", i), Fields: []byte(fmt.Sprintf(`{"text":"note %d"}`, i))})
	}

	// A snapshot, and Raft's own compaction after it, keeping a short tail.
	if err := a.raft.ReloadConfig(raft.ReloadableConfig{TrailingLogs: 10, SnapshotInterval: time.Hour,
		SnapshotThreshold: cfg.EventStore.SnapshotThreshold, HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	snapIdx, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if first := a.log.FirstIndex(); first <= 1 || a.log.Stats().ArchivedSegments == 0 {
		t.Fatalf("no compaction: the log starts at %d with %d archived segments", first, a.log.Stats().ArchivedSegments)
	}
	// After it, changes to records whose creation is only in the archive.
	for i := 2; i < 300; i += 3 {
		write(&event.Command{Op: event.OpUpdate, Model: "Product", ID: fmt.Sprintf("p%04d", i), Fields: product(i, 9)})
	}
	write(&event.Command{Op: event.OpDelete, Model: "Note", ID: "n00"})

	// A barrier last, as every start appends one: Raft does not hand it
	// to the state machine, so the applied index stays at the delete.
	if err := a.raft.Barrier(10 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if _, err := ReplayLog(cfg.EventStore.Dir); err == nil {
		t.Fatal("ReplayLog read the log of a running node")
	}
	want := a.StateHash()
	if last := a.log.LastIndex(); want.Index >= last {
		t.Fatalf("applied index %d, log ends at %d: the barrier is not last", want.Index, last)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReplayLog(cfg.EventStore.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Index != want.Index || got.Hash != want.Hash {
		t.Fatalf("replay: index %d hash %s; the node served index %d hash %s", got.Index, got.Hash, want.Index, want.Hash)
	}
	// 400 products and 19 notes, plus the first admin.
	if got.Records != 400+19+1 || got.Compacted == 0 || got.Compacted >= snapIdx {
		t.Fatalf("replay: %+v (snapshot at %d)", got, snapIdx)
	}

	// Retention deletes the oldest archived segment.
	archived, _ := filepath.Glob(filepath.Join(cfg.EventStore.Dir, "log", "archive", "*.seg.zst"))
	sort.Strings(archived)
	if len(archived) == 0 {
		t.Fatal("no archived segment")
	}
	if err := os.Remove(archived[0]); err != nil {
		t.Fatal(err)
	}
	if r, err := ReplayLog(cfg.EventStore.Dir); !errors.Is(err, ErrNoHistory) {
		t.Fatalf("replay without the oldest archived segment: %+v, %v", r, err)
	}
}
