package raftlog_test

import (
	"math"
	"testing"

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
