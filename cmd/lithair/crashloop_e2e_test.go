package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCrashLoop runs the real binary on one data dir through many SIGKILLs
// while eight clients write over HTTP, and after every restart checks
// what the clients were told against what the node serves:
//
//   - every acknowledged create and update is there with the content the
//     server answered; a record whose last write went unanswered holds
//     either the acknowledged content or that write's;
//   - every acknowledged delete stays deleted;
//   - every record served was written by a client;
//   - with no write in flight, the node's GET /api/_state/hash equals what
//     `lithair log replay` computes from the whole log, archive first and
//     no snapshot, once the node is stopped.
//
// One cycle: start the node (after a SIGKILL during writes; the recovery
// time is measured), check, read the state hash, SIGKILL it idle, replay
// the log and compare; start it again (measured too), run the writers for
// a random 50-400 ms and SIGKILL it at that random moment. Snapshots are
// taken every 1,500 entries or so and segments are small (256 KiB); Raft
// compacts the log only 10,240 entries behind a snapshot (its default
// TrailingLogs), so from about the 60th cycle on the node restores from
// snapshots of a compacted log and the replay needs the archive.
//
// Every check is a full one: it lists all records (GET
// /api/products?limit=1000, pages by cursor) once per restart. A list
// pass costs as much as the live records, which the writers keep bounded
// (at most 30 each), so the checks do not grow with the history;
// acknowledged deletes are checked against the same list. A random sample
// of records is also read one by one (GET /api/products/ID), and of
// deleted ones (404). The replay, by contrast, reads the whole history
// every cycle, and is what makes a long run slow: writers pause up to
// crashPauseMs between writes so that the log grows by a few hundred
// entries a cycle.
//
// Cycles: 3 by default (a few seconds, part of `go test ./...`); CI runs
// LITHAIR_CRASH_CYCLES=200; the long mode is
//
//	LITHAIR_CRASH_CYCLES=1000 go test -count=1 -timeout 90m -run TestCrashLoop -v ./cmd/lithair/
//
// LITHAIR_CRASH_SEED repeats a run's random choices (the seed is logged;
// the kill moments depend on timing and do not repeat exactly), and
// LITHAIR_RELIABILITY_OUT names a file to write the figures to as JSON.
func TestCrashLoop(t *testing.T) {
	cycles := 3
	if v := os.Getenv("LITHAIR_CRASH_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("LITHAIR_CRASH_CYCLES=%q: want a positive number", v)
		}
		cycles = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("LITHAIR_CRASH_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("LITHAIR_CRASH_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("crash loop: %d cycles, seed %d (LITHAIR_CRASH_SEED repeats it)", cycles, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	bin := lithairBinary(t) // built before any start is timed
	dir := t.TempDir()
	env := []string{
		"LITHAIR_EVENT_STORE_SNAPSHOT_THRESHOLD=1500",
		"LITHAIR_EVENT_STORE_SNAPSHOT_INTERVAL=100ms",
		"LITHAIR_EVENT_STORE_SEGMENT_SIZE=262144",
		"LITHAIR_FIREWALL_RATE=0", // the readiness probes poll fast
	}
	b := &crashBook{recs: map[string]*crashRec{}, pendingCreates: map[string]int{}}
	var st crashStats
	began := time.Now()

	for cycle := 0; ; cycle++ {
		// Recovery from the SIGKILL during writes (cycle 0: the bootstrap).
		n, times := b.start(t, bin, dir, env, fmt.Sprintf("c%d-check", cycle), cycle%crashWriters)
		if cycle > 0 {
			st.crash = append(st.crash, times)
		}
		b.check(t, n, rng, cycle)
		want := n.stateHash(t, b.token)
		n.kill()
		st.countSnapshots(dir)
		replayStart := time.Now()
		got := crashReplay(t, bin, dir)
		st.replay = append(st.replay, time.Since(replayStart))
		if got.index != want.Index || got.hash != want.Hash {
			t.Fatalf("cycle %d: the node served applied index %d hash %s with no write in flight; `lithair log replay` of its log gives index %d hash %s",
				cycle, want.Index, want.Hash, got.index, got.hash)
		}
		st.archived = got.archived
		if cycle == cycles {
			break
		}

		// Writes, killed at a random moment.
		n, times = b.start(t, bin, dir, env, fmt.Sprintf("c%d-write", cycle), (cycle+3)%crashWriters)
		st.idle = append(st.idle, times)
		b.write(t, n, rng, cycle, time.Duration(50+rng.IntN(351))*time.Millisecond)
		st.countSnapshots(dir)
		if cycle%20 == 19 {
			t.Logf("cycle %d: %s", cycle+1, b.summary())
		}
	}

	st.cycles, st.wall = cycles, time.Since(began)
	if st.snapshots < 2 && cycles >= 100 {
		t.Errorf("only %d snapshots over %d cycles: the loop no longer exercises restores from snapshots", st.snapshots, cycles)
	}
	if st.archived == 0 && cycles >= 100 {
		t.Errorf("no entry was ever compacted into the archive over %d cycles: the replay never needed it", cycles)
	}
	t.Logf("crash loop: %d cycles in %s; %s; %s", cycles, st.wall.Round(time.Second), b.summary(), st.summary())
	if path := os.Getenv("LITHAIR_RELIABILITY_OUT"); path != "" {
		out, _ := json.MarshalIndent(st.figures(b), "", "  ")
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			t.Error(err)
		}
	}
}

const (
	crashWriters = 8
	crashMaxOwn  = 30 // live records per writer: keeps each check's list bounded
	crashPauseMs = 12 // most a writer waits between two writes
)

// crashRec is what the clients were told about one record.
type crashRec struct {
	id      string
	writer  int
	body    []byte // the last acknowledged content
	deleted bool   // an acknowledged delete
	// An unanswered write, at most one per record (a writer stops at its
	// first unanswered request): the record may hold either outcome.
	pendingDelete bool
	pendingPatch  map[string]any
}

// crashBook is the clients' side of the story, over all cycles.
type crashBook struct {
	mu    sync.Mutex
	token string
	recs  map[string]*crashRec
	// pendingCreates are creates sent and never answered, by name, with
	// their writer: the record may exist or not.
	pendingCreates map[string]int
	// Counts of acknowledged writes, and of unanswered ones by outcome.
	creates, updates, deletes               int
	unknown, unknownApplied, unknownDropped int
}

func (b *crashBook) summary() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("acknowledged %d creates, %d updates, %d deletes; %d unknown outcomes (%d applied, %d not)",
		b.creates, b.updates, b.deletes, b.unknown, b.unknownApplied, b.unknownDropped)
}

