package raftlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/event"
	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/raftlog"
)

// These tests run hashicorp/raft on our stores: three in-process nodes on
// raft's in-memory transport, each with its LogStore and StableStore on
// Lithair logs in a temp dir, our FSM and raft's file snapshot store. Every
// scenario asserts on what a user would see: the records each node holds,
// what each log holds, what was acknowledged.

// waitTimeout bounds every wait: generous, because CI runs -race on two
// busy cores; a passing run waits far less.
const waitTimeout = 15 * time.Second

// countingFSM is our FSM, counting how raft drives it.
type countingFSM struct {
	*raftlog.FSM
	batches  atomic.Int64 // ApplyBatch calls
	commands atomic.Int64 // LogCommand entries received through ApplyBatch
	singles  atomic.Int64 // Apply calls: raft must not make any
	restores atomic.Int64 // Restore calls
}

var _ raft.BatchingFSM = (*countingFSM)(nil)

func (f *countingFSM) ApplyBatch(logs []*raft.Log) []any {
	f.batches.Add(1)
	for _, l := range logs {
		if l.Type == raft.LogCommand {
			f.commands.Add(1)
		}
	}
	return f.FSM.ApplyBatch(logs)
}

func (f *countingFSM) Apply(l *raft.Log) any {
	f.singles.Add(1)
	return f.FSM.Apply(l)
}

func (f *countingFSM) Restore(rc io.ReadCloser) error {
	f.restores.Add(1)
	return f.FSM.Restore(rc)
}

// watchedLogStore is our LogStore, recording the ranges raft deletes.
// Embedding keeps IsMonotonic visible to raft.
type watchedLogStore struct {
	*raftlog.LogStore
	mu      sync.Mutex
	deletes [][2]uint64
}

func (s *watchedLogStore) DeleteRange(min, max uint64) error {
	s.mu.Lock()
	s.deletes = append(s.deletes, [2]uint64{min, max})
	s.mu.Unlock()
	return s.LogStore.DeleteRange(min, max)
}

func (s *watchedLogStore) deleted() [][2]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][2]uint64(nil), s.deletes...)
}

// syncBuffer collects a node's raft log lines for assertions and for the
// report of a failed test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type node struct {
	id    raft.ServerID
	addr  raft.ServerAddress
	dir   string
	out   *syncBuffer
	trans *raft.InmemTransport

	raftLog, stableLog *wal.Log
	logs               *watchedLogStore
	stable             *raftlog.StableStore
	fsm                *countingFSM
	snaps              *raft.FileSnapshotStore
	raft               *raft.Raft
}

func (n *node) first() uint64 { i, _ := n.logs.FirstIndex(); return i }
func (n *node) last() uint64  { i, _ := n.logs.LastIndex(); return i }
func (n *node) hash() uint64  { return stateHash(n.fsm.FSM) }

func (n *node) getLog(t *testing.T, i uint64) *raft.Log {
	t.Helper()
	var l raft.Log
	if err := n.logs.GetLog(i, &l); err != nil {
		t.Fatalf("%s: GetLog(%d): %v", n.id, i, err)
	}
	return &l
}

type cluster struct {
	t     *testing.T
	nodes []*node
	tweak func(*raft.Config)
}

// newCluster starts three bootstrapped, fully connected nodes.
func newCluster(t *testing.T, tweak func(*raft.Config)) *cluster {
	c := &cluster{t: t, tweak: tweak}
	root := t.TempDir()
	var servers []raft.Server
	for i := 1; i <= 3; i++ {
		n := &node{id: raft.ServerID(fmt.Sprintf("node%d", i)), addr: raft.ServerAddress(fmt.Sprintf("addr%d", i)),
			dir: filepath.Join(root, fmt.Sprintf("node%d", i)), out: &syncBuffer{}}
		c.nodes = append(c.nodes, n)
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: n.id, Address: n.addr})
	}
	t.Cleanup(c.shutdown)
	for _, n := range c.nodes {
		c.openStores(n)
		c.startRaft(n)
		if err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			t.Fatalf("%s: bootstrap: %v", n.id, err)
		}
	}
	for _, n := range c.nodes {
		c.connect(n)
	}
	return c
}

