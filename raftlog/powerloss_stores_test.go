package raftlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/raftlog"
)

// The three stores of TestPowerLossWholeWritePath as raft sees them,
// recording what each acknowledged, and the checks of what a crash left.

// plPromises is what the stores acknowledged, across a seed's crashes.
type plPromises struct {
	mu     sync.Mutex
	stable map[string]*plKey
	// snapAcked is the index of the newest snapshot whose Close returned nil.
	snapAcked   uint64
	bugs        []string
	out         *syncBuffer // the raft and store logs of the seed's nodes
	snapshots   atomic.Int64
	compactions atomic.Int64
	stableAcked atomic.Int64
}

// plKey is one stable store key: its acknowledged value and the values
// attempted since, which a crash may or may not have kept.
type plKey struct {
	acked    []byte
	hasAcked bool
	attempts [][]byte
}

func (pr *plPromises) bug(format string, args ...any) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.bugs = append(pr.bugs, fmt.Sprintf(format, args...))
}

func (pr *plPromises) takeBugs() []string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	b := pr.bugs
	pr.bugs = nil
	return b
}

// plStable is the stable store as raft sees it. Raft panics when a term
// cannot be saved; once the power is out nothing reaches the disk any
// more, so the failure is swallowed (the node is about to be thrown away)
// and the value recorded as attempted, never acknowledged. A failure with
// the power on is recorded as a bug.
type plStable struct {
	*raftlog.StableStore
	fs *wal.MemFS
	pr *plPromises
}

func (s *plStable) Set(key, val []byte) error {
	return s.record(key, val, s.StableStore.Set(key, val))
}

func (s *plStable) SetUint64(key []byte, val uint64) error {
	b := make([]byte, 8)
	for i := range 8 {
		b[i] = byte(val >> (56 - 8*i))
	}
	return s.record(key, b, s.StableStore.SetUint64(key, val))
}

func (s *plStable) record(key, val []byte, err error) error {
	s.pr.mu.Lock()
	k := s.pr.stable[string(key)]
	if k == nil {
		k = &plKey{}
		s.pr.stable[string(key)] = k
	}
	if err == nil {
		k.acked, k.hasAcked, k.attempts = append([]byte(nil), val...), true, nil
		s.pr.stableAcked.Add(1)
	} else {
		k.attempts = append(k.attempts, append([]byte(nil), val...))
	}
	s.pr.mu.Unlock()
	if err != nil && !s.fs.PowerLost() && !errors.Is(err, wal.ErrPowerLost) {
		s.pr.bug("stable store Set(%s): %v", key, err)
	}
	return nil
}

// plSnaps records the snapshots whose Close returned nil.
type plSnaps struct {
	*raftlog.SnapshotStore
	pr *plPromises
}

func (s *plSnaps) Create(version raft.SnapshotVersion, index, term uint64, conf raft.Configuration, confIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.SnapshotStore.Create(version, index, term, conf, confIndex, trans)
	if err != nil {
		return nil, err
	}
	return &plSink{SnapshotSink: sink, pr: s.pr, index: index}, nil
}

type plSink struct {
	raft.SnapshotSink
	pr    *plPromises
	index uint64
	done  bool
}

func (s *plSink) Close() error {
	err := s.SnapshotSink.Close()
	if !s.done && err == nil {
		fmt.Fprintf(s.pr.out, "snapshot %d durable\n", s.index)
		s.pr.mu.Lock()
		s.pr.snapAcked = max(s.pr.snapAcked, s.index)
		s.pr.mu.Unlock()
		s.pr.snapshots.Add(1)
	}
	s.done = true
	return err
}

func (s *plSink) Cancel() error {
	s.done = true
	return s.SnapshotSink.Cancel()
}

// plLogStore counts raft's compactions.
type plLogStore struct {
	*raftlog.LogStore
	pr      *plPromises
	applied func() uint64
}

// StoreLogs traces failures.
func (s *plLogStore) StoreLogs(logs []*raft.Log) error {
	err := s.LogStore.StoreLogs(logs)
	if err != nil {
		fmt.Fprintf(s.pr.out, "StoreLogs [%d, %d]: %v\n", logs[0].Index, logs[len(logs)-1].Index, err)
	}
	return err
}

