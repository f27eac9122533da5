package lithair

import (
	"time"

	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/metrics"
	"github.com/lithair/lithair/rules"
)

// newMetrics makes the node's metrics. The gauges read the node at scrape
// time; they are only scraped once Open has returned, when every part
// they read exists.
func newMetrics(a *Appliance) *metrics.Metrics {
	return metrics.New(metrics.Source{
		RaftState:    func() string { return a.raft.State().String() },
		RaftTerm:     func() uint64 { return a.raft.CurrentTerm() },
		CommitIndex:  func() uint64 { return a.raft.CommitIndex() },
		AppliedIndex: func() uint64 { return a.state.AppliedIndex() },
		LastContact: func() time.Time {
			if a.raft.State() == raft.Leader {
				return time.Time{}
			}
			return a.raft.LastContact()
		},
		FirstLogIndex:    func() uint64 { return a.log.Stats().FirstIndex },
		LastLogIndex:     func() uint64 { return a.log.Stats().LastIndex },
		LogBytes:         func() int64 { return a.log.Stats().Bytes },
		LogSegments:      func() int { return a.log.Stats().Segments },
		ArchivedSegments: func() int { return a.log.Stats().ArchivedSegments },
		LogBroken:        func() bool { return a.log.Stats().Broken || a.stableLog.Stats().Broken },
		DiskFree: func() int64 {
			a.storage.measure()
			return a.storage.free.Load()
		},
		DiskFull:      a.storage.full.Load,
		SnapshotCount: func() int { return len(a.snapshotList()) },
		LastSnapshotIndex: func() uint64 {
			if l := a.snapshotList(); len(l) > 0 {
				return l[0].Index
			}
			return 0
		},
		RulesVersion: func() string {
			if set := a.fsm.Rules(); set != nil {
				return set.Version
			}
			return ""
		},
		Ready: a.Ready,
		ModelRecords: func() map[string]int {
			set := a.fsm.Rules()
			if set == nil {
				return nil
			}
			out := make(map[string]int, len(set.Models))
			for _, m := range set.Models {
				out[m.Name] = a.state.Count(m.Name)
			}
			return out
		},
	}, metrics.WithLogger(a.logger))
}

// Metrics returns the node's metrics, for the HTTP layer to observe
// requests into and to serve at GET /metrics.
func (a *Appliance) Metrics() *metrics.Metrics { return a.metrics }

func (a *Appliance) snapshotList() []*raft.SnapshotMeta {
	if a.snaps == nil {
		return nil
	}
	l, _ := a.snaps.List()
	return l
}

// ruleOptions are the options of the rule sets the state machine
// compiles, with Lua calls observed into the metrics.
func (a *Appliance) ruleOptions() rules.Options {
	o := ruleOptions(a.cfg)
	o.Observe = a.metrics.ObserveLua
	return o
}

// Leader returns the id of the leader this node knows, "" when none.
func (a *Appliance) Leader() string {
	_, id := a.raft.LeaderWithID()
	return string(id)
}
