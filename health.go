package lithair

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Progress is where a node stands: what the service manager reports in
// its status line and what the watchdog judges.
type Progress struct {
	// Applied is the last log index the state has applied.
	Applied uint64
	// Target is the last index in the log: during the replay at start,
	// Applied climbs towards it.
	Target uint64
	Ready  bool
	State  string // raft state: Leader, Follower, Candidate, Shutdown
}

// Progress returns the node's applied index and the log's last index.
func (a *Appliance) Progress() Progress {
	return Progress{
		Applied: a.state.AppliedIndex(),
		Target:  a.log.LastIndex(),
		Ready:   a.Ready(),
		State:   a.raft.State().String(),
	}
}

// HealthProbe judges, one call at a time, whether the log and the apply
// loop are making progress. Keep one per watchdog and call Check at a
// steady pace (systemd's WatchdogSec/2).
type HealthProbe struct {
	a          *Appliance
	mu         sync.Mutex
	lastState  uint64 // state's applied index at the previous check
	stuckSince time.Time
}

// NewHealthProbe returns a probe for a.
func (a *Appliance) NewHealthProbe() *HealthProbe { return &HealthProbe{a: a} }

// errStalled reports an apply loop that has a command to apply and has
// not moved since the previous check.
var errStalled = errors.New("lithair: the apply loop has not moved")

// Check returns nil while the node is healthy:
//   - neither log is broken by a failed write or fsync;
//   - Raft is running;
//   - as leader, the leader loop (the goroutine that writes and fsyncs the
//     log) answers a leadership check within timeout;
//   - the apply loop is not stuck: if a committed command waits to be
//     applied, the applied index moved since the previous check.
//
// An idle node is healthy without writing anything: Check never appends.
func (p *HealthProbe) Check(timeout time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.a
	for _, l := range []struct {
		name string
		ok   bool
	}{{"event log", !a.log.Stats().Broken}, {"raft stable store", !a.stableLog.Stats().Broken}} {
		if !l.ok {
			return fmt.Errorf("lithair: the %s is broken by a failed write or fsync; restart the node", l.name)
		}
	}
	st := a.raft.State()
	if st == raft.Shutdown {
		return errors.New("lithair: raft is shut down")
	}
	if st == raft.Leader {
		f := a.raft.VerifyLeader()
		done := make(chan error, 1)
		go func() { done <- f.Error() }()
		select {
		case err := <-done:
			// Losing leadership is not a fault of this process.
			if err != nil && !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) {
				return fmt.Errorf("lithair: leader loop: %w", err)
			}
		case <-time.After(timeout):
			return fmt.Errorf("lithair: the leader loop did not answer in %s (a log write or fsync may be stuck)", timeout)
		}
	}
	applied := a.state.AppliedIndex()
	dispatched := a.raft.AppliedIndex()
	return p.judgeApplyLocked(applied, dispatched, a.commandWaiting(applied, dispatched))
}

// judgeApplyLocked fails when a command waits to be applied and the
// applied index has not moved over a whole period between checks.
func (p *HealthProbe) judgeApplyLocked(applied, dispatched uint64, waiting bool) error {
	if applied > p.lastState || !waiting {
		p.lastState, p.stuckSince = applied, time.Time{}
		return nil
	}
	if p.stuckSince.IsZero() {
		p.stuckSince = time.Now()
		return nil // give it one period to move
	}
	return fmt.Errorf("%w since %s: applied index %d, raft handed over %d", errStalled, p.stuckSince.Format(time.RFC3339), applied, dispatched)
}

// commandWaiting reports whether a command between applied and
// dispatched (raft has handed it to the state machine) waits to be
// applied. Raft hands over no-ops and barriers without applying them, so
// a gap of those alone is not work.
func (a *Appliance) commandWaiting(applied, dispatched uint64) bool {
	for idx := applied + 1; idx <= dispatched && idx <= applied+64; idx++ {
		var l raft.Log
		if err := a.logs.GetLog(idx, &l); err != nil {
			continue
		}
		if l.Type == raft.LogCommand {
			return true
		}
	}
	return false
}

// TransferLeadership hands leadership to another voter before this node
// stops, so a cluster does not wait an election timeout for a new leader.
// A single node, or a node that is not the leader, has nothing to do.
func (a *Appliance) TransferLeadership(timeout time.Duration) error {
	if a.raft.State() != raft.Leader {
		return nil
	}
	f := a.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	others := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter && s.ID != raft.ServerID(a.cfg.Raft.NodeID) {
			others++
		}
	}
	if others == 0 {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- a.raft.LeadershipTransfer().Error() }()
	select {
	case err := <-done:
		if err == nil {
			a.logger.Info("leadership handed over before stopping")
		}
		return err
	case <-time.After(timeout):
		return fmt.Errorf("lithair: leadership transfer did not finish in %s", timeout)
	}
}

// StateHash is a digest of every live record at one applied index: two
// nodes, or a node before a backup and after its restore, that hold the
// same state give the same hash.
type StateHash struct {
	Index uint64 `json:"applied_index"`
	Hash  string `json:"hash"`
}

// StateHash freezes the state and hashes it.
func (a *Appliance) StateHash() StateHash {
	v := a.state.View()
	return StateHash{Index: v.Applied, Hash: formatHash(v.Hash())}
}

func formatHash(h uint64) string {
	s := strconv.FormatUint(h, 16)
	for len(s) < 16 {
		s = "0" + s
	}
	return s
}
