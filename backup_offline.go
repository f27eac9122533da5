package lithair

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/index"
	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/raftlog"
)

// BackupDataDir writes a backup of a stopped node's data dir
// (cfg.EventStore.Dir) to w. It takes the data dir's lock, so it refuses
// a dir that a running node holds (back that one up over HTTP). It
// rebuilds the state the way a start would, from the newest good
// snapshot and the log after it, and writes it as one snapshot at the
// log's last index. It changes nothing in the data dir beyond what
// opening the log does on any start (cutting a torn tail left by a crash).
func BackupDataDir(cfg Config, w io.Writer) (BackupInfo, error) {
	dir := cfg.EventStore.Dir
	if _, err := prepareEmptyDir(dir); err == nil {
		return BackupInfo{}, fmt.Errorf("lithair: %s is not a data dir: it is empty or missing", dir)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("%w (back up a running node with --from http://HOST:PORT)", err)
	}
	defer lock.Close()
	opts := logOptions(cfg)
	opts.Retention = 0 // a backup deletes nothing
	l, err := wal.Open(filepath.Join(dir, "log"), opts)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("opening the event log: %w", err)
	}
	defer l.Close()
	logs := raftlog.NewLogStore(l)
	snaps, err := raftlog.NewSnapshotStore(wal.OSFS{}, dir, 2, quietLogger())
	if err != nil {
		return BackupInfo{}, err
	}
	list, err := snaps.List()
	if err != nil {
		return BackupInfo{}, err
	}
	var fsm *raftlog.FSM
	var idx, term, confIdx uint64
	var conf raft.Configuration
	for _, meta := range list {
		_, rc, err := snaps.Open(meta.ID)
		if err != nil {
			continue
		}
		f := raftlog.NewFSM(index.New(), ruleOptions(cfg))
		f.Machine().SetCommandSource(logs.Command)
		err = f.Restore(rc)
		if err != nil {
			continue
		}
		fsm, idx, term, confIdx, conf = f, meta.Index, meta.Term, meta.ConfigurationIndex, meta.Configuration
		break
	}
	if fsm == nil {
		if len(list) > 0 && l.FirstIndex() > 1 {
			return BackupInfo{}, fmt.Errorf("lithair: every snapshot in %s is corrupt and the log was compacted up to index %d", filepath.Join(dir, "snapshots"), l.FirstIndex())
		}
		fsm = raftlog.NewFSM(index.New(), ruleOptions(cfg))
		fsm.Machine().SetCommandSource(logs.Command)
	}
	first, last := l.FirstIndex(), l.LastIndex()
	if last > idx && first > idx+1 {
		return BackupInfo{}, fmt.Errorf("lithair: the log starts at index %d but the newest usable snapshot ends at %d: entries are missing", first, idx)
	}
	// Every entry in a stopped single node's log is committed: a leader
	// alone commits what it has written, and the next start would apply
	// them all. (A cluster follower's tail may not be: back up the leader.)
	for i := idx + 1; i <= last && last > 0; i++ {
		var e raft.Log
		if err := logs.GetLog(i, &e); err != nil {
			return BackupInfo{}, fmt.Errorf("lithair: reading log entry %d: %w", i, err)
		}
		if e.Type == raft.LogConfiguration {
			conf, confIdx = raft.DecodeConfiguration(e.Data), e.Index
		}
		fsm.ApplyBatch([]*raft.Log{&e})
		idx, term = e.Index, e.Term
	}
	if idx == 0 {
		return BackupInfo{}, errors.New("lithair: nothing to back up: the data dir holds no entry")
	}
	snap, err := fsm.Snapshot()
	if err != nil {
		return BackupInfo{}, err
	}
	defer snap.Release()
	info := newBackupInfo(cfg.Raft.NodeID, idx, term, confIdx, conf)
	err = writeBackup(w, &info, func(sw io.Writer) error {
		return snap.Persist(&streamSink{w: sw})
	}, logHistory(l, idx))
	return info, err
}

// streamSink is a raft.SnapshotSink that streams to a writer.
type streamSink struct {
	w         io.Writer
	cancelled bool
}

func (s *streamSink) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s *streamSink) Close() error                { return nil }
func (s *streamSink) ID() string                  { return "backup" }
func (s *streamSink) Cancel() error               { s.cancelled = true; return nil }