// DeleteRange also checks that compaction keeps every command it removes
// in the history (the archive). When raft empties the whole log, the
// store drops what lies above the applied source instead, as possibly
// uncommitted: on a single node that may only be raft's own no-ops and
// barriers, which never reach the FSM.
func (s *plLogStore) DeleteRange(lo, hi uint64) error {
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	var cmds []uint64
	for i := max(lo, first); i <= min(hi, last) && first != 0; i++ {
		var l raft.Log
		if s.GetLog(i, &l) == nil && l.Type == raft.LogCommand {
			cmds = append(cmds, i)
		}
	}
	err := s.LogStore.DeleteRange(lo, hi)
	first2, _ := s.FirstIndex()
	last2, _ := s.LastIndex()
	fmt.Fprintf(s.pr.out, "DeleteRange(%d, %d): [%d, %d] -> [%d, %d], applied source %d: %v\n", lo, hi, first, last, first2, last2, s.applied(), err)
	if err != nil {
		return err
	}
	s.pr.compactions.Add(1)
	if len(cmds) == 0 {
		return nil
	}
	// Scan, not Command: Command's window of archived entries may still
	// hold what the disk no longer does.
	kept := map[uint64]bool{}
	if err := s.Log().Scan(cmds[0], func(i uint64, _ []byte) bool {
		kept[i] = true
		return i < cmds[len(cmds)-1]
	}); err != nil {
		s.pr.bug("Scan after DeleteRange(%d, %d): %v", lo, hi, err)
	}
	for _, i := range cmds {
		if !kept[i] {
			s.pr.bug("DeleteRange(%d, %d) of [%d, %d] dropped the committed command at %d from the history", lo, hi, first, last, i)
			break
		}
	}
	return nil
}

// plNode is one life of the node, between two power cuts.
type plNode struct {
	fs                 *wal.MemFS
	p                  plParams
	pr                 *plPromises
	raftLog, stableLog *wal.Log
	logs               *plLogStore
	stable             *plStable
	snaps              *plSnaps
	fsm                *raftlog.FSM
	trans              *raft.InmemTransport
	raft               *raft.Raft
	restoredAt         atomic.Uint64
	out                *syncBuffer
	closed             bool
}

// plWatermarkKey is where the appliance keeps its applied watermark.
var plWatermarkKey = []byte("lithair_applied_watermark")

// plOpen opens the three stores as the appliance lays them out.
func plOpen(fsys *wal.MemFS, p plParams, pr *plPromises) (*plNode, error) {
	n := &plNode{fs: fsys, p: p, pr: pr, out: pr.out}
	var err error
	if n.raftLog, err = wal.Open("/data/log", wal.Options{FS: fsys, SegmentSize: p.segSize, Archive: true}); err != nil {
		return nil, fmt.Errorf("raft log: %w", err)
	}
	if n.stableLog, err = wal.Open("/data/raft-stable", wal.Options{FS: fsys, SegmentSize: 1024}); err != nil {
		n.raftLog.Close()
		return nil, fmt.Errorf("stable log: %w", err)
	}
	stable, err := raftlog.NewStableStore(n.stableLog)
	if err != nil {
		n.closeLogs()
		return nil, err
	}
	n.stable = &plStable{StableStore: stable, fs: fsys, pr: pr}
	logger := hclog.New(&hclog.LoggerOptions{Name: "snapshots", Level: hclog.Warn, Output: n.out})
	snaps, err := raftlog.NewSnapshotStore(fsys, "/data", 2, logger)
	if err != nil {
		n.closeLogs()
		return nil, err
	}
	n.snaps = &plSnaps{SnapshotStore: snaps, pr: pr}
	n.logs = &plLogStore{LogStore: raftlog.NewLogStore(n.raftLog), pr: pr}
	n.fsm = newFSM()
	fmt.Fprintf(pr.out, "open: log [%d, %d]\n", n.raftLog.FirstIndex(), n.raftLog.LastIndex())
	// As the appliance does (committed.go): what this node applied from
	// its log, or restored from its own snapshot at start, was committed.
	// The watermark: how far it had applied, kept in the stable store
	// before the log store discards an unapplied suffix.
	var watermark atomic.Uint64
	if v, err := stable.GetUint64(plWatermarkKey); err == nil {
		watermark.Store(v)
	}
	n.logs.applied = func() uint64 {
		return max(n.fsm.Machine().LogApplied(), n.restoredAt.Load(), watermark.Load())
	}
	n.logs.SetAppliedSource(n.logs.applied)
	n.logs.SetAppliedKeeper(func(v uint64) error {
		if v <= watermark.Load() {
			return nil
		}
		if err := stable.SetUint64(plWatermarkKey, v); err != nil {
			return err
		}
		watermark.Store(v)
		return nil
	})
	return n, nil
}

func (n *plNode) closeLogs() error {
	if n.closed {
		return nil
	}
	n.closed = true
	err := n.raftLog.Close()
	if cerr := n.stableLog.Close(); err == nil {
		err = cerr
	}
	return err
}

