package lithair

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/event"
	wal "github.com/lithair/lithair/log"
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

// decodeLogEntry reads an entry written by raftlog.LogStore. It mirrors
// raftlog's decodeEntry (raftlog/store.go), which is not exported;
// TestDecodeLogEntryMatchesRaftlog keeps the two in step.
//
//	term uvarint | type byte | appended_at varint (unix ns) |
//	len(data) uvarint | data | len(ext) uvarint | ext
func decodeLogEntry(idx uint64, b []byte) LogEntry {
	e := LogEntry{Index: idx}
	term, n := binary.Uvarint(b)
	if n <= 0 || len(b) < n+1 {
		e.Error = "malformed entry: term"
		return e
	}
	e.Term = term
	b = b[n:]
	typ := raft.LogType(b[0])
	e.Type = logTypeName(typ)
	b = b[1:]
	at, n := binary.Varint(b)
	if n <= 0 {
		e.Error = "malformed entry: time"
		return e
	}
	if at != 0 {
		t := time.Unix(0, at).UTC()
		e.AppendedAt = &t
	}
	b = b[n:]
	size, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < size {
		e.Error = "malformed entry: data"
		return e
	}
	data := b[n : n+int(size)]
	switch typ {
	case raft.LogCommand:
		c, err := event.Decode(data)
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
		for _, s := range raft.DecodeConfiguration(data).Servers {
			e.Configuration = append(e.Configuration, BackupServer{ID: string(s.ID), Address: string(s.Address), Suffrage: s.Suffrage.String()})
		}
	}
	return e
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
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, quietLogger())
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
			// The file store checks its CRC only at the end of the stream,
			// which the state decoder reads to.
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
