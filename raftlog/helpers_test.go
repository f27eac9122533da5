package raftlog_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/raftlog"
	"github.com/lithair/lithair/rules"
)

// fixedTime is the leader clock baked into every test command, so that two
// states built from the same commands hash the same.
var fixedTime = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()

// openLog opens a Lithair log in dir and closes it when the test ends,
// unless the test closed it first.
func openLog(t testing.TB, dir string, opts wal.Options) *wal.Log {
	t.Helper()
	l, err := wal.Open(dir, opts)
	if err != nil {
		t.Fatalf("open log %s: %v", dir, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// newLogStore returns a LogStore on a fresh log in a temp dir.
func newLogStore(t testing.TB) (*raftlog.LogStore, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "raft")
	return raftlog.NewLogStore(openLog(t, dir, wal.Options{})), dir
}

// createCmd encodes the creation of a Product named name with the given id.
func createCmd(t testing.TB, id, name string) []byte {
	t.Helper()
	return encode(t, &event.Command{Op: event.OpCreate, Model: "Product", ID: id,
		Fields: json.RawMessage(fmt.Sprintf(`{"name":%q}`, name)), Time: fixedTime})
}

func encode(t testing.TB, c *event.Command) []byte {
	t.Helper()
	b, err := c.Encode()
	if err != nil {
		t.Fatalf("encode %+v: %v", c, err)
	}
	return b
}

// applyDirect feeds commands to an FSM as raft would, at indexes from
// first on, and fails the test on any refusal.
func applyDirect(t testing.TB, f *raftlog.FSM, first uint64, cmds ...[]byte) {
	t.Helper()
	logs := make([]*raft.Log, len(cmds))
	for i, c := range cmds {
		logs[i] = &raft.Log{Index: first + uint64(i), Term: 1, Type: raft.LogCommand, Data: c}
	}
	for i, r := range f.ApplyBatch(logs) {
		if res := r.(*raftlog.Result); res.Err != nil {
			t.Fatalf("apply entry %d: %v", logs[i].Index, res.Err)
		}
	}
}

// newFSM returns an FSM on an empty state.
func newFSM() *raftlog.FSM { return raftlog.NewFSM(index.New(), rules.Options{}) }

// stateHash is the digest of every record the FSM holds.
func stateHash(f *raftlog.FSM) uint64 { return f.State().View().Hash() }
