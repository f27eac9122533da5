package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The fault test: three nodes as separate processes on loopback, clients
// writing and reading registers over HTTP while the leader is killed with
// SIGKILL again and again. What the clients saw is checked for
// linearizability with porcupine; what the nodes kept is checked against
// what was acknowledged. docs/operations.md ("Clusters: what the fault
// test proves") says what it proves and what it does not.

const (
	faultKills   = 12 // SIGKILLs of the leader
	faultKeys    = 8  // registers: the stock of 8 products
	faultClients = 6  // concurrent clients
	// faultCatchUpEntries is hashicorp/raft's TrailingLogs (10240, not
	// configurable in Lithair): a leader compacts its log only up to that
	// many entries behind its last one, so a follower must miss more than
	// that before only a snapshot can bring it back.
	faultCatchUpEntries = 10240
)

// faultSettings make elections and compaction happen within the test's
// time: short Raft timeouts, a snapshot every 50 entries, no rate limits
// (the clients all come from one address), and a request timeout below
// the clients' own.
var faultSettings = []string{
	"--set", "raft.election_timeout=300ms", "--set", "raft.heartbeat_interval=50ms",
	"--set", "event_store.snapshot_threshold=50", "--set", "event_store.snapshot_interval=200ms",
	"--set", "firewall.rate=0", "--set", "firewall.login_rate=0",
	"--set", "http.request_timeout=5s",
	// Warnings and errors only: a line per request would bury them.
	"--set", "log.level=warn",
}

// faultRegister is a porcupine operation's input: a read or a write of the
// stock of product key.
type faultRegister struct {
	Key   int
	Write bool
	Value int64
}

// faultModel is a register per key, partitioned by key: a history is
// linearizable if and only if each key's is.
var faultModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := make([][]porcupine.Operation, faultKeys)
		for _, op := range history {
			k := op.Input.(faultRegister).Key
			byKey[k] = append(byKey[k], op)
		}
		return slices.DeleteFunc(byKey, func(ops []porcupine.Operation) bool { return len(ops) == 0 })
	},
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		in := input.(faultRegister)
		if in.Write {
			return true, in.Value
		}
		return output.(int64) == state.(int64), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(faultRegister)
		if in.Write {
			return fmt.Sprintf("write(k%d, %d)", in.Key, in.Value)
		}
		return fmt.Sprintf("read(k%d) -> %d", in.Key, output)
	},
	DescribeState: func(state any) string { return fmt.Sprint(state) },
}

// faultOutcome is what a client learnt about its operation.
type faultOutcome int

const (
	faultOK      faultOutcome = iota // 2xx: it happened
	faultFailed                      // refused before anything could be applied
	faultUnknown                     // cut off or 503/5xx: it may or may not have happened
)

// faultOp is one recorded operation.
type faultOp struct {
	client    int
	in        faultRegister
	call, ret int64 // ns since the run began
	read      int64
	outcome   faultOutcome
	node      string
	detail    string
}

// faultCluster is the cluster under test, with fixed HTTP ports so that a
// restarted node is found where it was (as under systemd).
type faultCluster struct {
	t      *testing.T
	nodes  []*clusterNode
	urls   []string
	listen []string
	token  string
	http   *http.Client
	tr     *http.Transport
	down   atomic.Int32 // the index of the node that is down, -1 if none
	paused atomic.Int32 // the index of the node stopped with SIGSTOP, -1 if none
	begin  time.Time

	mu        sync.Mutex
	ops       []faultOp
	anomalies []string
	clientIDs atomic.Int32
}

func (fc *faultCluster) now() int64 { return time.Since(fc.begin).Nanoseconds() }

func (fc *faultCluster) args(i int) []string {
	return append([]string{"--listen", fc.listen[i]}, faultSettings...)
}

