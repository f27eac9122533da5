package log

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// payload is the deterministic content of entry i, with a generation so a
// test can tell a rewritten suffix from the original.
func payload(i uint64, gen int) []byte {
	n := int(i*7%300) + 1
	b := bytes.Repeat([]byte(fmt.Sprintf("<%d/%d>", i, gen)), n+1)
	return b[:n]
}

func entries(from, to uint64, gen int) []Entry {
	var es []Entry
	for i := from; i <= to; i++ {
		es = append(es, Entry{Index: i, Data: payload(i, gen)})
	}
	return es
}

func mustOpen(t testing.TB, fsys FS, opts Options) *Log {
	t.Helper()
	opts.FS = fsys
	l, err := Open("/data/log", opts)
	check.NoError(t, err)
	return l
}

func requireRange(t testing.TB, l *Log, first, last uint64, gen func(uint64) int) {
	t.Helper()
	check.Equal(t, first, l.FirstIndex(), "first index")
	check.Equal(t, last, l.LastIndex(), "last index")
	if last == 0 {
		_, err := l.Read(1)
		check.ErrorIs(t, err, ErrNotFound)
		return
	}
	for i := first; i <= last; i++ {
		got, err := l.Read(i)
		check.NoError(t, err, "read %d", i)
		check.Equal(t, payload(i, gen(i)), got, "entry %d", i)
	}
	_, err := l.Read(first - 1)
	check.ErrorIs(t, err, ErrNotFound)
	_, err = l.Read(last + 1)
	check.ErrorIs(t, err, ErrNotFound)
}

func gen0(uint64) int { return 0 }

func TestAppendReadReopen(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   func(t *testing.T) (FS, string)
	}{
		{"memfs", func(t *testing.T) (FS, string) { return NewMemFS(), "/data/log" }},
		{"os", func(t *testing.T) (FS, string) { return OSFS{}, t.TempDir() + "/log" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, dir := tc.fs(t)
			opts := Options{FS: fsys, SegmentSize: 4096}
			l, err := Open(dir, opts)
			check.NoError(t, err)
			requireRange(t, l, 0, 0, gen0)
			check.NoError(t, l.Append(entries(1, 1, 0)))
			for i := uint64(2); i <= 300; i += 10 {
				check.NoError(t, l.Append(entries(i, i+9, 0)))
			}
			requireRange(t, l, 1, 301, gen0)
			st := l.Stats()
			greater(t, st.Segments, 5, "small SegmentSize must rotate")
			check.NoError(t, l.Close())
			check.ErrorIs(t, l.Append(entries(302, 302, 0)), ErrClosed)

			l, err = Open(dir, opts)
			check.NoError(t, err)
			requireRange(t, l, 1, 301, gen0)
			check.NoError(t, l.Append(entries(302, 310, 0)))
			requireRange(t, l, 1, 310, gen0)
			rep, err := Verify(dir, fsys)
			check.NoError(t, err)
			check.Equal(t, uint64(310), rep.Entries)
			check.NoError(t, l.Close())
		})
	}
}

func TestAppendRejectsOutOfOrder(t *testing.T) {
	l := mustOpen(t, NewMemFS(), Options{})
	defer l.Close()
	check.ErrorIs(t, l.Append([]Entry{{Index: 0}}), ErrOutOfOrder)
	check.NoError(t, l.Append(entries(5, 7, 0)))
	check.ErrorIs(t, l.Append(entries(9, 9, 0)), ErrOutOfOrder, "gap")
	check.ErrorIs(t, l.Append(entries(7, 7, 0)), ErrOutOfOrder, "overlap")
	check.ErrorIs(t, l.Append([]Entry{{Index: 8}, {Index: 10}}), ErrOutOfOrder, "gap inside a batch")
	check.ErrorIs(t, l.Append([]Entry{{Index: 8, Data: make([]byte, MaxEntrySize+1)}}), ErrTooLarge)
	check.NoError(t, l.Append(entries(8, 8, 0)))
	requireRange(t, l, 5, 8, gen0)
}

