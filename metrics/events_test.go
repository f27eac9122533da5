package metrics

import (
	"errors"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Every family an operator's dashboard relies on is served with its type,
// before any event: alerts on rate() need the series to exist at 0.
func TestFamiliesBeforeAnyEvent(t *testing.T) {
	s := scrape(t, server(t, New(Source{})))
	for name, typ := range map[string]dto.MetricType{
		"lithair_http_requests_in_flight":                 dto.MetricType_GAUGE,
		"lithair_stage_duration_seconds":                  dto.MetricType_HISTOGRAM,
		"lithair_auth_failures_total":                     dto.MetricType_COUNTER,
		"lithair_lua_call_duration_seconds":               dto.MetricType_HISTOGRAM,
		"lithair_lua_timeouts_total":                      dto.MetricType_COUNTER,
		"lithair_log_fsync_duration_seconds":              dto.MetricType_HISTOGRAM,
		"lithair_snapshot_duration_seconds":               dto.MetricType_HISTOGRAM,
		"lithair_snapshot_failures_total":                 dto.MetricType_COUNTER,
		"lithair_snapshot_last_success_timestamp_seconds": dto.MetricType_GAUGE,
		"lithair_rules_reloads_total":                     dto.MetricType_COUNTER,
		"go_goroutines":                                   dto.MetricType_GAUGE,
		"go_build_info":                                   dto.MetricType_GAUGE,
		"process_cpu_seconds_total":                       dto.MetricType_COUNTER,
		"process_resident_memory_bytes":                   dto.MetricType_GAUGE,
		"promhttp_metric_handler_requests_total":          dto.MetricType_COUNTER,
	} {
		s.family(t, name, typ)
	}
	for _, st := range []string{"firewall", "routing", "validation", "permissions", "handler", "raft_commit", "storage", "serialization"} {
		if h := s.histogram(t, "lithair_stage_duration_seconds", "stage", st); h.GetSampleCount() != 0 {
			t.Errorf("stage %s has %d samples before any request", st, h.GetSampleCount())
		}
	}
	for _, r := range []string{"bad_password", "bad_token", "expired"} {
		if got := s.counter(t, "lithair_auth_failures_total", "reason", r); got != 0 {
			t.Errorf("auth failures %s = %g before any", r, got)
		}
	}
	for _, k := range []string{"validate", "permission", "default", "projection"} {
		s.must(t, "lithair_lua_timeouts_total", "kind", k)
	}
	// Counters with open label sets appear with their first event.
	for _, name := range []string{"lithair_http_requests_total", "lithair_firewall_denied_total", "lithair_validation_failures_total"} {
		if _, ok := s[name]; ok {
			t.Errorf("%s served with no event", name)
		}
	}
}

func TestObserveStage(t *testing.T) {
	m := New(Source{})
	url := server(t, m)
	m.ObserveStage(StageRaftCommit, 2*time.Millisecond)
	m.ObserveStage(StageRaftCommit, 3*time.Millisecond)
	m.ObserveStage(StageFirewall, 2*time.Microsecond)
	m.ObserveStage(numStages, time.Second) // out of range: ignored
	m.ObserveStage(Stage(200), time.Second)

	s := scrape(t, url)
	rc := s.histogram(t, "lithair_stage_duration_seconds", "stage", "raft_commit")
	if rc.GetSampleCount() != 2 || bucket(t, rc, 2.5e-3) != 1 || bucket(t, rc, 5e-3) != 2 {
		t.Errorf("raft_commit: count %d, le=2.5ms %d, le=5ms %d; want 2, 1, 2",
			rc.GetSampleCount(), bucket(t, rc, 2.5e-3), bucket(t, rc, 5e-3))
	}
	fw := s.histogram(t, "lithair_stage_duration_seconds", "stage", "firewall")
	if bucket(t, fw, 1e-6) != 0 || bucket(t, fw, 2.5e-6) != 1 {
		t.Errorf("firewall 2µs not in the 2.5µs bucket")
	}
	var total uint64
	for _, mm := range s.family(t, "lithair_stage_duration_seconds", dto.MetricType_HISTOGRAM).GetMetric() {
		total += mm.GetHistogram().GetSampleCount()
	}
	if total != 3 {
		t.Errorf("%d stage samples, want 3: an unknown stage was recorded", total)
	}
	if Stage(200).String() != "unknown" || StageSerialization.String() != "serialization" {
		t.Errorf("Stage.String: %q, %q", Stage(200), StageSerialization)
	}
}

func TestRefusalCounters(t *testing.T) {
	m := New(Source{})
	url := server(t, m)
	m.FirewallDenied("rate_ip")
	m.FirewallDenied("rate_ip")
	m.FirewallDenied("deny_list")
	m.ValidationFailed("Product")
	m.ValidationFailed("Order")
	m.ValidationFailed("Product")
	m.PermissionDenied("Order")
	m.AuthFailed(AuthBadToken)
	m.AuthFailed(AuthBadToken)
	m.AuthFailed(AuthExpired)

	s := scrape(t, url)
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"lithair_firewall_denied_total", "reason", "rate_ip", 2},
		{"lithair_firewall_denied_total", "reason", "deny_list", 1},
		{"lithair_validation_failures_total", "model", "Product", 2},
		{"lithair_validation_failures_total", "model", "Order", 1},
		{"lithair_permission_denials_total", "model", "Order", 1},
		{"lithair_auth_failures_total", "reason", "bad_token", 2},
		{"lithair_auth_failures_total", "reason", "expired", 1},
		{"lithair_auth_failures_total", "reason", "bad_password", 0},
	} {
		if got := s.counter(t, c.name, c.label, c.value); got != c.want {
			t.Errorf("%s{%s=%q} = %g, want %g", c.name, c.label, c.value, got, c.want)
		}
	}
}

