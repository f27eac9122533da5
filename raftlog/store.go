// Package raftlog is the glue between hashicorp/raft and Lithair: the
// LogStore and StableStore on top of our own log/, the FSM that feeds
// committed commands to index/, and zstd-compressed snapshots. It holds no
// logic of its own beyond translating between the two worlds.
package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	wal "github.com/lithair/lithair/log"
)

// LogStore is hashicorp/raft's LogStore on a Lithair log.
type LogStore struct {
	log *wal.Log
	// applied, when set, tells how far the state machine has applied the
	// log; see DeleteRange.
	applied     func() uint64
	keepApplied func(uint64) error
	// window keeps archived entries read for history (history.go).
	window archiveWindow
	// queueMu orders queuing entries against the decision to discard the
	// whole log; queued is the last index queued (0 when unknown).
	queueMu sync.Mutex
	queued  uint64
}

// SetAppliedSource tells the store how far the state machine has applied
// entries from this log (Machine.LogApplied), so that emptying the log
// never archives entries that may not have been committed.
func (s *LogStore) SetAppliedSource(applied func() uint64) { s.applied = applied }

// SetAppliedKeeper gives the store a way to make the applied index
// durable (the node's watermark in the stable store) before it discards
// the unapplied part of the log, so that the applied source reads at
// least that much after a crash.
func (s *LogStore) SetAppliedKeeper(keep func(applied uint64) error) { s.keepApplied = keep }

var (
	_ raft.LogStore          = (*LogStore)(nil)
	_ raft.MonotonicLogStore = (*LogStore)(nil)
)

// NewLogStore wraps an open log. The caller keeps ownership: closing the
// log is its job.
func NewLogStore(l *wal.Log) *LogStore { return &LogStore{log: l} }

// Log returns the underlying log.
func (s *LogStore) Log() *wal.Log { return s.log }

// FirstIndex returns the first index in the log, 0 when empty.
func (s *LogStore) FirstIndex() (uint64, error) { return s.log.FirstIndex(), nil }

// LastIndex returns the last index in the log, 0 when empty.
func (s *LogStore) LastIndex() (uint64, error) { return s.log.LastIndex(), nil }

// IsMonotonic tells raft that our log never has gaps, so after a snapshot
// restore it empties the log instead of leaving a gap.
func (s *LogStore) IsMonotonic() bool { return true }

// GetLog reads the entry at index into out.
func (s *LogStore) GetLog(index uint64, out *raft.Log) error {
	data, err := s.log.Read(index)
	if errors.Is(err, wal.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return err
	}
	return decodeEntry(index, data, out)
}

