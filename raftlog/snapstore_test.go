package raftlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/raftlog"
)

func quietHCLog() hclog.Logger { return hclog.NewNullLogger() }

// snapConf is a configuration whose legacy peer list takes the longer
// MessagePack forms: 17 voters (array16), an address of 40 bytes (str16),
// and a non-voter that must be left out.
func snapConf() raft.Configuration {
	var c raft.Configuration
	for i := range 17 {
		addr := fmt.Sprintf("10.0.0.%d:7000", i)
		if i == 3 {
			addr = strings.Repeat("a", 40)
		}
		c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(fmt.Sprintf("n%d", i)), Address: raft.ServerAddress(addr)})
	}
	c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Nonvoter, ID: "learner", Address: "10.0.1.1:7000"})
	return c
}

func writeSnapshot(t *testing.T, store raft.SnapshotStore, index, term uint64, conf raft.Configuration, state []byte) string {
	t.Helper()
	_, trans := raft.NewInmemTransport("")
	defer trans.Close()
	sink, err := store.Create(1, index, term, conf, index-1, trans)
	if err != nil {
		t.Fatalf("create snapshot %d: %v", index, err)
	}
	if _, err := sink.Write(state); err != nil {
		t.Fatalf("write snapshot %d: %v", index, err)
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("close snapshot %d: %v", index, err)
	}
	return sink.ID()
}

func readSnapshot(t *testing.T, store raft.SnapshotStore, id string) (*raft.SnapshotMeta, []byte) {
	t.Helper()
	meta, rc, err := store.Open(id)
	if err != nil {
		t.Fatalf("open snapshot %s: %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read snapshot %s: %v", id, err)
	}
	return meta, b
}

// snapState is a state.bin content larger than the stores' buffers.
func snapState(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// Existing data dirs hold snapshots written by raft's FileSnapshotStore,
// and backup, restore and the verify tool still open the directory with
// it: each store must read what the other wrote, metadata and all.
func TestSnapshotStoreReadsAndWritesRaftsLayout(t *testing.T) {
	dir := t.TempDir()
	ours, err := raftlog.NewSnapshotStore(wal.OSFS{}, dir, 2, quietHCLog())
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, quietHCLog())
	if err != nil {
		t.Fatal(err)
	}
	conf := snapConf()
	stateA, stateB := snapState(1, 300_000), snapState(2, 1234)
	idA := writeSnapshot(t, theirs, 10, 2, conf, stateA)
	idB := writeSnapshot(t, ours, 20, 3, conf, stateB)

	for name, store := range map[string]raft.SnapshotStore{"ours": ours, "raft's": theirs} {
		list, err := store.List()
		if err != nil {
			t.Fatalf("%s List: %v", name, err)
		}
		if len(list) != 2 || list[0].ID != idB || list[1].ID != idA {
			t.Fatalf("%s List: got %v, want [%s %s]", name, ids(list), idB, idA)
		}
		for _, c := range []struct {
			id    string
			index uint64
			state []byte
		}{{idA, 10, stateA}, {idB, 20, stateB}} {
			meta, got := readSnapshot(t, store, c.id)
			if !bytes.Equal(got, c.state) {
				t.Errorf("%s store reads snapshot %s back wrong (%d bytes, want %d)", name, c.id, len(got), len(c.state))
			}
			if meta.Index != c.index || meta.Size != int64(len(c.state)) || meta.ConfigurationIndex != c.index-1 || meta.Version != 1 {
				t.Errorf("%s store: meta of %s: %+v", name, c.id, meta)
			}
			if fmt.Sprint(meta.Configuration) != fmt.Sprint(conf) {
				t.Errorf("%s store: configuration of %s: %v", name, c.id, meta.Configuration)
			}
		}
	}
	// The legacy peer list (msgpack, written by hand here) must be raft's
	// byte for byte.
	metaA, rcA, errA := theirs.Open(idA)
	metaB, rcB, errB := theirs.Open(idB)
	if errA != nil || errB != nil {
		t.Fatalf("raft's store: open: %v, %v", errA, errB)
	}
	rcA.Close()
	rcB.Close()
	if !bytes.Equal(metaA.Peers, metaB.Peers) || len(metaA.Peers) == 0 {
		t.Errorf("Peers differ:\n raft's %x\n ours   %x", metaA.Peers, metaB.Peers)
	}
	// Both directories are named and filled alike.
	for _, id := range []string{idA, idB} {
		names, err := os.ReadDir(filepath.Join(dir, "snapshots", id))
		if err != nil || len(names) != 2 || names[0].Name() != "meta.json" || names[1].Name() != "state.bin" {
			t.Errorf("snapshot dir %s holds %v (%v)", id, names, err)
		}
	}
	// Nothing but the two snapshots: no ".tmp" left, no permTest.
	if names, _ := os.ReadDir(filepath.Join(dir, "snapshots")); len(names) != 2 {
		t.Errorf("snapshots dir holds %d entries, want 2", len(names))
	}

	// Raft's store keeps refusing what ours refuses: a damaged state.bin.
	corrupt := filepath.Join(dir, "snapshots", idB, "state.bin")
	b, _ := os.ReadFile(corrupt)
	b[100] ^= 1
	if err := os.WriteFile(corrupt, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ours.Open(idB); !errors.Is(err, raftlog.ErrSnapshotDamaged) {
		t.Errorf("ours opened a snapshot with a flipped bit: %v", err)
	}
	if _, _, err := theirs.Open(idB); err == nil {
		t.Errorf("raft's store opened a snapshot with a flipped bit")
	}
}

func ids(list []*raft.SnapshotMeta) []string {
	var out []string
	for _, m := range list {
		out = append(out, m.ID)
	}
	return out
}

func memSnapshotStore(t *testing.T, fsys *wal.MemFS) *raftlog.SnapshotStore {
	t.Helper()
	s, err := raftlog.NewSnapshotStore(fsys, "/data", 2, quietHCLog())
	if err != nil {
		t.Fatalf("NewSnapshotStore: %v", err)
	}
	return s
}

func memNames(t *testing.T, fsys *wal.MemFS, dir string) []string {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir %s: %v", dir, err)
	}
	return names
}

