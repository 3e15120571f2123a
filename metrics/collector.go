// collector.go holds Collector: the prometheus.Collector of one presence
// backend, its Options, and the hooks (ObserveSweep, ObserveCall) a
// backend's Config calls.

package presencemetrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/internal/watch"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Options' zero fields.
const (
	DefaultNamespace    = "presence"
	DefaultTopChannels  = 10
	DefaultBuffer       = 16384
	DefaultStatsTimeout = 5 * time.Second
	// MaxTopChannels bounds Options.TopChannels, and so the number of
	// channel label values.
	MaxTopChannels = 1000
)

// ErrInvalidOptions is wrapped by the errors of New for an out-of-range
// Options field.
var ErrInvalidOptions = errors.New("presencemetrics: invalid options")

// ErrWatching is returned by Watch when the collector already follows a
// backend or was closed.
var ErrWatching = errors.New("presencemetrics: collector already watches a backend or is closed")

// Options configure a Collector. The zero value works.
type Options struct {
	// Namespace prefixes every metric name. Zero means "presence".
	Namespace string
	// TopChannels is how many of the busiest channels have their occupancy
	// exported, one label value each. Zero means 10; at most
	// MaxTopChannels; negative means none, and then the collector keeps no
	// occupancy per channel.
	TopChannels int
	// Buffer is the event subscription's buffer in events: a larger one
	// rides out longer bursts before the subscription is closed as slow.
	// Zero means 16384.
	Buffer int
	// StatsTimeout bounds the Stats call of each scrape. Zero means 5 s.
	StatsTimeout time.Duration
}

// Collector is a prometheus.Collector for one presence backend. Create it
// with New, pass its ObserveSweep (and for a backend that has the hook,
// ObserveCall) to the backend's Config, call Watch with the backend, and
// register it in your registry. All methods are safe for concurrent use.
//
// At each scrape it calls the backend's Stats (bounded by
// Options.StatsTimeout); between scrapes it follows every event through
// one subscription, from which it counts events by action and timeout
// lateness and keeps the busiest channels.
type Collector struct {
	opts Options

	mu      sync.Mutex
	b       presence.Backend
	w       *watch.Watcher
	health  func() Health
	stopped bool

	memberships, channels, uuids, groups, subscriptions  *prometheus.Desc
	slowSubs, up, occupancy                              *prometheus.Desc
	outages, recoveries, resyncs, down, failures, stalls *prometheus.Desc

	events       *prometheus.CounterVec
	resubscribed *prometheus.CounterVec
	lateness     prometheus.Histogram
	sweeps       prometheus.Histogram
	expired      prometheus.Counter
	calls        *prometheus.HistogramVec
}

// New returns a collector that follows no backend yet (see Watch). It
// returns an error wrapping ErrInvalidOptions when a field is out of range.
func New(opts Options) (*Collector, error) {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if !validName(opts.Namespace) {
		return nil, fmt.Errorf("%w: Namespace %q: must match [a-zA-Z_][a-zA-Z0-9_]*", ErrInvalidOptions, opts.Namespace)
	}
	if opts.TopChannels == 0 {
		opts.TopChannels = DefaultTopChannels
	}
	if opts.TopChannels > MaxTopChannels {
		return nil, fmt.Errorf("%w: TopChannels %d: above %d", ErrInvalidOptions, opts.TopChannels, MaxTopChannels)
	}
	if opts.Buffer < 0 {
		return nil, fmt.Errorf("%w: Buffer %d: negative", ErrInvalidOptions, opts.Buffer)
	}
	if opts.Buffer == 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.StatsTimeout < 0 {
		return nil, fmt.Errorf("%w: StatsTimeout %v: negative", ErrInvalidOptions, opts.StatsTimeout)
	}
	if opts.StatsTimeout == 0 {
		opts.StatsTimeout = DefaultStatsTimeout
	}
	ns := opts.Namespace
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
	}
	c := &Collector{
		opts:          opts,
		memberships:   desc("memberships", "Present (channel, uuid) pairs."),
		channels:      desc("channels", "Channels with at least one member."),
		uuids:         desc("uuids", "UUIDs present on at least one channel."),
		groups:        desc("groups", "Channel groups with at least one channel."),
		subscriptions: desc("subscriptions", "Open event subscriptions of this instance, the collector's own included."),
		slowSubs:      desc("slow_subscriptions_total", "Event subscriptions of this instance closed because their buffer was full."),
		up:            desc("backend_up", "1 when the backend answered this scrape's Stats call, 0 when it did not (the Stats gauges are then left out)."),
		occupancy:     desc("channel_occupancy", "Occupancy of the busiest channels, as the collector last saw it (only the top channels have a label value).", "channel"),
		outages:       desc("backend_outages_total", "Times the backend's store became unreachable (store-backed backends such as Redis)."),
		recoveries:    desc("backend_recoveries_total", "Outages of the backend's store that ended."),
		resyncs:       desc("backend_resyncs_total", "Times the backend found that its store lost events and resynchronised."),
		down:          desc("backend_down", "1 while the backend's store is unreachable, else 0."),
		failures:      desc("backend_failures_total", "Backend calls that failed for want of the store."),
		stalls:        desc("backend_stalls_total", "Round trips to the store unanswered for longer than the backend's stall threshold."),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "events_total",
			Help: "Presence events the collector received, by action. See collector_resubscriptions_total for gaps.",
		}, []string{"action"}),
		resubscribed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "collector_resubscriptions_total",
			Help: "Times the collector's event subscription ended and was renewed, by reason (slow_consumer, error); the events of each gap are not counted.",
		}, []string{"reason"}),
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Name: "timeout_lateness_seconds",
			Help:    "How long after its deadline each timeout event happened (channels in interval mode report timeouts as deltas, not counted here).",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		sweeps: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Name: "sweep_duration_seconds",
			Help:    "Duration of the sweeps that found something due (fed by ObserveSweep).",
			Buckets: []float64{.00001, .0001, .0005, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "sweep_expired_total",
			Help: "Memberships the sweeps expired (fed by ObserveSweep).",
		}),
		calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "backend_call_duration_seconds",
			Help:    "Duration of the backend's calls to its store, by operation and result (ok, error; fed by ObserveCall).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op", "result"}),
	}
	for a := presence.Join; a <= presence.Interval; a++ {
		c.events.WithLabelValues(a.String())
	}
	c.resubscribed.WithLabelValues(reasonSlow)
	c.resubscribed.WithLabelValues(reasonError)
	return c, nil
}

