package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/pubnubhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// opsServer is a presenced started with an admin listener.
type opsServer struct {
	*server
	admin  string // http://host:port of the admin listener
	stderr *syncBuffer
}

// startWithAdmin runs presenced with -admin-addr on a free port and
// returns both addresses.
func startWithAdmin(t *testing.T, args ...string) *opsServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &server{cancel: cancel, done: make(chan int, 1)}
	stderr := &syncBuffer{}
	go func() {
		s.done <- run(ctx, append([]string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0"}, args...), pw, stderr)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var public, admin string
	for public == "" || admin == "" {
		if !lines.Scan() {
			t.Fatalf("presenced %v: output ended before both addresses; stderr %q", args, stderr.String())
		}
		if a, ok := strings.CutPrefix(lines.Text(), "presenced: listening on "); ok {
			public = a
		}
		if a, ok := strings.CutPrefix(lines.Text(), "presenced: admin on "); ok {
			admin = a
		}
	}
	go func() {
		for lines.Scan() {
		}
	}()
	s.url = public
	t.Cleanup(func() { s.stop() })
	return &opsServer{server: s, admin: admin, stderr: stderr}
}

// adminGet sends a GET to the admin listener.
func (s *opsServer) adminGet(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(s.admin + path)
	if err != nil {
		t.Fatalf("GET admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

type families map[string]*dto.MetricFamily

// scrape parses the admin listener's /metrics with the Prometheus text
// parser.
func (s *opsServer) scrape(t *testing.T) families {
	t.Helper()
	code, body := s.adminGet(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	f, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return f
}

// value returns the counter, gauge or untyped value of name with exactly
// the labels given as name=value pairs, and whether it is there.
func (f families) value(name string, labels ...string) (float64, bool) {
	fam := f[name]
	if fam == nil {
		return 0, false
	}
	for _, m := range fam.Metric {
		var got []string
		for _, l := range m.Label {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		if strings.Join(got, ",") != strings.Join(labels, ",") {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// metricWant is one value a scrape must show.
type metricWant struct {
	name   string
	labels []string
	value  float64
}

// waitMetrics scrapes until every want holds, failing after 10 s.
func (s *opsServer) waitMetrics(t *testing.T, wants ...metricWant) families {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f := s.scrape(t)
		var bad []string
		for _, w := range wants {
			if got, ok := f.value(w.name, w.labels...); !ok || got != w.value {
				bad = append(bad, fmt.Sprintf("%s{%s} = %v (present %v), want %v", w.name, strings.Join(w.labels, ","), got, ok, w.value))
			}
		}
		if len(bad) == 0 {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s:\n%s", strings.Join(bad, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMetricsAfterKnownOperations scrapes /metrics after a join, a state
// change, a held long-poll and a timeout, through the PubNub API.
func TestMetricsAfterKnownOperations(t *testing.T) {
	s := startWithAdmin(t, "-min-timeout", "1s", "-timeout", "2s", "-sweep-interval", "100ms", "-handshake-replay", "0s")
	f := s.scrape(t)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "presenced_build_info", "presence_backend_up"} {
		if f[name] == nil {
			t.Errorf("%s missing from /metrics", name)
		}
	}
	if v, _ := f.value("presenced_http_requests_total", "code=2xx", "endpoint=heartbeat"); v != 0 {
		t.Errorf("heartbeat requests before any = %v, want 0", v)
	}

	if code, body := s.get(t, "/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=ann&heartbeat=60"); code != 200 {
		t.Fatalf("heartbeat: %d %s", code, body)
	}
	s.waitMetrics(t,
		metricWant{"presence_memberships", nil, 1},
		metricWant{"presence_uuids", nil, 1},
		metricWant{"presence_events_total", []string{"action=join"}, 1},
		metricWant{"presence_channel_occupancy", []string{"channel=lobby"}, 1},
		metricWant{"presenced_http_requests_total", []string{"code=2xx", "endpoint=heartbeat"}, 1},
		metricWant{"presenced_http_request_duration_seconds", []string{"code=2xx", "endpoint=heartbeat"}, 1},
	)

	s.get(t, "/v2/presence/sub-key/demo/channel/lobby/uuid/ann/data?state=%7B%22mood%22%3A%22ok%22%7D")
	s.get(t, "/v2/presence/sub-key/demo/channel/lobby/uuid/ann/data?state=not-json") // 400
	s.waitMetrics(t,
		metricWant{"presence_events_total", []string{"action=state-change"}, 1},
		metricWant{"presenced_http_requests_total", []string{"code=2xx", "endpoint=state_set"}, 1},
		metricWant{"presenced_http_requests_total", []string{"code=4xx", "endpoint=state_set"}, 1},
	)

	// a held long-poll, then bob, who joins with a 1 s timeout and times out
	_, body := s.get(t, "/v2/subscribe/demo/lobby-pnpres/0?uuid=watcher&heartbeat=60")
	var hs struct {
		T struct{ T string } `json:"t"`
	}
	if err := json.Unmarshal(body, &hs); err != nil {
		t.Fatalf("handshake %s: %v", body, err)
	}
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		resp, err := http.Get(s.url + "/v2/subscribe/demo/lobby-pnpres/0?uuid=watcher&heartbeat=60&tt=" + hs.T.T)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	s.waitMetrics(t, metricWant{"presenced_subscribe_polls_held", nil, 1})
	s.get(t, "/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=bob&heartbeat=1")
	<-polled // bob's join answers the poll
	f = s.waitMetrics(t,
		metricWant{"presence_events_total", []string{"action=timeout"}, 1},
		metricWant{"presence_timeout_lateness_seconds", nil, 1},
		metricWant{"presenced_subscribe_polls_held", nil, 0},
	)
	if v, _ := f.value("presence_sweep_duration_seconds"); v < 1 {
		t.Errorf("presence_sweep_duration_seconds count = %v, want ≥ 1 (the sweep that timed bob out)", v)
	}
	if v, _ := f.value("presence_sweep_expired_total"); v != 1 {
		t.Errorf("presence_sweep_expired_total = %v, want 1", v)
	}
}

// TestAdminEndpoints checks health, pprof and the dashboard on the admin
// listener, and that none of them is on the public one.
func TestAdminEndpoints(t *testing.T) {
	s := startWithAdmin(t)
	for path, want := range map[string]string{
		"/healthz": "ok", "/readyz": "ready", "/debug/pprof/": "goroutine", "/": "presence dashboard", "/app.js": "EventSource",
	} {
		code, body := s.adminGet(t, path)
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("admin GET %s: status %d, body %.80q; want 200 with %q", path, code, body, want)
		}
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/debug/pprof/", "/app.js"} {
		if code, _ := s.get(t, path); code == http.StatusOK {
			t.Errorf("public GET %s: status 200, want it only on the admin listener", path)
		}
	}
}

// flakyBackend is a backend whose Ping fails while down is set.
type flakyBackend struct {
	presence.Backend
	down atomic.Bool
}

func (f *flakyBackend) Ping(context.Context) error {
	if f.down.Load() {
		return fmt.Errorf("%w: connection refused", presence.ErrUnavailable)
	}
	return nil
}

// TestReadiness drives /readyz with a backend whose Ping fails and
// recovers, then begins the shutdown; the outage and the recovery are
// logged once each.
func TestReadiness(t *testing.T) {
	eng, err := presence.New(presence.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	b := &flakyBackend{Backend: eng}
	h, err := pubnubhttp.New(b, pubnubhttp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var logs syncBuffer
	o, err := newOps(opsFlags{logFormat: "json", logLevel: "info"}, &logs)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := o.start(b, h, "127.0.0.1:0", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.close()
	readyz := func() int {
		resp, err := http.Get("http://" + admin.String() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitLog := func(msg string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), `"msg":"`+msg+`"`); {
			if time.Now().After(deadline) {
				t.Fatalf("no %q log line after 10 s; logs:\n%s", msg, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if code := readyz(); code != http.StatusOK {
		t.Errorf("/readyz with the backend up: %d, want 200", code)
	}
	b.down.Store(true)
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the backend down: %d, want 503", code)
	}
	waitLog("backend unavailable")
	b.down.Store(false)
	if code := readyz(); code != http.StatusOK {
		t.Errorf("/readyz with the backend back: %d, want 200", code)
	}
	waitLog("backend recovered")
	if n := strings.Count(logs.String(), `"msg":"backend unavailable"`); n != 1 {
		t.Errorf("%d outage log lines for one outage, want 1:\n%s", n, logs.String())
	}
	o.drain()
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz once shutdown began: %d, want 503", code)
	}
}

// TestReadyzFollowsRedis stops the redis-server under a presenced -redis
// and starts it again on the same port: /readyz answers 503 while it is
// down and 200 once it is back, /healthz stays 200 throughout, and the
// metrics show the calls to Redis, the outage and the recovery.
func TestReadyzFollowsRedis(t *testing.T) {
	path := needRedis(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	startRedisOn := func() *exec.Cmd {
		cmd := exec.Command(path, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; {
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				c.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatal("redis-server not accepting connections after 20 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	redis := startRedisOn()
	t.Cleanup(func() {
		redis.Process.Kill()
		redis.Wait()
	})
	s := startWithAdmin(t, "-redis", fmt.Sprintf("redis://127.0.0.1:%d/0", port))
	waitReady := func(want int) {
		t.Helper()
		var code int
		for deadline := time.Now().Add(20 * time.Second); ; {
			if code, _ = s.adminGet(t, "/readyz"); code == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz %d after 20 s, want %d", code, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitReady(http.StatusOK)
	s.get(t, "/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=ann")
	f := s.waitMetrics(t, metricWant{"presence_backend_down", nil, 0}, metricWant{"presence_memberships", nil, 1})
	if fam := f["presence_backend_call_duration_seconds"]; fam == nil || len(fam.Metric) == 0 {
		t.Error("presence_backend_call_duration_seconds: no Redis calls observed")
	}
	redis.Process.Kill()
	redis.Wait()
	waitReady(http.StatusServiceUnavailable)
	if code, _ := s.adminGet(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz during the Redis outage: %d, want 200 (the process serves)", code)
	}
	s.waitMetrics(t, metricWant{"presence_backend_down", nil, 1}, metricWant{"presence_backend_outages_total", nil, 1}, metricWant{"presence_backend_up", nil, 0})
	redis = startRedisOn()
	waitReady(http.StatusOK)
	s.waitMetrics(t, metricWant{"presence_backend_down", nil, 0}, metricWant{"presence_backend_recoveries_total", nil, 1})
}

// TestRequestLogAndLifecycle runs presenced with JSON logs at debug level:
// the start line carries the configuration (without the password of a
// URL), every request has a line, and the stop is logged.
func TestRequestLogAndLifecycle(t *testing.T) {
	s := startWithAdmin(t, "-log-format", "json", "-log-level", "debug", "-timeout", "61s")
	s.get(t, "/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=ann&auth=secret-token")
	if code := s.stop(); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	var start, req, stopped bool
	for _, line := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		switch rec["msg"] {
		case "presenced starting":
			cfg, _ := rec["config"].(map[string]any)
			start = cfg["timeout"] == "1m1s" && cfg["admin-addr"] == "127.0.0.1:0"
		case "request":
			if rec["endpoint"] == "heartbeat" && rec["status"] == float64(200) && rec["path"] == "/v2/presence/sub-key/demo/channel/lobby/heartbeat" {
				req = true
			}
		case "presenced stopped":
			stopped = true
		}
	}
	if !start || !req || !stopped {
		t.Errorf("start with config %v, heartbeat request line %v, stop %v; want all; logs:\n%s", start, req, stopped, s.stderr.String())
	}
	if strings.Contains(s.stderr.String(), "secret-token") {
		t.Error("the request's query (auth key) was logged")
	}

	// info level: no request lines
	q := startWithAdmin(t)
	q.get(t, "/time/0")
	q.stop()
	if strings.Contains(q.stderr.String(), "msg=request") || !strings.Contains(q.stderr.String(), `msg="presenced starting"`) {
		t.Errorf("text logs at info: %s; want the start line and no request lines", q.stderr.String())
	}
}

func TestConfigAttrsHideSecrets(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("redis", "redis://user:hunter2@127.0.0.1:6379/0", "")
	fs.String("secret-key", "sec-c-abc", "")
	fs.String("addr", "127.0.0.1:8090", "")
	var buf bytes.Buffer
	log, _ := newLogger(&buf, "text", "info")
	log.Info("x", configAttrs(fs)...)
	out := buf.String()
	if strings.Contains(out, "hunter2") || strings.Contains(out, "sec-c-abc") || !strings.Contains(out, "config.addr=127.0.0.1:8090") {
		t.Errorf("config log %q: want the addr, no password and no secret key", out)
	}
}

func TestEnvironment(t *testing.T) {
	env := map[string]string{
		"PRESENCED_ADDR":        "127.0.0.1:9999",
		"PRESENCED_ADMIN_ADDR":  "127.0.0.1:9998",
		"PRESENCED_MIN_TIMEOUT": "5s",
		"PRESENCED_VERSION":     "1.2.3", // a variable of that name must not print the version
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	addr := fs.String("addr", "", "")
	admin := fs.String("admin-addr", "", "")
	minTimeout := fs.Duration("min-timeout", time.Second, "")
	version := fs.Bool("version", false, "")
	if err := fs.Parse([]string{"-addr", "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(fs, lookup); err != nil {
		t.Fatal(err)
	}
	if *addr != "127.0.0.1:1" || *admin != "127.0.0.1:9998" || *minTimeout != 5*time.Second || *version {
		t.Errorf("addr %q, admin %q, min-timeout %v, version %v; want the flag's 127.0.0.1:1, then the environment's 127.0.0.1:9998 and 5s, and no version", *addr, *admin, *minTimeout, *version)
	}
	env["PRESENCED_MIN_TIMEOUT"] = "soon"
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Duration("min-timeout", time.Second, "")
	err := applyEnv(fs, lookup)
	if err == nil || !strings.Contains(err.Error(), "PRESENCED_MIN_TIMEOUT") || !strings.Contains(err.Error(), `"soon"`) {
		t.Errorf("bad environment value: error %v, want one naming PRESENCED_MIN_TIMEOUT and \"soon\"", err)
	}
}

// TestEnvironmentReachesRun: a bad value from the environment is refused
// by run as the same flag would be.
func TestEnvironmentReachesRun(t *testing.T) {
	t.Setenv("PRESENCED_ANNOUNCE_MAX", "0")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-addr", "127.0.0.1:0"}, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "-announce-max") {
		t.Errorf("PRESENCED_ANNOUNCE_MAX=0: exit %d, stderr %q; want %d naming -announce-max", code, stderr.String(), exitUsage)
	}
	t.Setenv("PRESENCED_LOG_FORMAT", "xml")
	stderr.Reset()
	if code := run(context.Background(), []string{"-announce-max", "5"}, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "-log-format") {
		t.Errorf("PRESENCED_LOG_FORMAT=xml: exit %d, stderr %q; want %d naming -log-format", code, stderr.String(), exitUsage)
	}
}

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-version"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("-version: exit %d, stderr %q", code, stderr.String())
	}
	if out := stdout.String(); !strings.HasPrefix(out, "presenced ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("-version printed %q, want presenced, its version and %s", out, runtime.Version())
	}
	v, r := versionOf(&debug.BuildInfo{
		Main:     debug.Module{Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}},
	})
	if v != "v1.4.0" || r != "abc123-modified" {
		t.Errorf("versionOf = %q, %q; want v1.4.0, abc123-modified", v, r)
	}
	if v, r := versionOf(&debug.BuildInfo{}); v != "(devel)" || r != "" {
		t.Errorf("versionOf(no info) = %q, %q; want (devel) and no revision", v, r)
	}
}

func TestLogFlags(t *testing.T) {
	for _, args := range [][]string{{"-log-format", "xml"}, {"-log-level", "loud"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), args[0]) {
			t.Errorf("presenced %v: exit %d, stderr %q; want %d naming %s", args, code, stderr.String(), exitUsage, args[0])
		}
	}
}

func TestEndpointOf(t *testing.T) {
	for path, want := range map[string]string{
		"/v2/presence/sub-key/demo/channel/a,b/heartbeat":       "heartbeat",
		"/v2/presence/sub_key/demo/channel/a/leave":             "leave",
		"/v2/presence/sub-key/demo/channel/a":                   "here_now",
		"/v2/presence/sub-key/demo":                             "here_now",
		"/v2/presence/sub-key/demo/uuid/ann":                    "where_now",
		"/v2/presence/sub-key/demo/channel/a/uuid/ann":          "state_get",
		"/v2/presence/sub-key/demo/channel/a/uuid/ann/data":     "state_set",
		"/v2/subscribe/demo/a,a-pnpres/0":                       "subscribe",
		"/v1/channel-registration/sub-key/demo/channel-group/g": "channel_group",
		"/time/0":                               "time",
		"/v2/auth/grant/sub-key/demo":           "grant",
		"/v3/pam/demo/grant":                    "grant",
		"/v2/presence/sub-key/demo/channel/a/x": "other",
		"/favicon.ico":                          "other",
		"/":                                     "other",
	} {
		if got := endpointOf(path); got != want {
			t.Errorf("endpointOf(%q) = %q, want %q", path, got, want)
		}
	}
	for code, want := range map[int]string{200: "2xx", 204: "2xx", 400: "4xx", 414: "4xx", 503: "5xx", 0: "other"} {
		if got := statusClass(code); got != want {
			t.Errorf("statusClass(%d) = %q, want %q", code, got, want)
		}
	}
}