func TestTruncate(t *testing.T) {
	// The log holds 1..100 in segments of a few entries each before every case.
	cases := []struct {
		name        string
		op          func(l *Log) error
		first, last uint64
	}{
		{"front inside the first segment", func(l *Log) error { return l.TruncateFront(3) }, 3, 100},
		{"front across segments", func(l *Log) error { return l.TruncateFront(57) }, 57, 100},
		{"front at first is a no-op", func(l *Log) error { return l.TruncateFront(1) }, 1, 100},
		{"front below first is a no-op", func(l *Log) error { return l.TruncateFront(0) }, 1, 100},
		{"front at last keeps one", func(l *Log) error { return l.TruncateFront(100) }, 100, 100},
		{"front past last empties", func(l *Log) error { return l.TruncateFront(500) }, 0, 0},
		{"back inside the last segment", func(l *Log) error { return l.TruncateBack(99) }, 1, 99},
		{"back across segments", func(l *Log) error { return l.TruncateBack(42) }, 1, 42},
		{"back at last is a no-op", func(l *Log) error { return l.TruncateBack(100) }, 1, 100},
		{"back past last is a no-op", func(l *Log) error { return l.TruncateBack(1000) }, 1, 100},
		{"back to first keeps one", func(l *Log) error { return l.TruncateBack(1) }, 1, 1},
		{"back below first empties", func(l *Log) error { return l.TruncateBack(0) }, 0, 0},
		{"front then back", func(l *Log) error {
			if err := l.TruncateFront(30); err != nil {
				return err
			}
			return l.TruncateBack(60)
		}, 30, 60},
		{"back below a truncated front empties", func(l *Log) error {
			if err := l.TruncateFront(30); err != nil {
				return err
			}
			return l.TruncateBack(20)
		}, 0, 0},
	}
	for _, archive := range []bool{false, true} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/archive=%v", tc.name, archive), func(t *testing.T) {
				fsys := NewMemFS()
				opts := Options{SegmentSize: 1024, Archive: archive}
				l := mustOpen(t, fsys, opts)
				for i := uint64(1); i <= 100; i += 4 {
					check.NoError(t, l.Append(entries(i, i+3, 0)[:min(4, 101-i)]))
				}
				check.NoError(t, tc.op(l))
				requireRange(t, l, tc.first, tc.last, gen0)
				// The same range after reopen, and appends continue from it.
				check.NoError(t, l.Close())
				l = mustOpen(t, fsys, opts)
				requireRange(t, l, tc.first, tc.last, gen0)
				next := tc.last + 1
				if tc.last == 0 {
					next = 1000 // an emptied log takes any index
				}
				check.NoError(t, l.Append(entries(next, next+5, 1)))
				gen := func(i uint64) int {
					if i >= next {
						return 1
					}
					return 0
				}
				first := tc.first
				if first == 0 {
					first = next
				}
				requireRange(t, l, first, next+5, gen)
				check.NoError(t, l.Close())
				l = mustOpen(t, fsys, opts)
				requireRange(t, l, first, next+5, gen)
				_, err := Verify("/data/log", fsys)
				check.NoError(t, err)
				check.NoError(t, l.Close())
			})
		}
	}
}

func TestTruncateBackRewritesSuffix(t *testing.T) {
	fsys := NewMemFS()
	l := mustOpen(t, fsys, Options{SegmentSize: 2048})
	check.NoError(t, l.Append(entries(1, 50, 0)))
	check.NoError(t, l.Append(entries(51, 80, 0)))
	check.NoError(t, l.TruncateBack(60))
	check.NoError(t, l.Append(entries(61, 90, 1)))
	gen := func(i uint64) int {
		if i > 60 {
			return 1
		}
		return 0
	}
	requireRange(t, l, 1, 90, gen)
	check.NoError(t, l.Close())
	l = mustOpen(t, fsys, Options{SegmentSize: 2048})
	requireRange(t, l, 1, 90, gen)
	check.NoError(t, l.Close())
}