// A label value client_golang would reject (invalid UTF-8) must not panic
// the request that reports it.
func TestInvalidUTF8LabelValue(t *testing.T) {
	m := New(Source{})
	url := server(t, m)
	m.ValidationFailed("Pro\xffduct")
	m.ObserveRequest("/api/\xfe", "GET", 200, time.Millisecond, 0, 0)
	s := scrape(t, url)
	if got := s.counter(t, "lithair_validation_failures_total", "model", "Pro\uFFFDduct"); got != 1 {
		t.Errorf("sanitized model counted %g, want 1", got)
	}
}

func TestOneLabelOverflow(t *testing.T) {
	m := New(Source{})
	url := server(t, m)
	for i := range maxLabelValues + 3 {
		m.FirewallDenied(string(rune('a'+i%26)) + string(rune('0'+i/26)))
	}
	s := scrape(t, url)
	if got := s.counter(t, "lithair_firewall_denied_total", "reason", "_other"); got != 3 {
		t.Errorf("_other = %g, want 3", got)
	}
	if got := s.counter(t, "lithair_metrics_label_overflow_total", "metric", "lithair_firewall_denied_total"); got != 3 {
		t.Errorf("overflow = %g, want 3", got)
	}
}

func TestObserveLua(t *testing.T) {
	m := New(Source{})
	url := server(t, m)
	m.ObserveLua(LuaValidate, 20*time.Microsecond, false)
	m.ObserveLua(LuaValidate, 50*time.Millisecond, true)
	m.ObserveLua(LuaProjection, 300*time.Microsecond, false)

	s := scrape(t, url)
	v := s.histogram(t, "lithair_lua_call_duration_seconds", "kind", "validate")
	if v.GetSampleCount() != 2 || bucket(t, v, 25e-6) != 1 {
		t.Errorf("validate: count %d, le=25µs %d; want 2, 1", v.GetSampleCount(), bucket(t, v, 25e-6))
	}
	if got := s.counter(t, "lithair_lua_timeouts_total", "kind", "validate"); got != 1 {
		t.Errorf("validate timeouts = %g, want 1", got)
	}
	if got := s.counter(t, "lithair_lua_timeouts_total", "kind", "projection"); got != 0 {
		t.Errorf("projection timeouts = %g, want 0", got)
	}
	if got := s.histogram(t, "lithair_lua_call_duration_seconds", "kind", "projection").GetSampleCount(); got != 1 {
		t.Errorf("projection calls = %d, want 1", got)
	}
}

func TestStorageEvents(t *testing.T) {
	m := New(Source{})
	url := server(t, m)
	before := float64(time.Now().Unix())
	m.ObserveFsync(40 * time.Microsecond)
	m.ObserveFsync(3 * time.Millisecond)
	m.ObserveSnapshot(1500*time.Millisecond, nil)
	m.ObserveSnapshot(time.Millisecond, errors.New("disk full"))
	m.RulesReloaded(nil)
	m.RulesReloaded(errors.New("syntax error"))
	m.RulesReloaded(errors.New("syntax error"))

	s := scrape(t, url)
	f := s.histogram(t, "lithair_log_fsync_duration_seconds")
	if f.GetSampleCount() != 2 || bucket(t, f, 50e-6) != 1 || bucket(t, f, 5e-3) != 2 {
		t.Errorf("fsync: count %d le=50µs %d le=5ms %d; want 2, 1, 2", f.GetSampleCount(), bucket(t, f, 50e-6), bucket(t, f, 5e-3))
	}
	snap := s.histogram(t, "lithair_snapshot_duration_seconds")
	if snap.GetSampleCount() != 1 || snap.GetSampleSum() != 1.5 {
		t.Errorf("snapshot durations: count %d sum %g, want only the successful 1.5s", snap.GetSampleCount(), snap.GetSampleSum())
	}
	if got := s.counter(t, "lithair_snapshot_failures_total"); got != 1 {
		t.Errorf("snapshot failures = %g, want 1", got)
	}
	if got := s.gauge(t, "lithair_snapshot_last_success_timestamp_seconds"); got < before || got > float64(time.Now().Unix()+1) {
		t.Errorf("last snapshot at %g, want about %g", got, before)
	}
	if got := s.counter(t, "lithair_rules_reloads_total", "result", "failure"); got != 2 {
		t.Errorf("failed reloads = %g, want 2", got)
	}
	if got := s.counter(t, "lithair_rules_reloads_total", "result", "success"); got != 1 {
		t.Errorf("successful reloads = %g, want 1", got)
	}
}

// Two appliances in one process (the cluster tests) keep their own counts
// and do not collide in a shared registry.
func TestTwoAppliancesInOneProcess(t *testing.T) {
	a, b := New(Source{}), New(Source{})
	a.AuthFailed(AuthBadPassword)
	a.AuthFailed(AuthBadPassword)
	b.AuthFailed(AuthBadPassword)
	if got := scrape(t, server(t, a)).counter(t, "lithair_auth_failures_total", "reason", "bad_password"); got != 2 {
		t.Errorf("a: %g, want 2", got)
	}
	if got := scrape(t, server(t, b)).counter(t, "lithair_auth_failures_total", "reason", "bad_password"); got != 1 {
		t.Errorf("b: %g, want 1", got)
	}
}