func startFaultCluster(t *testing.T) *faultCluster {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}
	fc := &faultCluster{t: t, tr: tr, http: &http.Client{Timeout: 10 * time.Second, Transport: tr}, begin: time.Now()}
	t.Cleanup(tr.CloseIdleConnections)
	fc.down.Store(-1)
	fc.paused.Store(-1)
	root := t.TempDir()
	for i := range 3 {
		id := fmt.Sprintf("n%d", i+1)
		fc.listen = append(fc.listen, freeAddr(t))
		fc.urls = append(fc.urls, "http://"+fc.listen[i])
		c := &clusterNode{id: id, raft: freeAddr(t), dir: filepath.Join(root, id)}
		if i > 0 {
			c.join = fc.listen[0]
		}
		c.start(t, fc.args(i)...)
		if c.baseURL != fc.urls[i] {
			t.Fatalf("%s serves %s, not %s", id, c.baseURL, fc.urls[i])
		}
		fc.nodes = append(fc.nodes, c)
	}
	for _, c := range fc.nodes {
		waitReady(t, c.node)
	}
	waitVoters(t, fc.nodes[0].node, 3)
	// The one admin sign-in of the test: everything after it uses an API
	// token, so that no session is written while the clients run.
	r := fc.nodes[0].must("POST", "/api/_tokens", `{"name":"fault-test","roles":["admin"]}`)
	if r.Status != 201 {
		t.Fatalf("token: %d %s", r.Status, r.Body)
	}
	fc.token = r.json(t)["token"].(string)
	for i := range fc.nodes {
		fc.waitStatus(i, "/api/_cluster?consistency=linearizable", 200)
	}
	return fc
}

