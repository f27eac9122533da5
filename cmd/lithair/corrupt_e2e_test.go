package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// Damage inside a sealed segment is not a torn write: the node refuses to
// start, naming the file and byte, and `lithair log verify` says the same.
func TestCorruptLogStopsTheStartWithFileAndOffset(t *testing.T) {
	dir := t.TempDir()
	small := []string{"--set", "event_store.segment_size=65536"}
	n := startNode(t, dir, small...)
	for i := 0; i < 300; i++ {
		n.must("POST", "/api/products", fmt.Sprintf(`{"name":"product %d with a name long enough to fill segments","price":%d}`, i, i))
	}
	n.stop()
	segs, _ := filepath.Glob(filepath.Join(dir, "log", "*.seg"))
	if len(segs) < 2 {
		t.Fatalf("want a sealed segment, have %v", segs)
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x10
	os.WriteFile(segs[0], b, 0o644)

	where := regexp.MustCompile(`corrupt: segment ` + regexp.QuoteMeta(filepath.Base(segs[0])) + ` offset \d+`)
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data", dir, "--rules", "../../configs/rules"}, small...)
	out, err := exec.Command(lithairBinary(t), args...).CombinedOutput()
	if err == nil || !where.Match(out) {
		t.Fatalf("start on a damaged log: %v\n%s", err, out)
	}
	if regexp.MustCompile(`goroutine \d+`).Match(out) {
		t.Fatalf("the refusal is a panic, not a message:\n%s", out)
	}
	out, err = exec.Command(lithairBinary(t), "log", "verify", dir).CombinedOutput()
	if err == nil || !where.Match(out) {
		t.Fatalf("log verify: %v\n%s", err, out)
	}
}