// StoreLog stores one entry.
func (s *LogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs stores a batch as one append: one write, one fsync.
func (s *LogStore) StoreLogs(logs []*raft.Log) error {
	p, err := s.QueueLogs(logs)
	if err != nil {
		return err
	}
	return p.Wait()
}

// QueueLogs queues a batch like StoreLogs but returns before it is
// durable: the batch is stored once Wait on the result returns nil. Raft
// itself calls StoreLogs from one goroutine; QueueLogs is for writers that
// hand out indexes under their own lock and want to share the fsync.
func (s *LogStore) QueueLogs(logs []*raft.Log) (*wal.Pending, error) {
	// One buffer for the whole batch: raft hands over up to
	// MaxAppendEntries entries at a time, and an allocation each adds up.
	size := 0
	for _, l := range logs {
		size += maxEntryOverhead + len(l.Data) + len(l.Extensions)
	}
	buf := make([]byte, 0, size)
	entries := make([]wal.Entry, len(logs))
	for i, l := range logs {
		start := len(buf)
		buf = appendEntry(buf, l)
		entries[i] = wal.Entry{Index: l.Index, Data: buf[start:len(buf):len(buf)]}
	}
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	p, err := s.log.Queue(entries)
	if err == nil && len(entries) > 0 {
		s.queued = entries[len(entries)-1].Index
	}
	return p, err
}

// DeleteRange removes [min, max]. Raft uses it two ways: a prefix after a
// snapshot (compaction) and a suffix when a follower's tail conflicts.
func (s *LogStore) DeleteRange(lo, hi uint64) error {
	first, last := s.log.FirstIndex(), s.log.LastIndex()
	if first == 0 || hi < first || lo > last {
		return nil
	}
	if lo <= first {
		if hi < last {
			return s.log.TruncateFront(hi + 1)
		}
		// Raft empties the whole log after installing a snapshot or a user
		// restore. Its tail may hold entries that never committed (a
		// deposed leader's suffix): only what this node applied belongs in
		// the archive as history; the rest is dropped first. Compaction
		// runs beside the leader's appends, though: an entry queued past
		// hi since first and last were read makes this a compaction, and
		// the discard must not take it. No entry is queued until the
		// decision is carried out.
		s.queueMu.Lock()
		defer s.queueMu.Unlock()
		if last = s.log.LastIndex(); max(last, s.queued) > hi {
			return s.log.TruncateFront(hi + 1)
		}
		s.queued = 0 // the log is emptied below
		if s.applied != nil {
			if applied := s.applied(); applied < last {
				// The suffix goes first, then the rest to the archive: a
				// crash in between must still know, at the next start
				// (FinishDiscard), that the entries up to applied were
				// committed, so the caller makes applied durable now.
				if s.keepApplied != nil {
					if err := s.keepApplied(applied); err != nil {
						return err
					}
				}
				if err := s.log.TruncateBack(max(applied, first-1)); err != nil {
					return err
				}
				if last = s.log.LastIndex(); last == 0 {
					return nil
				}
			}
		}
		return s.log.TruncateFront(last + 1) // hi+1 would wrap at MaxUint64
	}
	if hi >= last {
		s.queueMu.Lock()
		defer s.queueMu.Unlock()
		s.queued = min(s.queued, lo-1)
		return s.log.TruncateBack(lo - 1)
	}
	return fmt.Errorf("raftlog: cannot delete [%d, %d] from the middle of the log [%d, %d]", lo, hi, first, last)
}

// FinishDiscard completes, before Raft starts, a whole-log discard that a
// crash interrupted. After installing a snapshot Raft discards the whole
// log (DeleteRange above): first the unapplied suffix, then the rest. A
// crash between the two leaves a log that ends below the newest snapshot,
// and Raft would then append at the snapshot's index + 1, past a gap the
// log refuses for good. snapshotIndex is the newest snapshot's index (0
// when there is none).
func (s *LogStore) FinishDiscard(snapshotIndex uint64) error {
	first, last := s.log.FirstIndex(), s.log.LastIndex()
	if last == 0 || last >= snapshotIndex {
		return nil
	}
	return s.DeleteRange(first, last)
}

// maxEntryOverhead bounds what an entry's encoding adds to its data and
// extensions: four varints and the type byte.
const maxEntryOverhead = 4*binary.MaxVarintLen64 + 1

// appendEntry appends the encoding of l to b: term, type, appended-at,
// then the data and the extensions, each with a uvarint length. The index
// is the log's own.
//
//	term uvarint | type byte | appended_at varint (unix ns) |
//	len(data) uvarint | data | len(ext) uvarint | ext
func appendEntry(b []byte, l *raft.Log) []byte {
	b = binary.AppendUvarint(b, l.Term)
	b = append(b, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	b = binary.AppendVarint(b, at)
	b = binary.AppendUvarint(b, uint64(len(l.Data)))
	b = append(b, l.Data...)
	b = binary.AppendUvarint(b, uint64(len(l.Extensions)))
	return append(b, l.Extensions...)
}

// errEntry reports an entry that the log returned intact (its checksum
// held) but that does not decode: a bug, never a torn write.
var errEntry = errors.New("raftlog: malformed entry")

func decodeEntry(index uint64, b []byte, out *raft.Log) error {
	term, n := binary.Uvarint(b)
	if n <= 0 || len(b) < n+1 {
		return fmt.Errorf("%w at index %d: term", errEntry, index)
	}
	b = b[n:]
	typ := raft.LogType(b[0])
	b = b[1:]
	at, n := binary.Varint(b)
	if n <= 0 {
		return fmt.Errorf("%w at index %d: time", errEntry, index)
	}
	b = b[n:]
	data, b, ok := cutBytes(b)
	if !ok {
		return fmt.Errorf("%w at index %d: data", errEntry, index)
	}
	ext, _, ok := cutBytes(b)
	if !ok {
		return fmt.Errorf("%w at index %d: extensions", errEntry, index)
	}
	*out = raft.Log{Index: index, Term: term, Type: typ, Data: data, Extensions: ext}
	if at != 0 {
		out.AppendedAt = time.Unix(0, at)
	}
	return nil
}

// cutBytes splits a uvarint-length-prefixed slice off b. An empty slice is
// returned as nil, as raft stores it.
func cutBytes(b []byte) (field, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return nil, nil, false
	}
	if n == 0 {
		return nil, b[k:], true
	}
	return b[k : k+int(n)], b[k+int(n):], true
}
