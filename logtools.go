package lithair

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/raftlog"
)

// LogEntry is one entry of the event log as `lithair log dump` prints it.
type LogEntry struct {
	Index      uint64     `json:"index"`
	Term       uint64     `json:"term"`
	Type       string     `json:"type"` // "command", "noop", "configuration", "barrier", …
	AppendedAt *time.Time `json:"appended_at,omitempty"`
	// Command is the decoded event.Command of a "command" entry; a rules
	// deployment lists its files by name and size, not their source.
	Command       *DumpedCommand `json:"command,omitempty"`
	Configuration []BackupServer `json:"configuration,omitempty"`
	// Error says why an entry did not decode (its frame checksum held).
	Error string `json:"error,omitempty"`
}

// DumpedCommand is an event.Command with rule sources summarised.
type DumpedCommand struct {
	*event.Command
	Rules []DumpedRuleFile `json:"rules,omitempty"`
}

// DumpedRuleFile names one rule file of a deployment.
type DumpedRuleFile struct {
	Name  string `json:"name"`
	Bytes int    `json:"bytes"`
}

// DumpLog calls fn for every entry of a stopped node's log (the archive,
// then the live segments) with an index in [from, to] (to 0: no end). It
// takes the data dir's lock, so a running node's log is refused; opening
// the log cuts a torn tail left by a crash, as a start would.
func DumpLog(dir string, from, to uint64, fn func(LogEntry) error) error {
	if st, err := os.Stat(filepath.Join(dir, "log")); err != nil || !st.IsDir() {
		return fmt.Errorf("lithair: %s is not a data dir (it has no log/ folder)", dir)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return fmt.Errorf("%w: stop it first, or dump a copy of the data dir", err)
	}
	defer lock.Close()
	l, err := wal.Open(filepath.Join(dir, "log"), wal.Options{Archive: true})
	if err != nil {
		return fmt.Errorf("opening the event log: %w", err)
	}
	defer l.Close()
	var ferr error
	err = l.Scan(from, func(idx uint64, data []byte) bool {
		if to > 0 && idx > to {
			return false
		}
		ferr = fn(decodeLogEntry(idx, data))
		return ferr == nil
	})
	if ferr != nil {
		return ferr
	}
	return err
}

// decodeLogEntry reads an entry written by raftlog.LogStore for dump.
func decodeLogEntry(idx uint64, b []byte) LogEntry {
	e := LogEntry{Index: idx}
	f, bad := splitEntry(b)
	e.Term = f.term
	if bad != "" {
		if bad != "term" {
			e.Type = logTypeName(f.typ)
		}
		e.Error = "malformed entry: " + bad
		return e
	}
	e.Type = logTypeName(f.typ)
	if f.at != 0 {
		t := time.Unix(0, f.at).UTC()
		e.AppendedAt = &t
	}
	switch f.typ {
	case raft.LogCommand:
		c, err := event.Decode(f.data)
		if err != nil {
			e.Error = err.Error()
			return e
		}
		d := &DumpedCommand{Command: c}
		for _, f := range c.Rules {
			d.Rules = append(d.Rules, DumpedRuleFile{Name: f.Name, Bytes: len(f.Source)})
		}
		e.Command = d
	case raft.LogConfiguration:
		for _, s := range raft.DecodeConfiguration(f.data).Servers {
			e.Configuration = append(e.Configuration, BackupServer{ID: string(s.ID), Address: string(s.Address), Suffrage: s.Suffrage.String()})
		}
	}
	return e
}

// entryFields are the parts of a log entry the tools read.
type entryFields struct {
	term uint64
	typ  raft.LogType
	at   int64 // unix ns, 0 when not recorded
	data []byte
}

// splitEntry cuts an entry written by raftlog.LogStore into its parts. It
// mirrors raftlog's decodeEntry (raftlog/store.go), which is not exported;
// TestDecodeLogEntryMatchesRaftlog keeps the two in step. bad names the
// first part that does not decode ("term", "time", "data"), "" if none.
//
//	term uvarint | type byte | appended_at varint (unix ns) |
//	len(data) uvarint | data | len(ext) uvarint | ext
func splitEntry(b []byte) (f entryFields, bad string) {
	term, n := binary.Uvarint(b)
	if n <= 0 || len(b) < n+1 {
		return f, "term"
	}
	f.term = term
	b = b[n:]
	f.typ = raft.LogType(b[0])
	b = b[1:]
	at, n := binary.Varint(b)
	if n <= 0 {
		return f, "time"
	}
	f.at = at
	b = b[n:]
	size, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < size {
		return f, "data"
	}
	f.data = b[n : n+int(size)]
	return f, ""
}

func logTypeName(t raft.LogType) string {
	switch t {
	case raft.LogCommand:
		return "command"
	case raft.LogNoop:
		return "noop"
	case raft.LogConfiguration:
		return "configuration"
	case raft.LogBarrier:
		return "barrier"
	}
	return fmt.Sprintf("type-%d", t)
}

// SnapshotCheck is what VerifySnapshots found about one snapshot.
type SnapshotCheck struct {
	ID        string `json:"id"`
	Index     uint64 `json:"index"`
	Term      uint64 `json:"term"`
	Bytes     int64  `json:"bytes"`
	StateHash string `json:"state_hash,omitempty"`
	Error     string `json:"error,omitempty"`
}

