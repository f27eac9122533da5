package metrics

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

func TestObserveRequest(t *testing.T) {
	m := New(Source{})
	url := server(t, m)

	const item = "/api/products/{id}"
	m.ObserveRequest(item, "GET", 200, 80*time.Microsecond, 0, 300)
	m.ObserveRequest(item, "GET", 200, 3*time.Millisecond, 0, 5000)
	m.ObserveRequest(item, "GET", 404, 40*time.Microsecond, 0, 60)
	m.ObserveRequest("/api/products", "POST", 201, 2*time.Millisecond, 700, 400)
	// An unknown Content-Length is left out of the size histogram only.
	m.ObserveRequest("/api/products", "POST", 201, 2*time.Millisecond, -1, 400)

	s := scrape(t, url)
	for _, c := range []struct {
		route, method, code string
		want                float64
	}{
		{item, "GET", "200", 2},
		{item, "GET", "404", 1},
		{"/api/products", "POST", "201", 2},
	} {
		if got := s.counter(t, "lithair_http_requests_total", "route", c.route, "method", c.method, "code", c.code); got != c.want {
			t.Errorf("requests %s %s %s = %g, want %g", c.method, c.route, c.code, got, c.want)
		}
	}
	if s.metric("lithair_http_requests_total", "route", item, "method", "POST", "code", "201") != nil {
		t.Error("a series for a route/method pair never observed")
	}

	h := s.histogram(t, "lithair_http_request_duration_seconds", "route", item, "method", "GET")
	if h.GetSampleCount() != 3 {
		t.Errorf("GET duration count = %d, want 3", h.GetSampleCount())
	}
	if got := bucket(t, h, 50e-6); got != 1 {
		t.Errorf("GET requests under 50µs = %d, want 1 (the 404)", got)
	}
	if got := bucket(t, h, 100e-6); got != 2 {
		t.Errorf("GET requests under 100µs = %d, want 2", got)
	}
	if want := 3120e-6; math.Abs(h.GetSampleSum()-want) > 1e-9 {
		t.Errorf("GET duration sum = %g, want %g", h.GetSampleSum(), want)
	}

	req := s.histogram(t, "lithair_http_request_size_bytes", "route", "/api/products", "method", "POST")
	if req.GetSampleCount() != 1 || req.GetSampleSum() != 700 {
		t.Errorf("POST request sizes: count %d sum %g, want 1 and 700", req.GetSampleCount(), req.GetSampleSum())
	}
	resp := s.histogram(t, "lithair_http_response_size_bytes", "route", item, "method", "GET")
	if resp.GetSampleCount() != 3 || resp.GetSampleSum() != 5360 {
		t.Errorf("GET response sizes: count %d sum %g, want 3 and 5360", resp.GetSampleCount(), resp.GetSampleSum())
	}
}

// A client picks the method, and a handler bug may report any status: the
// labels must stay a closed set.
func TestRequestLabelsAreBounded(t *testing.T) {
	m := New(Source{})
	url := server(t, m)
	m.ObserveRequest("/api/x", "BREW", 418, time.Millisecond, 0, 0)
	m.ObserveRequest("/api/x", "PROPFIND", 0, time.Millisecond, 0, 0)
	m.ObserveRequest("/api/x", "GET", 1000, time.Millisecond, 0, 0)

	s := scrape(t, url)
	if got := s.counter(t, "lithair_http_requests_total", "route", "/api/x", "method", "OTHER", "code", "418"); got != 1 {
		t.Errorf("BREW 418 counted %g times under OTHER, want 1", got)
	}
	if got := s.counter(t, "lithair_http_requests_total", "route", "/api/x", "method", "OTHER", "code", "other"); got != 1 {
		t.Errorf("status 0 counted %g times under code=other, want 1", got)
	}
	if got := s.counter(t, "lithair_http_requests_total", "route", "/api/x", "method", "GET", "code", "other"); got != 1 {
		t.Errorf("status 1000 counted %g times under code=other, want 1", got)
	}
	if got := s.counter(t, "lithair_metrics_label_overflow_total", "metric", "lithair_http_requests_total"); got != 0 {
		t.Errorf("overflow = %g with a handful of routes", got)
	}
}

// A caller that passes raw paths must not grow the series without bound:
// past maxRoutes the pairs fold into route="_other", and the fold shows.
func TestRawPathsFoldIntoOther(t *testing.T) {
	m := New(Source{})
	url := server(t, m)
	const extra = 10
	for i := range maxRoutes + extra {
		m.ObserveRequest(fmt.Sprintf("/api/products/%d", i), "GET", 200, time.Millisecond, 0, 0)
	}

	s := scrape(t, url)
	if n := len(s.family(t, "lithair_http_requests_total", dto.MetricType_COUNTER).GetMetric()); n != maxRoutes+1 {
		t.Errorf("%d request series, want %d routes and _other", n, maxRoutes+1)
	}
	if got := s.counter(t, "lithair_http_requests_total", "route", "_other", "method", "_other", "code", "200"); got != extra {
		t.Errorf("_other counted %g requests, want %d", got, extra)
	}
	if got := s.counter(t, "lithair_metrics_label_overflow_total", "metric", "lithair_http_requests_total"); got != extra {
		t.Errorf("overflow = %g, want %d", got, extra)
	}
}

// Requests on new routes race with scrapes: run with -race.
func TestObserveWhileScraping(t *testing.T) {
	m := New(Source{})
	url := server(t, m)
	const workers, each = 4, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m.RequestStarted()
				m.ObserveRequest(fmt.Sprintf("/r/%d", i%20), "GET", 200+w, time.Duration(i)*time.Microsecond, 10, 10)
				m.ObserveStage(Stage(i%int(numStages)), time.Microsecond)
				m.RequestDone()
			}
		})
	}
	for range 5 {
		scrape(t, url)
	}
	wg.Wait()

	s := scrape(t, url)
	var total float64
	for _, mm := range s.family(t, "lithair_http_requests_total", dto.MetricType_COUNTER).GetMetric() {
		total += mm.GetCounter().GetValue()
	}
	if total != workers*each {
		t.Errorf("%g requests counted, want %d", total, workers*each)
	}
	if got := s.gauge(t, "lithair_http_requests_in_flight"); got != 0 {
		t.Errorf("in flight = %g after every request ended", got)
	}
}

func TestInFlight(t *testing.T) {
	m := New(Source{})
	url := server(t, m)
	m.RequestStarted()
	m.RequestStarted()
	m.RequestDone()
	if got := scrape(t, url).gauge(t, "lithair_http_requests_in_flight"); got != 1 {
		t.Errorf("in flight = %g, want 1", got)
	}
}