// call sends a request with the API token.
func (fc *faultCluster) call(i int, method, path, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, fc.urls[i]+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+fc.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := fc.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// must is call from the test's goroutine: a transport error fails the test.
func (fc *faultCluster) must(i int, method, path, body string) (int, []byte) {
	fc.t.Helper()
	status, b, err := fc.call(i, method, path, body)
	if err != nil {
		fc.t.Fatalf("%s: %s %s: %v", fc.nodes[i].id, method, path, err)
	}
	return status, b
}

func (fc *faultCluster) waitStatus(i int, path string, want int) {
	fc.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var status int
	var b []byte
	for time.Now().Before(deadline) {
		var err error
		if status, b, err = fc.call(i, "GET", path, ""); err == nil && status == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	fc.t.Fatalf("%s: GET %s: %d %s, want %d", fc.nodes[i].id, path, status, b, want)
}

// faultStatus is the part of GET /api/_cluster the test reads.
type faultStatus struct {
	NodeID       string `json:"node_id"`
	Leader       string `json:"leader"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	LastLogIndex uint64 `json:"last_log_index"`
}

func (fc *faultCluster) status(i int) (faultStatus, error) {
	var st faultStatus
	status, b, err := fc.call(i, "GET", "/api/_cluster", "")
	if err != nil {
		return st, err
	}
	if status != 200 {
		return st, fmt.Errorf("GET /api/_cluster: %d %s", status, b)
	}
	return st, json.Unmarshal(b, &st)
}

// live reports whether node i is neither killed nor paused.
func (fc *faultCluster) live(i int) bool {
	return int(fc.down.Load()) != i && int(fc.paused.Load()) != i
}

func (fc *faultCluster) index(id string) int {
	for i, c := range fc.nodes {
		if c.id == id {
			return i
		}
	}
	return -1
}

// leader returns the index of the node that says it leads.
func (fc *faultCluster) leader() int {
	fc.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i := range fc.nodes {
			if !fc.live(i) {
				continue
			}
			if st, err := fc.status(i); err == nil && st.Leader == st.NodeID {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	fc.t.Fatal("no node leads after 30s")
	return -1
}

// waitNewLeader polls the nodes other than old until one of them knows a
// leader other than old, and returns that leader's index.
func (fc *faultCluster) waitNewLeader(old int) int {
	fc.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i := range fc.nodes {
			if i == old {
				continue
			}
			if st, err := fc.status(i); err == nil && st.Leader != "" && st.Leader != fc.nodes[old].id {
				if l := fc.index(st.Leader); l >= 0 {
					return l
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	fc.t.Fatalf("no new leader 30s after %s was killed", fc.nodes[old].id)
	return -1
}

// waitCaughtUp waits until node i has applied what the leader had
// committed when asked.
func (fc *faultCluster) waitCaughtUp(i int, timeout time.Duration) {
	fc.t.Helper()
	l := fc.leader()
	lst, err := fc.status(l)
	if err != nil {
		fc.t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	var st faultStatus
	for time.Now().Before(deadline) {
		if st, err = fc.status(i); err == nil && st.AppliedIndex >= lst.CommitIndex {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	fc.t.Fatalf("%s did not catch up with the leader's commit index %d in %s: %+v, %v", fc.nodes[i].id, lst.CommitIndex, timeout, st, err)
}

func (fc *faultCluster) record(op faultOp) {
	fc.mu.Lock()
	fc.ops = append(fc.ops, op)
	fc.mu.Unlock()
}

func (fc *faultCluster) anomaly(format string, args ...any) {
	fc.mu.Lock()
	fc.anomalies = append(fc.anomalies, fmt.Sprintf(format, args...))
	fc.mu.Unlock()
}

// op performs one read or write on node i and records it. Reads are
// linearizable reads; writes are PATCHes of the stock alone.
func (fc *faultCluster) op(client, i int, ids []string, in faultRegister) faultOutcome {
	op := faultOp{client: client, in: in, node: fc.nodes[i].id}
	path := "/api/products/" + ids[in.Key]
	method, body := "GET", ""
	if in.Write {
		method, body = "PATCH", fmt.Sprintf(`{"stock":%d}`, in.Value)
	} else {
		path += "?consistency=linearizable"
	}
	op.call = fc.now()
	status, b, err := fc.call(i, method, path, body)
	op.ret = fc.now()
	switch {
	case err != nil && errors.Is(err, syscall.ECONNREFUSED):
		// Nothing was sent: the node is down.
		op.outcome, op.detail = faultFailed, "connection refused"
	case err != nil:
		op.outcome, op.detail = faultUnknown, err.Error()
	case status == 200:
		op.outcome = faultOK
		if !in.Write {
			var rec struct {
				Stock *int64 `json:"stock"`
			}
			if json.Unmarshal(b, &rec) != nil || rec.Stock == nil {
				fc.anomaly("%s: %s %s answered 200 without a stock: %s", op.node, method, path, b)
				op.outcome = faultFailed
			} else {
				op.read = *rec.Stock
			}
		}
	case in.Write && status == http.StatusPreconditionFailed:
		// Other writers won the race five times over: the state machine
		// refused the command.
		op.outcome, op.detail = faultFailed, "412"
	case status == http.StatusServiceUnavailable:
		op.outcome, op.detail = faultUnknown, "503 "+string(bytes.TrimSpace(b))
	case status >= 500:
		op.outcome, op.detail = faultUnknown, fmt.Sprintf("%d %s", status, bytes.TrimSpace(b))
		fc.anomaly("%s: %s %s: %d %s", op.node, method, path, status, b)
	default:
		op.outcome, op.detail = faultFailed, fmt.Sprintf("%d %s", status, bytes.TrimSpace(b))
		fc.anomaly("%s: %s %s: %d %s", op.node, method, path, status, b)
	}
	fc.record(op)
	return op.outcome
}

// client runs until stop closes: random reads and writes of random keys
// on random live nodes. After an unknown outcome the client takes a new
// id, as a crashed client would: its operation stays open forever.
func (fc *faultCluster) client(seed uint64, ids []string, values *atomic.Int64, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, 7))
	id := int(fc.clientIDs.Add(1)) - 1
	for {
		select {
		case <-stop:
			return
		default:
		}
		i := rng.IntN(len(fc.nodes))
		for !fc.live(i) {
			i = (i + 1) % len(fc.nodes)
		}
		in := faultRegister{Key: rng.IntN(faultKeys)}
		if rng.IntN(2) == 0 {
			in.Write, in.Value = true, values.Add(1)
		}
		switch fc.op(id, i, ids, in) {
		case faultUnknown:
			id = int(fc.clientIDs.Add(1)) - 1
			time.Sleep(20 * time.Millisecond)
		case faultFailed:
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// probe reads every key in turn on node i until stop closes, pausing only
// a millisecond after a failure.
func (fc *faultCluster) probe(i int, ids []string, stop <-chan struct{}) {
	id := int(fc.clientIDs.Add(1)) - 1
	for k := 0; ; k++ {
		select {
		case <-stop:
			return
		default:
		}
		if fc.op(id, i, ids, faultRegister{Key: k % faultKeys}) != faultOK {
			time.Sleep(time.Millisecond)
		}
	}
}

// faultEvent is one event of GET /api/products/{id}/events.
type faultEvent struct {
	Index  uint64 `json:"index"`
	Kind   string `json:"kind"`
	Fields struct {
		Stock *int64 `json:"stock"`
	} `json:"fields"`
}

func (fc *faultCluster) events(i int, id string) []faultEvent {
	fc.t.Helper()
	status, b := fc.must(i, "GET", "/api/products/"+id+"/events", "")
	var out struct{ Events []faultEvent }
	if status != 200 || json.Unmarshal(b, &out) != nil {
		fc.t.Fatalf("%s: events of %s: %d %.500s", fc.nodes[i].id, id, status, b)
	}
	return out.Events
}

func faultSameEvents(x, y []faultEvent) bool {
	return slices.EqualFunc(x, y, func(a, b faultEvent) bool {
		return a.Index == b.Index && a.Kind == b.Kind && (a.Fields.Stock == nil) == (b.Fields.Stock == nil) &&
			(a.Fields.Stock == nil || *a.Fields.Stock == *b.Fields.Stock)
	})
}

// metric reads one unlabelled gauge from GET /metrics.
func (fc *faultCluster) metric(i int, name string) float64 {
	fc.t.Helper()
	status, b := fc.must(i, "GET", "/metrics", "")
	if status != 200 {
		fc.t.Fatalf("%s: GET /metrics: %d", fc.nodes[i].id, status)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				fc.t.Fatalf("%s: %s %q: %v", fc.nodes[i].id, name, v, err)
			}
			return f
		}
	}
	fc.t.Fatalf("%s: no %s in /metrics", fc.nodes[i].id, name)
	return 0
}

// healedHashes returns every node's state hash and applied index, as
// "HASH at N", once they agree or after 30s. Each node first serves a
// linearizable read, so it has applied what was committed before.
func (fc *faultCluster) healedHashes() map[string]string {
	fc.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		hashes := map[string]string{}
		for i, c := range fc.nodes {
			fc.must(i, "GET", "/api/products?consistency=linearizable&limit=1", "")
			status, b := fc.must(i, "GET", "/api/_state/hash", "")
			var h struct {
				AppliedIndex uint64 `json:"applied_index"`
				Hash         any    `json:"hash"`
			}
			if status != 200 || json.Unmarshal(b, &h) != nil {
				fc.t.Fatalf("%s: state hash: %d %s", c.id, status, b)
			}
			hashes[c.id] = fmt.Sprintf("%v at %d", h.Hash, h.AppliedIndex)
		}
		if faultDistinct(hashes) == 1 || time.Now().After(deadline) {
			return hashes
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func faultDistinct(m map[string]string) int {
	seen := map[string]bool{}
	for _, v := range m {
		seen[v] = true
	}
	return len(seen)
}

func (fc *faultCluster) logTails() string {
	var b strings.Builder
	for _, c := range fc.nodes {
		if c.node == nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(c.logs()), "\n")
		fmt.Fprintf(&b, "--- %s, last lines of %d:\n%s\n", c.id, len(lines), strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
	return b.String()
}

func faultPercentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// TestClusterFaultLinearizable kills the leader of a three-node cluster
// with SIGKILL again and again while clients read and write, then checks
// that the history the clients saw is linearizable, that every
// acknowledged write is in the records' histories on every node, that the
// nodes end with the same state, and that a follower that missed a log
// compaction comes back through a snapshot.
func TestClusterFaultLinearizable(t *testing.T) {
	if os.Getenv("LITHAIR_LONG") != "1" {
		t.Skip("about two minutes: set LITHAIR_LONG=1 (.ci/run does)")
	}
	fc := startFaultCluster(t)
	l := fc.leader()

	// The registers: products with stock 0, acknowledged before any
	// client starts, so that 0 is every register's initial value.
	ids := make([]string, faultKeys)
	for k := range ids {
		status, b := fc.must(l, "POST", "/api/products", fmt.Sprintf(`{"name":"fault register %d","price":1}`, k))
		var rec struct{ ID string }
		if status != 201 || json.Unmarshal(b, &rec) != nil {
			t.Fatalf("create: %d %s", status, b)
		}
		ids[k] = rec.ID
	}
	for i := range fc.nodes {
		fc.waitStatus(i, "/api/products/"+ids[faultKeys-1]+"?consistency=linearizable", 200)
	}

	var values atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	stopClients := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopClients()
	for c := range faultClients {
		wg.Go(func() { fc.client(uint64(c)+uint64(time.Now().UnixNano()), ids, &values, stop) })
	}

	// The faults: kill the leader, time the election, restart the node on
	// its data dir after a while, wait until it caught up.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var elections []time.Duration
	time.Sleep(time.Second)
	var lagged int
	for k := range faultKills {
		old := fc.leader()
		before, _ := fc.status(old)
		// Every other time, a follower first stops for a second (SIGSTOP,
		// as in a long pause), and the leader is killed right after it
		// acknowledged a write: the other follower has the write but may
		// not know yet that it committed, and the new leader it becomes
		// commits nothing of its own term until the paused one caught up.
		// Reads served in that time must still see the write.
		how := ""
		if k%2 == 1 {
			paused := (old + 1 + rng.IntN(2)) % len(fc.nodes)
			fc.paused.Store(int32(paused))
			fc.nodes[paused].cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(time.Second)
			last := int(fc.clientIDs.Add(1)) - 1
			fc.op(last, old, ids, faultRegister{Key: rng.IntN(faultKeys), Write: true, Value: values.Add(1)})
			how = fmt.Sprintf(" right after a write, with %s paused for 1s", fc.nodes[paused].id)
			lagged++
		}
		fc.down.Store(int32(old))
		killed, killedAt := time.Now(), fc.now()
		fc.nodes[old].kill()
		if p := fc.paused.Load(); p >= 0 {
			fc.nodes[p].cmd.Process.Signal(syscall.SIGCONT)
			fc.paused.Store(-1)
		}
		fc.tr.CloseIdleConnections()
		// Readers on the survivors from the kill on, without pause: a new
		// leader that does not know yet what its predecessor committed
		// must not answer them stale.
		probing := make(chan struct{})
		var probes sync.WaitGroup
		for i := range fc.nodes {
			if i != old {
				probes.Go(func() { fc.probe(i, ids, probing) })
			}
		}
		next := fc.waitNewLeader(old)
		elections = append(elections, time.Since(killed))
		time.Sleep(300 * time.Millisecond)
		close(probing)
		probes.Wait()
		t.Logf("kill %d at %d: %s (leader in term %d) killed%s; %s leads after %s", k+1, killedAt, fc.nodes[old].id, before.Term, how, fc.nodes[next].id, elections[k].Round(time.Millisecond))
		time.Sleep(500*time.Millisecond + time.Duration(rng.Int64N(int64(1500*time.Millisecond))))
		fc.nodes[old].start(t, fc.args(old)...)
		waitReady(t, fc.nodes[old].node)
		fc.down.Store(-1)
		fc.waitCaughtUp(old, 30*time.Second)
	}
	time.Sleep(time.Second)
	stopClients()

	// Healed: the same leader everywhere, then a linearizable read of
	// every key on every node, recorded with the rest.
	leaders := map[string]bool{}
	for i := range fc.nodes {
		st, err := fc.status(i)
		if err != nil {
			t.Fatal(err)
		}
		leaders[st.Leader] = true
	}
	if len(leaders) != 1 {
		t.Errorf("after healing, the nodes name different leaders: %v", leaders)
	}
	final := int(fc.clientIDs.Add(1)) - 1
	for i := range fc.nodes {
		for key := range faultKeys {
			if o := fc.op(final, i, ids, faultRegister{Key: key}); o != faultOK {
				t.Errorf("%s: the final read of k%d did not succeed: %+v", fc.nodes[i].id, key, fc.ops[len(fc.ops)-1])
			}
		}
	}
	hashes := fc.healedHashes()
	if faultDistinct(hashes) != 1 {
		t.Errorf("after healing, the state hashes differ: %v", hashes)
	}

	// What the nodes kept: each record's history, the same on every node.
	applied := make([]map[int64]int, faultKeys) // value -> times applied
	for key, id := range ids {
		var first []faultEvent
		for i := range fc.nodes {
			evs := fc.events(i, id)
			if i == 0 {
				first = evs
				continue
			}
			if !faultSameEvents(first, evs) {
				t.Errorf("k%d: %s and %s hold different histories (%d and %d events)", key, fc.nodes[0].id, fc.nodes[i].id, len(first), len(evs))
			}
		}
		applied[key] = map[int64]int{}
		for _, ev := range first[1:] { // the first is the create, stock 0
			if ev.Fields.Stock == nil {
				t.Errorf("k%d: an event without a stock at index %d", key, ev.Index)
				continue
			}
			applied[key][*ev.Fields.Stock]++
		}
	}

	// The history for the checker. A refused write must not have been
	// applied; an acknowledged one must have been, once. An unknown write
	// that no history holds never happened and is left out; one that was
	// applied stays open until the end, free to take effect at any point
	// after its call.
	var (
		history []porcupine.Operation
		counts  [2][3]int // [read, write][outcome]
		open    int       // unknown writes that were applied
		horizon int64
	)
	for _, op := range fc.ops {
		horizon = max(horizon, op.ret+1)
	}
	written := map[faultRegister]bool{}
	for _, op := range fc.ops {
		n := 0
		if op.in.Write {
			written[faultRegister{Key: op.in.Key, Write: true, Value: op.in.Value}] = true
			n = applied[op.in.Key][op.in.Value]
			counts[1][op.outcome]++
		} else {
			counts[0][op.outcome]++
		}
		switch {
		case op.in.Write && n > 1:
			t.Errorf("k%d: write %d (%s, %s on %s) was applied %d times", op.in.Key, op.in.Value, op.outcomeName(), op.detail, op.node, n)
		case op.in.Write && op.outcome == faultOK && n == 0:
			t.Errorf("k%d: write %d was acknowledged by %s but is in no history: a lost write", op.in.Key, op.in.Value, op.node)
		case op.in.Write && op.outcome == faultFailed && n > 0:
			t.Errorf("k%d: write %d was refused by %s (%s) but applied", op.in.Key, op.in.Value, op.node, op.detail)
		}
		if op.outcome == faultFailed || (!op.in.Write && op.outcome == faultUnknown) || (op.outcome == faultUnknown && n == 0) {
			continue
		}
		ret := op.ret
		if op.outcome == faultUnknown {
			ret, open = horizon, open+1
		}
		history = append(history, porcupine.Operation{ClientId: op.client, Input: op.in, Call: op.call, Output: op.read, Return: ret,
			Metadata: op.node})
	}
	for key := range applied {
		for v := range applied[key] {
			if !written[faultRegister{Key: key, Write: true, Value: v}] {
				t.Errorf("k%d: the value %d was applied but nobody wrote it there", key, v)
			}
		}
	}
	checkStart := time.Now()
	res, info := porcupine.CheckOperationsVerbose(faultModel, history, 60*time.Second)
	checkTime := time.Since(checkStart)
	if res != porcupine.Ok {
		// Kept after the test, for a person to open.
		path := "(none)"
		if dir, err := os.MkdirTemp("", "lithair-fault-"); err == nil {
			path = filepath.Join(dir, "history.html")
			if err := porcupine.VisualizePath(faultModel, info, path); err != nil {
				t.Logf("visualization: %v", err)
			}
		}
		t.Errorf("porcupine: the history of %d operations is %s (not linearizable, or not decided in 60s); see %s", len(history), res, path)
		if stale := faultStaleReads(history); len(stale) > 0 {
			// Times are ns since the run began, as in the kill lines.
			t.Errorf("reads that began after a write was acknowledged did not see it (when they come right after a kill, "+
				"the new leader served a read index from before its predecessor's last commits: Raft serves reads only once "+
				"the leader has committed an entry of its own term):\n%s", strings.Join(stale, "\n"))
		}
	}
	for _, a := range fc.anomalies {
		t.Errorf("unexpected answer: %s", a)
	}

	// A follower that misses a compaction comes back through a snapshot.
	catchUp := fc.snapshotCatchUp(t, ids)

	t.Logf("fault summary: %d operations; writes: %d acknowledged, %d refused, %d unknown (%d of them applied, kept open for the checker); "+
		"linearizable reads: %d answered, %d not; %d leader kills (%d with a follower lagging), new leader after p50 %s, max %s; "+
		"porcupine: %s on %d operations in %s; %s",
		len(fc.ops), counts[1][faultOK], counts[1][faultFailed], counts[1][faultUnknown], open,
		counts[0][faultOK], counts[0][faultFailed]+counts[0][faultUnknown],
		len(elections), lagged, faultPercentile(elections, 0.5).Round(time.Millisecond), slices.Max(elections).Round(time.Millisecond),
		res, len(history), checkTime.Round(time.Millisecond), catchUp)
	if t.Failed() {
		t.Log(fc.logTails())
	}
}

func (op faultOp) outcomeName() string {
	return [...]string{"acknowledged", "refused", "unknown"}[op.outcome]
}

// snapshotCatchUp kills a follower, writes until the leader compacted its
// log past the follower's last entry, restarts it, and checks that it
// catches up through a snapshot: its log starts after the leader's
// snapshot, where replaying entries would have kept them.
func (fc *faultCluster) snapshotCatchUp(t *testing.T, registers []string) string {
	t.Helper()
	l := fc.leader()
	f := (l + 1) % len(fc.nodes)
	fst, err := fc.status(f)
	if err != nil {
		t.Fatal(err)
	}
	fc.down.Store(int32(f))
	fc.nodes[f].kill()
	fc.tr.CloseIdleConnections()

	// Writers, each on a product of its own, through the leader.
	const writers = 32
	ids := make([]string, writers)
	for w := range ids {
		status, b := fc.must(l, "POST", "/api/products", fmt.Sprintf(`{"name":"catch-up %d","price":1}`, w))
		var rec struct{ ID string }
		if status != 201 || json.Unmarshal(b, &rec) != nil {
			t.Fatalf("create: %d %s", status, b)
		}
		ids[w] = rec.ID
	}
	start := time.Now()
	var written atomic.Int64
	var failures sync.Map
	write := func(n int) {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for j := range n / writers {
					// With one node of three down, a loaded machine may
					// miss a heartbeat and hold an election: a 503 then is
					// the right answer, and the write is tried again.
					status, b, err := fc.call(l, "PATCH", "/api/products/"+ids[w], fmt.Sprintf(`{"stock":%d}`, j+1))
					for try := 0; err == nil && status == 503 && try < 100; try++ {
						time.Sleep(50 * time.Millisecond)
						status, b, err = fc.call(l, "PATCH", "/api/products/"+ids[w], fmt.Sprintf(`{"stock":%d}`, j+1))
					}
					if err != nil || status != 200 {
						failures.Store(fmt.Sprintf("%d %s %v", status, b, err), true)
						return
					}
					written.Add(1)
				}
			})
		}
		wg.Wait()
	}
	write(faultCatchUpEntries + 2*writers*32)
	var leaderFirst, leaderSnap float64
	deadline := time.Now().Add(time.Minute)
	for {
		leaderFirst, leaderSnap = fc.metric(l, "lithair_log_first_index"), fc.metric(l, "lithair_snapshot_last_index")
		if leaderFirst > float64(fst.LastLogIndex)+1 {
			break
		}
		failures.Range(func(k, _ any) bool { t.Fatalf("a write through the leader failed: %s", k); return false })
		if time.Now().After(deadline) {
			t.Fatalf("the leader's log still starts at %v after %d writes (the follower's last index is %d)", leaderFirst, written.Load(), fst.LastLogIndex)
		}
		write(8 * writers)
	}
	writing := time.Since(start)

	restarted := time.Now()
	fc.nodes[f].start(t, fc.args(f)...)
	waitReady(t, fc.nodes[f].node)
	fc.down.Store(-1)
	fc.waitCaughtUp(f, time.Minute)
	caughtUp := time.Since(restarted)
	// One more write, so that the follower's log holds an entry.
	if status, b := fc.must(l, "PATCH", "/api/products/"+ids[0], `{"stock":-1}`); status != 200 {
		t.Fatalf("write after the catch-up: %d %s", status, b)
	}
	fc.waitCaughtUp(f, 10*time.Second)
	followerFirst := fc.metric(f, "lithair_log_first_index")
	// Had the follower replayed entries, it would hold the ones after its
	// old last index (the log keeps 10240 behind its end): it starts
	// after a snapshot at least as new as the one the leader had.
	if followerFirst <= leaderSnap || followerFirst <= float64(fst.LastLogIndex) {
		t.Errorf("%s did not catch up through a snapshot: its log starts at %v; it was down from index %d; the leader's log starts at %v and its snapshot is at %v",
			fc.nodes[f].id, followerFirst, fst.LastLogIndex, leaderFirst, leaderSnap)
	}
	if hashes := fc.healedHashes(); faultDistinct(hashes) != 1 {
		t.Errorf("after %s caught up, the state hashes differ: %v", fc.nodes[f].id, hashes)
	}
	// The histories of the records, which the snapshot does not carry,
	// are still there on the follower: every event of the registers is at
	// or below the last index it held before it was killed.
	var missing []string
	for key, id := range registers {
		status, b := fc.must(f, "GET", "/api/products/"+id+"/events", "")
		switch {
		case status != 200:
			missing = append(missing, fmt.Sprintf("k%d: %d %.200s", key, status, bytes.TrimSpace(b)))
		case !faultSameEvents(fc.events(l, id), fc.events(f, id)):
			missing = append(missing, fmt.Sprintf("k%d: not the leader's history", key))
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s caught up through a snapshot and lost the record histories it held up to index %d (its log should have gone to its archive): "+
			"GET /api/products/{id}/events answers\n%s", fc.nodes[f].id, fst.LastLogIndex, strings.Join(missing, "\n"))
	}
	return fmt.Sprintf("snapshot catch-up: %s missed %d entries (written in %s; the leader's log starts at %v, its snapshot at %v), caught up in %s, its log now starts at %v",
		fc.nodes[f].id, written.Load(), writing.Round(time.Millisecond), leaderFirst, leaderSnap, caughtUp.Round(time.Millisecond), followerFirst)
}

// faultStaleReads explains a history porcupine refused in terms a person can
// check: a read that returned a value overwritten by a write that had
// completed before the read began, or a value whose write had not begun.
// It names at most ten.
func faultStaleReads(history []porcupine.Operation) []string {
	type span struct{ call, ret int64 }
	writes := map[faultRegister]span{}
	byKey := make([][]porcupine.Operation, faultKeys)
	for _, op := range history {
		in := op.Input.(faultRegister)
		byKey[in.Key] = append(byKey[in.Key], op)
		if in.Write {
			writes[in] = span{op.Call, op.Return}
		}
	}
	var out []string
	for _, r := range history {
		in := r.Input.(faultRegister)
		if in.Write {
			continue
		}
		v := r.Output.(int64)
		w, ok := writes[faultRegister{Key: in.Key, Write: true, Value: v}]
		switch {
		case v == 0:
			w = span{-1, -1}
		case !ok:
			out = append(out, fmt.Sprintf("k%d: a read on %v [%d, %d] returned %d, which no write wrote", in.Key, r.Metadata, r.Call, r.Return, v))
			continue
		case w.call > r.Return:
			out = append(out, fmt.Sprintf("k%d: a read on %v [%d, %d] returned %d, written only later [%d, %d]", in.Key, r.Metadata, r.Call, r.Return, v, w.call, w.ret))
			continue
		}
		for _, o := range byKey[in.Key] {
			oin := o.Input.(faultRegister)
			if oin.Write && oin.Value != v && o.Call > w.ret && o.Return < r.Call {
				out = append(out, fmt.Sprintf("k%d: a stale read on %v [%d, %d] returned %d (written [%d, %d]), but write %d on %v [%d, %d] was acknowledged in between",
					in.Key, r.Metadata, r.Call, r.Return, v, w.call, w.ret, oin.Value, o.Metadata, o.Call, o.Return))
				break
			}
		}
	}
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("and %d more", len(out)-10))
	}
	return out
}
