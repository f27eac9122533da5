package metrics

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// node is what an appliance would adapt into a Source.
type node struct {
	state       atomic.Value // string
	term        atomic.Uint64
	commit      atomic.Uint64
	applied     atomic.Uint64
	lastContact atomic.Int64 // unix nanoseconds, 0 for none
	first, last atomic.Uint64
	bytes       atomic.Int64
	segments    atomic.Int64
	broken      atomic.Bool
	snapshots   atomic.Int64
	snapIndex   atomic.Uint64
	rules       atomic.Value // string
	ready       atomic.Bool
}

func (n *node) source() Source {
	return Source{
		RaftState:    func() string { return n.state.Load().(string) },
		RaftTerm:     n.term.Load,
		CommitIndex:  n.commit.Load,
		AppliedIndex: n.applied.Load,
		LastContact: func() time.Time {
			if ns := n.lastContact.Load(); ns != 0 {
				return time.Unix(0, ns)
			}
			return time.Time{}
		},
		Voters:            func() int { return 3 },
		FirstLogIndex:     n.first.Load,
		LastLogIndex:      n.last.Load,
		LogBytes:          n.bytes.Load,
		LogSegments:       func() int { return int(n.segments.Load()) },
		ArchivedSegments:  func() int { return 2 },
		LogBroken:         n.broken.Load,
		SnapshotCount:     func() int { return int(n.snapshots.Load()) },
		LastSnapshotIndex: n.snapIndex.Load,
		RulesVersion:      func() string { return n.rules.Load().(string) },
		Ready:             n.ready.Load,
		ModelRecords:      func() map[string]int { return map[string]int{"Product": 12, "Order": 3} },
	}
}

// The gauges are read from the Source at each scrape, not copied at New.
func TestSourceReadAtScrapeTime(t *testing.T) {
	n := &node{}
	n.state.Store("Follower")
	n.rules.Store("")
	n.term.Store(1)
	n.commit.Store(10)
	n.applied.Store(9)
	n.first.Store(1)
	n.last.Store(10)
	n.bytes.Store(4096)
	n.segments.Store(1)
	url := server(t, New(n.source()))

	s := scrape(t, url)
	for _, c := range []struct {
		name string
		want float64
	}{
		{"lithair_raft_term", 1},
		{"lithair_raft_commit_index", 10},
		{"lithair_raft_applied_index", 9},
		{"lithair_raft_voters", 3},
		{"lithair_log_first_index", 1},
		{"lithair_log_last_index", 10},
		{"lithair_log_size_bytes", 4096},
		{"lithair_log_segments", 1},
		{"lithair_log_archived_segments", 2},
		{"lithair_log_broken", 0},
		{"lithair_snapshots_stored", 0},
		{"lithair_snapshot_last_index", 0},
		{"lithair_ready", 0},
	} {
		if got := s.gauge(t, c.name); got != c.want {
			t.Errorf("%s = %g, want %g", c.name, got, c.want)
		}
	}
	checkRaftState(t, s, "follower")
	if _, ok := s["lithair_rules_info"]; ok {
		t.Error("lithair_rules_info served while RulesVersion is empty")
	}
	if _, ok := s["lithair_raft_last_contact_seconds"]; ok {
		t.Error("lithair_raft_last_contact_seconds served while LastContact is the zero time")
	}
	if got := s.gauge(t, "lithair_records", "model", "Product"); got != 12 {
		t.Errorf("Product records = %g, want 12", got)
	}

	// The node wins an election, writes, snapshots and becomes ready.
	n.state.Store("Leader")
	n.term.Store(2)
	n.commit.Store(250)
	n.applied.Store(250)
	n.last.Store(250)
	n.bytes.Store(1 << 20)
	n.segments.Store(3)
	n.broken.Store(true)
	n.snapshots.Store(1)
	n.snapIndex.Store(200)
	n.rules.Store("v7-3f2a")
	n.ready.Store(true)
	n.lastContact.Store(time.Now().Add(-2 * time.Second).UnixNano())

	s = scrape(t, url)
	for _, c := range []struct {
		name string
		want float64
	}{
		{"lithair_raft_term", 2},
		{"lithair_raft_commit_index", 250},
		{"lithair_raft_applied_index", 250},
		{"lithair_log_last_index", 250},
		{"lithair_log_size_bytes", 1 << 20},
		{"lithair_log_segments", 3},
		{"lithair_log_broken", 1},
		{"lithair_snapshots_stored", 1},
		{"lithair_snapshot_last_index", 200},
		{"lithair_ready", 1},
	} {
		if got := s.gauge(t, c.name); got != c.want {
			t.Errorf("after the change: %s = %g, want %g", c.name, got, c.want)
		}
	}
	checkRaftState(t, s, "leader")
	if got := s.gauge(t, "lithair_rules_info", "version", "v7-3f2a"); got != 1 {
		t.Errorf("lithair_rules_info{version=v7-3f2a} = %g, want 1", got)
	}
	if got := s.gauge(t, "lithair_raft_last_contact_seconds"); got < 2 || got > 60 {
		t.Errorf("last contact %gs ago, want about 2", got)
	}
}

