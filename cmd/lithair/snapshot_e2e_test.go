package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRestartFromSnapshotsAndCorruptSnapshots: a restart restores the
// newest snapshot and replays only the tail; a corrupt snapshot is refused
// and the node falls back to the one before, or to the log.
func TestRestartFromSnapshotsAndCorruptSnapshots(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	want := map[string]string{}
	write := func(count int) {
		for i := 0; i < count; i++ {
			r := n.must("POST", "/api/products", fmt.Sprintf(`{"name":"s%d","price":%d}`, len(want), i))
			want[r.json(t)["id"].(string)] = string(r.Body)
		}
	}
	snapshot := func() float64 {
		r := n.must("POST", "/api/_snapshot", "")
		if r.Status != 200 {
			t.Fatalf("snapshot: %d %s", r.Status, r.Body)
		}
		return r.json(t)["index"].(float64)
	}
	write(30)
	first := snapshot()
	write(30)
	second := snapshot()
	write(10)
	if second <= first {
		t.Fatalf("snapshots at %v then %v", first, second)
	}
	check := func(when string) {
		for id, body := range want {
			if r := n.must("GET", "/api/products/"+id, ""); string(r.Body) != body {
				t.Fatalf("%s: %s: %d %s", when, id, r.Status, r.Body)
			}
		}
		var l listAnswer
		json.Unmarshal(n.must("GET", "/api/products?limit=1000", "").Body, &l)
		if len(l.Items) != len(want) {
			t.Fatalf("%s: %d records, want %d", when, len(l.Items), len(want))
		}
	}
	replayed := regexp.MustCompile(`"msg":"ready".*"replayed_entries":(\d+)`)
	n.kill()
	n = startNode(t, dir)
	check("after restart")
	m := replayed.FindStringSubmatch(n.logs())
	if m == nil || m[1] == "0" || len(m[1]) > 2 {
		t.Fatalf("the restart should replay only the ~10-entry tail after the snapshot; log:\n%s", n.logs())
	}

	snaps, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*", "state.bin"))
	if len(snaps) != 2 {
		t.Fatalf("want 2 snapshots, found %v", snaps)
	}
	// Names sort by term-index-time: the last is the newest.
	corrupt := func(path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		os.WriteFile(path, b, 0o644)
	}
	n.kill()
	corrupt(snaps[1])
	n = startNode(t, dir)
	check("newest snapshot corrupt")
	n.kill()
	corrupt(snaps[0])
	n = startNode(t, dir)
	check("every snapshot corrupt")
	if !strings.Contains(n.logs(), "replaying the whole log") {
		t.Fatalf("no word of the corrupt snapshots in the log:\n%s", n.logs())
	}
}

// Snapshots come on their own every snapshot_threshold applied entries.
func TestSnapshotsEveryThresholdEntries(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, "--set", "event_store.snapshot_threshold=20", "--set", "event_store.snapshot_interval=100ms")
	for i := 0; i < 50; i++ {
		n.must("POST", "/api/products", fmt.Sprintf(`{"name":"a%d","price":1}`, i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if snaps, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*", "state.bin")); len(snaps) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot 10s after 50 writes with snapshot_threshold = 20:\n%s", n.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