func (c *cluster) config(n *node) *raft.Config {
	conf := raft.DefaultConfig()
	conf.LocalID = n.id
	conf.HeartbeatTimeout = 100 * time.Millisecond
	conf.ElectionTimeout = 100 * time.Millisecond
	conf.LeaderLeaseTimeout = 50 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.SnapshotInterval = time.Hour // the tests take snapshots themselves
	conf.SnapshotThreshold = 16
	conf.TrailingLogs = 8
	conf.Logger = hclog.New(&hclog.LoggerOptions{Name: string(n.id), Level: hclog.Info, Output: n.out})
	if c.tweak != nil {
		c.tweak(conf)
	}
	return conf
}

// openStores opens (or reopens) the node's two logs, snapshot store and a
// fresh FSM on an empty state.
func (c *cluster) openStores(n *node) {
	t := c.t
	var err error
	// Small segments: raft's compaction and truncations cross segment files.
	opts := wal.Options{SegmentSize: 4096}
	if n.raftLog, err = wal.Open(filepath.Join(n.dir, "raft"), opts); err != nil {
		t.Fatalf("%s: open raft log: %v", n.id, err)
	}
	if n.stableLog, err = wal.Open(filepath.Join(n.dir, "stable"), opts); err != nil {
		t.Fatalf("%s: open stable log: %v", n.id, err)
	}
	n.logs = &watchedLogStore{LogStore: raftlog.NewLogStore(n.raftLog)}
	if n.stable, err = raftlog.NewStableStore(n.stableLog); err != nil {
		t.Fatalf("%s: stable store: %v", n.id, err)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: string(n.id) + "-snapshots", Level: hclog.Info, Output: n.out})
	if n.snaps, err = raft.NewFileSnapshotStoreWithLogger(filepath.Join(n.dir, "snapshots"), 2, logger); err != nil {
		t.Fatalf("%s: snapshot store: %v", n.id, err)
	}
	n.fsm = &countingFSM{FSM: newFSM()}
}

// startRaft starts raft on the node's stores with a new, unconnected
// transport.
func (c *cluster) startRaft(n *node) {
	_, n.trans = raft.NewInmemTransport(n.addr)
	r, err := raft.NewRaft(c.config(n), n.fsm, n.logs, n.stable, n.snaps, n.trans)
	if err != nil {
		c.t.Fatalf("%s: NewRaft: %v", n.id, err)
	}
	n.raft = r
}

// stop shuts raft down, then closes the logs, as a process exit would.
func (c *cluster) stop(n *node) {
	c.partition(n)
	if err := n.raft.Shutdown().Error(); err != nil {
		c.t.Errorf("%s: shutdown: %v", n.id, err)
	}
	// Our FSM is a BatchingFSM: raft must never fall back to Apply.
	if k := n.fsm.singles.Load(); k != 0 {
		c.t.Errorf("%s: raft called Apply %d times instead of ApplyBatch", n.id, k)
	}
	if err := n.raftLog.Close(); err != nil {
		c.t.Errorf("%s: close raft log: %v", n.id, err)
	}
	if err := n.stableLog.Close(); err != nil {
		c.t.Errorf("%s: close stable log: %v", n.id, err)
	}
	n.raft = nil
}

func (c *cluster) shutdown() {
	for _, n := range c.nodes {
		if n.raft != nil {
			c.stop(n)
		}
	}
	if c.t.Failed() {
		for _, n := range c.nodes {
			lines := strings.Split(strings.TrimSpace(n.out.String()), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			c.t.Logf("last raft log lines of %s:\n%s", n.id, strings.Join(lines, "\n"))
		}
	}
}

// connect links n with every other node, both ways.
func (c *cluster) connect(n *node) {
	for _, o := range c.nodes {
		if o != n && o.raft != nil {
			n.trans.Connect(o.addr, o.trans)
			o.trans.Connect(n.addr, n.trans)
		}
	}
}

// partition cuts n off from every other node, both ways.
func (c *cluster) partition(n *node) {
	n.trans.DisconnectAll()
	for _, o := range c.nodes {
		if o != n && o.trans != nil {
			o.trans.Disconnect(n.addr)
		}
	}
}

func (c *cluster) others(n *node) []*node {
	var out []*node
	for _, o := range c.nodes {
		if o != n {
			out = append(out, o)
		}
	}
	return out
}

func (c *cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leader waits for one of among to lead, and returns it.
func (c *cluster) leader(among ...*node) *node {
	c.t.Helper()
	var l *node
	c.waitFor("a leader", func() bool {
		for _, n := range among {
			if n.raft.State() == raft.Leader {
				l = n
				return true
			}
		}
		return false
	})
	return l
}

// apply commits cmds through the leader among the given nodes. A command
// whose future failed (the leader changed) is sent again; if the first
// attempt did commit, the retry is refused as a conflict, which is fine.
func (c *cluster) apply(among []*node, cmds ...[]byte) {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	pending, retry := cmds, false
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			c.t.Fatalf("%d commands still not committed after %v", len(pending), waitTimeout)
		}
		l := c.leader(among...)
		futures := make([]raft.ApplyFuture, len(pending))
		for i, cmd := range pending {
			futures[i] = l.raft.Apply(cmd, time.Second)
		}
		var failed [][]byte
		for i, f := range futures {
			if err := f.Error(); err != nil {
				failed = append(failed, pending[i])
				continue
			}
			res, ok := f.Response().(*raftlog.Result)
			if !ok {
				c.t.Fatalf("Apply answered %T, want *raftlog.Result", f.Response())
			}
			var refusal *event.Refusal
			if res.Err != nil && !(retry && errors.As(res.Err, &refusal) && refusal.Code == event.CodeConflict) {
				c.t.Fatalf("command refused: %v", res.Err)
			}
		}
		if len(failed) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		pending, retry = failed, true
	}
}

