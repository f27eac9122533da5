package metrics

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every metric this package defines.
const namespace = "lithair"

// Metrics holds the metrics of one appliance and the registry that serves
// them. All its methods are safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	overflow *prometheus.CounterVec

	// HTTP
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	reqSize   *prometheus.HistogramVec
	respSize  *prometheus.HistogramVec
	inFlight  prometheus.Gauge
	routes    *labelCache[routeKey, *routeSeries]
	stages    [numStages]prometheus.Observer
	firewall  *labelCache[string, prometheus.Counter]
	invalid   *labelCache[string, prometheus.Counter]
	forbidden *labelCache[string, prometheus.Counter]
	auth      *labelCache[string, prometheus.Counter]

	// Rules and Lua
	lua     *labelCache[string, luaSeries]
	reloads [2]prometheus.Counter // success, failure

	// Storage
	fsync           prometheus.Observer
	snapshot        prometheus.Observer
	snapshotFailed  prometheus.Counter
	snapshotSuccess prometheus.Gauge
}

// Option changes a default of New.
type Option func(*options)

type options struct {
	logger *slog.Logger
}

// WithLogger sets the logger for the errors met while serving a scrape
// (a Source func that panicked, a client gone mid-body). The default
// discards them; they are counted in
// promhttp_metric_handler_errors_total either way.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// New returns the metrics of one appliance, reading the gauges of src at
// each scrape. A nil func in src leaves its metric out.
func New(src Source, opts ...Option) *Metrics {
	o := options{logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, opt := range opts {
		opt(&o)
	}
	reg := prometheus.NewRegistry()
	f := factory{reg}
	m := &Metrics{reg: reg}

	m.overflow = f.counterVec("metrics_label_overflow_total",
		"Observations whose label value was folded into \"_other\" because the label had too many distinct values; anything above 0 means a caller passes unbounded values (such as raw URL paths).",
		"metric")

	m.initHTTP(f)
	m.initStages(f)
	m.initEvents(f)
	m.initStorage(f)

	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		newSourceCollector(src),
	)

	m.handler = promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slogPrinter{o.logger},
		// A Source func that panics loses its own metric, not the whole
		// scrape: an operator debugging a sick node needs the rest.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
		// A Source func that blocks (a lock held by a stuck apply loop)
		// must not pile up one goroutine per scrape.
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	return m
}

// Handler serves the metrics in the Prometheus text format (or in the
// protobuf format a scraper asks for), gzip- or zstd-compressed on
// request. Mount it on GET /metrics.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Registerer lets the appliance add collectors of its own to the registry
// Handler serves, such as a bridge for hashicorp/raft's go-metrics.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// factory creates metrics in the lithair namespace and registers them.
type factory struct{ reg *prometheus.Registry }

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

// counterCache returns a cache over a one-label counter vector whose
// overflow is counted under the vector's full name.
func (m *Metrics) counterCache(vec *prometheus.CounterVec, name string) *labelCache[string, prometheus.Counter] {
	return newLabelCache(maxLabelValues, overflowValue, m.overflow.WithLabelValues(namespace+"_"+name),
		func(v string) prometheus.Counter { return vec.WithLabelValues(labelValue(v)) })
}

// slogPrinter adapts a slog.Logger to promhttp.Logger.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.l.Error("metrics: serving a scrape", "err", fmt.Sprint(v...))
}
