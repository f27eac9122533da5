package metrics

import "time"

func (m *Metrics) initStorage(f factory) {
	m.fsync = f.histogram("log_fsync_duration_seconds",
		"Time of each fsync of the event log.",
		fsyncBuckets)
	m.snapshot = f.histogram("snapshot_duration_seconds",
		"Time to take and persist a snapshot, successful ones only.",
		snapshotBuckets)
	m.snapshotFailed = f.counter("snapshot_failures_total",
		"Snapshots that failed.")
	m.snapshotSuccess = f.gauge("snapshot_last_success_timestamp_seconds",
		"Unix time of the last successful snapshot; 0 until one succeeds in this process.")
}

// ObserveFsync records one fsync of the event log that took d.
func (m *Metrics) ObserveFsync(d time.Duration) { m.fsync.Observe(d.Seconds()) }

// ObserveSnapshot records a snapshot that took d and ended with err (nil
// for success). A failed snapshot is counted but its duration is not
// recorded: a snapshot that fails at once would drag the quantiles down.
func (m *Metrics) ObserveSnapshot(d time.Duration, err error) {
	if err != nil {
		m.snapshotFailed.Inc()
		return
	}
	m.snapshot.Observe(d.Seconds())
	m.snapshotSuccess.SetToCurrentTime()
}
