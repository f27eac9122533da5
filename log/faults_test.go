package log

import (
	"errors"
	"fmt"
	"testing"
)

// TestFullDiskRefusesCleanlyAndResumes: when the disk fills, Append says
// ErrNoSpace, writes nothing of the refused batch, keeps the log usable,
// and takes the same indexes once space is freed; across segments, with
// a disk smaller than one preallocated segment.
func TestFullDiskRefusesCleanlyAndResumes(t *testing.T) {
	mem := NewMemFS()
	fsys := NewFaultFS(mem)
	// A segment preallocates 64 KiB + 64 KiB; the disk holds 100 KiB.
	opts := Options{SegmentSize: 64 << 10}
	fsys.SetCapacity(100 << 10)
	l := mustOpen(t, fsys, opts)
	var acked uint64
	var refused error
	for i := uint64(1); i <= 10000; i++ {
		err := l.Append(entries(i, i, 0))
		if err != nil {
			refused = err
			break
		}
		acked = i
	}
	check.ErrorIs(t, refused, ErrNoSpace)
	if errors.Is(refused, ErrBroken) || l.Stats().Broken {
		t.Fatalf("a full disk broke the log: %v", refused)
	}
	greater(t, acked, uint64(100), "the disk took entries until it was full")
	check.ErrorIs(t, l.Append(entries(acked+1, acked+1, 0)), ErrNoSpace, "still full")
	check.Equal(t, acked, l.LastIndex(), "nothing refused is visible")

	// Space comes back: the same index goes in, and the log rotates on.
	fsys.SetCapacity(0)
	last := acked + 2000
	check.NoError(t, l.Append(entries(acked+1, last, 1)))
	greater(t, l.Stats().Segments, 1)
	check.NoError(t, l.Close())

	l = mustOpen(t, fsys, opts)
	check.Equal(t, last, l.LastIndex())
	for i := uint64(1); i <= last; i++ {
		gen := 0
		if i > acked {
			gen = 1
		}
		got, err := l.Read(i)
		check.NoError(t, err)
		check.Equal(t, payload(i, gen), got, "entry %d", i)
	}
	check.NoError(t, l.Close())
}

// TestFullDiskThenPowerLoss: a batch refused for want of space never
// comes back after a power loss, whatever the disk kept, and the log
// opens on a disk that is still full.
func TestFullDiskThenPowerLoss(t *testing.T) {
	for seed := int64(1); seed <= 50; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := newRand(seed)
			mem := NewMemFS()
			fsys := NewFaultFS(mem)
			opts := Options{SegmentSize: int64(8+rng.Intn(64)) << 10}
			fsys.SetCapacity(int64(16+rng.Intn(200)) << 10)
			l := mustOpen(t, fsys, opts)
			var acked uint64
			for i := uint64(1); ; i++ {
				n := uint64(1 + rng.Intn(20))
				if err := l.Append(entries(i, i+n-1, 0)); err != nil {
					check.ErrorIs(t, err, ErrNoSpace)
					break
				}
				acked, i = i+n-1, i+n-1
			}
			mem.Crash(rng)
			l = mustOpen(t, fsys, opts) // the disk is still full
			check.Equal(t, acked, l.LastIndex(), "a refused batch came back, or an acknowledged one vanished")
			for i := uint64(1); i <= acked; i++ {
				got, err := l.Read(i)
				check.NoError(t, err)
				check.Equal(t, payload(i, 0), got, "entry %d", i)
			}
			// What room the refused batch lacked, a smaller one may find.
			for l.Append(entries(acked+1, acked+1, 2)) == nil {
				acked++
			}
			fsys.SetCapacity(0)
			check.NoError(t, l.Append(entries(acked+1, acked+1, 2)))
			check.NoError(t, l.Close())
		})
	}
}

// TestFailedWriteOrSyncEveryNth: a disk that fails a write or an fsync
// every Nth call breaks the log at the first failure, OnBreak hears of it
// once, nothing is acknowledged after it, and once the disk is good the
// log reopens with every acknowledged entry.
func TestFailedWriteOrSyncEveryNth(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 50} {
		for _, op := range []string{"write", "fsync"} {
			t.Run(fmt.Sprintf("%s every %d", op, n), func(t *testing.T) {
				mem := NewMemFS()
				fsys := NewFaultFS(mem)
				var breaks []error
				opts := Options{SegmentSize: 16 << 10, OnBreak: func(err error) { breaks = append(breaks, err) }}
				l := mustOpen(t, fsys, opts)
				check.NoError(t, l.Append(entries(1, 5, 0)))
				if op == "write" {
					fsys.FailEvery(n, 0)
				} else {
					fsys.FailEvery(0, n)
				}
				acked := uint64(5)
				var failed error
				for i := uint64(6); i < 500; i++ {
					err := l.Append(entries(i, i, 0))
					if failed != nil && err == nil {
						t.Fatalf("entry %d acknowledged after the failure %v", i, failed)
					}
					if err != nil {
						check.ErrorIs(t, err, ErrBroken)
						if failed == nil {
							failed = err
						}
						continue
					}
					acked = i
				}
				if failed == nil {
					t.Fatal("no failure was injected")
				}
				check.Len(t, breaks, 1, "OnBreak once")
				check.True(t, l.Stats().Broken)
				l.Close()
				fsys.FailEvery(0, 0)
				mem.Crash(newRand(int64(n)))
				l = mustOpen(t, fsys, opts)
				atLeast(t, l.LastIndex(), acked)
				for i := uint64(1); i <= acked; i++ {
					got, err := l.Read(i)
					check.NoError(t, err)
					check.Equal(t, payload(i, 0), got, "entry %d", i)
				}
				check.NoError(t, l.Append(entries(l.LastIndex()+1, l.LastIndex()+1, 1)))
				check.NoError(t, l.Close())
			})
		}
	}
}