// converge waits until every node holds want products and the same state,
// and returns its hash.
func (c *cluster) converge(want int, nodes ...*node) uint64 {
	c.t.Helper()
	var h uint64
	c.waitFor(fmt.Sprintf("%d nodes to hold the same %d products", len(nodes), want), func() bool {
		h = nodes[0].hash()
		for _, n := range nodes {
			if n.fsm.State().Count("Product") != want || n.hash() != h {
				return false
			}
		}
		return true
	})
	return h
}

// sameLast waits until every node's log ends at the same index.
func (c *cluster) sameLast(nodes ...*node) uint64 {
	c.t.Helper()
	var last uint64
	c.waitFor("every log to end at the same index", func() bool {
		last = nodes[0].last()
		for _, n := range nodes {
			if n.last() != last {
				return false
			}
		}
		return true
	})
	return last
}

// sameLogs checks that the nodes' logs hold the same entries wherever
// they overlap: same term, type and data at every index.
func (c *cluster) sameLogs(nodes ...*node) {
	c.t.Helper()
	lo, hi := uint64(0), ^uint64(0)
	for _, n := range nodes {
		lo, hi = max(lo, n.first()), min(hi, n.last())
	}
	for i := lo; i <= hi && i != 0; i++ {
		want := nodes[0].getLog(c.t, i)
		for _, n := range nodes[1:] {
			got := n.getLog(c.t, i)
			if got.Term != want.Term || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) {
				c.t.Fatalf("index %d: %s holds term %d type %v, %s holds term %d type %v",
					i, nodes[0].id, want.Term, want.Type, n.id, got.Term, got.Type)
			}
		}
	}
}

// products returns creation commands p<prefix><from>..p<prefix><to-1>.
func products(t *testing.T, prefix string, from, to int) [][]byte {
	var out [][]byte
	for i := from; i < to; i++ {
		out = append(out, createCmd(t, fmt.Sprintf("%s-%04d", prefix, i), "x"))
	}
	return out
}

func TestRaftReplicates(t *testing.T) {
	c := newCluster(t, nil)
	l := c.leader(c.nodes...)

	// Election: one leader, whom every node knows, in one term.
	c.waitFor("every node to know the leader", func() bool {
		for _, n := range c.nodes {
			if addr, id := n.raft.LeaderWithID(); addr != l.addr || id != l.id {
				return false
			}
		}
		return true
	})
	for _, n := range c.others(l) {
		if n.raft.State() != raft.Follower {
			t.Fatalf("%s is %v, want follower", n.id, n.raft.State())
		}
	}
	// The term and vote reached each node's StableStore.
	for _, n := range c.nodes {
		term, err := n.stable.GetUint64([]byte("CurrentTerm"))
		if err != nil || term == 0 || term != l.raft.CurrentTerm() {
			t.Fatalf("%s: stable CurrentTerm = %d, %v; leader's term is %d", n.id, term, err, l.raft.CurrentTerm())
		}
	}

	const writes = 200
	c.apply(c.nodes, products(t, "p", 0, writes)...)
	c.converge(writes, c.nodes...)
	if last := c.sameLast(c.nodes...); last < writes {
		t.Fatalf("logs end at %d after %d writes", last, writes)
	}
	c.sameLogs(c.nodes...)

	for _, n := range c.nodes {
		if r, ok := n.fsm.State().Get("Product", "p-0123"); !ok || r.Version != 1 {
			t.Fatalf("%s: p-0123 = %+v, %v", n.id, r, ok)
		}
		// raft drove the FSM through ApplyBatch only, with every command
		// (more if a leader change made apply send some twice: the second
		// copy is refused as a conflict).
		if n.fsm.singles.Load() != 0 || n.fsm.commands.Load() < writes {
			t.Fatalf("%s: %d Apply calls and %d commands in %d ApplyBatch calls; want 0 and %d",
				n.id, n.fsm.singles.Load(), n.fsm.commands.Load(), n.fsm.batches.Load(), writes)
		}
		t.Logf("%s: %d commands in %d ApplyBatch calls", n.id, n.fsm.commands.Load(), n.fsm.batches.Load())
	}
}

