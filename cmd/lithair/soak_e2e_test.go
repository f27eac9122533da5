package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestSoak runs one data dir for LITHAIR_SOAK (a duration: 2m, 10m)
// under a moderate mixed load, SIGKILLs the server every 90–120 s and
// restarts it on the same data dir, and edits a rule file every 20 s. It
// samples the server's resident memory, goroutines and open files every
// 10 s and fails when they grow: a leak of one goroutine or file per
// request, stream or reload shows within one process life, and a leak
// that scales with the data shows at the same point of successive lives.
//
// The load is a fixed rate, not flat out (the point is leaks, not speed):
// soakWorkers clients, one request per soakTick each, 90% reads (by id,
// and lists filtered on an indexed field), 10% writes (create, PATCH,
// delete); two event-stream subscribers that hang up and resume with
// Last-Event-ID; a backup every ~30 s. Any 5xx, and any transport error
// that neither a kill nor a stall of the test process itself (see
// stallWatch) explains, fails the test. A soak under 6 minutes is cut in
// lives of a third of it, so that CI's 2-minute run still kills. After each restart a sample of
// the acknowledged writes is read back (TestSIGKILLDuringWrites checks
// them all).
//
// Run it with -v to see a line per sample, and a -timeout above the soak:
//
//	LITHAIR_SOAK=10m go test -v -count=1 -timeout 15m -run TestSoak ./cmd/lithair/
//
// With LITHAIR_RELIABILITY_OUT=file the summary is also written there as
// JSON.
func TestSoak(t *testing.T) {
	env := os.Getenv("LITHAIR_SOAK")
	if env == "" {
		t.Skip("set LITHAIR_SOAK to a duration (LITHAIR_SOAK=10m) to run the soak")
	}
	d, err := time.ParseDuration(env)
	if err != nil || d < 30*time.Second {
		t.Fatalf("LITHAIR_SOAK=%q: want a duration of at least 30s", env)
	}
	if dl, ok := t.Deadline(); ok && time.Until(dl) < d+2*time.Minute {
		t.Fatalf("LITHAIR_SOAK=%s does not fit in the test timeout (%s left): pass -timeout %s", d, time.Until(dl).Round(time.Second), (d + 5*time.Minute).Round(time.Minute))
	}
	s := newSoakRun(t, d)
	s.run()
	s.report()
}

const (
	soakWorkers     = 6
	soakTick        = 60 * time.Millisecond // per worker: ~100 requests/s in all
	soakSubscribers = 2
	soakSampleEvery = 10 * time.Second
	// soakWarmUp is discarded at the start of each life: replay, the first
	// connections, the runtime sizing its heap (RSS is 20-30 MiB above its
	// steady value for the first 20-30 s of a life, before the first GCs
	// and the scavenger).
	soakWarmUp      = 30 * time.Second
	soakReloadEvery = 20 * time.Second
	soakBackupEvery = 30 * time.Second

	// soakGoroutineMargin and soakFDMargin are how far goroutines and open
	// files may rise from a warm sample to a later one of the same life,
	// or from one life to a later one at the same point. Each is a
	// sample's minimum over three reads, so requests in flight barely
	// count: in 10-minute runs the steady values never moved (22 and 18),
	// and the widest swing seen on a loaded machine was +4 and +3. A leak
	// of one per request, or per event stream (a life's warm minute sees
	// about 15 of them), passes these within a life. A leak of one per
	// rules reload (3 to 4 in a life's warm minute) does not: the sum of
	// the rises of all lives, bounded by twice the margin, is what can
	// catch it, from about six lives (a 10-minute soak) on.
	soakGoroutineMargin = 10
	soakFDMargin        = 6
	// soakRSSFixed is the RSS growth allowed regardless of the data: what
	// the runtime keeps once it has had it (heap not yet returned to the
	// OS, stacks, zstd and Lua buffers), about as much as a warm server.
	soakRSSFixed = 64 << 20
	// soakRSSPerRecord is the RSS allowed per record the data set gained.
	// The server keeps every live record in memory with its index entries
	// and recent versions (product.lua: versioned = 10): in a 10-minute
	// soak the heap in use after a GC rose by less than 1 KiB per record
	// (8.1 MiB at 137 records, 7.9 MiB at 1520). Go's heap runs up to
	// twice its live size (GOGC=100), and the records of another load may
	// be bigger: 16 KiB leaves room for both, and still catches a leak
	// that outgrows the data. The data dir is no measure of the data: its
	// active segment is preallocated, so it moves in steps.
	soakRSSPerRecord = 16 << 10
)