func TestEmptiedLogIndexSurvivesReopen(t *testing.T) {
	fsys := NewMemFS()
	l := mustOpen(t, fsys, Options{})
	check.NoError(t, l.Append(entries(1, 10, 0)))
	check.NoError(t, l.TruncateFront(11))
	requireRange(t, l, 0, 0, gen0)
	check.NoError(t, l.Close())
	l = mustOpen(t, fsys, Options{})
	requireRange(t, l, 0, 0, gen0)
	check.NoError(t, l.Append(entries(7, 8, 0)), "an emptied log takes any index, even a lower one")
	check.NoError(t, l.Close())
	l = mustOpen(t, fsys, Options{})
	requireRange(t, l, 7, 8, gen0)
	check.NoError(t, l.Close())
}

func TestConcurrentAppendersShareSyncs(t *testing.T) {
	fsys := NewMemFS()
	fsys.SetSyncLatency(200 * time.Microsecond)
	l := mustOpen(t, fsys, Options{SegmentSize: 64 << 10})
	var mu sync.Mutex // appenders take turns picking indexes, then append concurrently
	next := uint64(1)
	var wg sync.WaitGroup
	const writers, perWriter = 32, 50
	_, syncs0 := fsys.Ops()
	stop := make(chan struct{})
	var readErr error
	var readers sync.WaitGroup
	readers.Add(1)
	go func() { // a reader alongside: every visible entry is whole and correct
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			last := l.LastIndex()
			if last == 0 {
				continue
			}
			got, err := l.Read(last)
			if err != nil || !bytes.Equal(got, payload(last, 0)) {
				readErr = fmt.Errorf("read %d: %v", last, err)
				return
			}
		}
	}()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWriter {
				mu.Lock()
				i := next
				next++
				// Append must be called in index order; queueing under mu
				// keeps that order while the fsyncs overlap.
				done := make(chan error, 1)
				go func() { done <- l.Append(entries(i, i, 0)) }()
				for l.acceptedIndex() < i {
					time.Sleep(time.Microsecond)
				}
				mu.Unlock()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	check.NoError(t, readErr)
	_, syncs1 := fsys.Ops()
	requireRange(t, l, 1, writers*perWriter, gen0)
	t.Logf("%d appends, %d fsyncs", writers*perWriter, syncs1-syncs0)
	less(t, syncs1-syncs0, writers*perWriter/2, "concurrent appenders must share fsyncs")
	check.NoError(t, l.Close())
}

// acceptedIndex is for tests that need to order concurrent Appends.
func (l *Log) acceptedIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepted
}

func TestFailStop(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(m *MemFS)
	}{
		{"failed write", func(m *MemFS) { m.FailNextWrite(nil) }},
		{"failed fsync", func(m *MemFS) { m.FailNextSync(nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := NewMemFS()
			l := mustOpen(t, fsys, Options{})
			check.NoError(t, l.Append(entries(1, 10, 0)))
			tc.inject(fsys)
			err := l.Append(entries(11, 11, 0))
			check.ErrorIs(t, err, ErrBroken)
			check.ErrorIs(t, err, ErrInjected, "the cause is wrapped")
			// Never retried: the next Append fails too, although the disk works again.
			check.ErrorIs(t, l.Append(entries(11, 11, 0)), ErrBroken)
			check.ErrorIs(t, l.Append(entries(12, 12, 0)), ErrBroken)
			check.True(t, l.Stats().Broken)
			got, err := l.Read(10)
			check.NoError(t, err, "acknowledged entries stay readable")
			check.Equal(t, payload(10, 0), got)
			check.Equal(t, uint64(10), l.LastIndex(), "nothing unacknowledged is visible")
			l.Close()
			l = mustOpen(t, fsys, Options{})
			atLeast(t, l.LastIndex(), uint64(10))
			check.NoError(t, l.Append(entries(l.LastIndex()+1, l.LastIndex()+1, 0)))
			check.NoError(t, l.Close())
		})
	}
}

