package lithair

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/lithair/lithair/raftlog"
)

// When Raft compacts the log or installs a snapshot from the leader, the
// entries it drops go to the archive (the event history) only if they
// are known to have been committed; an entry a deposed leader appended and
// nobody committed must never become history. An entry is known committed
// when this node applied it. A restarted node has applied nothing yet in
// this process, so it remembers how far it had applied: the entries in
// its own latest snapshot, and a watermark kept in the stable store.

// appliedKey is the stable-store key of the applied watermark.
var appliedKey = []byte("lithair_applied_watermark")

// watermarkEvery is how often the watermark is written when it moved.
const watermarkEvery = 250 * time.Millisecond

// committedKnown tracks the highest log index known committed here.
type committedKnown struct {
	stable    *raftlog.StableStore
	machine   *raftlog.Machine
	writeMu   sync.Mutex    // orders watermark writes, so it never goes back
	persisted atomic.Uint64 // the watermark as last read or written
	snapshot  atomic.Uint64 // the index of this node's own snapshot at start
}

// upTo is the highest index this node knows was committed.
func (c *committedKnown) upTo() uint64 {
	return max(c.machine.LogApplied(), c.persisted.Load(), c.snapshot.Load())
}

// keep makes v the watermark now, if it is higher: LogStore calls it
// before discarding the unapplied part of the log.
func (c *committedKnown) keep(v uint64) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if v <= c.persisted.Load() {
		return nil
	}
	if err := c.stable.SetUint64(appliedKey, v); err != nil {
		return err
	}
	c.persisted.Store(v)
	return nil
}

func (c *committedKnown) load() {
	if v, err := c.stable.GetUint64(appliedKey); err == nil {
		c.persisted.Store(v)
	}
}

// keep writes the watermark now and then, and once more on stop.
func (a *Appliance) keepWatermark() {
	defer a.wg.Done()
	tick := time.NewTicker(watermarkEvery)
	defer tick.Stop()
	c := &a.committed
	write := func() { c.keep(c.machine.LogApplied()) }
	for {
		select {
		case <-a.stop:
			write()
			return
		case <-tick.C:
			write()
		}
	}
}