// soakLife is one process on the run's data dir.
type soakLife struct {
	num   int
	n     *node
	pid   int
	start time.Time
	// dead is closed just before the process is killed: an error on a
	// request that finds it closed is the kill's doing.
	dead chan struct{}
	// gate is held shared by every request whose answer is booked, and
	// taken by the kill, so that the check after a restart sees every
	// answer the dead process gave.
	gate    sync.RWMutex
	samples []soakSample
	end     string // how the life ended
}

func (l *soakLife) killed() bool {
	select {
	case <-l.dead:
		return true
	default:
		return false
	}
}

// soakRecord is what the clients know of one record.
type soakRecord struct{ name, body string }

// soakRun is the state of one soak.
type soakRun struct {
	t                 *testing.T
	d                 time.Duration
	dataDir, rulesDir string
	start             time.Time
	lifeMin, lifeMax  time.Duration
	cur               atomic.Pointer[soakLife]
	stall             stallWatch
	lives             []*soakLife // the main goroutine's
	reloads, kills    int
	noteOn            bool // product.lua declares soak_note
	probe             int

	mu       sync.Mutex
	live     map[string]soakRecord // acknowledged and not deleted, state known
	ids      []string              // the keys of live, for a random pick
	pos      map[string]int        // index of an id in ids
	gone     []string              // a sample of acknowledged deletes
	goneSeen int
	unsure   int // records whose last write a kill left unanswered
	counts   map[string]int64
	failures int
	// slowest is the longest request since the last sample; the load is
	// light, so anything near a second is the server stalling.
	slowest     time.Duration
	slowestWhat string
}

func newSoakRun(t *testing.T, d time.Duration) *soakRun {
	s := &soakRun{t: t, d: d, dataDir: t.TempDir(), rulesDir: copyRules(t),
		live: map[string]soakRecord{}, pos: map[string]int{}, counts: map[string]int64{}}
	// A process lives 90–120 s; a short soak (CI's 2m) is cut in about
	// three lives so that it still kills and restarts.
	s.lifeMin, s.lifeMax = 90*time.Second, 120*time.Second
	if d < 6*time.Minute {
		s.lifeMin, s.lifeMax = d/3, d*4/10
	}
	return s
}

func (s *soakRun) count(kind string, k int64) {
	s.mu.Lock()
	s.counts[kind] += k
	s.mu.Unlock()
}

// fail reports an unexpected answer; past the 20th only the count grows.
func (s *soakRun) fail(format string, args ...any) {
	s.mu.Lock()
	s.failures++
	k := s.failures
	s.mu.Unlock()
	if k <= 20 {
		s.t.Errorf("soak +%s: "+format, append([]any{time.Since(s.start).Round(time.Second)}, args...)...)
	} else {
		s.t.Fail()
	}
}

func (s *soakRun) addLive(id string, r soakRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live[id]; !ok {
		s.pos[id] = len(s.ids)
		s.ids = append(s.ids, id)
	}
	s.live[id] = r
}

// dropLive forgets id as live: it is being deleted, or a kill left its
// last write unanswered.
func (s *soakRun) dropLive(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropLiveLocked(id)
}

func (s *soakRun) dropLiveLocked(id string) {
	i, ok := s.pos[id]
	if !ok {
		return
	}
	last := s.ids[len(s.ids)-1]
	s.ids[i], s.pos[last] = last, i
	s.ids = s.ids[:len(s.ids)-1]
	delete(s.pos, id)
	delete(s.live, id)
}

func (s *soakRun) isLive(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.live[id]
	return ok
}

func (s *soakRun) pick(rng *rand.Rand) (string, soakRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ids) == 0 {
		return "", soakRecord{}, false
	}
	id := s.ids[rng.IntN(len(s.ids))]
	return id, s.live[id], true
}

// booked runs f with the live process, unless it is being killed. The
// kill waits for f to return, so that what f books of the answers is
// complete when the restart checks it.
func (s *soakRun) booked(f func(l *soakLife)) {
	l := s.cur.Load()
	l.gate.RLock()
	defer l.gate.RUnlock()
	if !l.killed() {
		f(l)
	}
}

