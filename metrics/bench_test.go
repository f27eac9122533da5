package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// observeOneRequest is what the appliance records for one write: the
// request and all eight stages.
func observeOneRequest(m *Metrics) {
	m.ObserveRequest("/api/products/{id}", "PUT", 200, 1200*time.Microsecond, 512, 256)
	for s := range numStages {
		m.ObserveStage(s, 40*time.Microsecond)
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := New(Source{})
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest("/api/products/{id}", "PUT", 200, 1200*time.Microsecond, 512, 256)
	}
}

func BenchmarkObserveStage(b *testing.B) {
	m := New(Source{})
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveStage(StageRaftCommit, 40*time.Microsecond)
	}
}

// BenchmarkObserveWrite is the whole cost per request.
func BenchmarkObserveWrite(b *testing.B) {
	m := New(Source{})
	b.ReportAllocs()
	for b.Loop() {
		observeOneRequest(m)
	}
}

// BenchmarkObserveWriteParallel shows contention between cores: the
// caches take no lock, the counters and histograms are atomics.
func BenchmarkObserveWriteParallel(b *testing.B) {
	m := New(Source{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			observeOneRequest(m)
		}
	})
}

// BenchmarkUncachedWrite is the peer: the same observations through
// client_golang's WithLabelValues on every call, without the caches.
func BenchmarkUncachedWrite(b *testing.B) {
	reg := prometheus.NewRegistry()
	f := factory{reg}
	requests := f.counterVec("r", "r", "route", "method", "code")
	duration := f.histogramVec("d", "d", requestBuckets, "route", "method")
	reqSize := f.histogramVec("q", "q", sizeBuckets, "route", "method")
	respSize := f.histogramVec("p", "p", sizeBuckets, "route", "method")
	stages := f.histogramVec("s", "s", stageBuckets, "stage")
	b.ReportAllocs()
	for b.Loop() {
		requests.WithLabelValues("/api/products/{id}", "PUT", "200").Inc()
		duration.WithLabelValues("/api/products/{id}", "PUT").Observe(1200e-6)
		reqSize.WithLabelValues("/api/products/{id}", "PUT").Observe(512)
		respSize.WithLabelValues("/api/products/{id}", "PUT").Observe(256)
		for s := range numStages {
			stages.WithLabelValues(s.String()).Observe(40e-6)
		}
	}
}

// BenchmarkBareHTTP is the limit the figures above are quoted against: one
// request to a net/http handler that does nothing, over loopback.
func BenchmarkBareHTTP(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	client := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkScrape is the cost of one GET /metrics with a full Source and
// a few dozen routes, for choosing a scrape interval.
func BenchmarkScrape(b *testing.B) {
	n := &node{}
	n.state.Store("Leader")
	n.rules.Store("v1")
	m := New(n.source())
	for i := range 40 {
		m.ObserveRequest("/api/m"+string(rune('a'+i%26))+"/{id}", "GET", 200, time.Millisecond, 10, 10)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	client := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
