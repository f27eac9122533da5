package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads GET /metrics with Prometheus's own text parser.
func scrape(t *testing.T, n *node) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(n.baseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}
	return fams
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestMetricsDescribeTheWritePath(t *testing.T) {
	n := startNode(t, t.TempDir())
	for i := range 3 {
		if r := n.must("POST", "/api/products", `{"name":"p`+string(rune('a'+i))+`","price":1}`); r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
	}
	n.must("POST", "/api/products", `{"name":"","price":-1}`) // a validation failure
	n.must("POST", "/api/products", `{"name":"x"}`, anonymous...)
	fams := scrape(t, n)

	created := 0.0
	for _, m := range fams["lithair_http_requests_total"].GetMetric() {
		if label(m, "route") == "/api/products" && label(m, "method") == "POST" && label(m, "code") == "201" {
			created = m.GetCounter().GetValue()
		}
		if strings.Contains(label(m, "route"), "p1") {
			t.Errorf("a raw path became a route label: %v", m)
		}
	}
	if created != 3 {
		t.Errorf("requests_total for 201 POST /api/products = %v, want 3", created)
	}
	stages := map[string]uint64{}
	for _, m := range fams["lithair_stage_duration_seconds"].GetMetric() {
		stages[label(m, "stage")] = m.GetHistogram().GetSampleCount()
	}
	for _, st := range []string{"firewall", "routing", "validation", "handler", "raft_commit", "storage", "serialization"} {
		if stages[st] == 0 {
			t.Errorf("stage %s observed nothing: %v", st, stages)
		}
	}
	gauge := func(name string) float64 {
		f := fams[name]
		if f == nil || len(f.GetMetric()) == 0 {
			t.Fatalf("%s missing", name)
		}
		return f.GetMetric()[0].GetGauge().GetValue()
	}
	if applied := gauge("lithair_raft_applied_index"); applied != n.appliedIndex() && applied < 5 {
		t.Errorf("applied index gauge %v", applied)
	}
	if gauge("lithair_raft_term") < 1 || gauge("lithair_log_segments") < 1 || gauge("lithair_ready") != 1 {
		t.Errorf("term %v, segments %v, ready %v", gauge("lithair_raft_term"), gauge("lithair_log_segments"), gauge("lithair_ready"))
	}
	leader := 0.0
	for _, m := range fams["lithair_raft_state"].GetMetric() {
		if label(m, "state") == "leader" {
			leader = m.GetGauge().GetValue()
		}
	}
	if leader != 1 {
		t.Errorf("raft_state{state=leader} = %v", leader)
	}
	if f := fams["lithair_log_fsync_duration_seconds"]; f == nil || f.GetMetric()[0].GetHistogram().GetSampleCount() == 0 {
		t.Errorf("no fsync observed")
	}
	invalid := 0.0
	for _, m := range fams["lithair_validation_failures_total"].GetMetric() {
		if label(m, "model") == "Product" {
			invalid = m.GetCounter().GetValue()
		}
	}
	if invalid != 1 {
		t.Errorf("validation failures of Product = %v, want 1", invalid)
	}
}

func TestRequestLogsCarryTheTraceContext(t *testing.T) {
	n := startNode(t, t.TempDir())
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := n.must("POST", "/api/products", `{"name":"traced","price":2}`, "traceparent", "00-"+trace+"-00f067aa0ba902b7-01")
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	got := r.Header.Get("traceparent")
	if !strings.HasPrefix(got, "00-"+trace+"-") || strings.Contains(got, "00f067aa0ba902b7") || !strings.HasSuffix(got, "-01") {
		t.Fatalf("traceparent answered %q: want the same trace, a new span", got)
	}
	if other := n.must("GET", "/api/products", "").Header.Get("traceparent"); len(other) != 55 || strings.Contains(other, trace) {
		t.Fatalf("a request without traceparent gets a fresh trace, got %q", other)
	}
	span := strings.Split(got, "-")[2]
	var line map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for line == nil && time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(n.logs()))
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) == nil && l["msg"] == "request" && l["trace_id"] == trace {
				line = l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if line == nil {
		t.Fatalf("no request log line with trace_id %s:\n%s", trace, n.logs())
	}
	want := map[string]any{"method": "POST", "route": "/api/products", "status": 201.0, "user": "admin", "model": "Product",
		"operation": "create", "span_id": span}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log line %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	for _, k := range []string{"latency_ms", "request_bytes", "validation_ms"} {
		if _, ok := line[k].(float64); !ok {
			t.Errorf("log line lacks %s: %v", k, line)
		}
	}
	if strings.Contains(n.logs(), "traced") {
		t.Errorf("a request body reached the log")
	}
}