// Close keeps the two newest snapshots and sweeps what a crash left: a
// ".tmp" directory nobody writes any more and a directory whose meta.json
// an interrupted reap already removed. Cancel leaves nothing behind.
func TestSnapshotStoreRetainsAndSweeps(t *testing.T) {
	fsys := wal.NewMemFS()
	s := memSnapshotStore(t, fsys)
	for _, d := range []string{"/data/snapshots/1-3-100.tmp", "/data/snapshots/1-4-100"} {
		if err := fsys.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := fsys.WriteFile(d+"/state.bin", []byte("left over")); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for i := uint64(1); i <= 4; i++ {
		want = append([]string{writeSnapshot(t, s, 10*i, 1, raft.Configuration{}, snapState(int64(i), 100))}, want...)
	}
	if got := memNames(t, fsys, "/data/snapshots"); fmt.Sprint(got) != fmt.Sprint([]string{want[1], want[0]}) {
		t.Errorf("snapshots dir holds %v, want the two newest %v", got, want[:2])
	}
	list, _ := s.List()
	if fmt.Sprint(ids(list)) != fmt.Sprint(want[:2]) {
		t.Errorf("List = %v, want %v", ids(list), want[:2])
	}

	_, trans := raft.NewInmemTransport("")
	defer trans.Close()
	sink, err := s.Create(1, 50, 1, raft.Configuration{}, 1, trans)
	if err != nil {
		t.Fatal(err)
	}
	sink.Write([]byte("abandoned"))
	if err := sink.Cancel(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Errorf("Close after Cancel: %v", err)
	}
	if got := memNames(t, fsys, "/data/snapshots"); len(got) != 2 {
		t.Errorf("after Cancel the snapshots dir holds %v", got)
	}
	// Raft calls Cancel after a failed Persist even when Persist already
	// closed the sink: it must not remove a finished snapshot.
	sink, _ = s.Create(1, 60, 1, raft.Configuration{}, 1, trans)
	sink.Write([]byte("kept"))
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	sink.Cancel()
	if _, got := readSnapshot(t, s, sink.ID()); string(got) != "kept" {
		t.Errorf("snapshot after Close+Cancel reads %q", got)
	}
}

// A snapshot whose state.bin does not match its meta.json is refused at
// Open, before its first byte; one whose meta.json is unreadable is not
// listed.
func TestSnapshotStoreRefusesDamage(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(fsys *wal.MemFS, dir string) error
		listed bool
	}{
		{"bit flip in state.bin", func(fsys *wal.MemFS, dir string) error {
			return fsys.Corrupt(dir+"/state.bin", 7, []byte{0xff})
		}, true},
		{"state.bin cut short", func(fsys *wal.MemFS, dir string) error {
			b, _ := fsys.ReadFile(dir + "/state.bin")
			return fsys.WriteFile(dir+"/state.bin", b[:len(b)-1])
		}, true},
		{"state.bin missing", func(fsys *wal.MemFS, dir string) error { return fsys.Remove(dir + "/state.bin") }, true},
		{"meta.json garbled", func(fsys *wal.MemFS, dir string) error {
			return fsys.Corrupt(dir+"/meta.json", 0, []byte("}{"))
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys := wal.NewMemFS()
			s := memSnapshotStore(t, fsys)
			good := writeSnapshot(t, s, 5, 1, raft.Configuration{}, snapState(5, 5000))
			bad := writeSnapshot(t, s, 9, 1, raft.Configuration{}, snapState(9, 5000))
			if err := c.damage(fsys, "/data/snapshots/"+bad); err != nil {
				t.Fatal(err)
			}
			list, err := s.List()
			if err != nil {
				t.Fatal(err)
			}
			want := []string{good}
			if c.listed {
				want = []string{bad, good}
			}
			if fmt.Sprint(ids(list)) != fmt.Sprint(want) {
				t.Errorf("List = %v, want %v", ids(list), want)
			}
			if _, _, err := s.Open(bad); err == nil {
				t.Errorf("Open of the damaged snapshot succeeded")
			}
			readSnapshot(t, s, good)
		})
	}
}

