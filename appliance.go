// Package lithair wires an appliance together: the log, Raft, the state
// machine, the rules. It is what cmd/lithair runs and what web/ serves.
package lithair

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/metrics"
	"github.com/lithair/lithair/raftlog"
	"github.com/lithair/lithair/rules"
)

// Errors a caller of Propose tells apart.
var (
	// ErrUnavailable means no leader could take the write now; nothing was
	// acknowledged and the client may retry (HTTP 503).
	ErrUnavailable = errors.New("lithair: no leader available")
	// ErrNotReady means the log is still being replayed.
	ErrNotReady = errors.New("lithair: still replaying the log")
)

// Appliance is one running Lithair node.
type Appliance struct {
	cfg       Config
	logger    *slog.Logger
	lock      *os.File
	log       *wal.Log
	stableLog *wal.Log
	logs      *raftlog.LogStore
	fsm       *raftlog.FSM
	state     *index.State
	raft      *raft.Raft
	snaps     raft.SnapshotStore
	transport *raft.NetworkTransport // nil on a single node
	self      JoinRequest            // this node's id and addresses
	metrics   *metrics.Metrics
	feed      *feed // the live event stream's source (feed.go)
	ready     atomic.Bool
	// restoredAt is the applied index right after Raft restored the latest
	// snapshot: what the replay started from.
	restoredAt     uint64
	committed      committedKnown  // how far the log is known committed (committed.go)
	storage        *storageGuard   // refuses writes the disk cannot take (storage.go)
	credentials    credentialCache // who a session or token is (credentials.go)
	appliedWaiters waiters         // wakes WaitApplied (cluster.go)
	// raftStarted is closed once a.raft is set, for haltOnStorageFailure.
	raftStarted chan struct{}
	leadTerm    atomic.Uint64 // the term whose first entry this leader saw applied (cluster.go)
	reload      reloadState
	// firstAdmin holds the user made on the first start until the caller
	// has shown its password (InitialAdmin).
	firstAdmin struct {
		mu             sync.Mutex
		name, password string
	}
	readyCh   chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Open starts a node from cfg: it locks the data dir, opens the log,
// starts Raft (bootstrapping a single-node cluster on the first start) and
// begins replaying. It returns before the replay ends; see WaitReady.
func Open(cfg Config, logger *slog.Logger) (*Appliance, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	diskRules, err := rules.LoadDir(cfg.Rules.Dir, ruleOptions(cfg))
	if err != nil {
		return nil, fmt.Errorf("rules in %s:\n%w", cfg.Rules.Dir, err)
	}
	return open(cfg, logger, diskRules)
}

// OpenForMaintenance starts a node on a stopped data dir for an operator's
// command (adding a user, say) without touching its rules: it keeps the
// rules the log deployed, whatever the rules dir holds. On a data dir that
// never served, it deploys an empty rule set (Lithair's own models only).
func OpenForMaintenance(cfg Config, logger *slog.Logger) (*Appliance, error) {
	cfg.Rules.Watch = false
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return open(cfg, logger, nil)
}

func open(cfg Config, logger *slog.Logger, diskRules *rules.Set) (*Appliance, error) {
	if logger == nil {
		logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	var err error
	dir := cfg.EventStore.Dir
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	a := &Appliance{cfg: cfg, logger: logger, readyCh: make(chan struct{}), stop: make(chan struct{}), raftStarted: make(chan struct{})}
	a.storage = newStorageGuard(dir, logger)
	a.metrics = newMetrics(a)
	ok := false
	defer func() {
		if !ok {
			close(a.stop)
			a.closeFiles()
		}
	}()
	if a.lock, err = lockDir(dir); err != nil {
		return nil, err
	}
	lo := logOptions(cfg)
	lo.OnSync = func(d time.Duration) {
		a.metrics.ObserveFsync(d)
		a.metrics.ObserveStage(metrics.StageStorage, d)
	}
	lo.OnBreak = func(err error) { a.storageFailed("event log", err) }
	if a.log, err = wal.Open(filepath.Join(dir, "log"), lo); err != nil {
		return nil, fmt.Errorf("opening the event log: %w", err)
	}
	if a.stableLog, err = wal.Open(filepath.Join(dir, "raft-stable"), wal.Options{SegmentSize: 1 << 20,
		OnBreak: func(err error) { a.storageFailed("raft stable store", err) }}); err != nil {
		return nil, fmt.Errorf("opening the raft stable store: %w", err)
	}
	stable, err := raftlog.NewStableStore(a.stableLog)
	if err != nil {
		return nil, err
	}
	logs := raftlog.NewLogStore(a.log)
	a.logs = logs
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: os.Stderr})
	// The store keeps its snapshots in DIR/snapshots, the two newest.
	snaps, err := raftlog.NewSnapshotStore(wal.OSFS{}, dir, 2, hlog)
	if err != nil {
		return nil, err
	}
	a.snaps = snaps
	a.state = index.New()
	a.fsm = raftlog.NewFSM(a.state, a.ruleOptions())
	a.fsm.Machine().OnSnapshot = a.metrics.ObserveSnapshot
	a.fsm.Machine().SetCommandSource(logs.Command)
	a.committed = committedKnown{stable: stable, machine: a.fsm.Machine()}
	a.committed.load()
	logs.SetAppliedSource(a.committed.upTo)
	logs.SetAppliedKeeper(a.committed.keep)
	a.fsm.Machine().Logger = logger
	a.feed = newFeed(feedRing, a.stop, a.state, a.systemModel, a.readCommands, logs.Command)
	a.fsm.Machine().OnApply = a.feed.onApply
	a.fsm.OnApplied = func(idx uint64) {
		a.feed.entryApplied(idx)
		a.appliedWaiters.applied(idx)
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.Raft.NodeID)
	rc.Logger = hlog
	rc.HeartbeatTimeout = cfg.Raft.ElectionTimeout.Duration
	rc.ElectionTimeout = cfg.Raft.ElectionTimeout.Duration
	rc.LeaderLeaseTimeout = min(cfg.Raft.ElectionTimeout.Duration/2, rc.LeaderLeaseTimeout)
	rc.CommitTimeout = cfg.Raft.HeartbeatInterval.Duration
	rc.MaxAppendEntries = cfg.Raft.MaxPayloadEntries
	rc.BatchApplyCh = true
	rc.SnapshotThreshold = cfg.EventStore.SnapshotThreshold
	rc.SnapshotInterval = cfg.EventStore.SnapshotInterval.Duration
	rc.NoLegacyTelemetry = true

	// Until clustering is configured, Raft talks to nobody: an in-memory
	// transport keeps a single node from opening a port it does not need,
	// and with no peer to hear from, waiting a full election timeout before
	// electing itself would only delay the start.
	var addr raft.ServerAddress
	var transport raft.Transport
	if cfg.Raft.Bind == "" {
		addr, transport = raft.NewInmemTransport(raft.ServerAddress(cfg.Raft.NodeID))
		rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
		hlog.SetLevel(hclog.Error)
	} else {
		nt, err := raftlog.NewTransport(cfg.Raft.Bind, cfg.Raft.Advertise, []byte(cfg.Raft.Secret), logger)
		if err != nil {
			return nil, fmt.Errorf("raft transport on %s: %w", cfg.Raft.Bind, err)
		}
		a.transport = nt
		addr, transport = nt.LocalAddr(), nt
	}
	existing, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return nil, err
	}
	snapIndex := latestSnapshot(snaps)
	if err := logs.FinishDiscard(snapIndex); err != nil {
		return nil, fmt.Errorf("finishing an interrupted discard of the log: %w", err)
	}
	lastAtOpen := a.log.LastIndex()
	a.raft, err = newRaft(rc, a.fsm, logs, stable, snaps, transport)
	if err != nil && snapIndex > 0 && strings.Contains(err.Error(), "failed to load any existing snapshots") {
		// Every snapshot failed its checks. While the log still starts at
		// its first entry it holds the whole history: set the snapshots
		// aside and replay the log instead.
		if a.log.FirstIndex() > 1 {
			return nil, fmt.Errorf("every snapshot in %s is corrupt and the log was compacted up to index %d: restore the data dir from a backup", filepath.Join(dir, "snapshots"), a.log.FirstIndex())
		}
		aside := filepath.Join(dir, fmt.Sprintf("snapshots.corrupt-%d", time.Now().Unix()))
		logger.Error("every snapshot is corrupt; replaying the whole log instead", "moved_to", aside)
		if err := os.Rename(filepath.Join(dir, "snapshots"), aside); err != nil {
			return nil, err
		}
		if snaps, err = raftlog.NewSnapshotStore(wal.OSFS{}, dir, 2, hlog); err != nil {
			return nil, err
		}
		a.snaps = snaps
		a.raft, err = newRaft(rc, a.fsm, logs, stable, snaps, transport)
	}
	if err != nil {
		return nil, fmt.Errorf("starting raft: %w", err)
	}
	close(a.raftStarted)
	a.restoredAt = a.state.AppliedIndex()
	// This node's own snapshot holds only what it applied: committed.
	a.committed.snapshot.Store(a.restoredAt)
	switch {
	case !existing && cfg.Raft.Join != "":
		logger.Info("first start: joining a cluster", "node_id", cfg.Raft.NodeID, "via", cfg.Raft.Join, "raft", addr)
	case !existing:
		logger.Info("first start: bootstrapping a new cluster", "node_id", cfg.Raft.NodeID, "data", dir, "raft", addr)
		boot := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: addr}}}
		if err := a.raft.BootstrapCluster(boot).Error(); err != nil {
			a.raft.Shutdown()
			return nil, fmt.Errorf("bootstrapping: %w", err)
		}
	default:
		logger.Info("resuming", "data", dir, "snapshot_index", a.state.AppliedIndex(), "first_index", a.log.FirstIndex(), "last_index", lastAtOpen)
	}
	a.self = JoinRequest{ID: cfg.Raft.NodeID, Raft: string(addr), HTTP: advertisedHTTP(cfg)}
	if cfg.Raft.Join != "" {
		a.wg.Add(1)
		go a.joinLoop(a.self)
	}
	ok = true
	a.wg.Add(3)
	go a.becomeReady(lastAtOpen, diskRules)
	go a.sweepSessions()
	go a.keepWatermark()
	if cfg.Rules.Watch {
		a.wg.Add(1)
		go a.watchRules()
	}
	return a, nil
}