// start runs raft on the stores and waits until it leads and has applied
// its whole log. It gives up early when the power is out.
func (n *plNode) start(bootstrap bool) (err error) {
	conf := raft.DefaultConfig()
	conf.LocalID = "node"
	conf.HeartbeatTimeout = 10 * time.Millisecond
	conf.ElectionTimeout = 10 * time.Millisecond
	conf.LeaderLeaseTimeout = 10 * time.Millisecond
	conf.CommitTimeout = time.Millisecond
	conf.SnapshotInterval = n.p.interval
	conf.SnapshotThreshold = n.p.threshold
	conf.TrailingLogs = n.p.trailing
	conf.BatchApplyCh = true
	conf.NoLegacyTelemetry = true
	conf.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: n.out})
	var addr raft.ServerAddress
	addr, n.trans = raft.NewInmemTransport("node")
	// As the appliance does before Raft starts.
	var snapIndex uint64
	if list, _ := n.snaps.List(); len(list) > 0 {
		snapIndex = list[0].Index
	}
	if err := n.logs.FinishDiscard(snapIndex); err != nil {
		return fmt.Errorf("finishing a discard: %w", err)
	}
	func() {
		// Raft panics on a log it cannot read while it starts.
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("raft panicked while starting: %v", v)
			}
		}()
		n.raft, err = raft.NewRaft(conf, n.fsm, n.logs, n.stable, n.snaps, n.trans)
	}()
	if err != nil {
		n.raft = nil
		return fmt.Errorf("NewRaft: %w", err)
	}
	n.restoredAt.Store(n.fsm.State().AppliedIndex())
	list, _ := n.snaps.List()
	fmt.Fprintf(n.out, "raft started: snapshots %v, restored applied index %d, log [%d, %d], raft's last index %d\n",
		ids(list), n.restoredAt.Load(), n.raftLog.FirstIndex(), n.raftLog.LastIndex(), n.raft.LastIndex())
	if bootstrap {
		boot := raft.Configuration{Servers: []raft.Server{{ID: conf.LocalID, Address: addr}}}
		if err := n.raft.BootstrapCluster(boot).Error(); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	deadline := time.Now().Add(waitTimeout)
	for n.raft.State() != raft.Leader {
		if n.fs.PowerLost() {
			return wal.ErrPowerLost
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no leader after %v", waitTimeout)
		}
		time.Sleep(time.Millisecond)
	}
	if err := n.raft.Barrier(waitTimeout).Error(); err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	return nil
}

// stop shuts raft down and closes the logs, as a process exit would. With
// the power on, a failure is an error.
func (n *plNode) stop() error {
	var err error
	if n.raft != nil {
		err = n.raft.Shutdown().Error()
		n.raft = nil
	}
	if n.trans != nil {
		n.trans.Close()
		n.trans = nil
	}
	if cerr := n.closeLogs(); err == nil {
		err = cerr
	}
	if n.fs.PowerLost() {
		return nil
	}
	return err
}

// tail is the end of the node's raft and snapshot log, for a failure.
func (n *plNode) tail() string {
	if n == nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(n.out.String()), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return "\nlast raft log lines:\n" + strings.Join(lines, "\n")
}

