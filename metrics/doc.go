// Package metrics defines every metric a Lithair appliance exposes on
// GET /metrics and serves them in the Prometheus text format.
//
// The package has one job: define the metrics and expose them. It imports
// no other Lithair package; the appliance adapts to it, reading its own
// state through a Source and reporting events through the Observe* and
// counter methods of a *Metrics.
//
// Each *Metrics owns a private prometheus.Registry, never the global one,
// so several appliances in one process (tests, a cluster test) keep
// separate counts. The registry also holds the standard Go runtime
// (go_*), process (process_*) and build (go_build_info) collectors.
//
// # Metrics observed on the request path
//
// The stages follow the data flow of a request: firewall -> routing ->
// validation -> permissions -> handler -> raft_commit -> storage ->
// serialization.
//
//	name                                    type       labels
//	lithair_http_requests_total             counter    route, method, code
//	lithair_http_request_duration_seconds   histogram  route, method
//	lithair_http_request_size_bytes         histogram  route, method
//	lithair_http_response_size_bytes        histogram  route, method
//	lithair_http_requests_in_flight         gauge
//	lithair_stage_duration_seconds          histogram  stage
//	lithair_firewall_denied_total           counter    reason
//	lithair_validation_failures_total       counter    model
//	lithair_permission_denials_total        counter    model
//	lithair_auth_failures_total             counter    reason
//	lithair_lua_call_duration_seconds       histogram  kind
//	lithair_lua_timeouts_total              counter    kind
//	lithair_log_fsync_duration_seconds      histogram
//	lithair_snapshot_duration_seconds       histogram
//	lithair_snapshot_failures_total         counter
//	lithair_snapshot_last_success_timestamp_seconds gauge
//	lithair_rules_reloads_total             counter    result (success, failure)
//	lithair_metrics_label_overflow_total    counter    metric
//
// # Metrics read from the Source at scrape time
//
// Each is exported only when its Source func is non-nil.
//
//	name                                    type   Source func
//	lithair_raft_state{state}               gauge  RaftState: 1 for the current state, 0 for the others
//	lithair_raft_term                       gauge  RaftTerm
//	lithair_raft_commit_index               gauge  CommitIndex
//	lithair_raft_applied_index              gauge  AppliedIndex
//	lithair_raft_last_contact_seconds       gauge  LastContact (omitted while it returns the zero time)
//	lithair_raft_voters                     gauge  Voters
//	lithair_log_first_index                 gauge  FirstLogIndex
//	lithair_log_last_index                  gauge  LastLogIndex
//	lithair_log_size_bytes                  gauge  LogBytes
//	lithair_log_segments                    gauge  LogSegments
//	lithair_log_archived_segments           gauge  ArchivedSegments
//	lithair_log_broken                      gauge  LogBroken (1 after a failed write or fsync)
//	lithair_disk_free_bytes                 gauge  DiskFree
//	lithair_disk_full                       gauge  DiskFull (1 while writes are refused with 507)
//	lithair_snapshots_stored                gauge  SnapshotCount
//	lithair_snapshot_last_index             gauge  LastSnapshotIndex
//	lithair_rules_info{version}             gauge  RulesVersion (always 1; omitted while the version is "")
//	lithair_ready                           gauge  Ready (0 while replaying the log, then 1)
//	lithair_records{model}                  gauge  ModelRecords
//
// lithair_raft_state is a state set: the four series follower, candidate,
// leader and shutdown are always present, so "how many leaders does the
// cluster have" is sum(lithair_raft_state{state="leader"}) and an alert on
// a node leaving the leader state needs no absent().
//
// # Bounded cardinality
//
// Every label value becomes a time series that Prometheus keeps for
// weeks. The route label is a route template ("/api/products/{id}",
// "/api/_audit"), never the raw URL path: with raw paths each record id
// would make new series. The method label keeps the nine methods of RFC
// 9110 and RFC 5789 and folds any other into "OTHER", because the method is
// chosen by the client. Codes outside 100..599 become "other".
//
// As a guard against a caller that passes raw values anyway, each label
// keeps at most 256 distinct values (512 route/method pairs for HTTP);
// later values are counted under "_other" and the fold is counted in
// lithair_metrics_label_overflow_total{metric}, which should stay at 0.
//
// # Wiring
//
// The appliance builds one Source of closures over its own state (every
// field optional) and passes it to New once Raft and the log are open:
//
//	m := metrics.New(metrics.Source{
//		RaftState:    func() string { return r.State().String() },
//		RaftTerm:     r.CurrentTerm,
//		CommitIndex:  r.CommitIndex,
//		AppliedIndex: state.AppliedIndex,
//		Ready:        a.Ready,
//	}, metrics.WithLogger(logger))
//	mux.Handle("GET /metrics", m.Handler())
//
// The web layer times each stage and calls ObserveStage, then
// ObserveRequest once the response is written. Its route is the pattern
// the mux matched without the method (r.Pattern "GET /api/_users/{name}"
// gives "/api/_users/{name}"), except under the catch-all "/api/", where
// the handler names the template it resolved ("/api/products",
// "/api/products/{id}", "/api/products/{id}/events"), and for a path that
// matched nothing, which takes one fixed value such as "unmatched".
//
// # Cost
//
// The label sets are looked up in copy-on-write maps read with one atomic
// load, so the hot path takes no lock and allocates nothing once a label
// value has been seen: see BenchmarkObserveRequest.
package metrics
