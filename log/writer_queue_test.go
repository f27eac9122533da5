package log

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Writers that hand out indexes under their own lock and Queue inside it
// share fsyncs when they Wait outside it, and every entry lands in order.
func TestQueueThenWaitSharesFsyncsInIndexOrder(t *testing.T) {
	fsys := NewMemFS()
	fsys.SetSyncLatency(200 * time.Microsecond)
	l := mustOpen(t, fsys, Options{})
	defer l.Close()
	var mu sync.Mutex
	next := uint64(1)
	var wg sync.WaitGroup
	const writers, each = 16, 50
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				mu.Lock()
				idx := next
				next++
				p, err := l.Queue([]Entry{{Index: idx, Data: []byte(fmt.Sprint(idx))}})
				mu.Unlock()
				if err == nil {
					err = p.Wait()
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if l.LastIndex() != writers*each {
		t.Fatalf("last index %d, want %d", l.LastIndex(), writers*each)
	}
	for i := uint64(1); i <= writers*each; i++ {
		b, err := l.Read(i)
		if err != nil || string(b) != fmt.Sprint(i) {
			t.Fatalf("entry %d: %q, %v", i, b, err)
		}
	}
	if _, syncs := fsys.Ops(); syncs >= writers*each/2 {
		t.Fatalf("%d fsyncs for %d appends: no group commit", syncs, writers*each)
	}
}

// Options.OnSync sees each successful fsync of a segment file with its
// duration (here every one is at least the disk's flush latency), and not
// a failed one.
func TestOnSyncReportsEachFsync(t *testing.T) {
	fsys := NewMemFS()
	fsys.SetSyncLatency(2 * time.Millisecond)
	var (
		mu  sync.Mutex
		got []time.Duration
	)
	l := mustOpen(t, fsys, Options{SegmentSize: 4096, OnSync: func(d time.Duration) {
		mu.Lock()
		got = append(got, d)
		mu.Unlock()
	}})
	for i := uint64(1); i <= 40; i++ { // several segments: creations and seals too
		check.NoError(t, l.Append(entries(i, i, 0)))
	}
	check.NoError(t, l.TruncateBack(35))
	fsys.FailNextSync(nil)
	check.ErrorIs(t, l.Append(entries(36, 36, 0)), ErrBroken)
	_, syncs := fsys.Ops()
	mu.Lock()
	defer mu.Unlock()
	check.Equal(t, syncs-1, len(got), "reported fsyncs (every file fsync but the failed one)")
	greater(t, len(got), 40)
	for _, d := range got {
		atLeast(t, d, 2*time.Millisecond)
	}
}
