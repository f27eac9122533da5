package raftlog

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/event"
	wal "github.com/lithair/lithair/log"
)

// ErrNoEvent means the log holds no command at an index any more: it was
// compacted and the archive's retention has since removed it.
var ErrNoEvent = errors.New("raftlog: event no longer in the log or its archive")

// Command returns the command committed at idx, read from the live log or,
// once compacted, from the log's archive: history outlives compaction.
func (s *LogStore) Command(idx uint64) (*event.Command, error) {
	data, err := s.log.Read(idx)
	if errors.Is(err, wal.ErrNotFound) {
		data, err = s.archived(idx)
	}
	if err != nil {
		return nil, err
	}
	var l raft.Log
	if err := decodeEntry(idx, data, &l); err != nil {
		return nil, err
	}
	if l.Type != raft.LogCommand {
		return nil, fmt.Errorf("raftlog: entry %d is not a command", idx)
	}
	return event.Decode(l.Data)
}

func (s *LogStore) archived(idx uint64) ([]byte, error) {
	if data, ok := s.window.get(idx); ok {
		return data, nil
	}
	// Reading one archived entry decompresses its whole segment; history
	// reads go through many entries in index order, so keep a window of
	// the entries that follow for the next calls.
	entries := map[uint64][]byte{}
	size, last := 0, idx
	live := s.log.FirstIndex() // entries from here on may still change
	err := s.log.Scan(idx, func(i uint64, data []byte) bool {
		if live != 0 && i >= live && i != idx {
			return false
		}
		entries[i], last = data, i
		size += len(data)
		return len(entries) < archiveWindowEntries && size < archiveWindowBytes
	})
	if err != nil {
		return nil, err
	}
	found, ok := entries[idx]
	if !ok {
		return nil, fmt.Errorf("%w: index %d", ErrNoEvent, idx)
	}
	s.window.put(idx, last, entries)
	return found, nil
}

// The archive window's bounds: entries kept after an archive read.
const (
	archiveWindowEntries = 16384
	archiveWindowBytes   = 16 << 20
)

// archiveWindow holds a run of archived entries, [lo, hi]. Archived
// entries never change, so the window needs no invalidation; it is only
// replaced by the next read outside it.
type archiveWindow struct {
	mu      sync.Mutex
	lo, hi  uint64
	entries map[uint64][]byte
}

func (w *archiveWindow) get(idx uint64) ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.entries == nil || idx < w.lo || idx > w.hi {
		return nil, false
	}
	data, ok := w.entries[idx]
	return data, ok
}

func (w *archiveWindow) put(lo, hi uint64, entries map[uint64][]byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lo, w.hi, w.entries = lo, hi, entries
}
