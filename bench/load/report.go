package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Report is the whole invocation, printed as Markdown on stdout.
type Report struct {
	Started, Finished  time.Time
	Args               []string
	Git, GoVersion     string
	NumCPU             int
	CPUModel, Kernel   string
	FS                 string
	LoadStart, LoadEnd string
	Set                []string
	Cfg                *Config
	Runs               []*RunResult
}

func opBare(w *Worker) *http.Request {
	req, _ := http.NewRequest("GET", w.Base+"/api/products/019ac8f2-5c3e-7d41-9a3b-2f6e8c1d4b7a", nil)
	return req
}

// Write prints the header, one table per run when there are several, the
// medians, and the targets.
func (rep *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "# Lithair under load: `go run ./bench/load %s`\n\n", strings.Join(rep.Args, " "))
	fmt.Fprintf(w, "- %s to %s UTC; load average %s at start, %s at end",
		rep.Started.Format("2006-01-02 15:04:05"), rep.Finished.Format("15:04:05"), rep.LoadStart, rep.LoadEnd)
	for _, r := range rep.Runs {
		fmt.Fprintf(w, "; run %d: %s → %s", r.N, r.LoadStart, r.LoadEnd)
	}
	fmt.Fprintf(w, "\n- %d CPUs (%s), kernel %s, %s; Lithair at %s\n", rep.NumCPU, rep.CPUModel, rep.Kernel, rep.GoVersion, rep.Git)
	fmt.Fprintf(w, "- data dirs and the fsync file: %s\n", rep.FS)
	fmt.Fprintf(w, "- server options: `%s`; event_store.sync %s\n", strings.Join(rep.Set, " "), syncMode(rep.Set))
	fmt.Fprintf(w, "- each figure: %v warmup, then %v measured, per scenario and connection count; %d run(s), fresh servers each\n",
		rep.Cfg.Warmup, rep.Cfg.Duration, len(rep.Runs))
	client := "one http.Client, MaxConnsPerHost = MaxIdleConnsPerHost = conns"
	if rep.Cfg.Client == "conn" {
		client = "-client conn: each worker writes and reads its own keep-alive connection (no http.Transport)"
	}
	fmt.Fprintf(w, "- client: %s; conns closed-loop workers; every request but read-anon's carries the admin session; a transport error or a non-2xx answer is an error\n\n", client)
	if len(rep.Runs) > 1 {
		for _, r := range rep.Runs {
			fmt.Fprintf(w, "## Run %d\n\n", r.N)
			rep.table(w, []*RunResult{r})
		}
		fmt.Fprintf(w, "## Medians of %d runs\n\n", len(rep.Runs))
		fmt.Fprintf(w, "Each column is the median of the runs' figures on its own (the ratio too: each run's ratio to its own limit); errors are summed over the runs.\n\n")
	}
	rep.table(w, rep.Runs)
	fmt.Fprint(w, ratioNote)
	rep.targets(w)
}

const ratioNote = `
Ratios: a read (read, list, and the 90/10 mix) is quoted over the bare
net/http handler driven by the same client at the same connection count in
the same run (1.0 = as fast as a server that does nothing). A write
(create, update) is quoted over the raw rate of one writer appending
records with write + fdatasync on the same disk: group commit lets many
writes share one fsync, so above 1 is expected, and 1 is what a server
without group commit could reach at best. CPU is in cores busy on
average over the window: the client (this program), the server processes,
interrupts and softirqs (loopback TCP; no process is charged for them),
and everything else (other programs, and kernel threads such as the
file system's journal, which work for every fsync, the servers' too).
`

// row is a figure reduced over runs.
type row struct {
	label                   string
	conns                   int
	rate, p50, p99, p3      float64 // p3: p99.9
	errors                  uint64
	limit, ratio            float64
	limitName               string
	client, server, irq, ot float64
	errKinds                map[string]uint64
	// The log during the window (write rows; hasLog false otherwise).
	hasLog                                           bool
	fsyncRate, perFsync, busy, meanFsync, meanCommit float64
}

// cpu formats the CPU columns; the fsync loop's own CPU is in the client
// column.
func (r row) cpu() string {
	return fmt.Sprintf("%.2f / %.2f / %.2f / %.2f", r.client, r.server, r.irq, r.ot)
}