// TestRaftTruncatesConflictingSuffix: a leader cut off from the others
// stores writes that never commit; the others elect a new leader and write
// over those indexes. On reconnection, the old leader's suffix is deleted
// (DeleteRange -> TruncateBack) and replaced, and no node ever shows the
// lost writes.
func TestRaftTruncatesConflictingSuffix(t *testing.T) {
	c := newCluster(t, nil)
	c.apply(c.nodes, products(t, "a", 0, 10)...)
	c.converge(10, c.nodes...)

	var old *node
	var before, oldLast uint64
	for attempt := 1; ; attempt++ {
		old = c.leader(c.nodes...)
		before = old.last()
		c.partition(old)
		var lost []raft.ApplyFuture
		for i := range 5 {
			lost = append(lost, old.raft.Apply(createCmd(t, fmt.Sprintf("lost-%d", i), "lost"), 100*time.Millisecond))
		}
		for _, f := range lost {
			if f.Error() == nil {
				t.Fatal("a partitioned leader acknowledged a write")
			}
		}
		if oldLast = old.last(); oldLast > before {
			break
		}
		// The lease ran out before the writes reached the log: try again.
		if attempt == 3 {
			t.Fatal("a partitioned leader never stored a write")
		}
		c.connect(old)
		c.converge(10, c.nodes...)
	}
	c.waitFor("the old leader to step down", func() bool { return old.raft.State() != raft.Leader })
	oldTerm := old.getLog(t, oldLast).Term

	others := c.others(old)
	c.apply(others, products(t, "b", 0, 10)...)
	c.converge(20, others...)
	nl := c.leader(others...)
	if nl.last() < oldLast {
		t.Fatalf("new leader's log ends at %d, before the old leader's uncommitted %d", nl.last(), oldLast)
	}
	for i := before + 1; i <= oldLast; i++ {
		if a, b := old.getLog(t, i).Term, nl.getLog(t, i).Term; a != oldTerm || b <= a {
			t.Fatalf("index %d: old leader term %d, new leader term %d: no conflict to resolve", i, a, b)
		}
	}

	c.connect(old)
	c.converge(20, c.nodes...)
	c.sameLogs(c.nodes...)
	for i := before + 1; i <= oldLast; i++ {
		if got, want := old.getLog(t, i), nl.getLog(t, i); got.Term != want.Term || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("index %d on the old leader: term %d, want the new leader's entry of term %d", i, got.Term, want.Term)
		}
	}
	for _, n := range c.nodes {
		if _, ok := n.fsm.State().Get("Product", "lost-0"); ok {
			t.Fatalf("%s holds a write that was never committed", n.id)
		}
	}
	suffix := false
	for _, d := range old.logs.deleted() {
		if d[0] > before && d[0] <= oldLast && d[1] >= oldLast {
			suffix = true
		}
	}
	if !suffix {
		t.Fatalf("old leader's DeleteRange calls %v: none removed the suffix [%d, %d]", old.logs.deleted(), before+1, oldLast)
	}
}

// TestRaftCompactsTheLog: a snapshot lets raft delete the log's prefix,
// keeping TrailingLogs entries, and whole segment files go.
func TestRaftCompactsTheLog(t *testing.T) {
	c := newCluster(t, nil)
	c.apply(c.nodes, products(t, "p", 0, 100)...)
	c.converge(100, c.nodes...)
	for _, n := range c.nodes {
		segs := n.raftLog.Stats().Segments
		if n.first() != 1 {
			t.Fatalf("%s: log starts at %d before any snapshot", n.id, n.first())
		}
		if err := n.raft.Snapshot().Error(); err != nil {
			t.Fatalf("%s: snapshot: %v", n.id, err)
		}
		first, last := n.first(), n.last()
		if first <= 1 || last-first+1 < 8 {
			t.Fatalf("%s: log holds [%d, %d] after a snapshot, want a compacted prefix and 8 trailing entries", n.id, first, last)
		}
		var l raft.Log
		if err := n.logs.GetLog(first-1, &l); err != raft.ErrLogNotFound {
			t.Fatalf("%s: GetLog(%d) below the first index: %v, want ErrLogNotFound", n.id, first-1, err)
		}
		if after := n.raftLog.Stats().Segments; after >= segs {
			t.Fatalf("%s: %d segment files before compaction, %d after", n.id, segs, after)
		}
	}
	// The cluster goes on on compacted logs.
	c.apply(c.nodes, products(t, "q", 0, 20)...)
	c.converge(120, c.nodes...)
	c.sameLogs(c.nodes...)
}