// VerifySnapshots reads every snapshot in dir/snapshots and decodes it
// as a start would (Raft's CRC, then our checksums and rules). It
// changes nothing and works on a running node's data dir.
func VerifySnapshots(dir string) ([]SnapshotCheck, error) {
	if _, err := os.Stat(filepath.Join(dir, "snapshots")); err != nil {
		return nil, nil
	}
	snaps, err := raftlog.NewSnapshotStore(wal.OSFS{}, dir, 2, quietLogger())
	if err != nil {
		return nil, err
	}
	list, err := snaps.List()
	if err != nil {
		return nil, err
	}
	var out []SnapshotCheck
	for _, m := range list {
		c := SnapshotCheck{ID: m.ID, Index: m.Index, Term: m.Term, Bytes: m.Size}
		_, rc, err := snaps.Open(m.ID)
		if err == nil {
			// Open has checked the size and CRC; the decoder checks the
			// state's own encoding.
			fsm, derr := decodeState(rc, DefaultConfig())
			rc.Close()
			if derr != nil {
				err = derr
			} else {
				c.StateHash = formatHash(fsm.State().View().Hash())
			}
		}
		if err != nil {
			c.Error = err.Error()
		}
		out = append(out, c)
	}
	return out, nil
}

// ErrNoHistory means the event log no longer holds every entry from
// index 1: the archive's retention (event_store.retention) deleted
// compacted segments, or the data dir was restored from a backup that
// carried only part of the history. The state then lives only in the
// snapshots and cannot be rebuilt from the log.
var ErrNoHistory = errors.New("lithair: the log does not hold every entry from index 1")

// Replay is the state ReplayLog rebuilt from the whole log.
type Replay struct {
	// Index is the applied index, as GET /api/_state/hash reports it: the
	// last command or configuration entry (no-ops and barriers are not
	// handed to the state machine).
	Index uint64 `json:"applied_index"`
	// Hash is the state's hash as GET /api/_state/hash gives it.
	Hash string `json:"hash"`
	// Records counts live records of every model, users and sessions
	// included.
	Records int `json:"records"`
	// Compacted is how many entries were below the live log's first
	// index: compacted, read from the archive (or from a segment waiting
	// to be archived).
	Compacted uint64 `json:"compacted"`
}

// ReplayLog rebuilds a stopped node's state from its event log alone:
// every entry from index 1, the archive first and then the live segments,
// applied in order to a fresh state machine; no snapshot is read. It
// returns the hash GET /api/_state/hash gives for that state, so a node's
// state, restored from snapshots plus the tail of the log, can be checked
// against the history it was built from. Rule sets are deployed through
// the log, so a replay from index 1 brings each into force at the index
// where the node did.
//
// Every entry is applied, as the next start of a single node applies them
// all: the leader alone commits what it wrote. (A cluster follower's tail
// may hold entries that never committed: replay the leader.)
//
// It takes the data dir's lock, so a running node's dir is refused. It
// writes nothing of its own, but opening the log cuts a torn tail left by
// a crash and retires segments an interrupted compaction left behind, as
// the next start would. A log that does not hold every entry from index 1
// is an ErrNoHistory: a hash of part of the history would be a wrong one.
func ReplayLog(dir string) (Replay, error) {
	if st, err := os.Stat(filepath.Join(dir, "log")); err != nil || !st.IsDir() {
		return Replay{}, fmt.Errorf("lithair: %s is not a data dir (it has no log/ folder)", dir)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return Replay{}, fmt.Errorf("%w: stop it first, or replay a copy of the data dir", err)
	}
	defer lock.Close()
	l, err := wal.Open(filepath.Join(dir, "log"), wal.Options{Archive: true})
	if err != nil {
		return Replay{}, fmt.Errorf("opening the event log: %w", err)
	}
	defer l.Close()
	fsm := raftlog.NewFSM(index.New(), ruleOptions(DefaultConfig()))
	var out Replay
	var ferr error
	next := uint64(1)
	err = l.Scan(1, func(idx uint64, data []byte) bool {
		if idx != next {
			// Scan hands over indexes in order; a jump is a hole in the
			// archive (retention deletes the oldest segments first).
			if next == 1 {
				ferr = fmt.Errorf("%w: its oldest entry is index %d (the entries before it were compacted and are gone)", ErrNoHistory, idx)
			} else {
				ferr = fmt.Errorf("%w: entries %d to %d are missing", ErrNoHistory, next, idx-1)
			}
			return false
		}
		f, bad := splitEntry(data)
		if bad != "" {
			ferr = fmt.Errorf("lithair: log entry %d is malformed (%s) although its checksum holds", idx, bad)
			return false
		}
		// Raft hands the state machine commands and configurations only:
		// a no-op or a barrier leaves the applied index where it was, on
		// the node as here.
		if f.typ == raft.LogCommand || f.typ == raft.LogConfiguration {
			fsm.ApplyBatch([]*raft.Log{{Index: idx, Term: f.term, Type: f.typ, Data: f.data}})
		}
		next++
		return true
	})
	if ferr != nil {
		return Replay{}, ferr
	}
	if err != nil {
		return Replay{}, fmt.Errorf("reading the event log after index %d: %w", next-1, err)
	}
	if next == 1 {
		if snaps, _ := os.ReadDir(filepath.Join(dir, "snapshots")); len(snaps) > 0 {
			return Replay{}, fmt.Errorf("%w: the log is empty and the state lives only in the snapshots", ErrNoHistory)
		}
		return Replay{}, fmt.Errorf("lithair: nothing to replay: the log of %s holds no entry", dir)
	}
	v := fsm.State().View()
	out.Index, out.Hash = v.Applied, formatHash(v.Hash())
	for _, m := range v.Models() {
		v.Each(m, func(*index.Record) bool { out.Records++; return true })
	}
	if first := l.FirstIndex(); first > 1 {
		out.Compacted = first - 1
	} else if first == 0 {
		out.Compacted = next - 1 // the live log was emptied: all of it came from the archive
	}
	return out, nil
}
