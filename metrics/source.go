package metrics

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Source is how the appliance lets the gauges read its state at scrape
// time. Every field is optional: a nil func leaves its metric out.
//
// Each func runs on every scrape, on the scrape's goroutine, and
// concurrently with itself when scrapes overlap. It must be safe for
// concurrent use and must not block: read an atomic or take a short lock,
// never wait on Raft or the disk. A func that panics loses its own metric
// for that scrape, and the panic is logged and counted in
// promhttp_metric_handler_errors_total; the other metrics are served.
type Source struct {
	// RaftState returns Raft's state as hashicorp/raft's
	// RaftState.String() spells it: "Follower", "Candidate", "Leader" or
	// "Shutdown" (any case).
	RaftState func() string
	// RaftTerm returns Raft's current term.
	RaftTerm func() uint64
	// CommitIndex returns the last index Raft knows to be committed.
	CommitIndex func() uint64
	// AppliedIndex returns the last index the state machine has applied.
	AppliedIndex func() uint64
	// LastContact returns when a follower last heard from its leader, or
	// the zero time (a leader, a node that never had a leader) to leave
	// the metric out.
	LastContact func() time.Time
	// Voters returns the number of voting servers in the Raft
	// configuration.
	Voters func() int

	// FirstLogIndex returns the first index the event log holds.
	FirstLogIndex func() uint64
	// LastLogIndex returns the last index the event log holds.
	LastLogIndex func() uint64
	// LogBytes returns the size of the event log's live segments.
	LogBytes func() int64
	// LogSegments returns the number of the event log's live segments.
	LogSegments func() int
	// ArchivedSegments returns the number of segments moved to the
	// archive.
	ArchivedSegments func() int
	// LogBroken reports a log that refuses writes after a failed write or
	// fsync and needs a restart; report the event log and the Raft stable
	// store together.
	LogBroken func() bool
	// DiskFree returns the bytes free for the node on the data dir's file
	// system; DiskFull whether writes are refused (507) for want of them.
	DiskFree func() int64
	DiskFull func() bool

	// SnapshotCount returns the number of snapshots kept on disk.
	SnapshotCount func() int
	// LastSnapshotIndex returns the log index of the latest snapshot.
	LastSnapshotIndex func() uint64

	// RulesVersion returns the version of the rules in force, or "" to
	// leave lithair_rules_info out.
	RulesVersion func() string
	// Ready reports whether the node has replayed its log and serves.
	Ready func() bool
	// ModelRecords returns the number of records of each model.
	ModelRecords func() map[string]int
}

// raftStates are the label values of lithair_raft_state, in
// hashicorp/raft's numbering.
var raftStates = [...]string{"follower", "candidate", "leader", "shutdown"}

// gauge is one metric of the Source: its desc and how to read it.
type gauge struct {
	name string
	desc *prometheus.Desc
	read func(ch chan<- prometheus.Metric, d *prometheus.Desc)
}

// sourceCollector reads the Source at scrape time.
type sourceCollector struct{ gauges []gauge }

