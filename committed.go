package lithair

import (
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
	persisted atomic.Uint64 // the watermark as last read or written
	snapshot  atomic.Uint64 // the index of this node's own snapshot at start
}

// upTo is the highest index this node knows was committed.
func (c *committedKnown) upTo() uint64 {
	return max(c.machine.LogApplied(), c.persisted.Load(), c.snapshot.Load())
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
	write := func() {
		if v := c.machine.LogApplied(); v > c.persisted.Load() {
			if err := c.stable.SetUint64(appliedKey, v); err == nil {
				c.persisted.Store(v)
			}
		}
	}
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
