package raftlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/raftlog"
)

// sameLog compares every field raft reads back. AppendedAt is compared as
// an instant: the monotonic reading and the location do not survive disk.
func sameLog(t *testing.T, want, got *raft.Log) {
	t.Helper()
	if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type ||
		!bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Extensions, want.Extensions) ||
		!got.AppendedAt.Equal(want.AppendedAt) || got.AppendedAt.IsZero() != want.AppendedAt.IsZero() {
		t.Fatalf("entry %d read back as\n %+v\nwant\n %+v", want.Index, *got, *want)
	}
}

func TestLogStoreRoundTripsEveryField(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	at := time.Date(2026, 11, 27, 23, 59, 58, 123456789, time.UTC)
	logs := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: []byte("config"), AppendedAt: at},
		{Index: 2, Term: 1, Type: raft.LogNoop},
		{Index: 3, Term: 2, Type: raft.LogCommand, Data: []byte{1, '{', '}'}, Extensions: []byte("ext\x00\xff"), AppendedAt: time.Now()},
		{Index: 4, Term: 2, Type: raft.LogBarrier, AppendedAt: at.Add(-time.Hour)},
		{Index: 5, Term: 3, Type: raft.LogAddPeerDeprecated, Data: []byte("peer")},
		{Index: 6, Term: 3, Type: raft.LogRemovePeerDeprecated, Extensions: []byte{0}},
		{Index: 7, Term: math.MaxUint64, Type: raft.LogCommand, Data: big, Extensions: big[:1000]},
		{Index: 8, Term: 1 << 40, Type: raft.LogCommand, Data: []byte{}, Extensions: []byte{}},
	}
	dir := filepath.Join(t.TempDir(), "raft")
	l := openLog(t, dir, wal.Options{SegmentSize: 4096})
	s := raftlog.NewLogStore(l)
	if err := s.StoreLog(logs[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(logs[1:]); err != nil {
		t.Fatal(err)
	}
	check := func(s *raftlog.LogStore) {
		t.Helper()
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		if first != 1 || last != uint64(len(logs)) {
			t.Fatalf("log holds [%d, %d], want [1, %d]", first, last, len(logs))
		}
		for _, want := range logs {
			var got raft.Log
			if err := s.GetLog(want.Index, &got); err != nil {
				t.Fatalf("GetLog(%d): %v", want.Index, err)
			}
			sameLog(t, want, &got)
		}
	}
	check(s)

	// Everything was fsync'd by StoreLogs: a reopened log reads the same.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check(raftlog.NewLogStore(openLog(t, dir, wal.Options{SegmentSize: 4096})))
}

// TestLogStoreReturnsFreshSlices guards raft's assumption that a Log it
// read is its own: raft keeps entries in memory while appending more.
func TestLogStoreReturnsFreshSlices(t *testing.T) {
	s, _ := newLogStore(t)
	in := &raft.Log{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("data"), Extensions: []byte("ext")}
	if err := s.StoreLog(in); err != nil {
		t.Fatal(err)
	}
	in.Data[0], in.Extensions[0] = 'X', 'X' // the caller reuses its buffers
	var a, b raft.Log
	if err := s.GetLog(1, &a); err != nil {
		t.Fatal(err)
	}
	a.Data[1], a.Extensions[1] = 'Y', 'Y'
	if err := s.GetLog(1, &b); err != nil {
		t.Fatal(err)
	}
	if string(b.Data) != "data" || string(b.Extensions) != "ext" {
		t.Fatalf("read back %q/%q, want data/ext: a buffer is shared", b.Data, b.Extensions)
	}
}

// entry is the i-th entry of the logs DeleteRange tests start from.
func entry(i uint64) *raft.Log {
	return &raft.Log{Index: i, Term: i, Type: raft.LogCommand, Data: fmt.Appendf(nil, "entry %d", i)}
}

func storeRange(t *testing.T, s *raftlog.LogStore, first, last uint64) {
	t.Helper()
	var logs []*raft.Log
	for i := first; i <= last; i++ {
		logs = append(logs, entry(i))
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatalf("StoreLogs [%d, %d]: %v", first, last, err)
	}
}

// holds checks that s holds exactly the entries [first, last] of entry()
// (nothing when first is 0), and that raft gets ErrLogNotFound itself, not
// a wrapping, around them: raft compares with ==, and on that error a
// leader sends a snapshot instead of entries.
func holds(t *testing.T, s *raftlog.LogStore, first, last uint64) {
	t.Helper()
	gotFirst, _ := s.FirstIndex()
	gotLast, _ := s.LastIndex()
	if gotFirst != first || gotLast != last {
		t.Fatalf("log holds [%d, %d], want [%d, %d]", gotFirst, gotLast, first, last)
	}
	lo, hi := uint64(0), last+3
	if first > 3 {
		lo = first - 3
	}
	for i := lo; i <= hi; i++ {
		var got raft.Log
		err := s.GetLog(i, &got)
		if first != 0 && i >= first && i <= last {
			if err != nil {
				t.Fatalf("GetLog(%d): %v", i, err)
			}
			sameLog(t, entry(i), &got)
			continue
		}
		if err != raft.ErrLogNotFound {
			t.Fatalf("GetLog(%d) outside [%d, %d]: got %v, want raft.ErrLogNotFound", i, first, last, err)
		}
	}
}

func TestLogStoreDeleteRange(t *testing.T) {
	cases := []struct {
		name                string
		first, last         uint64 // the log before
		min, max            uint64 // DeleteRange arguments
		wantFirst, wantLast uint64 // the log after; 0, 0 when emptied
		wantErr             bool
	}{
		{"compaction removes a prefix", 1, 10, 1, 3, 4, 10, false},
		{"compaction of one entry", 1, 10, 1, 1, 2, 10, false},
		{"compaction range starting before the log", 5, 14, 1, 7, 8, 14, false},
		{"compaction range ending before the log", 5, 14, 1, 4, 5, 14, false},
		{"conflicting suffix", 1, 10, 8, 10, 1, 7, false},
		{"conflicting last entry", 1, 10, 10, 10, 1, 9, false},
		{"conflicting suffix past the last index", 1, 10, 8, 1000, 1, 7, false},
		{"conflicting suffix up to MaxUint64", 1, 10, 8, math.MaxUint64, 1, 7, false},
		{"range after the log", 1, 10, 11, 20, 1, 10, false},
		{"whole log, as after a snapshot restore", 1, 10, 1, 10, 0, 0, false},
		{"whole log from a later start", 5, 14, 5, 14, 0, 0, false},
		{"range past both ends", 5, 14, 1, 1000, 0, 0, false},
		{"range past both ends up to MaxUint64", 5, 14, 0, math.MaxUint64, 0, 0, false},
		{"hole in the middle is refused", 1, 10, 4, 6, 1, 10, true},
	}
	for _, segSize := range []int64{0, 128} { // one segment; a segment per entry or two
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/segment size %d", tc.name, segSize), func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "raft")
				l := openLog(t, dir, wal.Options{SegmentSize: segSize})
				s := raftlog.NewLogStore(l)
				storeRange(t, s, tc.first, tc.last)
				err := s.DeleteRange(tc.min, tc.max)
				if tc.wantErr != (err != nil) {
					t.Fatalf("DeleteRange(%d, %d) on [%d, %d]: error %v, want error %v",
						tc.min, tc.max, tc.first, tc.last, err, tc.wantErr)
				}
				holds(t, s, tc.wantFirst, tc.wantLast)

				// The deletion is durable, and the log goes on where raft
				// expects: after the kept entries, or anywhere once emptied
				// (a restored snapshot leaves a hole).
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				l = openLog(t, dir, wal.Options{SegmentSize: segSize})
				s = raftlog.NewLogStore(l)
				holds(t, s, tc.wantFirst, tc.wantLast)
				next, first := tc.wantLast+1, tc.wantFirst
				if tc.wantLast == 0 {
					next, first = 500, 500
				}
				storeRange(t, s, next, next+2)
				holds(t, s, first, next+2)
			})
		}
	}
}

