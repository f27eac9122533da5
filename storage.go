package lithair

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	wal "github.com/lithair/lithair/log"
)

var (
	// ErrDiskFull means the data dir's file system is (nearly) full: the
	// write was refused before anything was written (HTTP 507). Reads go
	// on, and writes are taken again once space is freed.
	ErrDiskFull = errors.New("lithair: the data dir's disk is full")
	// ErrStorageFailed means a write or an fsync of the data dir failed:
	// the node refuses every write from then on, since the kernel may
	// have dropped data it had accepted, and needs a restart once the
	// disk is good (HTTP 503).
	ErrStorageFailed = errors.New("lithair: the data dir's disk failed a write or fsync")
)

// storageGuard decides, before a write is proposed, whether the disk can
// take it: refused for good after a failed write or fsync, refused for
// now while the file system has less free space than the reserve.
type storageGuard struct {
	dir    string
	logger *slog.Logger

	failed     atomic.Pointer[error] // the first failure; nil while healthy
	failedCh   chan struct{}         // closed at the first failure
	full       atomic.Bool
	free       atomic.Int64 // bytes available to the node at the last check
	reserve    atomic.Int64
	checkedAt  atomic.Int64 // unix nanoseconds of the last statfs
	transition sync.Mutex   // orders the log lines of full/not full
}

// statfsEvery bounds how often the free space is read. A statfs costs a
// microsecond or two; this keeps it off a busy write path without letting
// a disk filled from outside take more than a few writes.
const statfsEvery = 5 * time.Millisecond

// The reserve is the free space below which client writes are refused:
// Raft's own entries after a restart or an election, the stable store and
// the session sweeper still need a little room, and a log that hits the
// real end of the disk makes the leader step down on every write. 1% of
// the file system, at least 2 MiB, at most 64 MiB.
const (
	minReserve = 2 << 20
	maxReserve = 64 << 20
)

func newStorageGuard(dir string, logger *slog.Logger) *storageGuard {
	return &storageGuard{dir: dir, logger: logger, failedCh: make(chan struct{})}
}

// fail records a failed write or fsync of one of the node's logs (it is
// wal.Options.OnBreak). Only the first one is kept and logged.
func (g *storageGuard) fail(what string, err error) {
	wrapped := fmt.Errorf("%w (the %s: %w): writes are refused until the node is restarted on a working disk", ErrStorageFailed, what, err)
	if g.failed.CompareAndSwap(nil, &wrapped) {
		close(g.failedCh)
		g.logger.Error("storage failed: refusing every write from now on; restart the node once the disk is good",
			"part", what, "err", err.Error(), "data", g.dir)
	}
}

// Failed is the first write or fsync failure, nil while there was none.
func (g *storageGuard) Failed() error {
	if p := g.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// check returns nil when a write may be proposed now.
func (g *storageGuard) check() error {
	if err := g.Failed(); err != nil {
		return fmt.Errorf("nothing was written: %w", err)
	}
	// While full, every write looks again: space freed is taken at once.
	now := time.Now().UnixNano()
	if last := g.checkedAt.Load(); g.full.Load() || now-last >= int64(statfsEvery) && g.checkedAt.CompareAndSwap(last, now) {
		g.checkedAt.Store(now)
		g.measure()
	}
	if g.full.Load() {
		return g.fullError()
	}
	return nil
}

// measure reads the free space and moves the full flag.
func (g *storageGuard) measure() {
	var st unix.Statfs_t
	if err := unix.Statfs(g.dir, &st); err != nil {
		return // cannot tell: let the log's own ErrNoSpace decide
	}
	free := int64(st.Bavail) * st.Bsize
	reserve := min(max(int64(st.Blocks)*st.Bsize/100, minReserve), maxReserve)
	g.free.Store(free)
	g.reserve.Store(reserve)
	g.setFull(free < reserve)
}

// noSpace records a write the log refused for want of space, which a
// disk filled from outside between two statfs can cause.
func (g *storageGuard) noSpace() {
	g.checkedAt.Store(time.Now().UnixNano())
	g.setFull(true)
}

func (g *storageGuard) setFull(full bool) {
	if g.full.Load() == full {
		return
	}
	g.transition.Lock()
	defer g.transition.Unlock()
	if g.full.Swap(full) == full {
		return
	}
	if full {
		g.logger.Warn("disk full: refusing writes with 507 until space is freed; reads go on",
			"data", g.dir, "free_bytes", g.free.Load(), "reserve_bytes", g.reserve.Load())
	} else {
		g.logger.Info("disk space is back: taking writes again", "data", g.dir, "free_bytes", g.free.Load())
	}
}

func (g *storageGuard) fullError() error {
	return fmt.Errorf("%w: %d bytes free on the file system of %s, below the %d Lithair keeps for itself; nothing was written: free some space and retry",
		ErrDiskFull, g.free.Load(), g.dir, g.reserve.Load())
}

// refusal turns what Raft answered a write into the guard's error when
// the disk was the cause.
func (g *storageGuard) refusal(err error) error {
	switch {
	case errors.Is(err, wal.ErrNoSpace):
		g.noSpace()
		return g.fullError()
	case errors.Is(err, wal.ErrBroken):
		// This write was on its way to the disk when it failed: it is
		// not acknowledged, but a restart may find it in the log.
		return fmt.Errorf("%w while this write was being made durable (%w): it is not acknowledged and may or may not be found after a restart; writes are refused until the node is restarted on a working disk", ErrStorageFailed, err)
	}
	return err
}