// startLife makes n, a process on the data dir, the live one.
func (s *soakRun) startLife(n *node) *soakLife {
	if n.adminToken() == "" {
		s.t.Fatalf("cannot sign in as admin:\n%s", n.logs())
	}
	l := &soakLife{num: len(s.lives) + 1, n: n, pid: n.cmd.Process.Pid, start: time.Now(), dead: make(chan struct{})}
	s.lives = append(s.lives, l)
	s.cur.Store(l)
	return l
}

// endLife kills the live process, with SIGQUIT (a goroutine dump, logged
// by creator) if its goroutines grew, else SIGKILL; both leave no chance
// to flush. If its open files grew, what they are is logged first. It
// returns once every booked request to it has its answer.
func (s *soakRun) endLife(l *soakLife, how string) {
	sig := syscall.SIGKILL
	if p, q, ok := soakWarmSpan(l.samples); ok {
		if q.Goroutines > p.Goroutines+soakGoroutineMargin {
			sig = syscall.SIGQUIT
		}
		if q.FDs > p.FDs+soakFDMargin {
			s.t.Logf("life %d: open files grew; what they are:\n%s", l.num, fdCensus(l.pid))
		}
	}
	close(l.dead)
	l.n.cmd.Process.Signal(sig)
	<-l.n.exited
	// Taking the gate waits until every booked request has its answer;
	// those booked after it see l.dead closed.
	l.gate.Lock()
	//lint:ignore SA2001 the empty section is the wait
	l.gate.Unlock()
	l.end = how
	if sig == syscall.SIGQUIT {
		l.end = how + " (SIGQUIT)"
		s.t.Logf("life %d: goroutines grew; its goroutines when killed, by where they wait and who started them:\n%s", l.num, goroutineCensus(l.n.logs()))
	}
}

// restart kills the live process and starts another on the data dir, then
// reads back a sample of what was acknowledged.
func (s *soakRun) restart() {
	old := s.cur.Load()
	s.endLife(old, "SIGKILL")
	s.kills++
	n := startNode(s.t, s.dataDir, "--rules", s.rulesDir)
	s.mu.Lock()
	var check []string
	for _, i := range rand.Perm(len(s.ids))[:min(200, len(s.ids))] {
		check = append(check, s.ids[i])
	}
	want := map[string]string{}
	for _, id := range check {
		want[id] = s.live[id].body
	}
	gone := slices.Clone(s.gone)
	s.mu.Unlock()
	bad := 0
	for _, id := range check {
		if r := s.must(n, "GET", "/api/products/"+id, ""); r.Status != 200 || string(r.Body) != want[id] {
			bad++
			if bad <= 5 {
				s.t.Errorf("after kill %d: acknowledged record %s: %d %s, want %s", s.kills, id, r.Status, r.Body, want[id])
			}
		}
	}
	for _, id := range gone {
		if r := s.must(n, "GET", "/api/products/"+id, ""); r.Status != 404 {
			bad++
			if bad <= 5 {
				s.t.Errorf("after kill %d: acknowledged delete of %s lost: %d %s", s.kills, id, r.Status, r.Body)
			}
		}
	}
	s.count("checked after a kill", int64(len(check)+len(gone)))
	s.startLife(n)
}

