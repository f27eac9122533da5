package raftlog

import "github.com/hashicorp/raft"

// DecodeEntry exposes the entry decoder to the external tests, which
// replay the whole history (archive and live log) read with wal.Log.Scan.
func DecodeEntry(index uint64, data []byte, out *raft.Log) error {
	return decodeEntry(index, data, out)
}
