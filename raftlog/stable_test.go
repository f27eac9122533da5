package raftlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"path/filepath"
	"testing"

	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/raftlog"
)

func newStableStore(t *testing.T, dir string, opts wal.Options) (*raftlog.StableStore, *wal.Log) {
	t.Helper()
	l := openLog(t, dir, opts)
	s, err := raftlog.NewStableStore(l)
	if err != nil {
		t.Fatalf("NewStableStore: %v", err)
	}
	return s, l
}

func mustGet(t *testing.T, s *raftlog.StableStore, key string) []byte {
	t.Helper()
	v, err := s.Get([]byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func mustGetUint64(t *testing.T, s *raftlog.StableStore, key string) uint64 {
	t.Helper()
	v, err := s.GetUint64([]byte(key))
	if err != nil {
		t.Fatalf("GetUint64(%q): %v", key, err)
	}
	return v
}

func TestStableStoreSetGet(t *testing.T) {
	s, _ := newStableStore(t, filepath.Join(t.TempDir(), "stable"), wal.Options{})
	key, val := []byte("LastVoteCand"), []byte("node-2")
	if err := s.Set(key, val); err != nil {
		t.Fatal(err)
	}
	// The caller may reuse its buffers; so may the reader of Get.
	key[0], val[0] = 'X', 'X'
	got := mustGet(t, s, "LastVoteCand")
	if string(got) != "node-2" {
		t.Fatalf("Get = %q, want node-2", got)
	}
	got[0] = 'Y'
	if got := mustGet(t, s, "LastVoteCand"); string(got) != "node-2" {
		t.Fatalf("Get after the caller changed the returned slice = %q", got)
	}

	if err := s.Set([]byte("LastVoteCand"), []byte("node-3")); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "LastVoteCand"); string(got) != "node-3" {
		t.Fatalf("Get after overwrite = %q, want node-3", got)
	}
	bin := []byte{0, 1, 2, 0xff, 0}
	if err := s.Set(bin, bin); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, string(bin)); !bytes.Equal(got, bin) {
		t.Fatalf("binary key/value read back as %x", got)
	}
	if err := s.Set([]byte("empty"), nil); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "empty"); len(got) != 0 {
		t.Fatalf("empty value read back as %q", got)
	}

	for _, v := range []uint64{0, 1, 1 << 32, math.MaxUint64} {
		if err := s.SetUint64([]byte("CurrentTerm"), v); err != nil {
			t.Fatal(err)
		}
		if got := mustGetUint64(t, s, "CurrentTerm"); got != v {
			t.Fatalf("GetUint64 = %d, want %d", got, v)
		}
	}
	// A value that is not 8 bytes is an error, and not "not found": raft
	// would take that for a fresh node and start at term 0.
	_, err := s.GetUint64([]byte("LastVoteCand"))
	if err == nil || err.Error() == "not found" {
		t.Fatalf("GetUint64 of a 6-byte value: %v, want a decoding error", err)
	}
}