func TestSyncPeriodic(t *testing.T) {
	fsys := NewMemFS()
	l := mustOpen(t, fsys, Options{Sync: SyncPeriodic, SyncInterval: time.Millisecond})
	_, s0 := fsys.Ops()
	for i := uint64(1); i <= 100; i++ {
		check.NoError(t, l.Append(entries(i, i, 0)))
	}
	_, s1 := fsys.Ops()
	less(t, s1-s0, 100, "SyncPeriodic must not fsync per append")
	time.Sleep(20 * time.Millisecond)
	fsys.PowerLossAfter(0)
	fsys.Crash(newRand(1))
	l2 := mustOpen(t, fsys, Options{})
	requireRange(t, l2, 1, 100, gen0) // synced by the background loop
	check.NoError(t, l2.Close())
	l.Close()
}

func TestReadAfterSealIsLazyAndChecked(t *testing.T) {
	fsys := NewMemFS()
	opts := Options{SegmentSize: 1024}
	l := mustOpen(t, fsys, opts)
	check.NoError(t, l.Append(entries(1, 60, 0)))
	check.NoError(t, l.Append(entries(61, 61, 0)))
	check.NoError(t, l.Close())
	l = mustOpen(t, fsys, opts)
	l.mu.Lock()
	sealed := l.segs[0]
	check.True(t, sealed.sealed)
	check.Nil(t, sealed.offsets, "Open must not read a sealed segment's index")
	l.mu.Unlock()
	requireRange(t, l, 1, 61, gen0)
	check.NoError(t, l.Close())
}

func TestArchiveAndScan(t *testing.T) {
	fsys := NewMemFS()
	now := time.Unix(1_800_000_000, 0)
	timeNow = func() time.Time { return now }
	defer func() { timeNow = time.Now }()
	opts := Options{SegmentSize: 1024, Archive: true, Retention: time.Hour}
	l := mustOpen(t, fsys, opts)
	for i := uint64(1); i <= 200; i += 5 {
		check.NoError(t, l.Append(entries(i, i+4, 0)))
	}
	check.NoError(t, l.TruncateFront(120))
	st := l.Stats()
	greater(t, st.ArchivedSegments, 2)
	requireRange(t, l, 120, 200, gen0)

	scan := func(from uint64) []uint64 {
		var got []uint64
		check.NoError(t, l.Scan(from, func(i uint64, d []byte) bool {
			check.Equal(t, payload(i, 0), d, "entry %d", i)
			got = append(got, i)
			return true
		}))
		return got
	}
	got := scan(1)
	check.Len(t, got, 200, "archive + live give the whole history")
	for k, i := range got {
		check.Equal(t, uint64(k+1), i)
	}
	check.Equal(t, uint64(50), scan(50)[0])
	var n int
	check.NoError(t, l.Scan(1, func(uint64, []byte) bool { n++; return n < 3 }))
	check.Equal(t, 3, n, "fn returning false stops the scan")

	rep, err := Verify("/data/log", fsys)
	check.NoError(t, err)
	check.Equal(t, st.ArchivedSegments, rep.Archived)

	// Emptying the log archives the active segment too.
	check.NoError(t, l.TruncateFront(1000))
	check.Len(t, scan(1), 200)
	check.NoError(t, l.Close())

	// Retention: two hours later the next TruncateFront deletes old archives.
	now = now.Add(2 * time.Hour)
	l = mustOpen(t, fsys, opts)
	for i := uint64(1000); i < 1100; i += 5 {
		check.NoError(t, l.Append(entries(i, i+4, 0)))
	}
	check.NoError(t, l.TruncateFront(1050))
	less(t, l.Stats().ArchivedSegments, st.ArchivedSegments)
	check.Equal(t, uint64(1000), scan(1)[0])
	check.NoError(t, l.Close())
}

