package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// RunResult is everything one run measured.
type RunResult struct {
	N         int
	LoadStart string
	LoadEnd   string
	Fsync     *FsyncResult
	Bare      map[int]*Result // by connections
	Rows      []*Result       // Lithair, in the order measured
}

// bench is one run: the limits, then each server setup in turn, each on
// fresh data dirs under dir.
type bench struct {
	cfg       *Config
	bin, root string
	dir       string
	set       []string
	pg        *Progress
	run       *RunResult
}

func (b *bench) all() error {
	if b.cfg.Limits {
		if err := b.limits(); err != nil {
			return err
		}
	}
	if b.cfg.Single && len(b.cfg.Scenarios) > 0 {
		if err := b.single(); err != nil {
			return err
		}
	}
	if b.cfg.LogCost {
		for _, rate := range []string{"0", "1"} {
			if err := b.logCost(rate); err != nil {
				return err
			}
		}
	}
	if b.cfg.Cluster {
		if err := b.cluster(); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) limits() error {
	b.pg.Note("limit: raw write+fdatasync of %d-byte records in %s", b.cfg.FsyncSize, b.dir)
	fr, err := measureFsync(b.dir, b.cfg.FsyncSize, b.cfg.Warmup, b.cfg.Duration, b.pg)
	if err != nil {
		return err
	}
	b.run.Fsync = fr
	b.pg.Note("raw write+fdatasync: %9.0f ops/s  p50 %s  p99 %s  p99.9 %s  %s", fr.Rate(),
		fmtDur(fr.Hist.Quantile(0.5)), fmtDur(fr.Hist.Quantile(0.99)), fmtDur(fr.Hist.Quantile(0.999)), fr.CPU)
	bare, err := startBare()
	if err != nil {
		return err
	}
	defer bare.Stop()
	b.pg.Note("limit: bare net/http handler at %s", bare.Base)
	for _, c := range b.cfg.Conns {
		r := Load{Label: "bare handler", Conns: c, Bases: []string{bare.Base}, Op: opBare, Client: b.cfg.Client,
			Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, PIDs: []int{bare.PID()}, Progress: b.pg}.Run()
		b.run.Bare[c] = r
		b.noteErrors(r)
	}
	return nil
}

func (b *bench) nodeOptions(dir string, set ...string) NodeOptions {
	return NodeOptions{Bin: b.bin, Rules: filepath.Join(b.root, "configs", "rules"), Dir: dir,
		Set: append(append([]string{}, b.set...), set...), Pprof: b.cfg.Pprof != ""}
}

// startSingle starts a fresh single node, waits until it is ready and
// signs in.
func (b *bench) startSingle(name string, set ...string) (*Node, string, error) {
	password := newSecret(12)
	o := b.nodeOptions(filepath.Join(b.dir, name), set...)
	o.Env = []string{"LITHAIR_AUTH_INITIAL_ADMIN_PASSWORD=" + password}
	n, err := startNode(o)
	if err != nil {
		return nil, "", err
	}
	if err := n.WaitReady(time.Minute); err != nil {
		n.Stop()
		return nil, "", err
	}
	token, err := login(n.Base, password)
	if err != nil {
		n.Stop()
		return nil, "", err
	}
	return n, token, nil
}

func (b *bench) single() error {
	n, token, err := b.startSingle("single")
	if err != nil {
		return err
	}
	defer b.removeAfter(n)
	var ds *Dataset
	if b.cfg.Seed > 0 {
		b.pg.Note("seeding %d products through /api/_batch", b.cfg.Seed)
		t0 := time.Now()
		if ds, err = seed(n.Base, token, b.cfg.Seed); err != nil {
			return err
		}
		if err := ds.check(n.Base, token); err != nil {
			return err
		}
		b.pg.Note("seeded in %v", time.Since(t0).Round(time.Millisecond))
	}
	for _, sc := range b.cfg.Scenarios {
		op, err := scenarioOp(sc, ds)
		if err != nil {
			return err
		}
		tok := token
		if sc == "read-anon" {
			tok = ""
		}
		for _, c := range b.cfg.Conns {
			l := Load{Label: sc, Conns: c, Bases: []string{n.Base}, Token: tok, Op: op, Client: b.cfg.Client,
				Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, PIDs: []int{n.PID()}, Progress: b.pg, Metrics: n.Base}
			b.profile(&l, []*Node{n}, fmt.Sprintf("%s-%d", sc, c))
			r := l.Run()
			b.run.Rows = append(b.run.Rows, r)
			b.noteErrors(r)
		}
	}
	return nil
}

// logCost runs creates on a fresh node with log.sample_rate = rate.
func (b *bench) logCost(rate string) error {
	n, token, err := b.startSingle("logcost-"+rate, "log.sample_rate="+rate)
	if err != nil {
		return err
	}
	defer b.removeAfter(n)
	label := "create, fresh node, log.sample_rate=" + rate
	l := Load{Label: label, Conns: b.cfg.LogCostConns, Bases: []string{n.Base}, Token: token, Op: opCreate, Client: b.cfg.Client,
		Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, PIDs: []int{n.PID()}, Progress: b.pg, Metrics: n.Base}
	b.profile(&l, []*Node{n}, fmt.Sprintf("create-lograte%s-%d", rate, b.cfg.LogCostConns))
	r := l.Run()
	b.run.Rows = append(b.run.Rows, r)
	b.noteErrors(r)
	return nil
}

func (b *bench) cluster() error {
	b.pg.Note("starting a 3-node loopback cluster")
	root := filepath.Join(b.dir, "cluster")
	c, err := startCluster(b.nodeOptions(""), root, newSecret(12), 3)
	if err != nil {
		return err
	}
	defer func() {
		c.Stop()
		if !b.cfg.Keep {
			os.RemoveAll(root)
		}
	}()
	b.pg.Note("cluster ready, leader %s", c.Leader.ID)
	modes := []struct {
		label string
		bases []string
	}{
		{"cluster create → leader", []string{c.Leader.Base}},
		{"cluster create → round-robin", c.Bases()},
	}
	for _, m := range modes {
		for _, conns := range b.cfg.Conns {
			l := Load{Label: m.label, Conns: conns, Bases: m.bases, Token: c.Token, Op: opCreate, Client: b.cfg.Client,
				Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, PIDs: c.PIDs(), Progress: b.pg, Metrics: c.Leader.Base}
			name := "cluster-leader"
			if len(m.bases) > 1 {
				name = "cluster-roundrobin"
			}
			b.profile(&l, c.Nodes, fmt.Sprintf("%s-%d", name, conns))
			r := l.Run()
			b.run.Rows = append(b.run.Rows, r)
			b.noteErrors(r)
		}
	}
	return nil
}

// profile has l save a CPU profile of each node over its window, with
// -pprof: DIR/runN-NAME.pprof, or DIR/runN-NAME-NODE.pprof in a cluster.
func (b *bench) profile(l *Load, nodes []*Node, name string) {
	if b.cfg.Pprof == "" {
		return
	}
	l.During = func(d time.Duration) {
		var wg sync.WaitGroup
		for _, n := range nodes {
			file := fmt.Sprintf("run%d-%s.pprof", b.run.N, name)
			if len(nodes) > 1 {
				file = fmt.Sprintf("run%d-%s-%s.pprof", b.run.N, name, n.ID)
			}
			path := filepath.Join(b.cfg.Pprof, file)
			wg.Go(func() {
				if err := n.cpuProfile(d, path); err != nil {
					b.pg.Note("profile %s: %v", path, err)
				}
			})
		}
		wg.Wait()
	}
}

// removeAfter stops n and removes its data dir and log, unless -keep.
func (b *bench) removeAfter(n *Node) {
	n.Stop()
	if !b.cfg.Keep {
		os.RemoveAll(n.Dir)
		os.Remove(n.LogPath)
	}
}

func (b *bench) noteErrors(r *Result) {
	line := fmt.Sprintf("%-30s conns %3d: %9.0f req/s  p50 %s  p99 %s  p99.9 %s  %s",
		r.Scenario, r.Conns, r.Rate(), fmtDur(r.Hist.Quantile(0.5)), fmtDur(r.Hist.Quantile(0.99)),
		fmtDur(r.Hist.Quantile(0.999)), r.CPU)
	if lg := r.Log; lg != nil && lg.Entries > 0 {
		line += fmt.Sprintf("  log: %.0f fsync/s, %.1f entries/fsync, in fdatasync %.0f%%", lg.FsyncRate(), lg.PerFsync(), 100*lg.Busy())
	}
	if r.Errors > 0 {
		line += "  ERRORS: " + errorSummary(r.ErrKinds)
	}
	b.pg.Note("%s", strings.TrimSpace(line))
}