// checkRaftState checks the state set: four series, one of them at 1.
func checkRaftState(t *testing.T, s scraped, want string) {
	t.Helper()
	if n := len(s.family(t, "lithair_raft_state", dto.MetricType_GAUGE).GetMetric()); n != 4 {
		t.Errorf("lithair_raft_state has %d series, want 4", n)
	}
	for _, st := range raftStates {
		v := 0.0
		if st == want {
			v = 1
		}
		if got := s.gauge(t, "lithair_raft_state", "state", st); got != v {
			t.Errorf("lithair_raft_state{state=%q} = %g, want %g", st, got, v)
		}
	}
}

func TestNilSourceFuncsAreOmitted(t *testing.T) {
	s := scrape(t, server(t, New(Source{Ready: func() bool { return true }})))
	if got := s.gauge(t, "lithair_ready"); got != 1 {
		t.Errorf("lithair_ready = %g, want 1", got)
	}
	n := &node{}
	n.state.Store("Candidate")
	n.rules.Store("v1")
	n.lastContact.Store(time.Now().UnixNano())
	full := scrape(t, server(t, New(n.source())))
	checked := 0
	for name := range full {
		if name == "lithair_ready" || !strings.HasPrefix(name, "lithair_") {
			continue
		}
		if _, ok := s[name]; ok {
			continue // not from the Source: observed metrics are always served
		}
		checked++
	}
	// Every Source metric but lithair_ready is absent from the first scrape.
	if want := 16; checked != want {
		t.Errorf("%d Source families absent with nil funcs, want %d", checked, want)
	}
	checkRaftState(t, full, "candidate")
}

// An adapter bug (a nil pointer before Raft starts) loses its own metric,
// not the scrape and not the process.
func TestPanickingSourceFunc(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	var raft *struct{ term uint64 }
	m := New(Source{
		RaftTerm: func() uint64 { return raft.term },
		Ready:    func() bool { return true },
	}, WithLogger(logger))
	url := server(t, m)

	s := scrape(t, url)
	if _, ok := s["lithair_raft_term"]; ok {
		t.Error("lithair_raft_term served although its func panics")
	}
	if got := s.gauge(t, "lithair_ready"); got != 1 {
		t.Errorf("lithair_ready = %g, want 1 despite the panic", got)
	}
	s = scrape(t, url)
	if got := s.counter(t, "promhttp_metric_handler_errors_total", "cause", "gathering"); got < 1 {
		t.Errorf("gathering errors = %g, want at least 1", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "lithair_raft_term panicked") {
		t.Errorf("the panic was not logged; log:\n%s", logs.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
