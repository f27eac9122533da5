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