// A power loss at every write and sync of a snapshot, from Create to the
// end of Close's reaping, with several ways for the disk to keep the
// unsynced part: whatever is listed afterwards opens and holds what was
// written, the older snapshots survive until a newer one is durable, and
// a snapshot whose Close returned nil is always there.
func TestSnapshotStorePowerLossAtEveryStep(t *testing.T) {
	olds := [][]byte{snapState(1, 70_000), snapState(2, 3000)}
	next := snapState(3, 90_000)
	for cut := 1; ; cut++ {
		completed := false
		for seed := int64(0); seed < 8; seed++ {
			rng := rand.New(rand.NewSource(seed))
			fsys := wal.NewMemFS()
			s := memSnapshotStore(t, fsys)
			contents := map[string][]byte{}
			for i, b := range olds {
				contents[writeSnapshot(t, s, uint64(10*(i+1)), 1, raft.Configuration{}, b)] = b
			}
			fsys.PowerLossAfter(cut)
			_, trans := raft.NewInmemTransport("")
			sink, err := s.Create(1, 30, 1, raft.Configuration{}, 1, trans)
			closed := false
			if err == nil {
				contents[sink.ID()] = next
				if _, err = sink.Write(next); err == nil {
					err = sink.Close()
					closed = err == nil
				} else {
					sink.Cancel()
				}
			}
			trans.Close()
			if closed && seed == 0 && !fsys.PowerLost() {
				completed = true
			}
			fsys.PowerLossAfter(0)
			fsys.Crash(rng)

			s = memSnapshotStore(t, fsys)
			list, err := s.List()
			if err != nil {
				t.Fatalf("cut %d seed %d: List: %v", cut, seed, err)
			}
			if len(list) == 0 {
				t.Fatalf("cut %d seed %d: no snapshot left", cut, seed)
			}
			if closed && list[0].Index != 30 {
				t.Fatalf("cut %d seed %d: Close returned nil but the newest snapshot is %s", cut, seed, list[0].ID)
			}
			if list[0].Index < 20 {
				t.Fatalf("cut %d seed %d: the newest snapshot is %s: index 20 was lost", cut, seed, list[0].ID)
			}
			for _, m := range list {
				_, got := readSnapshot(t, s, m.ID)
				if !bytes.Equal(got, contents[m.ID]) {
					t.Fatalf("cut %d seed %d: snapshot %s reads back wrong", cut, seed, m.ID)
				}
			}
		}
		if completed {
			if cut < 8 {
				t.Fatalf("the snapshot completed after only %d writes and syncs", cut)
			}
			return
		}
	}
}

