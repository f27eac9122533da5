package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Op makes the next request of a worker.
type Op func(w *Worker) *http.Request

// Worker is one closed-loop client: it sends a request, waits for the
// whole answer, and sends the next. Base is the server it talks to.
type Worker struct {
	ID   int
	Base string
	Rand *rand.Rand
	Seq  int
}

// Result is one measurement: one scenario at one connection count.
type Result struct {
	Scenario string
	Conns    int
	Ops      uint64 // successful requests completed inside the window
	Errors   uint64 // failed requests (transport error or non-2xx) inside the window
	ErrKinds map[string]uint64
	Elapsed  time.Duration
	Hist     Histogram
	CPU      CPUShare
	Log      *LogStats // the log's activity, when Load.Metrics was set
}

// Rate returns the successful requests per second.
func (r *Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// Load is how to drive one measurement.
type Load struct {
	Label    string
	Conns    int
	Bases    []string // worker i talks to Bases[i % len(Bases)]
	Token    string   // sent as a bearer token when set
	Op       Op
	Client   string // "http" (one http.Client) or "conn" (connclient.go)
	Warmup   time.Duration
	Duration time.Duration
	PIDs     []int  // server processes whose CPU is reported
	Metrics  string // base URL of the node whose /metrics tell the log's activity ("" none)
	Progress *Progress
	// During, when set, runs beside the measured window (a profile).
	During func(d time.Duration)
}

// newClient returns the one client of a measurement: a Transport sized for
// conns connections per server, kept alive, no compression.
func newClient(conns int, servers int) (*http.Client, *http.Transport) {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        conns * servers,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: time.Minute}, tr
}

// Run drives conns closed-loop workers for the warmup, then for the
// measured window. Only requests sent and answered inside the window
// count; a request is an error when it fails or its status is not 2xx.
func (l Load) Run() *Result {
	client, tr := newClient(l.Conns, len(l.Bases))
	defer tr.CloseIdleConnections()
	const (
		warming = iota
		measuring
		stopped
	)
	var phase atomic.Int32
	type local struct {
		hist     Histogram
		ops      uint64
		errs     uint64
		errKinds map[string]uint64
	}
	locals := make([]*local, l.Conns)
	var wg sync.WaitGroup
	for i := range l.Conns {
		lc := &local{errKinds: map[string]uint64{}}
		locals[i] = lc
		w := &Worker{ID: i, Base: l.Bases[i%len(l.Bases)], Rand: rand.New(rand.NewPCG(uint64(i)+1, uint64(time.Now().UnixNano())))}
		send := func(req *http.Request) string { return do(client, req) }
		var cc *connClient
		if l.Client == "conn" {
			cc = newConnClient(w.Base)
			send = cc.do
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cc != nil {
				defer cc.close()
			}
			for {
				p0 := phase.Load()
				if p0 == stopped {
					return
				}
				req := l.Op(w)
				w.Seq++
				if l.Token != "" {
					req.Header.Set("Authorization", "Bearer "+l.Token)
				}
				t0 := time.Now()
				kind := send(req)
				d := time.Since(t0)
				if p0 != measuring || phase.Load() != measuring {
					continue
				}
				if kind != "" {
					lc.errs++
					lc.errKinds[kind]++
					l.Progress.AddError()
					continue
				}
				lc.ops++
				lc.hist.Record(d)
				l.Progress.Add(1)
			}
		}()
	}
	time.Sleep(l.Warmup)
	var during sync.WaitGroup
	if l.During != nil {
		during.Add(1)
		go func() { defer during.Done(); l.During(l.Duration) }()
	}
	var m0, m1 metricSample
	if l.Metrics != "" {
		m0 = scrapeMetrics(l.Metrics)
	}
	cpu0 := sampleCPU(l.PIDs)
	l.Progress.Begin(l.Label, l.Conns, l.Duration)
	phase.Store(measuring)
	time.Sleep(l.Duration)
	phase.Store(stopped)
	cpu1 := sampleCPU(l.PIDs)
	if l.Metrics != "" {
		m1 = scrapeMetrics(l.Metrics)
	}
	l.Progress.End()
	wg.Wait()
	during.Wait()
	r := &Result{Scenario: l.Label, Conns: l.Conns, Elapsed: cpu1.at.Sub(cpu0.at), ErrKinds: map[string]uint64{},
		CPU: cpu0.Share(cpu1, numCPU()), Log: logStats(m0, m1)}
	for _, lc := range locals {
		r.Hist.Merge(&lc.hist)
		r.Ops += lc.ops
		r.Errors += lc.errs
		for k, v := range lc.errKinds {
			r.ErrKinds[k] += v
		}
	}
	return r
}

// do sends req and reads the whole answer. It returns "" for a 2xx, else
// what went wrong, short enough to count kinds of failure by.
func do(c *http.Client, req *http.Request) string {
	resp, err := c.Do(req)
	if err != nil {
		s := err.Error()
		if i := strings.LastIndex(s, ": "); i >= 0 {
			s = s[i+2:]
		}
		return "transport: " + s
	}
	return statusKind(resp)
}

// statusKind reads and closes the answer's body and returns "" for a 2xx,
// else the status and the error code of Lithair's JSON error.
func statusKind(resp *http.Response) string {
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		io.Copy(io.Discard, resp.Body)
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	code := ""
	if i := strings.Index(string(b), `"code":"`); i >= 0 {
		code, _, _ = strings.Cut(string(b[i+8:]), `"`)
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, code)
}

// errorSummary lists the kinds of failure, most frequent first.
func errorSummary(kinds map[string]uint64) string {
	type kv struct {
		k string
		v uint64
	}
	var l []kv
	for k, v := range kinds {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	var parts []string
	for _, e := range l {
		parts = append(parts, fmt.Sprintf("%d× %s", e.v, e.k))
	}
	return strings.Join(parts, ", ")
}