func TestLogStoreEmpty(t *testing.T) {
	s, _ := newLogStore(t)
	if err := s.DeleteRange(1, 10); err != nil {
		t.Fatalf("DeleteRange on an empty log: %v", err)
	}
	holds(t, s, 0, 0)
	if !s.IsMonotonic() {
		t.Fatal("IsMonotonic is false: raft would leave a gap in the log after a snapshot restore")
	}
	// The first entry raft writes on a new node is index 1, but after a
	// snapshot install it may be anything.
	storeRange(t, s, 77, 80)
	holds(t, s, 77, 80)
}

func TestLogStoreRefusesGaps(t *testing.T) {
	s, _ := newLogStore(t)
	storeRange(t, s, 1, 10)
	if err := s.StoreLogs([]*raft.Log{entry(12)}); err == nil {
		t.Fatal("StoreLogs after a gap succeeded")
	}
	if err := s.StoreLogs([]*raft.Log{entry(11), entry(13)}); err == nil {
		t.Fatal("StoreLogs of a batch with a gap succeeded")
	}
	if err := s.StoreLogs([]*raft.Log{entry(10)}); err == nil {
		t.Fatal("StoreLogs over an existing index succeeded")
	}
	holds(t, s, 1, 10)
	storeRange(t, s, 11, 12)
	holds(t, s, 1, 12)
}