// median returns the median of xs (the mean of the middle two for an even
// count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// reduce turns runs into rows: limits first, then Lithair in the order
// measured, each the median over runs.
func reduce(runs []*RunResult) (limits, rows []row) {
	type acc struct {
		label                                                string
		conns                                                int
		rate, p50, p99, p3, limit, ratio, cl, sv, irq, other []float64
		fsyncRate, perFsync, busy, meanFsync, meanCommit     []float64
		errors                                               uint64
		limitName                                            string
		kinds                                                map[string]uint64
	}
	var order []string
	accs := map[string]*acc{}
	add := func(key string, r *Result, limit float64, limitName string) {
		a := accs[key]
		if a == nil {
			a = &acc{label: r.Scenario, conns: r.Conns, limitName: limitName, kinds: map[string]uint64{}}
			accs[key] = a
			order = append(order, key)
		}
		a.rate = append(a.rate, r.Rate())
		a.p50 = append(a.p50, float64(r.Hist.Quantile(0.5)))
		a.p99 = append(a.p99, float64(r.Hist.Quantile(0.99)))
		a.p3 = append(a.p3, float64(r.Hist.Quantile(0.999)))
		a.cl = append(a.cl, r.CPU.Client)
		a.sv = append(a.sv, r.CPU.Server)
		a.irq = append(a.irq, r.CPU.IRQ)
		a.other = append(a.other, r.CPU.Other())
		if lg := r.Log; lg != nil && lg.Entries > 0 {
			a.fsyncRate = append(a.fsyncRate, lg.FsyncRate())
			a.perFsync = append(a.perFsync, lg.PerFsync())
			a.busy = append(a.busy, lg.Busy())
			a.meanFsync = append(a.meanFsync, float64(lg.MeanFsync()))
			a.meanCommit = append(a.meanCommit, float64(lg.MeanCommit()))
		}
		a.errors += r.Errors
		for k, v := range r.ErrKinds {
			a.kinds[k] += v
		}
		if limit > 0 {
			a.limit = append(a.limit, limit)
			a.ratio = append(a.ratio, r.Rate()/limit)
		}
	}
	for _, run := range runs {
		if run.Fsync != nil {
			f := run.Fsync
			add("fsync", &Result{Scenario: fmt.Sprintf("raw write+fdatasync, %d B", f.RecordSz), Conns: 1,
				Ops: f.Ops, Elapsed: f.Elapsed, Hist: f.Hist, CPU: f.CPU}, 0, "")
		}
		for _, c := range sortedKeys(run.Bare) {
			add(fmt.Sprintf("bare/%d", c), run.Bare[c], 0, "")
		}
		for _, r := range run.Rows {
			limit, name := 0.0, ""
			if writeScenario(r.Scenario) {
				if run.Fsync != nil {
					limit, name = run.Fsync.Rate(), "fsync"
				}
			} else if b := run.Bare[r.Conns]; b != nil {
				limit, name = b.Rate(), "bare"
			}
			add(fmt.Sprintf("lithair/%s/%d", r.Scenario, r.Conns), r, limit, name)
		}
	}
	for _, k := range order {
		a := accs[k]
		rw := row{label: a.label, conns: a.conns, rate: median(a.rate), p50: median(a.p50), p99: median(a.p99),
			p3: median(a.p3), errors: a.errors, limit: median(a.limit), ratio: median(a.ratio), limitName: a.limitName,
			client: median(a.cl), server: median(a.sv), irq: median(a.irq), ot: median(a.other), errKinds: a.kinds,
			hasLog: len(a.fsyncRate) > 0, fsyncRate: median(a.fsyncRate), perFsync: median(a.perFsync), busy: median(a.busy),
			meanFsync: median(a.meanFsync), meanCommit: median(a.meanCommit)}
		if strings.HasPrefix(k, "lithair/") {
			rows = append(rows, rw)
		} else {
			limits = append(limits, rw)
		}
	}
	return limits, rows
}

