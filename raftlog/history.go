package raftlog

import (
	"errors"
	"fmt"

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
	var found []byte
	err := s.log.Scan(idx, func(i uint64, data []byte) bool {
		if i == idx {
			found = data
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("%w: index %d", ErrNoEvent, idx)
	}
	return found, nil
}
