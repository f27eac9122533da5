package main

import (
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The soak's probes: what a sample measures of the server process (its
// /proc entries and GET /metrics), the goroutine and open-file census
// logged as evidence when one of them grew, and the stall watch that tells
// a stall of the test process itself from a fault of the server.

// soakSample is one measurement of the server process.
type soakSample struct {
	Life       int     `json:"life"`
	AtS        float64 `json:"at_s"`      // since the run started
	InLifeS    float64 `json:"in_life_s"` // since this process started
	RSS        int64   `json:"rss_bytes"`
	HeapInuse  int64   `json:"heap_inuse_bytes"`
	Goroutines int     `json:"goroutines"`
	FDs        int     `json:"fds"`
	Load1      float64 `json:"load1"` // the machine's, from /proc/loadavg
	// SlowestMS is the longest request answered since the last sample.
	SlowestMS   float64 `json:"slowest_ms"`
	SlowestWhat string  `json:"slowest_what"`
	DataDir     int64   `json:"data_dir_bytes"` // segments are preallocated: steps, not a slope
	LogBytes    int64   `json:"log_bytes"`      // lithair_log_size_bytes
	Records     int     `json:"records"`        // lithair_records{model="Product"}
}

func (p soakSample) warm() bool { return p.InLifeS >= soakWarmUp.Seconds() }

// stallWatch notices when the test process itself stands still (a
// paused VM, a machine thrashing under a neighbour's load): a request
// times out then through no fault of the server's. It happened on the
// shared development machine, where the whole test once stood still for
// 12 minutes and its requests came back as 30 s client timeouts.
type stallWatch struct {
	mu     sync.Mutex
	last   time.Time      // the last heartbeat
	stalls [][2]time.Time // gaps between heartbeats of soakStall or more
}

// soakStall is how long the test process must stand still to explain a
// failed request.
const soakStall = 5 * time.Second

func (w *stallWatch) run(stop <-chan struct{}) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		w.mu.Lock()
		if now.Sub(w.last) >= soakStall {
			w.stalls = append(w.stalls, [2]time.Time{w.last, now})
		}
		w.last = now
		w.mu.Unlock()
	}
}

// explains reports whether the test process stood still since t0, or
// stands still now (the heartbeat has not run yet since it woke up).
func (w *stallWatch) explains(t0 time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if time.Since(w.last) >= soakStall {
		return true
	}
	for _, st := range w.stalls {
		if st[1].After(t0) {
			return true
		}
	}
	return false
}