func newSourceCollector(src Source) *sourceCollector {
	c := &sourceCollector{}
	number := func(name, help string, f func() float64) {
		c.add(name, help, nil, func(ch chan<- prometheus.Metric, d *prometheus.Desc) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, f())
		})
	}
	if f := src.RaftState; f != nil {
		c.add("raft_state", "Raft state of this node: 1 for the current state, 0 for the others.", []string{"state"},
			func(ch chan<- prometheus.Metric, d *prometheus.Desc) {
				now := strings.ToLower(f())
				known := false
				for _, s := range raftStates {
					v := 0.0
					if s == now {
						v, known = 1, true
					}
					ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, s)
				}
				if !known && now != "" {
					ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 1, labelValue(now))
				}
			})
	}
	if f := src.RaftTerm; f != nil {
		number("raft_term", "Raft's current term.", floatOf(f))
	}
	if f := src.CommitIndex; f != nil {
		number("raft_commit_index", "Last log index Raft knows to be committed.", floatOf(f))
	}
	if f := src.AppliedIndex; f != nil {
		number("raft_applied_index", "Last log index the state machine has applied.", floatOf(f))
	}
	if f := src.LastContact; f != nil {
		c.add("raft_last_contact_seconds", "Seconds since this follower last heard from its leader.", nil,
			func(ch chan<- prometheus.Metric, d *prometheus.Desc) {
				if t := f(); !t.IsZero() {
					ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, time.Since(t).Seconds())
				}
			})
	}
	if f := src.Voters; f != nil {
		number("raft_voters", "Voting servers in the Raft configuration.", floatOf(f))
	}
	if f := src.FirstLogIndex; f != nil {
		number("log_first_index", "First index the event log holds.", floatOf(f))
	}
	if f := src.LastLogIndex; f != nil {
		number("log_last_index", "Last index the event log holds.", floatOf(f))
	}
	if f := src.LogBytes; f != nil {
		number("log_size_bytes", "Size of the event log's live segments.", floatOf(f))
	}
	if f := src.LogSegments; f != nil {
		number("log_segments", "Live segments of the event log.", floatOf(f))
	}
	if f := src.ArchivedSegments; f != nil {
		number("log_archived_segments", "Segments of the event log moved to the archive.", floatOf(f))
	}
	if f := src.LogBroken; f != nil {
		number("log_broken", "1 when a log refuses writes after a failed write or fsync; the node needs a restart.", boolOf(f))
	}
	if f := src.DiskFree; f != nil {
		number("disk_free_bytes", "Bytes free for the node on the data dir's file system.", floatOf(f))
	}
	if f := src.DiskFull; f != nil {
		number("disk_full", "1 while writes are refused with 507 because the data dir's disk is (nearly) full.", boolOf(f))
	}
	if f := src.SnapshotCount; f != nil {
		number("snapshots_stored", "Snapshots kept on disk.", floatOf(f))
	}
	if f := src.LastSnapshotIndex; f != nil {
		number("snapshot_last_index", "Log index of the latest snapshot.", floatOf(f))
	}
	if f := src.RulesVersion; f != nil {
		c.add("rules_info", "Always 1; the version label names the rules in force.", []string{"version"},
			func(ch chan<- prometheus.Metric, d *prometheus.Desc) {
				if v := f(); v != "" {
					ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 1, labelValue(v))
				}
			})
	}
	if f := src.Ready; f != nil {
		number("ready", "1 once the node has replayed its log and serves, 0 before.", boolOf(f))
	}
	if f := src.ModelRecords; f != nil {
		c.add("records", "Records of each model.", []string{"model"},
			func(ch chan<- prometheus.Metric, d *prometheus.Desc) {
				for model, n := range f() {
					ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(n), labelValue(model))
				}
			})
	}
	return c
}

func (c *sourceCollector) add(name, help string, labels []string, read func(chan<- prometheus.Metric, *prometheus.Desc)) {
	fq := prometheus.BuildFQName(namespace, "", name)
	c.gauges = append(c.gauges, gauge{name: fq, desc: prometheus.NewDesc(fq, help, labels, nil), read: read})
}

// Describe implements prometheus.Collector.
func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range c.gauges {
		ch <- g.desc
	}
}

// Collect implements prometheus.Collector.
func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, g := range c.gauges {
		collectOne(ch, g)
	}
}

// collectOne reads one gauge. The registry would recover a panic too, but
// it would drop every gauge after the one that panicked.
func collectOne(ch chan<- prometheus.Metric, g gauge) {
	defer func() {
		if r := recover(); r != nil {
			ch <- prometheus.NewInvalidMetric(g.desc, fmt.Errorf("metrics: the Source func behind %s panicked: %v", g.name, r))
		}
	}()
	g.read(ch, g.desc)
}

func floatOf[T uint64 | int64 | int](f func() T) func() float64 {
	return func() float64 { return float64(f()) }
}

func boolOf(f func() bool) func() float64 {
	return func() float64 {
		if f() {
			return 1
		}
		return 0
	}
}