// TestLogStoreClosedIsNotNotFound: a closed log must not look like a
// compacted one, or a leader shutting down would start sending snapshots.
func TestLogStoreClosedIsNotNotFound(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "raft")
	l := openLog(t, dir, wal.Options{})
	s := raftlog.NewLogStore(l)
	storeRange(t, s, 1, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var out raft.Log
	err := s.GetLog(2, &out)
	if err == nil || err == raft.ErrLogNotFound {
		t.Fatalf("GetLog on a closed log: %v, want an error other than ErrLogNotFound", err)
	}
	if !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("GetLog on a closed log: %v, want log.ErrClosed", err)
	}
	if err := s.StoreLogs([]*raft.Log{entry(4)}); err == nil {
		t.Fatal("StoreLogs on a closed log succeeded")
	}
}

// TestLogStoreConcurrentReadsAndWrites mirrors raft: one goroutine appends
// and compacts while replication goroutines read.
func TestLogStoreConcurrentReadsAndWrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "raft")
	s := raftlog.NewLogStore(openLog(t, dir, wal.Options{SegmentSize: 1024, Sync: wal.SyncPeriodic}))
	const total = 2000
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				first, _ := s.FirstIndex()
				last, _ := s.LastIndex()
				if last == 0 {
					continue
				}
				for _, i := range []uint64{first, (first + last) / 2, last} {
					var got raft.Log
					err := s.GetLog(i, &got)
					if err == raft.ErrLogNotFound {
						continue // compacted meanwhile
					}
					if err != nil {
						t.Errorf("GetLog(%d) of [%d, %d]: %v", i, first, last, err)
						return
					}
					if want := entry(i); got.Term != want.Term || !bytes.Equal(got.Data, want.Data) {
						t.Errorf("GetLog(%d) read %+v", i, got)
						return
					}
				}
			}
		}()
	}
	wantFirst := uint64(1)
	for i := uint64(1); i <= total; i += 10 {
		storeRange(t, s, i, i+9)
		if i%200 == 1 && i > 100 {
			if err := s.DeleteRange(1, i-100); err != nil {
				t.Fatal(err)
			}
			wantFirst = i - 100 + 1
		}
	}
	close(done)
	wg.Wait()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if last != total || first != wantFirst {
		t.Fatalf("log holds [%d, %d] after the run", first, last)
	}
}

// TestLogStoreEmptiedWhileRead mirrors a leader after raft.Restore: raft
// empties the log (DeleteRange of all of it) and appends after a hole while
// its replication goroutines keep reading.
func TestLogStoreEmptiedWhileRead(t *testing.T) {
	s, _ := newLogStore(t)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				last, _ := s.LastIndex()
				var l raft.Log
				if err := s.GetLog(last, &l); err != nil && err != raft.ErrLogNotFound {
					t.Errorf("GetLog(%d): %v", last, err)
					return
				}
			}
		}()
	}
	next := uint64(1)
	for round := 0; round < 20; round++ {
		storeRange(t, s, next, next+20)
		if err := s.DeleteRange(next, next+20); err != nil {
			t.Fatal(err)
		}
		next += 1000
	}
	close(done)
	wg.Wait()
}