// TestStableStoreMissingKey: raft tells a fresh node from a failing store
// by the message "not found" (it compares err.Error(), not the value).
func TestStableStoreMissingKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "stable")
	s, l := newStableStore(t, dir, wal.Options{})
	missing := func(s *raftlog.StableStore, when string) {
		t.Helper()
		for _, key := range []string{"CurrentTerm", "LastVoteTerm", "LastVoteCand", ""} {
			if v, err := s.Get([]byte(key)); err == nil || err.Error() != "not found" || v != nil {
				t.Fatalf("%s: Get(%q) = %q, %v; want nil, \"not found\"", when, key, v, err)
			}
			if v, err := s.GetUint64([]byte(key)); err == nil || err.Error() != "not found" || v != 0 {
				t.Fatalf("%s: GetUint64(%q) = %d, %v; want 0, \"not found\"", when, key, v, err)
			}
		}
	}
	missing(s, "fresh store")
	if err := s.Set([]byte("other"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	missing(s, "store holding another key")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = newStableStore(t, dir, wal.Options{})
	missing(s, "reopened store")
}

func TestStableStoreSurvivesReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "stable")
	s, l := newStableStore(t, dir, wal.Options{})
	for term := uint64(1); term <= 5; term++ {
		if err := s.SetUint64([]byte("CurrentTerm"), term); err != nil {
			t.Fatal(err)
		}
		if err := s.SetUint64([]byte("LastVoteTerm"), term); err != nil {
			t.Fatal(err)
		}
		if err := s.Set([]byte("LastVoteCand"), fmt.Appendf(nil, "node-%d", term)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = newStableStore(t, dir, wal.Options{})
	if got := mustGetUint64(t, s, "CurrentTerm"); got != 5 {
		t.Fatalf("CurrentTerm after reopen = %d, want 5", got)
	}
	if got := mustGetUint64(t, s, "LastVoteTerm"); got != 5 {
		t.Fatalf("LastVoteTerm after reopen = %d, want 5", got)
	}
	if got := mustGet(t, s, "LastVoteCand"); string(got) != "node-5" {
		t.Fatalf("LastVoteCand after reopen = %q, want node-5", got)
	}
}

// TestStableStoreCompacts: every Set appends the whole map, so the log must
// be cut now and then, and the cut must keep the latest values.
func TestStableStoreCompacts(t *testing.T) {
	fsys := wal.NewMemFS() // thousands of fsyncs would dominate on a disk
	opts := wal.Options{FS: fsys, SegmentSize: 4096}
	s, l := newStableStore(t, "/stable", opts)
	const sets = 5000
	for i := uint64(1); i <= sets; i++ {
		if err := s.SetUint64([]byte("CurrentTerm"), i); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			if err := s.Set([]byte("LastVoteCand"), fmt.Appendf(nil, "node-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Nothing raft stores may be lost to a compaction: a node that forgets
	// its vote may vote twice in one term.
	want := func(s *raftlog.StableStore, when string) {
		t.Helper()
		if got := mustGetUint64(t, s, "CurrentTerm"); got != sets {
			t.Fatalf("%s: CurrentTerm = %d, want %d", when, got, sets)
		}
		if got := mustGet(t, s, "LastVoteCand"); string(got) != fmt.Sprintf("node-%d", sets/7*7) {
			t.Fatalf("%s: LastVoteCand = %q", when, got)
		}
	}
	want(s, "before reopen")
	st := l.Stats()
	records := st.LastIndex - st.FirstIndex + 1
	if st.FirstIndex <= 1 || records > 2048 {
		t.Fatalf("stable log holds [%d, %d] (%d records) after %d sets: it is never compacted",
			st.FirstIndex, st.LastIndex, records, sets+sets/7)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = newStableStore(t, "/stable", opts)
	want(s, "after reopen")
}

// TestStableStorePowerLoss: a Set that returned is on disk; one cut short by
// a power loss leaves the old value or the new one, and the store opens.
func TestStableStorePowerLoss(t *testing.T) {
	for seed := int64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			fsys := wal.NewMemFS()
			opts := wal.Options{FS: fsys, SegmentSize: 512}
			s, l := newStableStore(t, "/stable", opts)
			acked := uint64(0)
			fsys.PowerLossAfter(1 + rng.Intn(60))
			for i := uint64(1); i <= 100; i++ {
				if err := s.SetUint64([]byte("CurrentTerm"), i); err != nil {
					if !errors.Is(err, wal.ErrPowerLost) && !errors.Is(err, wal.ErrBroken) {
						t.Fatalf("Set %d failed with %v, want a power loss", i, err)
					}
					break
				}
				acked = i
			}
			l.Close()
			fsys.Crash(rng)
			s, _ = newStableStore(t, "/stable", opts)
			got, err := s.GetUint64([]byte("CurrentTerm"))
			if acked == 0 && err != nil && err.Error() == "not found" {
				return
			}
			if err != nil {
				t.Fatalf("after the crash: %v (acknowledged term %d)", err, acked)
			}
			if got != acked && got != acked+1 {
				t.Fatalf("after the crash CurrentTerm = %d, acknowledged %d", got, acked)
			}
		})
	}
}