// newRaft starts Raft. hashicorp/raft panics when the log store fails a
// read while it starts (it reads the log back to find the cluster's
// configuration); a damaged log must instead stop the start with the
// log's own message, which names the file and the byte.
func newRaft(rc *raft.Config, fsm raft.FSM, logs raft.LogStore, stable raft.StableStore, snaps raft.SnapshotStore, trans raft.Transport) (r *raft.Raft, err error) {
	defer func() {
		if v := recover(); v != nil {
			if e, ok := v.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", v)
			}
		}
	}()
	return raft.NewRaft(rc, fsm, logs, stable, snaps, trans)
}

// latestSnapshot is the index of the newest snapshot on disk, 0 if none.
func latestSnapshot(snaps raft.SnapshotStore) uint64 {
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return 0
	}
	return list[0].Index
}

func ruleOptions(cfg Config) rules.Options {
	return rules.Options{CallTimeout: cfg.Rules.CallTimeout.Duration}
}

func logOptions(cfg Config) wal.Options {
	o := wal.Options{
		SegmentSize:  cfg.EventStore.SegmentSize,
		SyncInterval: cfg.EventStore.SyncInterval.Duration,
		Archive:      true,
		Retention:    cfg.EventStore.Retention.Duration,
	}
	if cfg.EventStore.Sync == "periodic" {
		o.Sync = wal.SyncPeriodic
	}
	return o
}

