package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// server serves m.Handler on loopback for the life of the test.
func server(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// scraped is one scrape, parsed by Prometheus' own text parser.
type scraped map[string]*dto.MetricFamily

// scrape GETs url as Prometheus does in the text format and parses it.
func scrape(t *testing.T, url string) scraped {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want text/plain", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	return fams
}

// family returns the family called name, checking its type.
func (s scraped) family(t *testing.T, name string, typ dto.MetricType) *dto.MetricFamily {
	t.Helper()
	f, ok := s[name]
	if !ok {
		t.Fatalf("family %s missing from the scrape", name)
	}
	if f.GetType() != typ {
		t.Fatalf("%s is a %s, want a %s", name, f.GetType(), typ)
	}
	return f
}

// metric returns the series of family name whose labels are exactly
// labels, given as name/value pairs, or nil.
func (s scraped) metric(name string, labels ...string) *dto.Metric {
	f, ok := s[name]
	if !ok {
		return nil
	}
	for _, m := range f.GetMetric() {
		if hasLabels(m, labels) {
			return m
		}
	}
	return nil
}

// must is metric for a series the test expects.
func (s scraped) must(t *testing.T, name string, labels ...string) *dto.Metric {
	t.Helper()
	m := s.metric(name, labels...)
	if m == nil {
		t.Fatalf("no series %s%v in the scrape", name, labels)
	}
	return m
}

// counter returns the value of a counter series.
func (s scraped) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	s.family(t, name, dto.MetricType_COUNTER)
	return s.must(t, name, labels...).GetCounter().GetValue()
}

// gauge returns the value of a gauge series.
func (s scraped) gauge(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	s.family(t, name, dto.MetricType_GAUGE)
	return s.must(t, name, labels...).GetGauge().GetValue()
}

// histogram returns a histogram series.
func (s scraped) histogram(t *testing.T, name string, labels ...string) *dto.Histogram {
	t.Helper()
	s.family(t, name, dto.MetricType_HISTOGRAM)
	return s.must(t, name, labels...).GetHistogram()
}

// bucket returns the cumulative count of h's bucket with upper bound le.
func bucket(t *testing.T, h *dto.Histogram, le float64) uint64 {
	t.Helper()
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	t.Fatalf("no bucket le=%g", le)
	return 0
}

func hasLabels(m *dto.Metric, labels []string) bool {
	if len(m.GetLabel())*2 != len(labels) {
		return false
	}
	for i := 0; i < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
