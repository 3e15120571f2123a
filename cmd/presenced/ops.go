// ops.go holds what operating presenced needs besides serving PubNub's API:
// its flags (-admin-addr, -log-format, -log-level, -version), the logger,
// the metrics registry, the watch on the backend's health, and the admin
// listener with /metrics, /healthz, /readyz, /debug/pprof/ and the
// dashboard.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presencekit/presence"
	presencemetrics "github.com/presencekit/presence/metrics"
	"github.com/presencekit/presence/pubnubhttp"
	"github.com/presencekit/presence/pubnubhttp/dashboard"
	presenceredis "github.com/presencekit/presence/redis"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const (
	// healthEvery is the period of the backend health check whose changes
	// are logged as outages and recoveries.
	healthEvery = 2 * time.Second
	// healthTimeout bounds one health check (and one /readyz).
	healthTimeout = 2 * time.Second
)

// opsFlags are the flags of operation.
type opsFlags struct {
	adminAddr string
	logFormat string
	logLevel  string
	version   bool
}

func (f *opsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.adminAddr, "admin-addr", "", "`host:port` of the admin listener with /metrics, /healthz, /readyz, /debug/pprof/ and the dashboard at / (empty: none); keep it on loopback or a private network")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug (adds one line per request), info, warn or error")
	fs.BoolVar(&f.version, "version", false, "print the version and VCS revision, and exit")
}

// pinger is implemented by backends that can check their store cheaply
// (the Redis backend).
type pinger interface {
	Ping(ctx context.Context) error
}

// checkBackend reports whether b answers: its Ping when it has one, else
// a Stats call.
func checkBackend(ctx context.Context, b presence.Backend) error {
	if p, ok := b.(pinger); ok {
		return p.Ping(ctx)
	}
	_, err := b.Stats(ctx)
	return err
}

// ops runs everything of operation for one run of presenced.
type ops struct {
	log      *slog.Logger
	reg      *prometheus.Registry
	metrics  *presencemetrics.Collector
	requests *requestMetrics
	started  time.Time

	draining atomic.Bool // shutdown has begun: not ready
	b        presence.Backend

	admin   *http.Server
	adminLn net.Listener
	dash    *dashboard.Handler
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// newOps builds the logger and the metrics. Its errors are bad flags.
func newOps(f opsFlags, stderr io.Writer) (*ops, error) {
	log, err := newLogger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		return nil, err
	}
	m, err := presencemetrics.New(presencemetrics.Options{})
	if err != nil {
		return nil, err
	}
	o := &ops{log: log, reg: prometheus.NewRegistry(), metrics: m, started: time.Now()}
	version, revision := buildVersion()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "presenced_build_info",
		Help:        "Always 1; its labels say which presenced is running.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	build.Set(1)
	o.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m, build,
	)
	o.requests = newRequestMetrics(o.reg)
	return o, nil
}

// start follows b for the metrics and the health log, and opens the admin
// listener when adminAddr is set; it returns the admin listener's address
// ("" without one). publicAddr is the PubNub listener's, for the
// dashboard's hint.
func (o *ops) start(b presence.Backend, h *pubnubhttp.Handler, adminAddr string, publicAddr net.Addr) (net.Addr, error) {
	o.b = b
	if adminAddr != "" { // no subscription for metrics nobody can scrape
		if err := o.metrics.Watch(b); err != nil {
			return nil, err
		}
	}
	if rb, ok := b.(*presenceredis.Backend); ok {
		o.metrics.WatchHealth(func() presencemetrics.Health {
			h := rb.Health()
			return presencemetrics.Health{Down: h.Down, Outages: h.Outages, Recoveries: h.Recoveries,
				Resyncs: h.Resyncs, Failures: h.Failures, Stalls: h.Stalls}
		})
	}
	o.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "presenced_subscribe_polls_held",
		Help: "Subscribe long-polls held open now.",
	}, func() float64 { return float64(h.HeldPolls()) }))

	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	o.wg.Add(1)
	go o.monitor(ctx)

	if adminAddr == "" {
		return nil, nil
	}
	dash, err := dashboard.New(b, dashboard.Options{Title: "presenced", PublicURL: "http://" + publicAddr.String()})
	if err != nil {
		return nil, err
	}
	o.dash = dash
	ln, err := net.Listen("tcp", adminAddr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	o.adminLn = ln
	o.admin = &http.Server{Handler: o.adminHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		if err := o.admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.log.Error("admin listener failed", "err", err)
		}
	}()
	return ln.Addr(), nil
}

// adminHandler routes the admin listener.
func (o *ops) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{Registry: o.reg, ErrorLog: slog.NewLogLogger(o.log.Handler(), slog.LevelError)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		plain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", o.readyz)
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.Handle("/", o.dash)
	return mux
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// readyz answers 200 while the backend answers and shutdown has not
// begun, else 503 with the reason.
func (o *ops) readyz(w http.ResponseWriter, r *http.Request) {
	if o.draining.Load() {
		plain(w, http.StatusServiceUnavailable, "not ready: shutting down")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if err := checkBackend(ctx, o.b); err != nil {
		plain(w, http.StatusServiceUnavailable, "not ready: backend unavailable: "+err.Error())
		return
	}
	plain(w, http.StatusOK, "ready")
}

// monitor checks the backend every healthEvery and logs each outage and
// recovery once.
func (o *ops) monitor(ctx context.Context) {
	defer o.wg.Done()
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	var downSince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, healthTimeout)
		err := checkBackend(cctx, o.b)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && downSince.IsZero():
			downSince = time.Now()
			o.log.Error("backend unavailable", "err", err)
		case err == nil && !downSince.IsZero():
			o.log.Info("backend recovered", "outage", time.Since(downSince).Round(time.Millisecond).String())
			downSince = time.Time{}
		}
	}
}

// drain marks presenced as shutting down: /readyz answers 503 from now on.
func (o *ops) drain() { o.draining.Store(true) }

// close stops the health monitor, the dashboard, the admin listener and
// the metrics' subscription.
func (o *ops) close() {
	if o.cancel != nil {
		o.cancel()
	}
	if o.dash != nil {
		o.dash.Close() // ends the dashboard's event streams, so Shutdown need not wait for them
	}
	if o.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := o.admin.Shutdown(ctx); err != nil {
			o.log.Error("admin listener shutdown", "err", err)
		}
	}
	o.wg.Wait()
	o.metrics.Close()
}
