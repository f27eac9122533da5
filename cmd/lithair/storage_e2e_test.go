package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests give the real binary a real full disk (a small tmpfs) and
// real I/O errors (strace's syscall fault injection). They need root and
// strace; without them they skip, unless LITHAIR_REQUIRE_FAULTS=1 (CI)
// makes a missing tool a failure.

func requireFaults(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("LITHAIR_REQUIRE_FAULTS") == "1" {
		t.Fatalf("LITHAIR_REQUIRE_FAULTS=1 but %s", why)
	}
	t.Skip(why)
}

// smallDisk mounts a tmpfs of size bytes and unmounts it when the test
// ends (after the nodes it holds are killed: cleanups run last first).
func smallDisk(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		requireFaults(t, fmt.Sprintf("cannot mount a tmpfs (root needed): %v %s", err, out))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// freeBytes is what statfs says the unprivileged can still write in dir.
func freeBytes(t *testing.T, dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fill writes a file of n bytes (real blocks, not a hole).
func fill(t *testing.T, path string, n int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for n > 0 {
		w := min(n, int64(len(chunk)))
		if _, err := f.Write(chunk[:w]); err != nil {
			t.Fatalf("filling %s: %v", path, err)
		}
		n -= w
	}
}

// metric reads one unlabelled gauge from /metrics.
func (n *node) metric(name string) float64 {
	n.t.Helper()
	for _, line := range strings.Split(string(n.must("GET", "/metrics", "").Body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				n.t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	n.t.Fatalf("no %s in /metrics", name)
	return 0
}

func errorCode(r response) string {
	var e struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// TestDiskFullAnswers507AndRecovers: on a full disk a write is refused
// with 507 and a message that says so, reads go on, what was acknowledged
// stays whole across a SIGKILL, and writes resume once space is freed.
func TestDiskFullAnswers507AndRecovers(t *testing.T) {
	disk := smallDisk(t, 32<<20)
	data := filepath.Join(disk, "data")
	n := startNode(t, data)
	// An API token outlives restarts; signing in on a full disk cannot
	// keep a new session.
	tr := n.must("POST", "/api/_tokens", `{"name":"disk-full-test","roles":["admin"]}`)
	if tr.Status != 201 {
		t.Fatalf("token: %d %s", tr.Status, tr.Body)
	}
	auth := []string{"Authorization", "Bearer " + tr.json(t)["token"].(string)}
	// Most of the disk goes to another tenant's file.
	filler := filepath.Join(disk, "filler")
	fill(t, filler, freeBytes(t, disk)-6<<20)

	// Records of 64 KiB until the disk refuses.
	pad := strings.Repeat("x", 64<<10)
	acked := map[string]string{}
	var full response
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatalf("no 507 after %d writes of 64 KiB on a 32 MiB disk", i)
		}
		r := n.must("POST", "/api/products", fmt.Sprintf(`{"name":"p%d","price":%d,"category_id":%q}`, i, i, pad))
		if r.Status == 201 {
			acked[r.json(t)["id"].(string)] = string(r.Body)
			continue
		}
		full = r
		break
	}
	if full.Status != 507 || errorCode(full) != "disk_full" || !strings.Contains(string(full.Body), "free some space") {
		t.Fatalf("a write on a full disk: %d %s, want 507 disk_full with a clear message", full.Status, full.Body)
	}
	if len(acked) < 5 {
		t.Fatalf("only %d writes before the disk was full", len(acked))
	}
	t.Logf("%d records of 64 KiB acknowledged, then: %s", len(acked), full.Body)
	// Again and again: refused, nothing written.
	before := n.appliedIndex()
	for i := 0; i < 5; i++ {
		if r := n.must("POST", "/api/products", `{"name":"refused","price":1}`); r.Status != 507 {
			t.Fatalf("a small write on a full disk: %d %s", r.Status, r.Body)
		}
	}
	if after := n.appliedIndex(); after != before {
		t.Fatalf("refused writes moved the applied index from %v to %v", before, after)
	}
	// Reads go on, and the node stays ready (it serves reads).
	for id, body := range acked {
		if r := n.must("GET", "/api/products/"+id, ""); r.Status != 200 || string(r.Body) != body {
			t.Fatalf("read on a full disk: %d", r.Status)
		}
	}
	if r := n.must("GET", "/api/products?limit=5&sort=price", ""); r.Status != 200 {
		t.Fatalf("list on a full disk: %d %s", r.Status, r.Body)
	}
	if r := n.must("GET", "/readyz", ""); r.Status != 200 {
		t.Fatalf("/readyz on a full disk: %d %s", r.Status, r.Body)
	}
	if v := n.metric("lithair_disk_full"); v != 1 {
		t.Fatalf("lithair_disk_full = %v on a full disk", v)
	}
	if !strings.Contains(n.logs(), "disk full") {
		t.Fatalf("no log line about the full disk:\n%s", n.logs())
	}

	// A SIGKILL on the full disk, and a start on it: nothing acknowledged
	// is damaged, and the node opens although the disk is still full.
	n.kill()
	n = startNode(t, data)
	n.token = strings.TrimPrefix(auth[1], "Bearer ") // the harness would sign in
	checkAcked(t, n, acked)
	if r := n.must("POST", "/api/products", `{"name":"still full","price":1}`, auth...); r.Status != 507 {
		t.Fatalf("a write after restarting on the full disk: %d %s", r.Status, r.Body)
	}
	if r := n.must("POST", "/api/_auth/login", `{"username":"admin","password":"`+adminPassword+`"}`, anonymous...); r.Status != 507 {
		t.Fatalf("signing in on a full disk (a session is a write): %d %s", r.Status, r.Body)
	}

	// Space comes back: writes are taken again, without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r := n.must("POST", "/api/products", `{"name":"after","price":1}`, auth...)
	if r.Status != 201 {
		t.Fatalf("a write once space was freed: %d %s", r.Status, r.Body)
	}
	acked[r.json(t)["id"].(string)] = string(r.Body)
	if v := n.metric("lithair_disk_full"); v != 0 {
		t.Fatalf("lithair_disk_full = %v once space was freed", v)
	}
	n.kill()
	n = startNode(t, data)
	n.token = strings.TrimPrefix(auth[1], "Bearer ")
	checkAcked(t, n, acked)
	n.kill()
}

func checkAcked(t *testing.T, n *node, acked map[string]string) {
	t.Helper()
	for id, body := range acked {
		r := n.must("GET", "/api/products/"+id, "")
		if r.Status != 200 || string(r.Body) != body {
			t.Fatalf("acknowledged record %s after the restart: %d %.200s", id, r.Status, r.Body)
		}
	}
}

// TestDiskErrorsStopAcknowledging runs the binary under strace, which
// makes every Nth fdatasync (or pwrite) fail with EIO. From the first
// failure the node acknowledges no write, says why in its log, /readyz
// and /metrics, keeps serving reads, and once restarted on the good disk
// has every acknowledged write and takes new ones.
func TestDiskErrorsStopAcknowledging(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		requireFaults(t, "strace is not installed")
	}
	for _, tc := range []struct {
		syscall      string
		first, every int
	}{
		{"fdatasync", 37, 37},
		{"fdatasync", 40, 5}, // the first start alone makes about 20
		{"pwrite64", 53, 53},
	} {
		t.Run(fmt.Sprintf("%s every %d", tc.syscall, tc.every), func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			inject := fmt.Sprintf("inject=%s:error=EIO:when=%d+%d", tc.syscall, tc.first, tc.every)
			n := startUnder(t, []string{"strace", "-f", "-qq", "-o", "/dev/null", "--seccomp-bpf", "-e", "trace=" + tc.syscall, "-e", inject}, data, nil)
			t.Cleanup(func() { killTraced(n) })
			waitReadyOrBroken(t, n)

			var mu sync.Mutex
			acked := map[string]string{}
			var firstFailure time.Time
			var failures []string
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; i < 150; i++ {
						sent := time.Now()
						r, err := n.do("POST", "/api/products", fmt.Sprintf(`{"name":"w%d-%d","price":%d}`, w, i, i))
						if err != nil {
							t.Errorf("transport error: %v", err)
							return
						}
						mu.Lock()
						switch {
						case r.Status == 201:
							if !firstFailure.IsZero() && sent.After(firstFailure) {
								t.Errorf("write sent after the disk failed was acknowledged: %s", r.Body)
							}
							var rec map[string]any
							json.Unmarshal(r.Body, &rec)
							acked[rec["id"].(string)] = string(r.Body)
						case r.Status == 503 && errorCode(r) == "storage_failed":
							if firstFailure.IsZero() {
								firstFailure = time.Now()
							}
							failures = append(failures, string(r.Body))
						case r.Status == 503:
							// No leader for a moment: the write was not taken.
						default:
							t.Errorf("write: %d %s", r.Status, r.Body)
						}
						mu.Unlock()
					}
				}(w)
			}
			wg.Wait()
			if firstFailure.IsZero() {
				t.Fatalf("no write failed with storage_failed under %s", inject)
			}
			t.Logf("%d writes acknowledged before the failure, %d refused; first refusal: %.300s", len(acked), len(failures), failures[0])
			r := n.must("GET", "/readyz", "")
			if r.Status != 503 || errorCode(r) != "storage_failed" {
				t.Fatalf("/readyz after the disk failed: %d %s", r.Status, r.Body)
			}
			if v := n.metric("lithair_log_broken"); v != 1 {
				t.Fatalf("lithair_log_broken = %v after the disk failed", v)
			}
			if !strings.Contains(n.logs(), "storage failed") {
				t.Fatalf("no log line about the failed disk:\n%s", n.logs())
			}
			// Reads of what was applied go on.
			for id := range acked {
				if r := n.must("GET", "/api/products/"+id, ""); r.Status != 200 {
					t.Fatalf("read after the disk failed: %d %s", r.Status, r.Body)
				}
				break
			}
			killTraced(n)

			// The disk is good again: a clean start with everything.
			n = startNode(t, data)
			checkAcked(t, n, acked)
			if r := n.must("POST", "/api/products", `{"name":"after","price":1}`); r.Status != 201 {
				t.Fatalf("write after the restart: %d %s", r.Status, r.Body)
			}
			n.kill()
		})
	}
}

// waitReadyOrBroken waits for /readyz to answer at all: a node whose disk
// fails during its first start may never be ready, which the test then
// sees in its writes.
func waitReadyOrBroken(t *testing.T, n *node) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := n.do("GET", "/readyz", ""); err == nil && (r.Status == 200 || errorCode(r) == "storage_failed") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node under strace not ready in 30s:\n%s", n.logs())
}

// killTraced SIGKILLs the process strace runs, then strace: killing
// strace alone would leave its tracee running, detached.
func killTraced(n *node) {
	pid := n.cmd.Process.Pid
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if child, err := strconv.Atoi(f); err == nil {
				syscall.Kill(child, syscall.SIGKILL)
			}
		}
	}
	n.kill()
}