// crashClient talks to one node with its own connections, so that no
// idle connection to a killed process is ever reused.
type crashClient struct {
	n  *node
	hc *http.Client
}

func newCrashClient(n *node) *crashClient {
	return &crashClient{n: n, hc: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 2 * crashWriters}}}
}

func (c *crashClient) do(method, path, token string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.n.baseURL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// crashStart is how long one start took.
type crashStart struct {
	ready    time.Duration // process start to the first /readyz 200
	firstAck time.Duration // process start to the first acknowledged create
}

// start runs the binary on dir and measures the recovery: from the
// process start, /readyz and a create are polled every 5 ms, side by side,
// until the first 200 and the first 201. The create belongs to writer w.
func (b *crashBook) start(t *testing.T, bin, dir string, env []string, name string, w int) (*crashNode, crashStart) {
	t.Helper()
	began := time.Now()
	n := &crashNode{node: crashSpawn(t, bin, dir, env, name)}
	n.c = newCrashClient(n.node)
	deadline := began.Add(120 * time.Second)
	ready := make(chan time.Duration, 1)
	go func() {
		for time.Now().Before(deadline) {
			if code, _, err := n.c.do("GET", "/readyz", "", nil); err == nil && code == http.StatusOK {
				ready <- time.Since(began)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		ready <- 0
	}()
	var readyAt time.Duration
	if b.token == "" { // the first start: sign in once the node is ready
		if readyAt = <-ready; readyAt == 0 {
			t.Fatalf("%s: not ready after 120s:\n%s", name, n.logs())
		}
		code, body, err := n.c.do("POST", "/api/_auth/login", "", []byte(`{"username":"admin","password":"`+adminPassword+`"}`))
		var out struct{ Token string }
		json.Unmarshal(body, &out)
		if err != nil || code != http.StatusOK || out.Token == "" {
			t.Fatalf("sign-in: %d %s %v", code, body, err)
		}
		b.token = out.Token // a session outlives restarts: it is in the log
	}
	var times crashStart
	probe := []byte(fmt.Sprintf(`{"name":%q,"price":1}`, fmt.Sprintf("%s-w%d-probe", name, w)))
	for {
		code, body, err := n.c.do("POST", "/api/products", b.token, probe)
		if err == nil && code == http.StatusCreated {
			times.firstAck = time.Since(began)
			id, ok := recordID(body)
			if !ok {
				t.Fatalf("%s: first create answered %s", name, body)
			}
			b.mu.Lock()
			b.recs[id] = &crashRec{id: id, writer: w, body: body}
			b.creates++
			b.mu.Unlock()
			break
		}
		// Until the node is ready a write is refused (503 not_ready)
		// before anything is proposed; any other answer is a failure (a
		// 401 to this valid session was one, as the node turned ready).
		if err != nil || code != http.StatusServiceUnavailable || !bytes.Contains(body, []byte(`"not_ready"`)) {
			t.Fatalf("%s: first create: %d %s %v\n%s", name, code, body, err, n.logs())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no create acknowledged after 120s:\n%s", name, n.logs())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if readyAt == 0 {
		readyAt = <-ready
	}
	if readyAt == 0 {
		t.Fatalf("%s: a create was acknowledged but /readyz never answered 200:\n%s", name, n.logs())
	}
	times.ready = readyAt
	return n, times
}

// crashSpawn runs `lithair serve` on dir as startWithEnv does, but gives a
// loaded machine two minutes to print the URL, and if even that passes,
// has the Go runtime print every goroutine (SIGQUIT) before failing: a
// start that hangs is a finding, and the stacks say where.
func crashSpawn(t *testing.T, bin, dir string, env []string, name string) *node {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data", dir, "--rules", "../../configs/rules")
	cmd.Env = append(append(os.Environ(), "LITHAIR_AUTH_INITIAL_ADMIN_PASSWORD="+adminPassword), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, cmd: cmd, dir: dir, output: &bytes.Buffer{}, mu: &sync.Mutex{}, exited: make(chan struct{})}
	cmd.Stderr = &lockedWriter{n.mu, n.output}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			n.mu.Lock()
			n.output.WriteString(sc.Text() + "\n")
			n.mu.Unlock()
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case url <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(n.exited) }()
	t.Cleanup(n.kill)
	select {
	case n.baseURL = <-url:
	case <-n.exited:
		t.Fatalf("%s: lithair exited before serving:\n%s", name, n.logs())
	case <-time.After(120 * time.Second):
		cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
		}
		t.Fatalf("%s: lithair did not print its URL in 120s; its goroutines:\n%s", name, n.logs())
	}
	return n
}

// crashNode is a running node with its own client.
type crashNode struct {
	*node
	c *crashClient
}

func (n *crashNode) kill() {
	n.node.kill()
	n.c.hc.CloseIdleConnections()
}

type crashHash struct {
	Index uint64 `json:"applied_index"`
	Hash  string `json:"hash"`
}

func (n *crashNode) stateHash(t *testing.T, token string) crashHash {
	t.Helper()
	code, body, err := n.c.do("GET", "/api/_state/hash", token, nil)
	var h crashHash
	if err != nil || code != http.StatusOK || json.Unmarshal(body, &h) != nil || h.Hash == "" {
		t.Fatalf("GET /api/_state/hash: %d %s %v", code, body, err)
	}
	return h
}

// recordID reads the id of a record's JSON.
func recordID(body []byte) (string, bool) {
	var r struct{ ID string }
	if err := json.Unmarshal(body, &r); err != nil || r.ID == "" {
		return "", false
	}
	return r.ID, true
}

// write runs the writers for d, then SIGKILLs the node under them.
func (b *crashBook) write(t *testing.T, n *crashNode, rng *rand.Rand, cycle int, d time.Duration) {
	t.Helper()
	b.mu.Lock()
	own := make([][]string, crashWriters)
	for id, r := range b.recs {
		if !r.deleted {
			own[r.writer] = append(own[r.writer], id)
		}
	}
	b.mu.Unlock()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range crashWriters {
		slices.Sort(own[w]) // map order is random; the seed decides
		wg.Add(1)
		go func(w int, mine []string, r *rand.Rand) {
			defer wg.Done()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				if !b.writeOne(t, n, r, w, &mine, fmt.Sprintf("c%d-w%d-s%d", cycle, w, seq), seq) {
					return
				}
				// A pause between writes keeps the log, which every cycle
				// replays whole, from growing faster than the loop needs.
				time.Sleep(time.Duration(r.IntN(crashPauseMs+1)) * time.Millisecond)
			}
		}(w, own[w], rand.New(rand.NewPCG(rng.Uint64(), uint64(w))))
	}
	time.Sleep(d)
	n.kill()
	close(stop)
	wg.Wait()
}

// writeOne sends one write and books its answer. It returns false when
// the write got no answer: the writer stops, and its last write, if the
// node may have received it, is of unknown outcome.
func (b *crashBook) writeOne(t *testing.T, n *crashNode, r *rand.Rand, w int, mine *[]string, name string, seq int) bool {
	p := r.Float64()
	switch {
	case len(*mine) < crashMaxOwn && (len(*mine) < 2 || p < 0.45):
		b.mu.Lock()
		b.pendingCreates[name] = w
		b.mu.Unlock()
		code, body, err := n.c.do("POST", "/api/products", b.token, []byte(fmt.Sprintf(`{"name":%q,"price":%d,"stock":%d}`, name, seq, w)))
		if !b.answered(t, "create", code, body, err, http.StatusCreated, func() { delete(b.pendingCreates, name) }) {
			return false
		}
		id, ok := recordID(body)
		if !ok {
			t.Errorf("create answered %s", body)
			return false
		}
		b.mu.Lock()
		delete(b.pendingCreates, name)
		b.recs[id] = &crashRec{id: id, writer: w, body: body}
		b.creates++
		b.mu.Unlock()
		*mine = append(*mine, id)
	case p < 0.8:
		rec := b.recOf((*mine)[r.IntN(len(*mine))])
		patch := map[string]any{"stock": json.Number(strconv.Itoa(seq)), "category_id": name}
		body, _ := json.Marshal(patch)
		b.mu.Lock()
		rec.pendingPatch = patch
		b.mu.Unlock()
		code, body, err := n.c.do("PATCH", "/api/products/"+rec.id, b.token, body)
		if !b.answered(t, "update", code, body, err, http.StatusOK, func() { rec.pendingPatch = nil }) {
			return false
		}
		b.mu.Lock()
		rec.body, rec.pendingPatch = body, nil
		b.updates++
		b.mu.Unlock()
	default:
		i := r.IntN(len(*mine))
		rec := b.recOf((*mine)[i])
		b.mu.Lock()
		rec.pendingDelete = true
		b.mu.Unlock()
		code, body, err := n.c.do("DELETE", "/api/products/"+rec.id, b.token, nil)
		if !b.answered(t, "delete", code, body, err, http.StatusNoContent, func() { rec.pendingDelete = false }) {
			return false
		}
		b.mu.Lock()
		rec.deleted, rec.pendingDelete = true, false
		b.deletes++
		b.mu.Unlock()
		*mine = slices.Delete(*mine, i, i+1)
	}
	return true
}

func (b *crashBook) recOf(id string) *crashRec {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.recs[id]
}

// answered reports whether a write got the answer want. A write refused
// at connect (the node was already dead) never reached it: undo takes
// back its pending mark. No answer at all, or a 503 timeout, leaves the
// outcome unknown. Any other answer fails the test.
func (b *crashBook) answered(t *testing.T, what string, code int, body []byte, err error, want int, undo func()) bool {
	switch {
	case err != nil && errors.Is(err, syscall.ECONNREFUSED):
		b.mu.Lock()
		undo()
		b.mu.Unlock()
		return false
	case err == nil && code == want:
		return true
	case err == nil && (code != http.StatusServiceUnavailable || !bytes.Contains(body, []byte(`"timeout"`))):
		t.Errorf("%s: %d %s", what, code, body)
	}
	b.mu.Lock()
	b.unknown++
	b.mu.Unlock()
	return false
}

// check compares everything the node serves with the book, and settles
// the unanswered writes by what the node holds.
func (b *crashBook) check(t *testing.T, n *crashNode, rng *rand.Rand, cycle int) {
	t.Helper()
	served := map[string][]byte{}
	cursor := ""
	for {
		path := "/api/products?limit=1000"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		code, body, err := n.c.do("GET", path, b.token, nil)
		var page struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor *string           `json:"next_cursor"`
		}
		if err != nil || code != http.StatusOK || json.Unmarshal(body, &page) != nil {
			t.Fatalf("cycle %d: list: %d %.300s %v", cycle, code, body, err)
		}
		for _, it := range page.Items {
			id, ok := recordID(it)
			if !ok {
				t.Fatalf("cycle %d: list item %s", cycle, it)
			}
			served[id] = it
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("cycle %d: "+format+"\nnode log:\n%s", append(append([]any{cycle}, args...), lastLines(n.logs(), 20))...)
	}
	var live, gone []string
	for id, r := range b.recs {
		got, ok := served[id]
		switch {
		case r.deleted:
			if ok {
				fail("record %s came back after its acknowledged delete: %s", id, got)
			}
			gone = append(gone, id)
			continue
		case r.pendingDelete:
			b.unknownApplied += btoi(!ok)
			b.unknownDropped += btoi(ok)
			r.pendingDelete = false
			if !ok {
				r.deleted = true
				continue
			}
			if !sameRecord(got, r.body) {
				fail("record %s with an unanswered delete: %s, want absent or %s", id, got, r.body)
			}
		case !ok:
			fail("acknowledged record %s is missing; want %s", id, r.body)
		case r.pendingPatch != nil:
			switch {
			case sameRecord(got, r.body):
				b.unknownDropped++
			case isPatched(got, r.body, r.pendingPatch):
				b.unknownApplied++
				r.body = got
			default:
				fail("record %s with an unanswered update %v: %s, want %s or that update of it", id, r.pendingPatch, got, r.body)
			}
			r.pendingPatch = nil
		case !sameRecord(got, r.body):
			fail("acknowledged record %s: %s, want %s", id, got, r.body)
		}
		live = append(live, id)
	}
	for id, body := range served {
		if _, ok := b.recs[id]; ok {
			continue
		}
		var rec struct{ Name string }
		json.Unmarshal(body, &rec)
		w, ok := b.pendingCreates[rec.Name]
		if !ok {
			fail("record %s was never written by a client: %s", id, body)
		}
		delete(b.pendingCreates, rec.Name)
		b.recs[id] = &crashRec{id: id, writer: w, body: body}
		b.unknownApplied++
		live = append(live, id)
	}
	b.unknownDropped += len(b.pendingCreates)
	clear(b.pendingCreates)

	// The single-record read path, on a sample.
	slices.Sort(live)
	slices.Sort(gone)
	for range 12 {
		if len(live) > 0 {
			id := live[rng.IntN(len(live))]
			code, body, err := n.c.do("GET", "/api/products/"+id, b.token, nil)
			if err != nil || code != http.StatusOK || !sameRecord(body, b.recs[id].body) {
				fail("GET record %s: %d %s %v, want %s", id, code, body, err, b.recs[id].body)
			}
		}
		if len(gone) > 0 {
			id := gone[rng.IntN(len(gone))]
			if code, body, err := n.c.do("GET", "/api/products/"+id, b.token, nil); err != nil || code != http.StatusNotFound {
				fail("GET deleted record %s: %d %s %v, want 404", id, code, body, err)
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sameRecord compares two records' JSON as values (numbers digit for digit).
func sameRecord(a, b []byte) bool {
	va, vb := decodeExact(a), decodeExact(b)
	return va != nil && reflect.DeepEqual(va, vb)
}

// isPatched reports whether got is base with patch applied: one version
// more, the patched fields set, everything else but updated_at the same.
func isPatched(got, base []byte, patch map[string]any) bool {
	g, want := decodeExact(got), decodeExact(base)
	if g == nil || want == nil {
		return false
	}
	v, err := want["version"].(json.Number).Int64()
	if err != nil {
		return false
	}
	want["version"] = json.Number(strconv.FormatInt(v+1, 10))
	for k, x := range patch {
		want[k] = x
	}
	want["updated_at"] = g["updated_at"]
	return reflect.DeepEqual(g, want)
}

func decodeExact(b []byte) map[string]any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if d.Decode(&m) != nil {
		return nil
	}
	return m
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// crashReplayed is what `lithair log replay` printed.
type crashReplayed struct {
	index    uint64
	hash     string
	archived uint64
}

var replayLine = regexp.MustCompile(`applied index (\d+), \d+ records, state hash ([0-9a-f]{16}) \((\d+) compacted entries\)`)

// crashReplay runs `lithair log replay` on the stopped node's data dir.
func crashReplay(t *testing.T, bin, dir string) crashReplayed {
	t.Helper()
	out, err := exec.Command(bin, "log", "replay", dir).CombinedOutput()
	m := replayLine.FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("lithair log replay %s: %v\n%s", dir, err, out)
	}
	idx, _ := strconv.ParseUint(string(m[1]), 10, 64)
	arch, _ := strconv.ParseUint(string(m[3]), 10, 64)
	return crashReplayed{index: idx, hash: string(m[2]), archived: arch}
}

// crashStats are the figures the loop reports.
type crashStats struct {
	cycles      int
	wall        time.Duration
	crash, idle []crashStart
	replay      []time.Duration
	seen        map[string]bool // snapshot ids seen on disk
	snapshots   int
	archived    uint64 // entries the last replay read from the archive
}

// countSnapshots notes the snapshots on disk. Raft keeps the two newest,
// so one taken and pruned within a single run of the node is missed:
// the count is a lower bound.
func (s *crashStats) countSnapshots(dir string) {
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	names, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*", "meta.json"))
	for _, n := range names {
		id := filepath.Base(filepath.Dir(n))
		if !s.seen[id] {
			s.seen[id] = true
			s.snapshots++
		}
	}
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100 // nearest rank
	return s[max(i, 1)-1]
}

func startTimes(ss []crashStart, ack bool) []time.Duration {
	out := make([]time.Duration, len(ss))
	for i, s := range ss {
		out[i] = s.ready
		if ack {
			out[i] = s.firstAck
		}
	}
	return out
}

func (s *crashStats) summary() string {
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	dist := func(ds []time.Duration) string {
		return fmt.Sprintf("p50 %s p90 %s max %s", ms(percentile(ds, 50)), ms(percentile(ds, 90)), ms(percentile(ds, 100)))
	}
	return fmt.Sprintf("restart after SIGKILL during writes (%d): ready %s, first ack %s; after an idle SIGKILL (%d): ready %s, first ack %s; %d snapshots seen, %d entries compacted into the archive; log replay %s",
		len(s.crash), dist(startTimes(s.crash, false)), dist(startTimes(s.crash, true)),
		len(s.idle), dist(startTimes(s.idle, false)), dist(startTimes(s.idle, true)),
		s.snapshots, s.archived, dist(s.replay))
}

// crashFigures is the JSON written to LITHAIR_RELIABILITY_OUT.
type crashFigures struct {
	Cycles         int             `json:"cycles"`
	WallSeconds    float64         `json:"wall_seconds"`
	Creates        int             `json:"acknowledged_creates"`
	Updates        int             `json:"acknowledged_updates"`
	Deletes        int             `json:"acknowledged_deletes"`
	Unknown        int             `json:"unknown_outcomes"`
	UnknownApplied int             `json:"unknown_applied"`
	UnknownDropped int             `json:"unknown_not_applied"`
	Crash          crashStartStats `json:"restart_after_kill_during_writes"`
	Idle           crashStartStats `json:"restart_after_idle_kill"`
	Snapshots      int             `json:"snapshots_seen"`
	Archived       uint64          `json:"entries_compacted_into_archive"`
	ReplayMs       crashDist       `json:"log_replay_ms"`
}

type crashStartStats struct {
	Count      int       `json:"count"`
	ReadyMs    crashDist `json:"ready_ms"`
	FirstAckMs crashDist `json:"first_ack_ms"`
}

type crashDist struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	Max float64 `json:"max"`
}

func distOf(ds []time.Duration) crashDist {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return crashDist{ms(percentile(ds, 50)), ms(percentile(ds, 90)), ms(percentile(ds, 100))}
}

func (s *crashStats) figures(b *crashBook) crashFigures {
	b.mu.Lock()
	defer b.mu.Unlock()
	starts := func(ss []crashStart) crashStartStats {
		return crashStartStats{len(ss), distOf(startTimes(ss, false)), distOf(startTimes(ss, true))}
	}
	return crashFigures{Cycles: s.cycles, WallSeconds: s.wall.Seconds(),
		Creates: b.creates, Updates: b.updates, Deletes: b.deletes,
		Unknown: b.unknown, UnknownApplied: b.unknownApplied, UnknownDropped: b.unknownDropped,
		Crash: starts(s.crash), Idle: starts(s.idle), Snapshots: s.snapshots, Archived: s.archived,
		ReplayMs: distOf(s.replay)}
}
