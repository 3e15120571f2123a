package presencemetrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
	presencemetrics "github.com/presencekit/presence/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var ctx = context.Background()

// scraper serves a registry holding the collector and scrapes it as
// Prometheus would, parsing the text exposition.
type scraper struct {
	t   *testing.T
	srv *httptest.Server
}

func newScraper(t *testing.T, c prometheus.Collector) *scraper {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	t.Cleanup(srv.Close)
	return &scraper{t, srv}
}

type families map[string]*dto.MetricFamily

func (s *scraper) scrape() families {
	s.t.Helper()
	resp, err := http.Get(s.srv.URL)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET /metrics: status %d, body %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		s.t.Fatalf("parsing the exposition: %v\n%s", err, body)
	}
	return fams
}

// value returns the value of the metric name with exactly the given label
// pairs (name=value, ...): a gauge's or counter's value, a histogram's
// sample count.
func (f families) value(name string, labels ...string) (float64, bool) {
	fam := f[name]
	if fam == nil {
		return 0, false
	}
	want := strings.Join(labels, ",")
	for _, m := range fam.Metric {
		var got []string
		for _, l := range m.Label {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		if strings.Join(got, ",") != want {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func (f families) histogramSum(name string) float64 {
	if fam := f[name]; fam != nil && len(fam.Metric) == 1 && fam.Metric[0].Histogram != nil {
		return fam.Metric[0].Histogram.GetSampleSum()
	}
	return -1
}

// want describes a metric value a scrape must show.
type want struct {
	name   string
	labels []string
	value  float64
}

func (w want) String() string {
	return fmt.Sprintf("%s{%s} = %v", w.name, strings.Join(w.labels, ","), w.value)
}

// mismatches returns the wants a scrape does not meet, as got/want lines.
func (f families) mismatches(wants []want) []string {
	var bad []string
	for _, w := range wants {
		got, ok := f.value(w.name, w.labels...)
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s: missing, want %v", w, w.value))
		case got != w.value:
			bad = append(bad, fmt.Sprintf("%s{%s} = %v, want %v", w.name, strings.Join(w.labels, ","), got, w.value))
		}
	}
	return bad
}

// until scrapes until every want holds (the collector counts events on
// its own goroutine), failing after 5 s with what the last scrape showed.
func (s *scraper) until(wants ...want) families {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f := s.scrape()
		bad := f.mismatches(wants)
		if len(bad) == 0 {
			return f
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after 5 s:\n%s", strings.Join(bad, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newCollector(t *testing.T, opts presencemetrics.Options) *presencemetrics.Collector {
	t.Helper()
	m, err := presencemetrics.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func newEngine(t *testing.T, cfg presence.Config) *presence.Engine {
	t.Helper()
	e, err := presence.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func heartbeat(t *testing.T, b presence.Backend, uuid string, timeout time.Duration, channels ...string) {
	t.Helper()
	if err := b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid, Channels: channels, Timeout: timeout}); err != nil {
		t.Fatal(err)
	}
}

// TestMetricsAfterKnownOperations drives an engine on a mock clock through
// joins, a state change, a leave and a timeout and checks every value the
// scrape shows after each step.
func TestMetricsAfterKnownOperations(t *testing.T) {
	m := newCollector(t, presencemetrics.Options{})
	clk := clock.NewMock()
	e := newEngine(t, presence.Config{
		Clock: clk, SweepInterval: -1, MinTimeout: time.Second,
		AnnounceMax: presence.NoIntervalMode, OnSweep: m.ObserveSweep,
	})
	if err := m.Watch(e); err != nil {
		t.Fatal(err)
	}
	s := newScraper(t, m)

	f := s.scrape()
	for _, w := range []want{
		{"presence_backend_up", nil, 1}, {"presence_memberships", nil, 0},
		{"presence_events_total", []string{"action=join"}, 0},
		{"presence_events_total", []string{"action=state-change"}, 0},
		{"presence_collector_resubscriptions_total", []string{"reason=slow_consumer"}, 0},
	} {
		if bad := f.mismatches([]want{w}); len(bad) > 0 {
			t.Errorf("before any call: %s", bad[0])
		}
	}
	if _, ok := f.value("presence_channel_occupancy", "channel=lobby"); ok {
		t.Errorf("presence_channel_occupancy{channel=lobby} present before any join")
	}

	heartbeat(t, e, "ann", 10*time.Second, "lobby")
	s.until(
		want{"presence_memberships", nil, 1}, want{"presence_channels", nil, 1}, want{"presence_uuids", nil, 1},
		want{"presence_events_total", []string{"action=join"}, 1},
		want{"presence_channel_occupancy", []string{"channel=lobby"}, 1},
		want{"presence_subscriptions", nil, 1}, // the collector's own
	)

	heartbeat(t, e, "bob", 5*time.Second, "lobby", "game")
	if _, err := e.SetState(ctx, presence.SetStateRequest{UUID: "ann", Channels: []string{"lobby"}, State: map[string]any{"mood": "ok"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.AddChannels(ctx, "g", []string{"lobby"}); err != nil {
		t.Fatal(err)
	}
	s.until(
		want{"presence_memberships", nil, 3}, want{"presence_channels", nil, 2}, want{"presence_uuids", nil, 2},
		want{"presence_groups", nil, 1},
		want{"presence_events_total", []string{"action=join"}, 3},
		want{"presence_events_total", []string{"action=state-change"}, 1},
		want{"presence_channel_occupancy", []string{"channel=lobby"}, 2},
		want{"presence_channel_occupancy", []string{"channel=game"}, 1},
	)

	if err := e.Leave(ctx, presence.LeaveRequest{UUID: "ann", Channels: []string{"lobby"}}); err != nil {
		t.Fatal(err)
	}
	// bob's deadline (5 s) passes; the sweep comes 1.5 s after it
	clk.Add(6500 * time.Millisecond)
	if err := e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	f = s.until(
		want{"presence_memberships", nil, 0}, want{"presence_channels", nil, 0}, want{"presence_uuids", nil, 0},
		want{"presence_events_total", []string{"action=leave"}, 1},
		want{"presence_events_total", []string{"action=timeout"}, 2},
		want{"presence_timeout_lateness_seconds", nil, 2},
		want{"presence_sweep_duration_seconds", nil, 1},
		want{"presence_sweep_expired_total", nil, 2},
	)
	if got := f.histogramSum("presence_timeout_lateness_seconds"); got != 3 {
		t.Errorf("presence_timeout_lateness_seconds sum = %v, want 3 (two timeouts 1.5 s late)", got)
	}
	if fam := f["presence_channel_occupancy"]; fam != nil {
		t.Errorf("presence_channel_occupancy after every channel emptied: %v series, want none", len(fam.Metric))
	}
}

// TestTopChannelsBound checks that only the TopChannels busiest channels
// get a label value, with their occupancy, including channels occupied
// before Watch.
func TestTopChannelsBound(t *testing.T) {
	m := newCollector(t, presencemetrics.Options{TopChannels: 3})
	e := newEngine(t, presence.Config{SweepInterval: -1, AnnounceMax: presence.NoIntervalMode})
	for i := 1; i <= 12; i++ { // channel ci has i members
		for u := range i {
			heartbeat(t, e, fmt.Sprint("u", u), 0, fmt.Sprint("c", i))
		}
	}
	if err := m.Watch(e); err != nil {
		t.Fatal(err)
	}
	s := newScraper(t, m)
	heartbeat(t, e, "late", 0, "c1") // c1 now has 2: still not among the top
	f := s.until(
		want{"presence_channel_occupancy", []string{"channel=c12"}, 12},
		want{"presence_channel_occupancy", []string{"channel=c11"}, 11},
		want{"presence_channel_occupancy", []string{"channel=c10"}, 10},
		want{"presence_events_total", []string{"action=join"}, 1},
	)
	var names []string
	for _, m := range f["presence_channel_occupancy"].Metric {
		names = append(names, m.Label[0].GetValue())
	}
	sort.Strings(names)
	if got := strings.Join(names, " "); got != "c10 c11 c12" {
		t.Errorf("channel label values = %s, want c10 c11 c12", got)
	}

	none := newCollector(t, presencemetrics.Options{Namespace: "other", TopChannels: -1})
	if err := none.Watch(e); err != nil {
		t.Fatal(err)
	}
	f = newScraper(t, none).until(want{"other_memberships", nil, 1 + 12*13/2})
	if fam := f["other_channel_occupancy"]; fam != nil {
		t.Errorf("TopChannels -1: %d channel_occupancy series, want none", len(fam.Metric))
	}
}

// failingStats is a backend whose Stats fails, as a Redis backend's does
// during an outage.
type failingStats struct {
	presence.Backend
	down bool
}

func (f *failingStats) Stats(ctx context.Context) (presence.Stats, error) {
	if f.down {
		return presence.Stats{}, fmt.Errorf("%w: connection refused", presence.ErrUnavailable)
	}
	return f.Backend.Stats(ctx)
}

// TestBackendDown checks that a scrape during an outage still answers,
// with backend_up 0, no Stats gauges, and the store figures of
// WatchHealth.
func TestBackendDown(t *testing.T) {
	m := newCollector(t, presencemetrics.Options{})
	m.WatchHealth(func() presencemetrics.Health {
		return presencemetrics.Health{Down: true, Outages: 3, Recoveries: 2, Resyncs: 4, Failures: 17, Stalls: 1}
	})
	e := newEngine(t, presence.Config{SweepInterval: -1})
	b := &failingStats{Backend: e, down: true}
	if err := m.Watch(b); err != nil {
		t.Fatal(err)
	}
	s := newScraper(t, m)
	f := s.until(
		want{"presence_backend_up", nil, 0},
		want{"presence_backend_down", nil, 1},
		want{"presence_backend_outages_total", nil, 3},
		want{"presence_backend_recoveries_total", nil, 2},
		want{"presence_backend_resyncs_total", nil, 4},
		want{"presence_backend_failures_total", nil, 17},
		want{"presence_backend_stalls_total", nil, 1},
	)
	if _, ok := f.value("presence_memberships"); ok {
		t.Error("presence_memberships present although Stats failed")
	}
	if _, ok := f.value("presence_events_total", "action=join"); !ok {
		t.Error("presence_events_total missing during the outage")
	}

	plain := newCollector(t, presencemetrics.Options{Namespace: "plain"})
	if err := plain.Watch(e); err != nil {
		t.Fatal(err)
	}
	f = newScraper(t, plain).scrape()
	for _, name := range []string{"plain_backend_down", "plain_backend_outages_total", "plain_backend_resyncs_total"} {
		if f[name] != nil {
			t.Errorf("%s present without WatchHealth", name)
		}
	}
}

// TestObserveCall checks the call-latency histogram by op and result.
func TestObserveCall(t *testing.T) {
	m := newCollector(t, presencemetrics.Options{})
	s := newScraper(t, m)
	m.ObserveCall("heartbeat", 2*time.Millisecond, nil)
	m.ObserveCall("heartbeat", 3*time.Millisecond, nil)
	m.ObserveCall("here_now", time.Second, errors.New("timeout"))
	f := s.scrape()
	if bad := f.mismatches([]want{
		{"presence_backend_call_duration_seconds", []string{"op=heartbeat", "result=ok"}, 2},
		{"presence_backend_call_duration_seconds", []string{"op=here_now", "result=error"}, 1},
	}); len(bad) > 0 {
		t.Error(strings.Join(bad, "\n"))
	}
	if _, ok := f.value("presence_memberships"); ok {
		t.Error("presence_memberships present before Watch")
	}
}

// TestResubscribesWhenSlow checks that when the collector's subscription is
// closed as a slow consumer it is renewed and counted, and that the
// busiest channels are right again after the renewal. A buffer of one
// event and bursts of heartbeats make the subscription slow.
func TestResubscribesWhenSlow(t *testing.T) {
	m := newCollector(t, presencemetrics.Options{Buffer: 1})
	e := newEngine(t, presence.Config{SweepInterval: -1, AnnounceMax: presence.NoIntervalMode})
	if err := m.Watch(e); err != nil {
		t.Fatal(err)
	}
	s := newScraper(t, m)
	n := 0
	for deadline := time.Now().Add(10 * time.Second); ; {
		for range 200 {
			heartbeat(t, e, fmt.Sprint("u", n), 0, "busy")
			n++
		}
		if v, _ := s.scrape().value("presence_collector_resubscriptions_total", "reason=slow_consumer"); v >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slow-consumer resubscription after %d joins in bursts of 200 with a buffer of 1", n)
		}
	}
	s.until(want{"presence_channel_occupancy", []string{"channel=busy"}, float64(n)})
	if v, _ := s.scrape().value("presence_slow_subscriptions_total"); v < 1 {
		t.Errorf("presence_slow_subscriptions_total = %v, want ≥ 1", v)
	}
}

func TestOptionsAndWatchErrors(t *testing.T) {
	for _, o := range []presencemetrics.Options{
		{TopChannels: presencemetrics.MaxTopChannels + 1}, {Buffer: -1}, {StatsTimeout: -time.Second},
		{Namespace: "9lives"}, {Namespace: "has-dash"},
	} {
		if _, err := presencemetrics.New(o); !errors.Is(err, presencemetrics.ErrInvalidOptions) {
			t.Errorf("New(%+v) error = %v, want ErrInvalidOptions", o, err)
		}
	}
	m := newCollector(t, presencemetrics.Options{})
	if err := m.Watch(nil); !errors.Is(err, presencemetrics.ErrInvalidOptions) {
		t.Errorf("Watch(nil) = %v, want ErrInvalidOptions", err)
	}
	e := newEngine(t, presence.Config{SweepInterval: -1})
	if err := m.Watch(e); err != nil {
		t.Fatal(err)
	}
	if err := m.Watch(e); !errors.Is(err, presencemetrics.ErrWatching) {
		t.Errorf("second Watch = %v, want ErrWatching", err)
	}
	m.Close()
	if err := m.Watch(e); !errors.Is(err, presencemetrics.ErrWatching) {
		t.Errorf("Watch after Close = %v, want ErrWatching", err)
	}
	if st, _ := e.Stats(ctx); st.Subscriptions != 0 {
		t.Errorf("subscriptions after Close = %d, want 0 (the collector's ended)", st.Subscriptions)
	}
	// nothing went to the global registry
	fams, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "presence_") {
			t.Errorf("%s registered in the default registry", f.GetName())
		}
	}
}
