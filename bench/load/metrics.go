package main

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// A write's rate is bound either by the CPU or by the disk. To tell which,
// the load generator reads the leader's /metrics just before and just after
// each write window: how many fsyncs the log made, how long they took in
// all, and how many log entries they covered. A log that spends nearly all
// the window inside fdatasync is disk-bound; one that is idle much of the
// time, with few entries per fsync, is waiting for work (CPU-bound
// upstream).

// LogStats is the log's activity over a window.
type LogStats struct {
	Window       time.Duration
	Fsyncs       float64
	FsyncSeconds float64
	Entries      float64 // log entries appended (one per single write)
	CommitCount  float64 // requests timed in stage raft_commit
	CommitSum    float64 // seconds they spent there
}

// FsyncRate returns fsyncs per second.
func (s *LogStats) FsyncRate() float64 { return s.Fsyncs / s.Window.Seconds() }

// PerFsync returns log entries per fsync: how many writes share one.
func (s *LogStats) PerFsync() float64 {
	if s.Fsyncs == 0 {
		return 0
	}
	return s.Entries / s.Fsyncs
}

// Busy returns the share of the window the log spent inside fdatasync.
func (s *LogStats) Busy() float64 { return s.FsyncSeconds / s.Window.Seconds() }

// MeanFsync returns the mean fdatasync latency.
func (s *LogStats) MeanFsync() time.Duration {
	if s.Fsyncs == 0 {
		return 0
	}
	return time.Duration(s.FsyncSeconds / s.Fsyncs * float64(time.Second))
}

// MeanCommit returns the mean time a write waited for Raft to commit and
// apply it (stage raft_commit).
func (s *LogStats) MeanCommit() time.Duration {
	if s.CommitCount == 0 {
		return 0
	}
	return time.Duration(s.CommitSum / s.CommitCount * float64(time.Second))
}

// metricSample is the few series read from /metrics at one instant.
type metricSample struct {
	at      time.Time
	ok      bool
	fsyncs  float64
	fsyncS  float64
	last    float64
	commitN float64
	commitS float64
}

var metricsClient = &http.Client{Timeout: 10 * time.Second}

// scrapeMetrics reads base/metrics; ok is false if it could not.
func scrapeMetrics(base string) metricSample {
	s := metricSample{at: time.Now()}
	resp, err := metricsClient.Get(base + "/metrics")
	if err != nil {
		return s
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "lithair_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		switch line[:i] {
		case "lithair_log_fsync_duration_seconds_count":
			s.fsyncs = v
		case "lithair_log_fsync_duration_seconds_sum":
			s.fsyncS = v
		case "lithair_log_last_index":
			s.last = v
		case `lithair_stage_duration_seconds_count{stage="raft_commit"}`:
			s.commitN = v
		case `lithair_stage_duration_seconds_sum{stage="raft_commit"}`:
			s.commitS = v
		}
	}
	s.ok = sc.Err() == nil && s.last > 0
	return s
}

// logStats returns the activity between two samples, nil if either failed.
func logStats(a, b metricSample) *LogStats {
	if !a.ok || !b.ok {
		return nil
	}
	return &LogStats{Window: b.at.Sub(a.at), Fsyncs: b.fsyncs - a.fsyncs, FsyncSeconds: b.fsyncS - a.fsyncS,
		Entries: b.last - a.last, CommitCount: b.commitN - a.commitN, CommitSum: b.commitS - a.commitS}
}