func sortedKeys(m map[int]*Result) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// table prints the limits and the Lithair rows of runs (medians when
// there are several).
func (rep *Report) table(w io.Writer, runs []*RunResult) {
	limits, rows := reduce(runs)
	if len(limits) > 0 {
		fmt.Fprintf(w, "Limits, same run:\n\n| limit | conns | ops/s | p50 | p99 | p99.9 | errors | CPU client / server / irq / other (cores) |\n|---|---|---|---|---|---|---|---|\n")
		for _, l := range limits {
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %d | %s |\n", l.label, l.conns, fmtRate(l.rate),
				fmtDur(time.Duration(l.p50)), fmtDur(time.Duration(l.p99)), fmtDur(time.Duration(l.p3)), l.errors, l.cpu())
		}
		fmt.Fprintln(w)
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "| scenario | conns | req/s | p50 | p99 | p99.9 | errors | limit (same run) | ratio | CPU client / server / irq / other (cores) |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		limit, ratio := "-", "-"
		if r.limit > 0 {
			limit = r.limitName + " " + fmtRate(r.limit)
			ratio = fmt.Sprintf("%.2f× %s", r.ratio, r.limitName)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %d | %s | %s | %s |\n", r.label, r.conns, fmtRate(r.rate),
			fmtDur(time.Duration(r.p50)), fmtDur(time.Duration(r.p99)), fmtDur(time.Duration(r.p3)), r.errors, limit, ratio, r.cpu())
	}
	var logRows []row
	for _, r := range rows {
		if r.hasLog {
			logRows = append(logRows, r)
		}
	}
	if len(logRows) > 0 {
		fmt.Fprintf(w, "\nThe leader's log during the write windows (from its /metrics, read just before and after each window): fsyncs per second, log entries per fsync (writes sharing one), the share of the window spent inside fdatasync, the mean fdatasync, and the mean time a write spent in stage raft_commit.\n\n")
		fmt.Fprintf(w, "| scenario | conns | req/s | fsyncs/s | entries/fsync | in fdatasync | mean fdatasync | mean raft_commit |\n|---|---|---|---|---|---|---|---|\n")
		for _, r := range logRows {
			fmt.Fprintf(w, "| %s | %d | %s | %s | %.1f | %.0f%% | %s | %s |\n", r.label, r.conns, fmtRate(r.rate), fmtRate(r.fsyncRate),
				r.perFsync, 100*r.busy, fmtDur(time.Duration(r.meanFsync)), fmtDur(time.Duration(r.meanCommit)))
		}
	}
	for _, r := range append(limits, rows...) {
		if r.errors > 0 {
			fmt.Fprintf(w, "\nErrors, %s at %d conns: %s\n", r.label, r.conns, errorSummary(r.errKinds))
		}
	}
	fmt.Fprintln(w)
}

// targets checks the targets against the medians.
func (rep *Report) targets(w io.Writer) {
	_, rows := reduce(rep.Runs)
	find := func(label string, conns int) *row {
		for i := range rows {
			if rows[i].label == label && rows[i].conns == conns {
				return &rows[i]
			}
		}
		return nil
	}
	mark := func(ok bool) string {
		if ok {
			return "✓"
		}
		return "✗"
	}
	var lines []string
	if r := find("create", 64); r != nil {
		p99 := time.Duration(r.p99)
		lines = append(lines, fmt.Sprintf("- durable creates at 64 conns ≥ 20,000/s with p99 ≤ 5 ms: %s/s, p99 %s %s",
			fmtRate(r.rate), fmtDur(p99), mark(r.rate >= 20000 && p99 <= 5*time.Millisecond && r.errors == 0)))
	}
	for _, c := range rep.Cfg.Conns {
		if r := find("read", c); r != nil && r.limit > 0 {
			lines = append(lines, fmt.Sprintf("- reads by id ≥ 0.7× the bare handler, %d conns: %.2f× %s", c, r.ratio, mark(r.ratio >= 0.7 && r.errors == 0)))
		}
	}
	for _, c := range rep.Cfg.Conns {
		if r := find("list", c); r != nil {
			lines = append(lines, fmt.Sprintf("- lists of 50 by an indexed filter ≥ 10,000/s, %d conns: %s/s %s", c, fmtRate(r.rate), mark(r.rate >= 10000 && r.errors == 0)))
		}
	}
	for _, label := range []string{"cluster create → leader", "cluster create → round-robin"} {
		if r := find(label, 64); r != nil {
			lines = append(lines, fmt.Sprintf("- 3-node cluster, durable creates at 64 conns ≥ 5,000/s (%s): %s/s, p50 %s, p99 %s %s",
				strings.TrimPrefix(label, "cluster create "), fmtRate(r.rate), fmtDur(time.Duration(r.p50)), fmtDur(time.Duration(r.p99)),
				mark(r.rate >= 5000 && r.errors == 0)))
		}
	}
	if len(lines) > 0 {
		fmt.Fprintf(w, "\nTargets (medians; a row with errors fails):\n\n%s\n", strings.Join(lines, "\n"))
	}
}

// syncMode describes event_store.sync as set.
func syncMode(set []string) string {
	mode := `"always" (fsync before every acknowledgement, the default)`
	for _, kv := range set {
		if v, ok := strings.CutPrefix(kv, "event_store.sync="); ok && v != "always" {
			mode = fmt.Sprintf("%q: writes are NOT fsync'd before they are acknowledged", v)
		} else if ok {
			mode = `"always" (fsync before every acknowledgement)`
		}
	}
	return mode
}

func fmtRate(r float64) string {
	s := fmt.Sprintf("%.0f", r)
	// Thousands separators.
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