// TestRaftSnapshotsOnItsOwn: with a short SnapshotInterval raft snapshots
// and compacts by itself, while writes go on.
func TestRaftSnapshotsOnItsOwn(t *testing.T) {
	c := newCluster(t, func(conf *raft.Config) { conf.SnapshotInterval = 50 * time.Millisecond })
	for i := 0; i < 150; i += 30 {
		c.apply(c.nodes, products(t, "p", i, i+30)...)
	}
	c.waitFor("every node to snapshot and compact", func() bool {
		for _, n := range c.nodes {
			if n.raft.Stats()["last_snapshot_index"] == "0" || n.first() <= 1 {
				return false
			}
		}
		return true
	})
	c.converge(150, c.nodes...)
	// Stop the automatic snapshots before comparing the logs entry by
	// entry, or one could compact an entry away between the two reads.
	for _, n := range c.nodes {
		err := n.raft.ReloadConfig(raft.ReloadableConfig{TrailingLogs: 8, SnapshotInterval: time.Hour, SnapshotThreshold: 16,
			HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // a snapshot already running ends
	c.sameLogs(c.nodes...)
}

// TestRaftInstallsSnapshotOnLaggingFollower: a follower that missed entries
// the leader compacted away catches up through InstallSnapshot; raft then
// empties its log (MonotonicLogStore) and it goes on after the snapshot.
func TestRaftInstallsSnapshotOnLaggingFollower(t *testing.T) {
	c := newCluster(t, nil)
	c.apply(c.nodes, products(t, "a", 0, 10)...)
	c.converge(10, c.nodes...)
	f := c.others(c.leader(c.nodes...))[0]
	c.partition(f)
	lagged := f.last()

	others := c.others(f)
	c.apply(others, products(t, "b", 0, 100)...)
	c.converge(110, others...)
	// Both compact, so whichever leads when f comes back must send a
	// snapshot: on a busy machine leadership may move meanwhile.
	for _, n := range others {
		if err := n.raft.Snapshot().Error(); err != nil {
			t.Fatalf("%s: snapshot: %v", n.id, err)
		}
		if n.first() <= lagged+1 {
			t.Fatalf("%s: log starts at %d: the follower (at %d) could catch up without a snapshot", n.id, n.first(), lagged)
		}
	}
	if f.fsm.restores.Load() != 0 {
		t.Fatal("the follower restored a snapshot before it was reconnected")
	}

	c.connect(f)
	c.converge(110, c.nodes...)
	if f.fsm.restores.Load() == 0 {
		t.Fatal("the follower caught up without restoring a snapshot")
	}
	// The FSM holds the snapshot's state before raft has finished the
	// install (emptying the log comes after the restore).
	c.waitFor("the follower's raft to log an installed snapshot", func() bool {
		return strings.Contains(f.out.String(), "Installed remote snapshot")
	})
	if list, err := f.snaps.List(); err != nil || len(list) == 0 {
		t.Fatalf("the follower's snapshot store holds %v, %v", list, err)
	}
	if f.first() != 0 && f.first() <= lagged {
		t.Fatalf("the follower's log still starts at %d: raft did not empty it after the install", f.first())
	}

	c.apply(c.nodes, products(t, "c", 0, 10)...)
	c.converge(120, c.nodes...)
	c.sameLast(c.nodes...)
	c.sameLogs(c.nodes...)
	if f.first() <= lagged {
		t.Fatalf("follower log [%d, %d] goes on from before the snapshot", f.first(), f.last())
	}
}

// TestRaftUserRestore: raft.Restore of a snapshot taken from another FSM
// replaces the state on every node; the leader's log is emptied and goes
// on after a hole (MonotonicLogStore), the followers install the snapshot.
func TestRaftUserRestore(t *testing.T) {
	src := newFSM()
	applyDirect(t, src, 1, products(t, "r", 0, 30)...)
	snap := persist(t, src)

	c := newCluster(t, nil)
	c.apply(c.nodes, products(t, "a", 0, 20)...)
	c.converge(20, c.nodes...)
	l := c.leader(c.nodes...)
	before := l.last()

	const snapIndex = 1000 // beyond the log: the log must jump there
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, ID: "backup", Index: snapIndex, Term: 1, Size: int64(len(snap))}
	// Both followers install the snapshot at once, and a follower answers
	// no heartbeat while it installs: with a 50ms lease on a busy machine
	// the leader may step down before the no-op that ends Restore commits.
	// The restore is in place by then, and the election restriction keeps
	// it: only a node holding it can win.
	if err := l.raft.Restore(meta, bytes.NewReader(snap), 5*time.Second); err != nil {
		if !errors.Is(err, raft.ErrLeadershipLost) {
			t.Fatalf("Restore: %v", err)
		}
		t.Logf("Restore: %v", err)
	}
	if got := c.converge(30, c.nodes...); got != stateHash(src) {
		t.Fatalf("cluster state %x after restore, want the backup's %x", got, stateHash(src))
	}
	for _, n := range c.nodes {
		if _, ok := n.fsm.State().Get("Product", "a-0001"); ok {
			t.Fatalf("%s kept a record the restore replaced", n.id)
		}
	}
	// (If the leader stepped down, its no-op at snapIndex+2 may have been
	// replaced by the new leader's: wait for the log to settle.)
	c.waitFor(fmt.Sprintf("the old leader's log to go on past %d", snapIndex), func() bool { return l.first() > snapIndex })
	emptied := false
	for _, d := range l.logs.deleted() {
		if d[0] <= 1 && d[1] >= before {
			emptied = true
		}
	}
	if !emptied {
		t.Fatalf("leader DeleteRange calls %v: none emptied the log [1, %d]", l.logs.deleted(), before)
	}
	for _, n := range c.others(l) {
		if n.fsm.restores.Load() == 0 {
			t.Fatalf("%s holds the backup without restoring a snapshot", n.id)
		}
	}

	c.apply(c.nodes, products(t, "b", 0, 10)...)
	c.converge(40, c.nodes...)
	c.sameLast(c.nodes...)
	c.sameLogs(c.nodes...)
	for _, n := range c.nodes {
		if n.first() <= snapIndex {
			t.Fatalf("%s: log [%d, %d] after the restore, want it to start past %d", n.id, n.first(), n.last(), snapIndex)
		}
	}
}

// TestRaftNodeRestart: a node that stops (raft shut down, logs closed) and
// starts again from the same directories has its term, its log and its
// snapshot, and rejoins.
func TestRaftNodeRestart(t *testing.T) {
	c := newCluster(t, nil)
	c.apply(c.nodes, products(t, "a", 0, 30)...)
	c.converge(30, c.nodes...)
	n := c.others(c.leader(c.nodes...))[0]
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	snapHash := n.hash()
	c.apply(c.nodes, products(t, "b", 0, 10)...)
	c.converge(40, c.nodes...)

	term, err := n.stable.GetUint64([]byte("CurrentTerm"))
	if err != nil {
		t.Fatal(err)
	}
	first, last := n.first(), n.last()
	c.stop(n)
	c.apply(c.others(n), products(t, "c", 0, 10)...)

	c.openStores(n)
	// >=: an election may have raised the term between the read and the stop.
	if got, err := n.stable.GetUint64([]byte("CurrentTerm")); err != nil || got < term {
		t.Fatalf("reopened stable store: CurrentTerm %d, %v; want %d", got, err, term)
	}
	if n.first() != first || n.last() != last {
		t.Fatalf("reopened log holds [%d, %d], want [%d, %d]", n.first(), n.last(), first, last)
	}
	c.startRaft(n)
	// Before it hears from anyone, the node is back at its own snapshot.
	if n.fsm.restores.Load() != 1 || n.hash() != snapHash {
		t.Fatalf("restarted node: %d restores, state %x; want its snapshot's state %x", n.fsm.restores.Load(), n.hash(), snapHash)
	}
	c.connect(n)
	c.converge(50, c.nodes...)
	c.sameLogs(c.nodes...)
	if n.raft.CurrentTerm() < term {
		t.Fatalf("restarted node at term %d, was at %d", n.raft.CurrentTerm(), term)
	}
}
