package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	lithair "github.com/lithair/lithair"
	"github.com/lithair/lithair/event"
)

// BenchmarkRestart measures what an operator waits for after a restart of
// a node holding many records: the time from process start to the first
// 200 from /readyz, and the resident memory then. The data dir is built
// once in-process (creates through Raft, then a snapshot and a tail of
// writes), then the real binary is started on it b.N times.
//
//	LITHAIR_BENCH_RECORDS=1000000 go test ./bench -run '^$' -bench Restart -benchtime 3x -timeout 30m
//
// Beside each start it reports the limit the disk sets in the same run:
// the time to read the data dir's bytes once.
func BenchmarkRestart(b *testing.B) {
	records := 100000
	if v := os.Getenv("LITHAIR_BENCH_RECORDS"); v != "" {
		records, _ = strconv.Atoi(v)
	}
	// LITHAIR_BENCH_DIR keeps the data dir between runs (built if absent).
	dir := os.Getenv("LITHAIR_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	if _, err := os.Stat(filepath.Join(dir, "log")); err != nil {
		buildDataDir(b, dir, records)
	}
	bin := buildBinary(b)
	size, readTime := readAll(b, dir)
	b.ResetTimer()
	var starts, rss []float64
	for i := 0; i < b.N; i++ {
		s, r := startAndMeasure(b, bin, dir)
		starts = append(starts, s)
		rss = append(rss, r)
	}
	b.StopTimer()
	b.ReportMetric(median(starts), "start_s")
	b.ReportMetric(median(rss), "rss_MB")
	b.ReportMetric(float64(size)/(1<<20), "datadir_MB")
	b.ReportMetric(readTime, "read_datadir_s")
	b.ReportMetric(float64(records), "records")
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// buildDataDir creates records Products of about 150 bytes of fields each,
// takes a snapshot, then writes a tail of 2,000 more.
func buildDataDir(b *testing.B, dir string, records int) {
	cfg := lithair.DefaultConfig()
	cfg.EventStore.Dir = dir
	cfg.Rules.Dir = "../configs/rules"
	cfg.Rules.Watch = false
	cfg.EventStore.SnapshotThreshold = 1 << 40 // only the snapshot taken below
	app, err := lithair.Open(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := app.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	write := func(upto int64) {
		var wg sync.WaitGroup
		for w := 0; w < 256; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > upto {
						return
					}
					id, _ := uuid.NewV7()
					fields := fmt.Sprintf(`{"name":"Product %07d, a sturdy thing for the home","price":%d.%02d,"stock":%d,"category_id":"category-%04d-with-a-long-slug"}`,
						i, i%1000, i%100, i%50, i%500)
					c := &event.Command{Op: event.OpCreate, Model: "Product", ID: id.String(), Fields: []byte(fields), Time: time.Now().UnixNano()}
					if _, err := app.Propose(ctx, c); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	start := time.Now()
	write(int64(records))
	b.Logf("built %d records in %v", records, time.Since(start).Round(time.Millisecond))
	if _, err := app.Snapshot(); err != nil {
		b.Fatal(err)
	}
	write(int64(records) + 2000)
	if err := app.Close(); err != nil {
		b.Fatal(err)
	}
}

func buildBinary(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "lithair")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/lithair").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// readAll reads every file under dir once: the floor under any restart.
func readAll(b *testing.B, dir string) (int64, float64) {
	start := time.Now()
	var total int64
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err == nil {
				n, _ := io.Copy(io.Discard, f)
				total += n
				f.Close()
			}
		}
		return nil
	})
	return total, time.Since(start).Seconds()
}

var serving = regexp.MustCompile(`serving (http://[^/ ]+)/`)

// startAndMeasure starts the binary and returns seconds to ready and the
// resident memory in MB once ready.
func startAndMeasure(b *testing.B, bin, dir string) (float64, float64) {
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data", dir, "--rules", "../configs/rules")
	out, _ := cmd.StdoutPipe()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(out)
	url := ""
	for sc.Scan() {
		if m := serving.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
			break
		}
	}
	go io.Copy(io.Discard, out)
	if url == "" {
		b.Fatal("lithair did not print its URL")
	}
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 2*time.Minute {
			b.Fatal("not ready after 2 minutes")
		}
		time.Sleep(2 * time.Millisecond)
	}
	ready := time.Since(start).Seconds()
	// Resident memory once started: the node returns the garbage of its
	// restore to the system right after it is ready.
	time.Sleep(2 * time.Second)
	return ready, rssMB(b, cmd.Process.Pid)
}

func rssMB(b *testing.B, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
