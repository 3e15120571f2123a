// requests.go instruments the public PubNub listener: request counts and
// latencies per endpoint and status class, requests in flight, and one log
// line per request at debug level. The endpoint comes from a fixed set, so
// the metrics' label values are bounded whatever clients send.

package main

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// endpoints is the fixed set of endpoint label values.
var endpoints = []string{
	"heartbeat", "leave", "here_now", "where_now", "state_get", "state_set",
	"subscribe", "channel_group", "time", "grant", "other",
}

// endpointOf classifies a request path as one of endpoints.
func endpointOf(path string) string {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(seg) == 2 && seg[0] == "time":
		return "time"
	case len(seg) >= 2 && seg[0] == "v2" && seg[1] == "subscribe":
		return "subscribe"
	case len(seg) >= 2 && seg[0] == "v1" && seg[1] == "channel-registration":
		return "channel_group"
	case len(seg) >= 2 && (seg[0] == "v2" || seg[0] == "v3") && (seg[1] == "auth" || seg[1] == "pam"):
		return "grant"
	case len(seg) >= 4 && seg[0] == "v2" && seg[1] == "presence":
		switch {
		case len(seg) == 4:
			return "here_now" // global
		case len(seg) == 6 && seg[4] == "uuid":
			return "where_now"
		case len(seg) == 6 && seg[4] == "channel":
			return "here_now"
		case len(seg) == 7 && seg[4] == "channel" && seg[6] == "heartbeat":
			return "heartbeat"
		case len(seg) == 7 && seg[4] == "channel" && seg[6] == "leave":
			return "leave"
		case len(seg) == 8 && seg[4] == "channel" && seg[6] == "uuid":
			return "state_get"
		case len(seg) == 9 && seg[4] == "channel" && seg[6] == "uuid" && seg[8] == "data":
			return "state_set"
		}
	}
	return "other"
}

// statusClass returns "2xx" for 200..299 and so on.
func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return string(rune('0'+code/100)) + "xx"
}

// requestMetrics are the public listener's metrics. The counter and
// histogram of every (endpoint, class) pair are looked up once, at start,
// rather than by label values on every request.
type requestMetrics struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge

	counters  map[[2]string]prometheus.Counter
	observers map[[2]string]prometheus.Observer
}

func newRequestMetrics(reg prometheus.Registerer) *requestMetrics {
	m := &requestMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_http_requests_total",
			Help: "PubNub API requests answered, by endpoint and status class (2xx, 4xx, 5xx).",
		}, []string{"endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "presenced_http_request_duration_seconds",
			Help:    "Time to answer a PubNub API request, by endpoint and status class; subscribe long-polls are held up to -poll-timeout.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"endpoint", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "presenced_http_requests_in_flight",
			Help: "PubNub API requests being answered now, held long-polls included.",
		}),
	}
	reg.MustRegister(m.total, m.duration, m.inFlight)
	m.counters = make(map[[2]string]prometheus.Counter)
	m.observers = make(map[[2]string]prometheus.Observer)
	for _, e := range endpoints {
		for _, c := range []string{"2xx", "4xx", "5xx"} { // shown from the start, at 0
			m.counters[[2]string{e, c}] = m.total.WithLabelValues(e, c)
			m.observers[[2]string{e, c}] = m.duration.WithLabelValues(e, c)
		}
	}
	return m
}

// observe counts one request and its duration.
func (m *requestMetrics) observe(endpoint, class string, took time.Duration) {
	k := [2]string{endpoint, class}
	c, ok := m.counters[k]
	if !ok { // a rare class (1xx, 3xx): by label values
		m.total.WithLabelValues(endpoint, class).Inc()
		m.duration.WithLabelValues(endpoint, class).Observe(took.Seconds())
		return
	}
	c.Inc()
	m.observers[k].Observe(took.Seconds())
}

// recorder notes the status a handler wrote. Unwrap lets
// http.ResponseController reach the connection (long-polls flush).
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += n
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument wraps the public handler with the metrics and, at debug
// level, a log line per request. The line has the path, never the query
// (it may carry auth keys and state).
func instrument(next http.Handler, m *requestMetrics, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			m.inFlight.Dec()
			took := time.Since(start)
			if rec.code == 0 {
				rec.code = http.StatusOK
			}
			endpoint, class := endpointOf(r.URL.Path), statusClass(rec.code)
			m.observe(endpoint, class, took)
			if log.Enabled(r.Context(), slog.LevelDebug) {
				log.LogAttrs(r.Context(), slog.LevelDebug, "request",
					slog.String("method", r.Method), slog.String("endpoint", endpoint),
					slog.String("path", r.URL.Path), slog.Int("status", rec.code),
					slog.Int("bytes", rec.bytes), slog.Duration("took", took),
					slog.String("remote", r.RemoteAddr))
			}
		}()
		next.ServeHTTP(rec, r)
	})
}