// reloadRules toggles an optional field in product.lua, waits for the
// watcher to deploy it, and checks that writes follow the new rules.
func (s *soakRun) reloadRules() {
	n := s.cur.Load().n
	before := s.rulesVersion(n)
	s.noteOn = !s.noteOn
	p := filepath.Join(s.rulesDir, "product.lua")
	b, err := os.ReadFile(p)
	if err != nil {
		s.t.Fatal(err)
	}
	const anchor, note = `category_id = { type = "string" },`, "\n    soak_note = { type = \"string\" },"
	src := strings.Replace(string(b), note, "", 1)
	if s.noteOn {
		src = strings.Replace(src, anchor, anchor+note, 1)
	}
	// Written beside and renamed, so the watcher never reads half a file.
	if err := os.WriteFile(p+".tmp", []byte(src), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		s.t.Fatal(err)
	}
	edited := time.Now()
	for s.rulesVersion(n) == before {
		if time.Since(edited) > 15*time.Second && !s.stall.explains(edited) {
			s.fail("reload %d: the rules did not change within 15s of the edit", s.reloads+1)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.reloads++
	info := s.must(n, "GET", "/api/_rules", "").json(s.t)
	if last, _ := info["last_reload"].(map[string]any); last == nil || last["ok"] != true || last["trigger"] != "watch" {
		s.fail("reload %d: last_reload = %v", s.reloads, info["last_reload"])
	}
	s.probe++
	r := s.must(n, "POST", "/api/products", fmt.Sprintf(`{"name":"soak-probe-%d","price":1,"soak_note":"n"}`, s.probe))
	s.count("rules probe", 1)
	switch {
	case !s.noteOn && r.Status == http.StatusUnprocessableEntity:
	case s.noteOn && r.Status == http.StatusCreated:
		id, _ := r.json(s.t)["id"].(string)
		if r := s.must(n, "DELETE", "/api/products/"+id, ""); r.Status != http.StatusNoContent {
			s.fail("deleting probe %s: %d %s", id, r.Status, r.Body)
		}
	default:
		s.fail("reload %d (soak_note declared: %v): a create with soak_note: %d %s", s.reloads, s.noteOn, r.Status, r.Body)
	}
}

func (s *soakRun) rulesVersion(n *node) string {
	v, _ := s.must(n, "GET", "/api/_rules", "").json(s.t)["version"].(string)
	return v
}

// must is n.must for the main goroutine, except that a request that a
// stall of the test process cut is sent again (the reload probe is the
// only write, and a second probe record does no harm).
func (s *soakRun) must(n *node, method, path, body string) response {
	s.t.Helper()
	for try := 1; ; try++ {
		t0 := time.Now()
		r, err := n.do(method, path, body)
		switch {
		case err == nil:
			return r
		case try < 5 && s.stall.explains(t0):
			s.count("sent again after a stall of the test process", 1)
		default:
			s.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// run drives the soak: load in the background, and in this goroutine the
// samples, rule edits and kills, one at a time.
func (s *soakRun) run() {
	s.start = time.Now()
	s.stall.last = s.start
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }() // also when a check below stops the test
	wg.Go(func() { s.stall.run(stop) })
	s.startLife(startNode(s.t, s.dataDir, "--rules", s.rulesDir))
	for w := 0; w < soakWorkers; w++ {
		wg.Go(func() { s.worker(w, stop) })
	}
	for range soakSubscribers {
		wg.Go(func() { s.subscriber(stop) })
	}
	wg.Go(func() { s.backups(stop) })

	end := s.start.Add(s.d)
	lifeSpan := func() time.Duration { return s.lifeMin + rand.N(s.lifeMax-s.lifeMin+1) }
	nextSample, nextReload, nextKill := s.start.Add(soakSampleEvery), s.start.Add(soakReloadEvery), s.start.Add(lifeSpan())
	// after is the next time a task is due: the one after due, or a
	// period from now if the test process stood still past it.
	after := func(due time.Time, every time.Duration) time.Time {
		if next := due.Add(every); time.Until(next) > every/2 {
			return next
		}
		return time.Now().Add(every / 2)
	}
	for {
		now := time.Now()
		switch {
		case !now.Before(end):
			s.sample()
			close(stop)
			wg.Wait()
			stop = make(chan struct{}) // for the deferred close
			s.endLife(s.cur.Load(), "end of run")
			return
		case !now.Before(nextSample):
			s.sample()
			nextSample = after(nextSample, soakSampleEvery)
		case !now.Before(nextKill):
			// The last life needs its warm-up and two samples after it.
			if end.Sub(now) > soakWarmUp+2*soakSampleEvery+5*time.Second {
				s.restart()
				// Sample on the new life's clock, reload after it warmed up.
				nextSample = time.Now().Add(soakSampleEvery)
				nextReload = time.Now().Add(soakReloadEvery)
			}
			nextKill = time.Now().Add(lifeSpan())
		case !now.Before(nextReload):
			s.reloadRules()
			nextReload = after(nextReload, soakReloadEvery)
		default:
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// soakWarmSpan returns the first and the last sample after the warm-up;
// ok is false without two of them.
func soakWarmSpan(samples []soakSample) (first, last soakSample, ok bool) {
	var warm []soakSample
	for _, p := range samples {
		if p.warm() {
			warm = append(warm, p)
		}
	}
	if len(warm) < 2 {
		return first, last, false
	}
	return warm[0], warm[len(warm)-1], true
}

// rssAllowed is the RSS a later sample may reach from a warm one, given
// how much the data grew between them.
func rssAllowed(from, to soakSample) int64 {
	return from.RSS + max(soakRSSFixed, from.RSS/2) + soakRSSPerRecord*int64(max(0, to.Records-from.Records))
}

type soakLifeSummary struct {
	Life  int        `json:"life"`
	Secs  float64    `json:"seconds"`
	End   string     `json:"end"`
	First soakSample `json:"first"` // the first sample after the warm-up
	Last  soakSample `json:"last"`
}

type soakSummary struct {
	Test     string            `json:"test"`
	Duration string            `json:"duration"`
	Lives    []soakLifeSummary `json:"lives"`
	First    soakSample        `json:"first"` // the run's first sample after the warm-up
	Last     soakSample        `json:"last"`
	Requests map[string]int64  `json:"requests"`
	Kills    int               `json:"kills"`
	Reloads  int               `json:"reloads"`
	Failures int               `json:"failures"`
	Bounds   map[string]string `json:"bounds"`
	Grew     []string          `json:"grew"` // what passed its bound; empty when flat
	// Stalls are the times the test process itself stood still.
	Stalls  []string     `json:"stalls"`
	Samples []soakSample `json:"samples"`
}

// report checks flatness and logs the summary table.
func (s *soakRun) report() {
	sum := soakSummary{Test: "TestSoak", Grew: []string{}, Stalls: []string{}, Duration: s.d.String(), Kills: s.kills, Reloads: s.reloads, Requests: s.counts, Failures: s.failures,
		Bounds: map[string]string{
			"goroutines": fmt.Sprintf("+%d over the warm value", soakGoroutineMargin),
			"fds":        fmt.Sprintf("+%d over the warm value", soakFDMargin),
			"rss":        fmt.Sprintf("+max(%d MiB, 50%%) + %d KiB per record gained over the warm value", soakRSSFixed>>20, soakRSSPerRecord>>10),
			"warm_up":    soakWarmUp.String(),
		}}
	grew := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		sum.Grew = append(sum.Grew, msg)
		s.t.Error(msg)
	}
	var firsts []soakSample // each life's first warm sample: the same point in life
	var rise soakSample     // the sum over lives of what each rose by
	for _, l := range s.lives {
		sum.Samples = append(sum.Samples, l.samples...)
		ls := soakLifeSummary{Life: l.num, End: l.end}
		if len(l.samples) > 0 {
			ls.Secs = l.samples[len(l.samples)-1].InLifeS
		}
		first, last, ok := soakWarmSpan(l.samples)
		if !ok {
			s.t.Logf("life %d: fewer than two samples after the warm-up; not compared within the life", l.num)
			if len(l.samples) > 0 {
				ls.First, ls.Last = l.samples[0], l.samples[len(l.samples)-1]
			}
			sum.Lives = append(sum.Lives, ls)
			continue
		}
		ls.First, ls.Last = first, last
		sum.Lives = append(sum.Lives, ls)
		firsts = append(firsts, first)
		rise.Goroutines += last.Goroutines - first.Goroutines
		rise.FDs += last.FDs - first.FDs
		if last.Goroutines > first.Goroutines+soakGoroutineMargin {
			grew("life %d: goroutines grew from %d to %d (+%d allowed)", l.num, first.Goroutines, last.Goroutines, soakGoroutineMargin)
		}
		if last.FDs > first.FDs+soakFDMargin {
			grew("life %d: open files grew from %d to %d (+%d allowed)", l.num, first.FDs, last.FDs, soakFDMargin)
		}
		if last.RSS > rssAllowed(first, last) {
			grew("life %d: RSS grew from %.1f to %.1f MiB, beyond %.1f MiB for %d more records", l.num, mib(first.RSS), mib(last.RSS), mib(rssAllowed(first, last)), last.Records-first.Records)
		}
	}
	if rise.Goroutines > 2*soakGoroutineMargin {
		grew("summed over lives: goroutines rose by %d from each life's warm-up to its end (%d allowed)", rise.Goroutines, 2*soakGoroutineMargin)
	}
	if rise.FDs > 2*soakFDMargin {
		grew("summed over lives: open files rose by %d from each life's warm-up to its end (%d allowed)", rise.FDs, 2*soakFDMargin)
	}
	if len(firsts) >= 2 {
		a, b := firsts[0], firsts[len(firsts)-1]
		if b.Goroutines > a.Goroutines+soakGoroutineMargin {
			grew("across lives: goroutines %ds into a life grew from %d (life %d) to %d (life %d)", int(soakWarmUp.Seconds()), a.Goroutines, a.Life, b.Goroutines, b.Life)
		}
		if b.FDs > a.FDs+soakFDMargin {
			grew("across lives: open files after the warm-up grew from %d (life %d) to %d (life %d)", a.FDs, a.Life, b.FDs, b.Life)
		}
		if b.RSS > rssAllowed(a, b) {
			grew("across lives: RSS after the warm-up grew from %.1f (life %d) to %.1f MiB (life %d), beyond %.1f MiB for %d more records", mib(a.RSS), a.Life, mib(b.RSS), b.Life, mib(rssAllowed(a, b)), b.Records-a.Records)
		}
	}
	for _, p := range sum.Samples {
		if p.warm() {
			sum.First = p
			break
		}
	}
	if len(sum.Samples) > 0 {
		sum.Last = sum.Samples[len(sum.Samples)-1]
	}

	var tb strings.Builder
	fmt.Fprintf(&tb, "soak %s: %d lives, %d kills, %d rules reloads; values after a %s warm-up (first -> last)\n", s.d, len(s.lives), s.kills, s.reloads, soakWarmUp)
	fmt.Fprintf(&tb, "%-4s %5s  %-18s  %-17s  %-17s  %-10s  %-9s  %-15s  %s\n", "life", "secs", "end", "RSS MiB", "heap MiB", "goroutines", "fds", "data dir MiB", "records")
	row := func(name string, secs float64, end string, a, b soakSample) {
		fmt.Fprintf(&tb, "%-4s %5.0f  %-18s  %7.1f -> %-6.1f  %7.1f -> %-6.1f  %3d -> %-3d  %3d -> %-3d  %6.1f -> %-6.1f  %d -> %d\n",
			name, secs, end, mib(a.RSS), mib(b.RSS), mib(a.HeapInuse), mib(b.HeapInuse), a.Goroutines, b.Goroutines, a.FDs, b.FDs, mib(a.DataDir), mib(b.DataDir), a.Records, b.Records)
	}
	for _, l := range sum.Lives {
		row(strconv.Itoa(l.Life), l.Secs, l.End, l.First, l.Last)
	}
	row("all", sum.Last.AtS, "", sum.First, sum.Last)
	kinds := make([]string, 0, len(s.counts))
	for k := range s.counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	tb.WriteString("requests:")
	for _, k := range kinds {
		fmt.Fprintf(&tb, " %s %d;", k, s.counts[k])
	}
	fmt.Fprintf(&tb, "\nunsure after a kill or a stall: %d records; failures: %d\n", s.unsure, s.failures)
	for _, st := range s.stall.stalls {
		sum.Stalls = append(sum.Stalls, fmt.Sprintf("%.1fs from +%.0fs", st[1].Sub(st[0]).Seconds(), st[0].Sub(s.start).Seconds()))
	}
	if len(sum.Stalls) > 0 {
		fmt.Fprintf(&tb, "the test process stood still: %s\n", strings.Join(sum.Stalls, ", "))
	}
	if len(sum.Grew) == 0 {
		fmt.Fprintf(&tb, "flat: nothing grew past its bound (goroutines +%d, fds +%d, RSS +max(%d MiB, 50%%) + %d KiB per record gained)\n", soakGoroutineMargin, soakFDMargin, soakRSSFixed>>20, soakRSSPerRecord>>10)
	}
	for _, g := range sum.Grew {
		fmt.Fprintf(&tb, "GREW: %s\n", g)
	}
	s.t.Log("\n" + tb.String())

	if out := os.Getenv("LITHAIR_RELIABILITY_OUT"); out != "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			s.t.Errorf("LITHAIR_RELIABILITY_OUT: %v", err)
		}
	}
}