// lockDir takes an exclusive lock on dir so that two processes never
// write the same log.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another lithair process", dir)
	}
	return f, nil
}

// becomeReady waits until every entry that was in the log at open has been
// applied, deploys the rules found on disk if they differ from the active
// ones, and then opens the gate for requests.
func (a *Appliance) becomeReady(lastAtOpen uint64, diskRules *rules.Set) {
	defer a.wg.Done()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-tick.C:
		}
		if a.raft.State() == raft.Leader {
			if err := a.raft.Barrier(5 * time.Second).Error(); err != nil {
				continue
			}
			active := a.fsm.Rules()
			if diskRules == nil && active == nil {
				empty, err := rules.LoadFiles(nil, a.ruleOptions())
				if err != nil {
					a.logger.Warn("loading the system models", "err", err)
					continue
				}
				diskRules = empty
			}
			if diskRules != nil && (active == nil || active.Version != diskRules.Version) {
				if err := a.deployRules(context.Background(), diskRules); err != nil {
					a.logger.Warn("deploying rules", "err", err)
					continue
				}
				a.logger.Info("rules deployed", "version", diskRules.Version, "models", len(diskRules.Models))
			}
			if err := a.ensureAdmin(context.Background()); err != nil {
				a.logger.Warn("first start", "err", err)
				continue
			}
			if a.Clustered() {
				if err := a.recordNode(context.Background(), a.self); err != nil {
					a.logger.Warn("publishing this node's addresses", "err", err)
					continue
				}
			}
		} else if _, id := a.raft.LeaderWithID(); id == "" || a.state.AppliedIndex() < lastAtOpen || a.fsm.Rules() == nil {
			continue
		}
		a.ready.Store(true)
		close(a.readyCh)
		// Restoring and replaying left garbage; once the indexes are built,
		// hand it back to the system rather than whenever the heap next
		// doubles.
		go func() {
			a.state.WaitForIndexes()
			debug.FreeOSMemory()
		}()
		a.logger.Info("ready", "applied_index", a.state.AppliedIndex(), "rules_version", a.fsm.Rules().Version,
			"replayed_entries", a.state.AppliedIndex()-a.restoredAt)
		return
	}
}