// sample measures the live process and prints a progress line.
func (s *soakRun) sample() {
	l := s.cur.Load()
	p := soakSample{Life: l.num, AtS: time.Since(s.start).Seconds(), InLifeS: time.Since(l.start).Seconds(),
		RSS: procRSS(l.pid), DataDir: dirSize(s.dataDir), Goroutines: -1, FDs: -1}
	// The minimum of three reads leaves out most requests in flight.
	for i := 0; i < 3; i++ {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		t0 := time.Now()
		g, heap, logBytes, records, err := soakScrape(l.n.baseURL)
		if err != nil && s.stall.explains(t0) {
			s.t.Logf("sample skipped: the test process stood still: %v", err)
			return
		}
		if err != nil {
			s.fail("GET /metrics (life %d): %v", l.num, err)
			return
		}
		fds := procFDs(l.pid)
		if p.Goroutines < 0 || g < p.Goroutines {
			p.Goroutines = g
		}
		if p.FDs < 0 || fds < p.FDs {
			p.FDs = fds
		}
		p.HeapInuse, p.LogBytes, p.Records = max(p.HeapInuse, heap), logBytes, records
	}
	p.Load1 = loadAvg()
	s.mu.Lock()
	p.SlowestMS, p.SlowestWhat = float64(s.slowest.Microseconds())/1000, s.slowestWhat
	s.slowest, s.slowestWhat = 0, ""
	reqs := s.counts["create"] + s.counts["read"] + s.counts["list"] + s.counts["update"] + s.counts["delete"]
	s.mu.Unlock()
	l.samples = append(l.samples, p)
	s.t.Logf("soak %4.0fs life %d +%3.0fs: rss %5.1f MiB heap %5.1f MiB goroutines %3d fds %3d data dir %5.1f MiB log %4.1f MiB records %5d requests %6d reloads %d kills %d slowest %5.0f ms (%s) load %.1f",
		p.AtS, p.Life, p.InLifeS, mib(p.RSS), mib(p.HeapInuse), p.Goroutines, p.FDs, mib(p.DataDir), mib(p.LogBytes), p.Records, reqs, s.reloads, s.kills, p.SlowestMS, p.SlowestWhat, p.Load1)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// procRSS reads VmRSS of pid, in bytes.
func procRSS(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// loadAvg is the machine's load average over the last minute: a stall
// on a shared machine may be a neighbour's.
func loadAvg() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	f, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return f
}

// procFDs counts the open file descriptors of pid.
func procFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// fdCensus counts the open files of pid by what they point to, with
// sockets and pipes counted together and files by directory.
func fdCensus(pid int) string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	counts := map[string]int{}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if kind, _, ok := strings.Cut(target, ":["); ok {
			target = kind // socket:[123], pipe:[456]
		} else if strings.HasPrefix(target, "/") {
			target = filepath.Dir(target) + "/*"
		}
		counts[target]++
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(&b, "%5d  %s\n", counts[k], k)
	}
	return b.String()
}

// dirSize is the size of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// soakScrape reads the gauges a sample takes from GET /metrics.
func soakScrape(base string) (goroutines int, heapInuse, logBytes int64, records int, err error) {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, 0, 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	gauge := func(name, model string) float64 {
		for _, m := range fams[name].GetMetric() {
			if model == "" || label(m, "model") == model {
				return m.GetGauge().GetValue()
			}
		}
		err = fmt.Errorf("%s missing", name)
		return 0
	}
	return int(gauge("go_goroutines", "")), int64(gauge("go_memstats_heap_inuse_bytes", "")),
		int64(gauge("lithair_log_size_bytes", "")), int(gauge("lithair_records", "Product")), err
}

var (
	goroutineHeader = regexp.MustCompile(`^goroutine \d+ [^\[]*\[([^\],]+)`)
	frameArgs       = regexp.MustCompile(`\([^()]*\)$| in goroutine \d+$`)
	frameOffset     = regexp.MustCompile(` \+0x.*$`)
)

// goroutineCensus groups the goroutine dump of a SIGQUIT by state, first
// frame outside the runtime, and creator, most common first.
func goroutineCensus(dump string) string {
	counts := map[string]int{}
	for _, block := range strings.Split(dump, "\n\n") {
		lines := strings.Split(strings.TrimSpace(block), "\n")
		m := goroutineHeader.FindStringSubmatch(lines[0])
		if m == nil {
			continue
		}
		where, creator := "", ""
		for i := 1; i < len(lines); i++ {
			line := lines[i]
			switch {
			case strings.HasPrefix(line, "\t"):
			case strings.HasPrefix(line, "created by "):
				creator = " <- " + frameArgs.ReplaceAllString(strings.TrimPrefix(line, "created by "), "")
				if i+1 < len(lines) {
					creator += " at " + frameOffset.ReplaceAllString(strings.TrimSpace(lines[i+1]), "")
				}
			case where == "" && !strings.HasPrefix(line, "runtime."):
				where = frameArgs.ReplaceAllString(line, "")
			}
		}
		counts["["+m[1]+"] "+where+creator]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return counts[keys[i]] > counts[keys[j]] || counts[keys[i]] == counts[keys[j]] && keys[i] < keys[j]
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%5d  %s\n", counts[k], k)
	}
	return b.String()
}
