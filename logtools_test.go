package lithair

import (
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/event"
	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/raftlog"
)

// TestDecodeLogEntryMatchesRaftlog keeps decodeLogEntry in step with the
// encoding raftlog.LogStore writes.
func TestDecodeLogEntryMatchesRaftlog(t *testing.T) {
	l, err := wal.Open(filepath.Join(t.TempDir(), "log"), wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := &event.Command{Op: event.OpCreate, Model: "Product", ID: "p1", Fields: []byte(`{"name":"x"}`), Time: 42,
		Rules: []event.RuleFile{{Name: "a.lua", Source: []byte("abc")}}}
	data, _ := cmd.Encode()
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: "node1", Address: "node1"}}}
	logs := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: raft.EncodeConfiguration(conf)},
		{Index: 2, Term: 2, Type: raft.LogNoop},
		{Index: 3, Term: 2, Type: raft.LogCommand, Data: data, Extensions: []byte("ext")},
	}
	if err := raftlog.NewLogStore(l).StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	raw := func(i uint64) []byte {
		b, err := l.Read(i)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if e := decodeLogEntry(1, raw(1)); e.Type != "configuration" || e.Term != 1 || len(e.Configuration) != 1 || e.Configuration[0].ID != "node1" {
		t.Fatalf("configuration entry: %+v", e)
	}
	if e := decodeLogEntry(2, raw(2)); e.Type != "noop" || e.Term != 2 || e.Error != "" {
		t.Fatalf("noop entry: %+v", e)
	}
	e := decodeLogEntry(3, raw(3))
	if e.Type != "command" || e.Error != "" || e.Command == nil || e.Command.Model != "Product" || string(e.Command.Fields) != `{"name":"x"}` ||
		len(e.Command.Rules) != 1 || e.Command.Rules[0].Bytes != 3 {
		t.Fatalf("command entry: %+v", e)
	}
	if e := decodeLogEntry(4, []byte{0x80}); e.Error == "" {
		t.Fatal("a malformed entry decoded")
	}
}