// reasons of collector_resubscriptions_total
const (
	reasonSlow  = "slow_consumer"
	reasonError = "error"
)

// validName reports whether s is a valid Prometheus metric name prefix.
func validName(s string) bool {
	for i, r := range s {
		switch {
		case r == '_', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// Watch makes the collector follow b: it subscribes to all of b's events
// (renewing the subscription whenever it ends, which
// collector_resubscriptions_total counts) and calls b.Stats at each
// scrape. It returns ErrWatching when called a second time or after Close.
// b must not be nil.
func (c *Collector) Watch(b presence.Backend) error {
	if b == nil {
		return fmt.Errorf("%w: Watch(nil)", ErrInvalidOptions)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.b != nil || c.stopped {
		return ErrWatching
	}
	c.b = b
	c.w = watch.Start(b, watch.Options{
		Buffer:    c.opts.Buffer,
		Occupancy: c.opts.TopChannels > 0,
		OnEvent:   c.onEvent,
		OnRenew: func(err error) {
			reason := reasonError
			if errors.Is(err, presence.ErrSlowConsumer) {
				reason = reasonSlow
			}
			c.resubscribed.WithLabelValues(reason).Inc()
		},
	})
	return nil
}

// WatchHealth makes every scrape call health for the backend_down,
// backend_outages_total, backend_recoveries_total, backend_resyncs_total,
// backend_failures_total and backend_stalls_total metrics of a backend
// that depends on a store (see Health). health must not block. Without it
// there are no such metrics.
func (c *Collector) WatchHealth(health func() Health) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.health = health
}

// Close stops following the backend (it does not close the backend). The
// collector can still be scraped: the backend gauges are then left out.
// It is idempotent.
func (c *Collector) Close() {
	c.mu.Lock()
	w := c.w
	c.b, c.w, c.stopped = nil, nil, true
	c.mu.Unlock()
	if w != nil {
		w.Close()
	}
}

func (c *Collector) onEvent(ev presence.Event) {
	c.events.WithLabelValues(ev.Action.String()).Inc()
	if ev.Action == presence.Timeout && !ev.Deadline.IsZero() {
		c.lateness.Observe(max(0, ev.Time.Sub(ev.Deadline).Seconds()))
	}
}

// ObserveSweep records a sweep's duration and the memberships it expired.
// Its signature is presence.Config.OnSweep's: set that field to it. It
// never blocks.
func (c *Collector) ObserveSweep(took time.Duration, expired int) {
	c.sweeps.Observe(took.Seconds())
	c.expired.Add(float64(max(0, expired)))
}

// ObserveCall records the duration of one call of a backend to its store,
// labelled by op and by result ("ok" when err is nil, else "error"). Its
// signature is that of the Redis backend's Config.ObserveCall hook. op must
// come from a fixed set (the backend's operation names): each distinct op
// is a label value. It never blocks.
func (c *Collector) ObserveCall(op string, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	c.calls.WithLabelValues(op, result).Observe(took.Seconds())
}

// Describe sends the descriptions of every metric the collector can
// produce. It implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.memberships, c.channels, c.uuids, c.groups, c.subscriptions, c.slowSubs, c.up, c.occupancy,
		c.outages, c.recoveries, c.resyncs, c.down, c.failures, c.stalls,
	} {
		ch <- d
	}
	c.events.Describe(ch)
	c.resubscribed.Describe(ch)
	c.lateness.Describe(ch)
	c.sweeps.Describe(ch)
	c.expired.Describe(ch)
	c.calls.Describe(ch)
}

// Collect sends the current values. It implements prometheus.Collector.
// It calls the backend's Stats once, bounded by Options.StatsTimeout.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.events.Collect(ch)
	c.resubscribed.Collect(ch)
	c.lateness.Collect(ch)
	c.sweeps.Collect(ch)
	c.expired.Collect(ch)
	c.calls.Collect(ch)

	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	c.mu.Lock()
	b, w, health := c.b, c.w, c.health
	c.mu.Unlock()
	if health != nil {
		c.collectHealth(health(), gauge, counter)
	}
	if b == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StatsTimeout)
	st, err := b.Stats(ctx)
	cancel()
	if err != nil {
		gauge(c.up, 0)
	} else {
		gauge(c.up, 1)
		gauge(c.memberships, float64(st.Memberships))
		gauge(c.channels, float64(st.Channels))
		gauge(c.uuids, float64(st.UUIDs))
		gauge(c.groups, float64(st.Groups))
		gauge(c.subscriptions, float64(st.Subscriptions))
		counter(c.slowSubs, st.SlowSubscriptions)
	}
	for _, t := range w.Top(c.opts.TopChannels) {
		// a backend's names are valid UTF-8; one that is not is left out
		// rather than failing the scrape
		if m, err := prometheus.NewConstMetric(c.occupancy, prometheus.GaugeValue, float64(t.Occupancy), t.Name); err == nil {
			ch <- m
		}
	}
}
