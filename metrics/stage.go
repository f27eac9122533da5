package metrics

import "time"

// Stage is one step of a request's path through the appliance, in the
// order a write meets them.
type Stage uint8

// The stages of the data flow. A write goes through all of them; a read
// skips validation, raft_commit and storage.
const (
	StageFirewall      Stage = iota // client address, rate limits, body cap
	StageRouting                    // matching the path to a route template
	StageValidation                 // the model's schema and validate rules
	StagePermissions                // the permission rules
	StageHandler                    // the handler's own work, reads included
	StageRaftCommit                 // Raft replicating the command to a quorum
	StageStorage                    // the event log: writing a batch of entries and its fsync
	StageSerialization              // encoding the response body
	numStages
)

var stageNames = [numStages]string{
	StageFirewall:      "firewall",
	StageRouting:       "routing",
	StageValidation:    "validation",
	StagePermissions:   "permissions",
	StageHandler:       "handler",
	StageRaftCommit:    "raft_commit",
	StageStorage:       "storage",
	StageSerialization: "serialization",
}

// String returns the stage's label value, such as "raft_commit".
func (s Stage) String() string {
	if s >= numStages {
		return "unknown"
	}
	return stageNames[s]
}

func (m *Metrics) initStages(f factory) {
	vec := f.histogramVec("stage_duration_seconds",
		"Time spent in each stage of a request: firewall, routing, validation, permissions, handler, raft_commit, storage, serialization.",
		stageBuckets, "stage")
	for s := range numStages {
		m.stages[s] = vec.WithLabelValues(s.String())
	}
}

// ObserveStage records the time one request spent in stage. A value
// outside the Stage constants is ignored.
func (m *Metrics) ObserveStage(stage Stage, d time.Duration) {
	if stage >= numStages {
		return
	}
	m.stages[stage].Observe(d.Seconds())
}
