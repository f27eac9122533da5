// Command load measures the Lithair binary under HTTP load, beside the
// limits of the machine measured in the same invocation.
//
//	go run ./bench/load                       # every scenario at 1, 16, 64, 256 connections
//	go run ./bench/load -runs 3 -cluster      # and a 3-node loopback cluster; medians of 3
//	go run ./bench/load -scenarios create -conns 64 -duration 10s
//
// It builds cmd/lithair (or takes -bin), starts it with a fresh data dir
// in a temp dir and the example rules, signs in as admin, seeds products
// through /api/_batch, and drives each scenario with conns closed-loop
// workers sharing one http.Client, for -warmup and then -duration. Beside
// the Lithair figures it measures, in the same run:
//
//   - a bare net/http handler answering a small JSON body (a process of
//     its own), driven by the same client at the same connection counts:
//     the limit of the reads;
//   - one writer appending 256-byte records with write + fdatasync in the
//     same temp dir: the limit of the writes. Lithair's group commit lets
//     many writes share one fsync, so a write ratio above 1 is expected.
//
// The server runs with firewall.rate=0 and firewall.login_rate=0 (the
// per-client limit would refuse a load generator) and log.sample_rate=0
// (no request log); -logcost also runs creates on fresh nodes with
// log.sample_rate=0 and 1 side by side. Every write is fsync'd before it
// is acknowledged (event_store.sync = "always", the default) unless -set
// says otherwise, and the header then says so. The server's log goes to a
// file beside its data dir.
//
// The load generator shares the CPUs with the server: every row says how
// many cores the client, the servers and everything else used during the
// window (/proc/self/stat, /proc/PID/stat, /proc/stat). -client conn swaps
// the http.Client for a lighter one (connclient.go), to see how much the
// client itself limits a figure; -cpuprofile profiles the client. For the
// writes, the server's /metrics, read just before and after each window,
// tell how many fsyncs the log made, how many writes each covered and how
// much of the window it spent in fdatasync (metrics.go): whether the disk
// or the CPU was the limit.
//
// Lithair has no profiling endpoint. -pprof DIR builds the server with one
// extra file (through go build -overlay, the source tree is not touched)
// that serves net/http/pprof on a separate loopback port, and saves a CPU
// profile of each measured window into DIR.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the command line.
type Config struct {
	Bin          string
	Scenarios    []string
	Conns        []int
	Duration     time.Duration
	Warmup       time.Duration
	Runs         int
	Seed         int
	Single       bool
	Cluster      bool
	LogCost      bool
	LogCostConns int
	Limits       bool
	Set          []string
	Dir          string
	Keep         bool
	Pprof        string
	FsyncSize    int
	WaitLoad     float64
	CPUProfile   string
	Client       string
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func parseFlags(args []string) (*Config, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	c := &Config{}
	var scenarios, conns string
	var set listFlag
	fs.StringVar(&c.Bin, "bin", "", "lithair `binary` to run (default: go build ./cmd/lithair into the temp dir)")
	fs.StringVar(&scenarios, "scenarios", strings.Join(Scenarios, ","), "comma-separated `list` of scenarios: "+strings.Join(Scenarios, ", "))
	fs.StringVar(&conns, "conns", "1,16,64,256", "comma-separated connection `counts`")
	fs.DurationVar(&c.Duration, "duration", 5*time.Second, "measured window of each scenario")
	fs.DurationVar(&c.Warmup, "warmup", time.Second, "unmeasured load before each window")
	fs.IntVar(&c.Runs, "runs", 1, "repeat everything `N` times (fresh servers each time) and report medians")
	fs.IntVar(&c.Seed, "seed", 10000, "products to create before the read, list and update scenarios (50 per name)")
	fs.BoolVar(&c.Single, "single", true, "run the scenarios against a single node")
	fs.BoolVar(&c.Cluster, "cluster", false, "also run creates against a 3-node loopback cluster, to the leader and round-robin to every node, at each -conns")
	fs.BoolVar(&c.LogCost, "logcost", true, "also run creates on two fresh nodes, log.sample_rate=0 and 1, at -logcost-conns")
	fs.IntVar(&c.LogCostConns, "logcost-conns", 64, "connections of the -logcost runs")
	fs.BoolVar(&c.Limits, "limits", true, "measure the bare handler and the raw fsync rate (the limits the ratios use)")
	fs.Var(&set, "set", "extra server option `KEY=VALUE`, after the defaults firewall.rate=0, firewall.login_rate=0, log.sample_rate=0 (repeatable)")
	fs.StringVar(&c.Dir, "dir", "", "parent `dir` of the temp dir holding data dirs and the fsync file (default $TMPDIR)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the temp dir (data dirs, server logs)")
	fs.StringVar(&c.Pprof, "pprof", "", "save a CPU profile of the server for each measured window into `dir` (builds the server with a pprof listener)")
	fs.IntVar(&c.FsyncSize, "fsync-size", 256, "record `bytes` of the raw fsync loop")
	fs.StringVar(&c.Client, "client", "http", "`kind` of client: http (one http.Client, a Transport sized for conns) or conn (each worker writes and reads its own keep-alive connection: a lighter client, see connclient.go)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the load generator itself (the client side) to `file`")
	fs.Float64Var(&c.WaitLoad, "wait-load", 0, "before each run, wait up to 10 minutes for the 1-minute load average to fall below `L` (0: don't wait)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.Set = set
	for s := range strings.SplitSeq(scenarios, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(Scenarios, s) {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (have %s)", s, strings.Join(Scenarios, ", "))
		}
		c.Scenarios = append(c.Scenarios, s)
	}
	for s := range strings.SplitSeq(conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-conns: %q is not a positive count", s)
		}
		c.Conns = append(c.Conns, n)
	}
	if c.Client != "http" && c.Client != "conn" {
		return nil, fmt.Errorf("-client: %q is neither http nor conn", c.Client)
	}
	if c.Runs < 1 || c.Duration <= 0 || c.Warmup < 0 || c.LogCostConns < 1 || c.FsyncSize < 1 {
		return nil, fmt.Errorf("-runs, -duration, -logcost-conns and -fsync-size must be positive, -warmup not negative")
	}
	return c, nil
}

func main() {
	if addr := os.Getenv(bareEnv); addr != "" {
		if err := serveBare(addr); err != nil {
			fmt.Fprintln(os.Stderr, "bare handler:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// defaultSet are the server options of every run, before -set.
var defaultSet = []string{"firewall.rate=0", "firewall.login_rate=0", "log.sample_rate=0"}

func run(cfg *Config) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(cfg.Dir, "lithair-load-")
	if err != nil {
		return err
	}
	if cfg.Keep {
		fmt.Fprintln(os.Stderr, "keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	if cfg.Pprof != "" {
		if err := os.MkdirAll(cfg.Pprof, 0o755); err != nil {
			return err
		}
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	pg := NewProgress()
	bin := cfg.Bin
	if bin == "" {
		pg.Note("building ./cmd/lithair")
		if bin, err = buildBinary(root, tmp, cfg.Pprof != ""); err != nil {
			return err
		}
	} else if cfg.Pprof != "" {
		return fmt.Errorf("-pprof builds its own binary: drop -bin")
	}
	rep := &Report{
		Started: time.Now().UTC(), Args: os.Args[1:], Git: gitDescribe(root), GoVersion: runtime.Version(),
		NumCPU: numCPU(), CPUModel: cpuModel(), Kernel: kernel(), FS: fsType(tmp), LoadStart: loadAvg(),
		Set: append(append([]string{}, defaultSet...), cfg.Set...), Cfg: cfg,
	}
	for i := range cfg.Runs {
		if cfg.Runs > 1 {
			pg.prefix = fmt.Sprintf("run %d/%d ", i+1, cfg.Runs)
		}
		waitQuiet(cfg.WaitLoad, pg)
		r := &RunResult{N: i + 1, LoadStart: loadAvg(), Bare: map[int]*Result{}}
		dir := filepath.Join(tmp, fmt.Sprintf("run%d", i+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		b := bench{cfg: cfg, bin: bin, root: root, dir: dir, pg: pg, run: r, set: rep.Set}
		if err := b.all(); err != nil {
			return err
		}
		r.LoadEnd = loadAvg()
		rep.Runs = append(rep.Runs, r)
		if !cfg.Keep {
			os.RemoveAll(dir)
		}
	}
	rep.LoadEnd = loadAvg()
	rep.Finished = time.Now().UTC()
	rep.Write(os.Stdout)
	return nil
}

// waitQuiet waits up to 10 minutes for the 1-minute load average to fall
// below limit.
func waitQuiet(limit float64, pg *Progress) {
	if limit <= 0 {
		return
	}
	deadline := time.Now().Add(10 * time.Minute)
	for l := load1(); l >= limit; l = load1() {
		if time.Now().After(deadline) {
			pg.Note("load average %.2f still >= %.2f after 10 minutes: running anyway", l, limit)
			return
		}
		pg.Note("load average %.2f >= %.2f: waiting", l, limit)
		time.Sleep(15 * time.Second)
	}
}