// checkDisk checks, before raft starts, what the stores hold after a
// crash against what they acknowledged, and returns the state replayed
// from the newest snapshot and the log.
func (n *plNode) checkDisk(ackedAt map[uint64][]byte) (*raftlog.FSM, error) {
	pr := n.pr
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for key, k := range pr.stable {
		got, err := n.stable.Get([]byte(key))
		ok := false
		if err == nil && k.hasAcked && bytes.Equal(got, k.acked) {
			ok = true
		}
		for _, a := range k.attempts {
			ok = ok || (err == nil && bytes.Equal(got, a))
		}
		if !k.hasAcked && err != nil {
			ok = true // never acknowledged, and lost
		}
		if !ok {
			return nil, fmt.Errorf("stable store key %s holds %x (%v); acknowledged %x, attempted since %x", key, got, err, k.acked, k.attempts)
		}
		k.acked, k.hasAcked, k.attempts = got, err == nil, nil
	}

	list, err := n.snaps.List()
	if err != nil {
		return nil, fmt.Errorf("snapshot List: %w", err)
	}
	var newest uint64
	if len(list) > 0 {
		newest = list[0].Index
	}
	if newest < pr.snapAcked {
		return nil, fmt.Errorf("the snapshot at index %d was acknowledged, but the newest listed is at %d (%v)", pr.snapAcked, newest, ids(list))
	}
	pr.snapAcked = newest
	var fromSnap *raftlog.FSM
	for i, meta := range list {
		_, rc, err := n.snaps.Open(meta.ID)
		if err != nil {
			return nil, fmt.Errorf("%w: listed snapshot %s fails to open: %w", errWouldNotOpen, meta.ID, err)
		}
		f := newFSM()
		err = f.Restore(rc)
		if err != nil {
			return nil, fmt.Errorf("%w: listed snapshot %s fails to restore: %w", errWouldNotOpen, meta.ID, err)
		}
		if i == 0 {
			fromSnap = f
		}
	}

	first, last := n.raftLog.FirstIndex(), n.raftLog.LastIndex()
	if last != 0 && first > newest+1 {
		return nil, fmt.Errorf("%w: the log starts at %d but the newest snapshot is at %d: entries %d-%d are lost", errWouldNotOpen, first, newest, newest+1, first-1)
	}
	if last == 0 && newest == 0 {
		return nil, fmt.Errorf("%w: neither a log nor a snapshot", errWouldNotOpen)
	}
	if fromSnap == nil {
		fromSnap = newFSM()
	}
	var logs []*raft.Log
	for i := max(first, newest+1); last != 0 && i <= last; i++ {
		l := &raft.Log{}
		if err := n.logs.GetLog(i, l); err != nil {
			return nil, fmt.Errorf("GetLog(%d) in [%d, %d]: %w", i, first, last, err)
		}
		logs = append(logs, l)
	}
	fromSnap.ApplyBatch(fsmEntries(logs))

	// The whole history, from the archive and the live log. It may skip
	// the no-ops dropped when raft emptied the log (see plLogStore), never
	// an acknowledged command.
	whole := newFSM()
	logs, next, found := nil, uint64(1), 0
	var bad error
	err = n.raftLog.Scan(1, func(i uint64, data []byte) bool {
		l := &raft.Log{}
		if i < next {
			bad = fmt.Errorf("the history goes back from %d to %d", next-1, i)
		} else {
			bad = raftlog.DecodeEntry(i, data, l)
		}
		if want, ok := ackedAt[i]; ok && bad == nil {
			if l.Type != raft.LogCommand || !bytes.Equal(l.Data, want) {
				bad = fmt.Errorf("the history holds another entry (type %v) at %d than the command acknowledged there", l.Type, i)
			}
			found++
		}
		logs, next = append(logs, l), i+1
		return bad == nil
	})
	if err == nil {
		err = bad
	}
	// The history may end below the newest snapshot: Raft's own entries
	// (a new leader's no-op, a barrier) past the last command applied are
	// dropped, not archived, when the whole log is discarded, as they
	// cannot be told from a deposed leader's uncommitted suffix. Commands
	// are held to more: every acknowledged one is checked just below, and
	// every applied one by the replay check.
	if err == nil && found != len(ackedAt) {
		var missing []uint64
		for i := range ackedAt {
			if i < next && !slicesContains(logs, i) {
				missing = append(missing, i)
			}
		}
		sort.Slice(missing, func(a, b int) bool { return missing[a] < missing[b] })
		err = fmt.Errorf("%d acknowledged commands are missing from the history, at %v", len(ackedAt)-found, missing[:min(len(missing), 10)])
	}
	if err != nil {
		live, _ := n.fs.ReadDir("/data/log")
		arch, _ := n.fs.ReadDir("/data/log/archive")
		return nil, fmt.Errorf("history: %w (log [%d, %d], snapshot %d; /data/log holds %v, its archive %v)", err, first, last, newest, live, arch)
	}
	whole.ApplyBatch(fsmEntries(logs))
	var a, b bytes.Buffer
	fromSnap.State().View().WriteTo(&a)
	whole.State().View().WriteTo(&b)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		return nil, fmt.Errorf("the state from snapshot %d and the log [%d, %d] (applied %d, hash %x) differs from the replay of the whole history (applied %d, hash %x)",
			newest, first, last, fromSnap.State().AppliedIndex(), fromSnap.State().View().Hash(), whole.State().AppliedIndex(), whole.State().View().Hash())
	}
	return fromSnap, nil
}

func slicesContains(logs []*raft.Log, i uint64) bool {
	k := sort.Search(len(logs), func(j int) bool { return logs[j].Index >= i })
	return k < len(logs) && logs[k].Index == i
}

// fsmEntries keeps the entries raft hands to a BatchingFSM: commands and
// configurations, not its no-ops and barriers.
func fsmEntries(logs []*raft.Log) []*raft.Log {
	out := logs[:0:0]
	for _, l := range logs {
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			out = append(out, l)
		}
	}
	return out
}
