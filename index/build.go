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
// the indexes until finish returns.
func (t *table) startBuild() *builder {
	b := &builder{}
	for field, tree := range t.indexes {
		feed := make(chan []*Record, 8)
		b.feeds = append(b.feeds, feed)
		b.wg.Add(1)
		go func(field string, tree *btree.BTreeG[entry], unique map[Key]string) {
			defer b.wg.Done()
			for batch := range feed {
				for _, r := range batch {
					k, ok := fieldKey(r.fieldBytes(), field)
					if !ok {
						continue
					}
					tree.ReplaceOrInsert(entry{k, r})
					if unique != nil {
						unique[k] = r.ID
					}
				}
			}
		}(field, tree, t.unique[field])
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

// finish waits until every index holds every record added.
func (b *builder) finish() {
	for _, feed := range b.feeds {
		close(feed)
	}
	b.wg.Wait()
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
