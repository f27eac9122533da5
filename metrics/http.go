package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// routeKey is one route/method pair of the HTTP metrics.
type routeKey struct{ route, method string }

// routeSeries caches the series of one route/method pair.
type routeSeries struct {
	duration prometheus.Observer
	reqSize  prometheus.Observer
	respSize prometheus.Observer
	codes    *labelCache[int, prometheus.Counter]
}

func (m *Metrics) initHTTP(f factory) {
	m.requests = f.counterVec("http_requests_total",
		"HTTP requests answered, by route template, method and status code.",
		"route", "method", "code")
	m.duration = f.histogramVec("http_request_duration_seconds",
		"Time from reading the request line to writing the last byte of the response, by route template and method.",
		requestBuckets, "route", "method")
	m.reqSize = f.histogramVec("http_request_size_bytes",
		"Request body sizes, by route template and method.",
		sizeBuckets, "route", "method")
	m.respSize = f.histogramVec("http_response_size_bytes",
		"Response body sizes, by route template and method.",
		sizeBuckets, "route", "method")
	m.inFlight = f.gauge("http_requests_in_flight",
		"HTTP requests being served.")

	overflow := m.overflow.WithLabelValues(namespace + "_http_requests_total")
	m.routes = newLabelCache(maxRoutes, routeKey{overflowValue, overflowValue}, overflow, func(k routeKey) *routeSeries {
		route := labelValue(k.route)
		return &routeSeries{
			duration: m.duration.WithLabelValues(route, k.method),
			reqSize:  m.reqSize.WithLabelValues(route, k.method),
			respSize: m.respSize.WithLabelValues(route, k.method),
			// Codes are bounded by codeLabel, so the bound only
			// matters to a caller sending every code there is.
			codes: newLabelCache(maxLabelValues, 0, overflow, func(code int) prometheus.Counter {
				return m.requests.WithLabelValues(route, k.method, codeLabel(code))
			}),
		}
	})
}

// ObserveRequest records one answered request: its route template (such
// as "/api/products/{id}", never the raw path, whose ids would make a
// series per record), method, status code, duration, and body sizes in
// bytes. A negative size (an unknown Content-Length) is not recorded.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration, reqBytes, respBytes int64) {
	rs := m.routes.get(routeKey{route, methodLabel(method)})
	if status < 100 || status > 599 {
		status = 0
	}
	rs.codes.get(status).Inc()
	rs.duration.Observe(d.Seconds())
	if reqBytes >= 0 {
		rs.reqSize.Observe(float64(reqBytes))
	}
	if respBytes >= 0 {
		rs.respSize.Observe(float64(respBytes))
	}
}

// RequestStarted counts a request in lithair_http_requests_in_flight
// until the matching RequestDone.
func (m *Metrics) RequestStarted() { m.inFlight.Inc() }

// RequestDone ends what RequestStarted began.
func (m *Metrics) RequestDone() { m.inFlight.Dec() }

// methodLabel returns method if it is one of the standard methods, and
// "OTHER" otherwise: the client chooses the method, and each new label
// value would be a new series.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// codeLabel returns the label of an HTTP status code; ObserveRequest
// maps codes outside 100..599 to 0.
func codeLabel(code int) string {
	if code == 0 {
		return "other"
	}
	return strconv.Itoa(code)
}
