package fuzz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/raftlog"
	"github.com/lithair/lithair/rules"
)

// FuzzCommandDecode: a Raft entry's data is decoded on every node; bad
// bytes must be refused, never crash the apply loop.
func FuzzCommandDecode(f *testing.F) {
	good, _ := (&event.Command{Op: event.OpCreate, Model: "Product", ID: "x", Fields: json.RawMessage(`{"name":"a"}`), Time: 1}).Encode()
	f.Add(good)
	f.Add([]byte{1})
	f.Add([]byte{1, '{', '}'})
	f.Add([]byte{2, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := event.Decode(b)
		if err == nil && c == nil {
			t.Fatal("nil command without an error")
		}
		if err == nil {
			// Whatever decodes must apply or be refused, never panic.
			s := index.New()
			s.SetModels([]index.ModelSpec{{Name: c.Model, Unique: []string{"name"}, Indexed: []string{"price"}, Audited: true, Versioned: 3}})
			s.Apply(1, c)
			s.Apply(2, c)
			s.View().Hash()
		}
	})
}

// snapshotOf returns a real snapshot of a small state, as Persist writes it.
func snapshotOf(t testing.TB) []byte {
	s := index.New()
	s.SetModels([]index.ModelSpec{{Name: "Product", Unique: []string{"sku"}, Indexed: []string{"price"}, Audited: true, Versioned: 3}})
	for i := 1; i <= 20; i++ {
		op := event.OpCreate
		if i > 10 {
			op = event.OpUpdate
		}
		c := &event.Command{Op: op, Model: "Product", ID: fmt.Sprintf("p%d", i%10), Fields: json.RawMessage(fmt.Sprintf(`{"sku":"s%d","price":%d}`, i, i)), Time: int64(i)}
		s.Apply(uint64(i), c)
	}
	var buf bytes.Buffer
	if _, err := s.View().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzStateRestore: a state encoding from a snapshot is either restored
// whole or refused with ErrState, leaving the state as it was.
func FuzzStateRestore(f *testing.F) {
	good := snapshotOf(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("LIDX3"))
	f.Add([]byte{5, 'L', 'I', 'D', 'X', '3', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := index.New()
		before := s.View().Hash()
		if err := s.Restore(bytes.NewReader(b), nil, nil); err != nil && s.View().Hash() != before {
			t.Fatal("a refused restore changed the state")
		}
	})
}

// FuzzSnapshotRestore: the whole snapshot stream (zstd, header, state) as
// a node receives it from a leader or reads it from disk.
func FuzzSnapshotRestore(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("LITHAIR-SNAPSHOT 2\n"))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := raftlog.NewMachine(index.New(), rules.Options{})
		if err := m.Restore(bytes.NewReader(b)); err == nil && len(b) < 20 {
			t.Fatalf("restored a %d-byte snapshot", len(b))
		}
	})
}
