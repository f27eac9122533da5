package raftlog_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/event"

	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/raftlog"
)

// When raft empties the whole log (after installing a snapshot), only the
// entries this node applied go to the archive: the tail beyond them may
// be a deposed leader's uncommitted suffix, which must never read as
// history.
func TestEmptyingTheLogArchivesOnlyAppliedEntries(t *testing.T) {
	l, err := wal.Open(t.TempDir(), wal.Options{Archive: true, SegmentSize: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := raftlog.NewLogStore(l)
	s.SetAppliedSource(func() uint64 { return 6 })
	storeRange(t, s, 1, 10)
	if err := s.DeleteRange(1, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	if l.FirstIndex() != 0 || l.LastIndex() != 0 {
		t.Fatalf("log holds [%d, %d] after deleting everything", l.FirstIndex(), l.LastIndex())
	}
	var seen []uint64
	if err := l.Scan(1, func(i uint64, _ []byte) bool { seen = append(seen, i); return true }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 6 || seen[0] != 1 || seen[5] != 6 {
		t.Fatalf("archive holds %v, want 1..6", seen)
	}
}

// History outlives compaction: once raft truncates the front of the log,
// a command is read back from the archive.
func TestCommandsAreReadBackFromTheArchive(t *testing.T) {
	l, err := wal.Open(t.TempDir(), wal.Options{Archive: true, SegmentSize: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := raftlog.NewLogStore(l)
	var logs []*raft.Log
	for i := uint64(1); i <= 600; i++ {
		c := &event.Command{Op: event.OpCreate, Model: "Product", ID: fmt.Sprintf("p%d", i), Fields: json.RawMessage(`{"name":"` + strings.Repeat("x", 200) + `"}`), Time: int64(i)}
		data, _ := c.Encode()
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: data})
	}
	for i := 0; i < len(logs); i += 50 {
		if err := s.StoreLogs(logs[i : i+50]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteRange(1, 500); err != nil {
		t.Fatal(err)
	}
	if first, _ := s.FirstIndex(); first != 501 {
		t.Fatalf("first index %d after compaction", first)
	}
	if l.Stats().ArchivedSegments == 0 {
		t.Fatal("compaction archived nothing")
	}
	for _, i := range []uint64{1, 250, 450, 550} {
		c, err := s.Command(i)
		if err != nil || c.ID != fmt.Sprintf("p%d", i) {
			t.Fatalf("command %d: %+v, %v", i, c, err)
		}
	}
}
