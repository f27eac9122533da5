package index

import (
	"sync"

	"github.com/google/btree"
)

// buildBatch is how many records an index builder takes at a time.
const buildBatch = 4096

// builder fills a table's secondary indexes and unique maps from records
// handed to it in batches, one goroutine per index. On a restart with a
// million records building the indexes is most of the work: the indexes
// share nothing, and they can be built while the snapshot is still being
// decoded.
type builder struct {
	wg    sync.WaitGroup
	feeds []chan []*Record
}

// startBuild starts a goroutine per index of t. The caller must not touch
// the indexes until wait returns.
func (t *table) startBuild() *builder {
	b := &builder{}
	for field, tree := range t.indexes {
		// Deep enough that decoding a snapshot of a few million records
		// never waits for the slower index builders.
		feed := make(chan []*Record, 1024)
		b.feeds = append(b.feeds, feed)
		b.wg.Add(1)
		go func(field string, tree *btree.BTreeG[entry]) {
			defer b.wg.Done()
			for batch := range feed {
				for _, r := range batch {
					if k, ok := fieldKey(r.fieldBytes(), field); ok {
						tree.ReplaceOrInsert(entry{k, r})
					}
				}
			}
		}(field, tree)
	}
	return b
}

// add hands a batch of records to every index; the batch must not change
// afterwards.
func (b *builder) add(batch []*Record) {
	if len(batch) == 0 {
		return
	}
	for _, feed := range b.feeds {
		feed <- batch
	}
}

// close says no more records come.
func (b *builder) close() {
	for _, feed := range b.feeds {
		close(feed)
	}
}

// wait waits until every index holds every record added.
func (b *builder) wait() { b.wg.Wait() }

// backgroundBuild is a table's index build still running after a restore
// returned. Until it ends, Apply queues its index changes in pending;
// readers of the indexes wait for done.
type backgroundBuild struct {
	b       *builder
	pending []treeOp
	done    chan struct{}
}

// treeOp is an index change queued during a background build.
type treeOp struct {
	field  string
	e      entry
	insert bool
}

// finishBuildLocked completes a background build: it waits for the
// builders (which never take the state's lock), replays the queued
// changes in order and lets readers in. It is a no-op when none runs.
func (t *table) finishBuildLocked() {
	bb := t.build
	if bb == nil {
		return
	}
	bb.b.wait()
	t.build = nil
	for _, op := range bb.pending {
		t.treeOpLocked(op.field, t.indexes[op.field], op.e, op.insert)
	}
	close(bb.done)
}

// buildInBackground lets a table's builders finish after Restore
// returns: records and unique maps are complete, reads by id and writes
// go on, and the first reader of an index waits for it.
func (s *State) buildInBackground(t *table, b *builder) {
	bb := &backgroundBuild{b: b, done: make(chan struct{})}
	t.build = bb
	go func() {
		b.wait()
		s.mu.Lock()
		if t.build == bb {
			t.finishBuildLocked()
		}
		s.mu.Unlock()
	}()
}

// WaitForIndexes blocks until every secondary index is complete (after a
// restore they finish building in the background).
func (s *State) WaitForIndexes() { s.waitForIndexes("") }

// waitForIndexes blocks until no background build runs on model's table
// (every table's when model is ""). It must be called without the lock.
func (s *State) waitForIndexes(model string) {
	for {
		var wait chan struct{}
		s.mu.RLock()
		for name, t := range s.tables {
			if (model == "" || name == model) && t.build != nil {
				wait = t.build.done
				break
			}
		}
		s.mu.RUnlock()
		if wait == nil {
			return
		}
		<-wait
	}
}

// fieldKey returns the index key of one top-level member of a record's
// fields, sharing the record's memory.
func fieldKey(raw []byte, field string) (Key, bool) {
	var k Key
	var found bool
	eachMember(raw, func(key, val []byte) {
		if found || string(key) != field {
			return
		}
		found = true
		if v, err := decodeValue(val, true); err == nil {
			k, found = KeyOf(v)
		} else {
			found = false
		}
	})
	return k, found
}