// MemFS models a directory rename like a file's: undone by a crash until
// the parent directory is synced. Without that model, the power-loss
// tests could not see a snapshot store that forgets SyncDir.
func TestMemFSDirectoryRenameNeedsSyncDir(t *testing.T) {
	renamedSeen, keptSeen := false, false
	for seed := int64(0); seed < 20; seed++ {
		fsys := wal.NewMemFS()
		fsys.MkdirAll("/d/a.tmp", 0o755)
		fsys.WriteFile("/d/a.tmp/f", []byte("x"))
		fsys.MkdirAll("/d/gone", 0o755)
		if err := fsys.Rename("/d/a.tmp", "/d/a"); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Remove("/d/a"); err == nil {
			t.Fatal("removed a directory that is not empty")
		}
		if err := fsys.Remove("/d/gone"); err != nil {
			t.Fatal(err)
		}
		fsys.Crash(rand.New(rand.NewSource(seed)))
		names := fmt.Sprint(memNames(t, fsys, "/d"))
		switch names {
		case "[a.tmp gone]":
			keptSeen = true
		case "[a]", "[a gone]":
			renamedSeen = true
		default:
			t.Fatalf("seed %d: /d holds %s", seed, names)
		}
		for _, n := range memNames(t, fsys, "/d") {
			if strings.HasPrefix(n, "a") {
				if b, err := fsys.ReadFile("/d/" + n + "/f"); err != nil || string(b) != "x" {
					t.Fatalf("seed %d: the renamed directory lost its file: %q %v", seed, b, err)
				}
			}
		}
	}
	if !renamedSeen || !keptSeen {
		t.Errorf("an unsynced directory rename should sometimes survive a crash and sometimes not (survived %v, undone %v)", renamedSeen, keptSeen)
	}
	fsys := wal.NewMemFS()
	fsys.MkdirAll("/d/a.tmp", 0o755)
	fsys.Rename("/d/a.tmp", "/d/a")
	fsys.SyncDir("/d")
	fsys.Crash(rand.New(rand.NewSource(1)))
	if got := fmt.Sprint(memNames(t, fsys, "/d")); got != "[a]" {
		t.Errorf("a synced directory rename was undone: /d holds %s", got)
	}
}

// Raft snapshots the same index again when asked (a backup right after an
// automatic snapshot). Within one millisecond both would get the same
// name; the second must still succeed, and be the newest.
func TestSnapshotStoreSameIndexTwice(t *testing.T) {
	s := memSnapshotStore(t, wal.NewMemFS())
	var got []string
	for i := range 5 {
		got = append(got, writeSnapshot(t, s, 7, 2, raft.Configuration{}, []byte{byte(i)}))
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids(list)) != fmt.Sprint([]string{got[4], got[3]}) {
		t.Fatalf("List = %v after snapshots %v", ids(list), got)
	}
	if _, b := readSnapshot(t, s, list[0].ID); !bytes.Equal(b, []byte{4}) {
		t.Errorf("newest snapshot holds %v", b)
	}
}