func TestClosedAndErrors(t *testing.T) {
	l := mustOpen(t, NewMemFS(), Options{})
	check.NoError(t, l.Close())
	check.ErrorIs(t, l.Close(), ErrClosed)
	_, err := l.Read(1)
	check.ErrorIs(t, err, ErrClosed)
	check.ErrorIs(t, l.TruncateFront(1), ErrClosed)
	check.ErrorIs(t, l.TruncateBack(1), ErrClosed)
	check.True(t, errors.Is(l.Scan(1, func(uint64, []byte) bool { return true }), ErrClosed))
}

// TestReadsDuringTruncation reads random entries while one goroutine appends
// and another truncates both ends: a read either returns the right bytes or
// ErrNotFound, never a closed file, a torn frame or another entry's data.
func TestReadsDuringTruncation(t *testing.T) {
	fsys := NewMemFS()
	l := mustOpen(t, fsys, Options{SegmentSize: 2048, Archive: true})
	defer l.Close()
	check.NoError(t, l.Append(entries(1, 10, 0)))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex // appends and back truncations agree on the next index
	wg.Add(1)
	go func() {
		defer wg.Done()
		g := 0
		for k := 0; k < 400; k++ {
			mu.Lock()
			last := l.LastIndex()
			switch {
			case k%50 == 49:
				g++
				if err := l.TruncateBack(last - 3); err != nil {
					t.Error(err)
				}
			case k%20 == 19:
				if err := l.TruncateFront(l.FirstIndex() + 5); err != nil {
					t.Error(err)
				}
			default:
				if err := l.Append(entries(last+1, last+3, g)); err != nil {
					t.Error(err)
				}
			}
			mu.Unlock()
		}
		close(stop)
	}()
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := newRand(int64(r))
			for {
				select {
				case <-stop:
					return
				default:
				}
				first, last := l.FirstIndex(), l.LastIndex()
				if last < first || last == 0 {
					continue
				}
				i := first + uint64(rng.Int63n(int64(last-first+1)))
				got, err := l.Read(i)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					t.Errorf("read %d: %v", i, err)
					return
				}
				// The entry may have been rewritten since; it must be one
				// of the versions written at i.
				ok := false
				for g := 0; g <= 10; g++ {
					ok = ok || bytes.Equal(got, payload(i, g))
				}
				if !ok {
					t.Errorf("read %d: foreign bytes %q", i, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestDiscardingTheWholeLogKeepsItsCompactedHistory: a suffix discarded
// below the first index (Raft throwing away a log after installing a
// snapshot) takes the live entries only; the compacted history still
// held in the renamed first segment goes to the archive, with or without
// a reopen in between.
func TestDiscardingTheWholeLogKeepsItsCompactedHistory(t *testing.T) {
	for _, reopen := range []bool{false, true} {
		t.Run(fmt.Sprint("reopen ", reopen), func(t *testing.T) {
			fsys := NewMemFS()
			opts := Options{SegmentSize: 1024, Archive: true}
			l := mustOpen(t, fsys, opts)
			for i := uint64(1); i <= 60; i += 5 {
				check.NoError(t, l.Append(entries(i, i+4, 0)))
			}
			last := l.LastIndex()
			cut := last - 2 // inside the last segment: it keeps entries below it
			check.NoError(t, l.TruncateFront(cut))
			if reopen {
				check.NoError(t, l.Close())
				l = mustOpen(t, fsys, opts)
			}
			check.NoError(t, l.TruncateBack(cut-1))
			check.Equal(t, uint64(0), l.LastIndex(), "the live entries are gone")
			var got []uint64
			check.NoError(t, l.Scan(1, func(i uint64, d []byte) bool {
				check.Equal(t, payload(i, 0), d, "entry %d", i)
				got = append(got, i)
				return true
			}))
			check.Len(t, got, int(cut-1), "the history below %d", cut)
			check.NoError(t, l.Append(entries(last+1, last+1, 1)))
			check.NoError(t, l.Close())
			_, err := Verify("/data/log", fsys)
			check.NoError(t, err)
		})
	}
}
