package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/hashicorp/raft"

	wal "github.com/lithair/lithair/log"
)

// StableStore is hashicorp/raft's StableStore (current term, vote) on a
// small Lithair log of its own. Every Set appends the whole key/value map
// as one record, so the last record is the truth and recovery is the log's
// torn-tail recovery; older records are truncated now and then.
type StableStore struct {
	mu   sync.Mutex
	log  *wal.Log
	kv   map[string][]byte
	sets int
}

var _ raft.StableStore = (*StableStore)(nil)

// compactEvery bounds the stable log: raft writes it only on term changes
// and votes, so this is rarely reached.
const compactEvery = 1024

// errKeyNotFound is what raft expects for a missing key: it compares the
// message, not the value.
var errKeyNotFound = errors.New("not found")

// NewStableStore loads the map from the last record of l.
func NewStableStore(l *wal.Log) (*StableStore, error) {
	s := &StableStore{log: l, kv: map[string][]byte{}}
	if last := l.LastIndex(); last != 0 {
		b, err := l.Read(last)
		if err != nil {
			return nil, fmt.Errorf("raftlog: stable store: %w", err)
		}
		if s.kv, err = decodeKV(b); err != nil {
			return nil, fmt.Errorf("raftlog: stable store record %d: %w", last, err)
		}
	}
	return s, nil
}

// Set stores val under key durably.
func (s *StableStore) Set(key, val []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string][]byte, len(s.kv)+1)
	for k, v := range s.kv {
		next[k] = v
	}
	next[string(key)] = append([]byte(nil), val...)
	idx := s.log.LastIndex() + 1
	if err := s.log.Append([]wal.Entry{{Index: idx, Data: encodeKV(next)}}); err != nil {
		return fmt.Errorf("raftlog: stable store: %w", err)
	}
	s.kv = next
	if s.sets++; s.sets >= compactEvery {
		s.sets = 0
		if err := s.log.TruncateFront(idx); err != nil {
			return fmt.Errorf("raftlog: stable store compaction: %w", err)
		}
	}
	return nil
}

// Get returns the value of key or raft's "not found" error.
func (s *StableStore) Get(key []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.kv[string(key)]
	if !ok {
		return nil, errKeyNotFound
	}
	return append([]byte(nil), v...), nil
}

// SetUint64 stores a number under key.
func (s *StableStore) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns the number under key, or raft's "not found" error.
func (s *StableStore) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raftlog: stable store: key %q holds %d bytes, not a uint64", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// encodeKV writes the map in key order: count, then length-prefixed keys
// and values.
func encodeKV(kv map[string][]byte) []byte {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := binary.AppendUvarint(nil, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(kv[k])))
		b = append(b, kv[k]...)
	}
	return b
}

func decodeKV(b []byte) (map[string][]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errors.New("malformed key count")
	}
	b = b[k:]
	kv := make(map[string][]byte, n)
	for i := uint64(0); i < n; i++ {
		key, rest, ok := cutBytes(b)
		if !ok {
			return nil, errors.New("malformed key")
		}
		val, rest, ok := cutBytes(rest)
		if !ok {
			return nil, errors.New("malformed value")
		}
		kv[string(key)] = append([]byte(nil), val...)
		b = rest
	}
	return kv, nil
}