// WaitReady blocks until the node serves requests or ctx ends.
func (a *Appliance) WaitReady(ctx context.Context) error {
	select {
	case <-a.readyCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ready reports whether the log has been replayed and rules are active.
func (a *Appliance) Ready() bool { return a.ready.Load() }

// Rules returns the active rule set (nil before the first deployment).
func (a *Appliance) Rules() *rules.Set { return a.fsm.Rules() }

// State returns the in-memory state for reads.
func (a *Appliance) State() *index.State { return a.state }

// ProjectionRows returns a projection's rows by key, or false when the
// active rules declare no projection of that name.
func (a *Appliance) ProjectionRows(name string) (map[string]map[string]any, bool) {
	return a.fsm.Machine().ProjectionRows(name)
}

// Command returns the command committed at log index idx, from the live
// log or its archive: what history, time travel and the audit trail read.
func (a *Appliance) Command(idx uint64) (*event.Command, error) { return a.logs.Command(idx) }

// Snapshot takes a snapshot of the state now and returns the log index it
// covers. Raft takes them on its own every snapshot_threshold entries.
func (a *Appliance) Snapshot() (uint64, error) {
	f := a.raft.Snapshot()
	if err := f.Error(); err != nil {
		return 0, err
	}
	meta, rc, err := f.Open()
	if err != nil {
		return 0, err
	}
	rc.Close()
	return meta.Index, nil
}

// Config returns the configuration the node runs with.
func (a *Appliance) Config() Config { return a.cfg }

// Propose commits a record command through Raft and returns the record it
// produced, or the state machine's *event.Refusal. It returns only once
// the command is durable in the log and applied here.
func (a *Appliance) Propose(ctx context.Context, c *event.Command) (*index.Record, error) {
	if !a.ready.Load() {
		return nil, ErrNotReady
	}
	return a.propose(ctx, c)
}

// propose commits c through Raft, waiting until ctx's deadline, or the
// configured request timeout when ctx has none. A follower has the leader
// propose it (cluster.go).
func (a *Appliance) propose(ctx context.Context, c *event.Command) (*index.Record, error) {
	if a.Clustered() && a.raft.State() != raft.Leader {
		return a.forward(ctx, c)
	}
	rec, _, err := a.apply(ctx, c)
	if errors.Is(err, errNotLeader) && a.Clustered() {
		return a.forward(ctx, c)
	}
	return rec, err
}

// errNotLeader marks an apply refused because this node does not lead.
var errNotLeader = fmt.Errorf("%w: not the leader", ErrUnavailable)

// apply commits c through this node's Raft, which must lead, and returns
// the record it produced and the log index it was applied at.
func (a *Appliance) apply(ctx context.Context, c *event.Command) (*index.Record, uint64, error) {
	timeout := a.cfg.HTTP.RequestTimeout.Duration
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := a.storage.check(); err != nil {
		return nil, 0, err
	}
	data, err := c.Encode()
	if err != nil {
		return nil, 0, err
	}
	f := a.raft.Apply(data, timeout)
	if err := a.awaitCommit(f); err != nil {
		switch {
		case errors.Is(err, wal.ErrNoSpace), errors.Is(err, wal.ErrBroken):
			return nil, 0, a.storage.refusal(err)
		case errors.Is(err, raft.ErrNotLeader):
			return nil, 0, errNotLeader
		case errors.Is(err, raft.ErrLeadershipLost),
			errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, raft.ErrRaftShutdown),
			errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return nil, 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return nil, 0, err
	}
	res, _ := f.Response().(*raftlog.Result)
	if res == nil {
		return nil, f.Index(), errors.New("lithair: no result from the state machine")
	}
	return res.Record, f.Index(), res.Err
}

// Close stops Raft, waits for it, and closes the log. Everything that was
// acknowledged is already durable; Close only releases resources.
func (a *Appliance) Close() error {
	var err error
	a.closeOnce.Do(func() {
		if a.raft != nil && a.Clustered() {
			if err := a.TransferLeadership(5 * time.Second); err != nil {
				a.logger.Warn("handing leadership over before stopping", "err", err)
			}
		}
		close(a.stop)
		a.wg.Wait()
		if a.raft != nil {
			err = a.raft.Shutdown().Error()
		}
		if cerr := a.closeFiles(); err == nil {
			err = cerr
		}
	})
	return err
}

func (a *Appliance) closeFiles() error {
	var err error
	if a.transport != nil {
		a.transport.Close()
	}
	for _, l := range []*wal.Log{a.log, a.stableLog} {
		if l != nil {
			if cerr := l.Close(); err == nil {
				err = cerr
			}
		}
	}
	if a.lock != nil {
		a.lock.Close()
	}
	return err
}

// storageFailed is told of a log broken by a failed write or fsync. The
// node refuses writes from then on (storageGuard) and stops Raft, which
// would otherwise keep electing itself and failing its first entry, and
// write its term to a disk that no longer keeps what it is given. Reads
// of the applied state go on; /readyz and the health probe report the
// failure, and the service manager restarts the node.
func (a *Appliance) storageFailed(what string, err error) {
	a.storage.fail(what, err)
	go func() {
		select {
		case <-a.raftStarted:
			a.raft.Shutdown()
		case <-a.stop:
		}
	}()
}

// StorageError is why the node refuses writes because of its disk: a
// failed write or fsync (ErrStorageFailed, for good) or a full disk
// (ErrDiskFull, until space is freed); nil when the disk takes writes.
func (a *Appliance) StorageError() error {
	if err := a.storage.Failed(); err != nil {
		return err
	}
	if a.storage.full.Load() {
		return a.storage.fullError()
	}
	return nil
}

// awaitCommit waits for f, or for the disk to fail: Raft, stopped then,
// never answers a command still waiting in its queue.
func (a *Appliance) awaitCommit(f raft.ApplyFuture) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-a.storage.failedCh:
		return fmt.Errorf("%w: the write was waiting for Raft when the disk failed: %w", wal.ErrBroken, a.storage.Failed())
	}
}
