package presenceredis

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server process started by a test on a loopback
// port, without persistence.
type redisServer struct {
	t     testing.TB
	dir   string
	port  int
	args  []string // after the port and persistence options
	argv  []string // instead of those: the whole command line (a Sentinel)
	ready string   // the log line that says it is ready; "" means Redis's
	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
}

// needRedis skips the test when redis-server is not installed (CI installs
// it: see ci.sh).
func needRedis(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not on PATH: install it (apt-get install redis-server) to run the Redis tests")
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedis starts a redis-server and stops it at the end of the test.
func startRedis(t testing.TB, extra ...string) *redisServer {
	t.Helper()
	needRedis(t)
	s := &redisServer{t: t, dir: t.TempDir(), port: freePort(t), args: extra}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	args := append([]string{"--port", fmt.Sprint(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--protected-mode", "no"}, s.args...)
	if s.argv != nil {
		args = s.argv
	}
	readyLine := "Ready to accept connections"
	if s.ready != "" {
		readyLine = s.ready
	}
	cmd := exec.Command("redis-server", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	var log strings.Builder
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if !signalled {
				log.WriteString(sc.Text() + "\n")
			}
			if !signalled && strings.Contains(sc.Text(), readyLine) {
				signalled = true
				close(ready)
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case <-ready:
	case <-done:
		s.t.Fatalf("redis-server exited before it was ready:\n%s", log.String())
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		s.t.Fatal("redis-server not ready after 20s")
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
}

// stop kills the server (as a crash would: nothing is saved) and waits.
func (s *redisServer) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// restart kills the server and starts it again at once on the same port:
// empty without persistence, with its data when the server was started with
// appendonly (see startRedisAOF).
func (s *redisServer) restart() {
	s.stop()
	s.start()
}

// signal sends sig to the server process (SIGSTOP and SIGCONT stall it and
// let it go on).
func (s *redisServer) signal(sig os.Signal) {
	s.t.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		s.t.Fatal("signal: redis-server not running")
	}
	if err := cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
}

// startRedisAOF starts a redis-server that writes every change to its
// append-only file before answering, so a restart keeps every acknowledged
// write.
func startRedisAOF(t testing.TB, extra ...string) *redisServer {
	return startRedis(t, append([]string{"--appendonly", "yes", "--appendfsync", "always"}, extra...)...)
}

var prefixN atomic.Int64

// uniquePrefix gives each backend of a test binary its own key space.
func uniquePrefix(t testing.TB) string {
	return fmt.Sprintf("t%d-%d:%s", os.Getpid(), prefixN.Add(1), filepath.Base(t.Name()))
}

func newClient(t testing.TB, addr string) *redis.Client {
	// generous timeouts: CI machines are small and shared; the tests that
	// cut links close the connections rather than stall them
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

func newBackend(t testing.TB, c redis.UniversalClient, cfg Config) *Backend {
	t.Helper()
	b, err := New(c, mockStalls(cfg))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// mockStalls turns off stall detection for a backend on a mock clock that
// does not ask for it: a round trip slowed by a loaded test machine would
// set an outage grace, in mock time, that the test does not expect. The
// fault tests, on the real clock, keep the default.
func mockStalls(cfg Config) Config {
	switch cfg.Clock.(type) {
	case *clock.Mock, *presencetest.ManualClock:
		if cfg.StallThreshold == 0 {
			cfg.StallThreshold = -1
		}
	}
	return cfg
}

// shared is one redis-server for the tests that need nothing special.
var shared struct {
	once   sync.Once
	server *redisServer
	err    error
}

func sharedRedis(t testing.TB) string {
	t.Helper()
	needRedis(t)
	shared.once.Do(func() {
		st := &onceTB{}
		func() {
			defer func() { _ = recover() }()
			s := &redisServer{t: st, dir: os.TempDir(), port: freePort(t)}
			s.dir, shared.err = os.MkdirTemp("", "presenceredis")
			s.start()
			shared.server = s
		}()
		if st.failed != "" {
			shared.err = fmt.Errorf("%s", st.failed)
		}
	})
	if shared.err != nil || shared.server == nil {
		t.Fatalf("shared redis-server: %v", shared.err)
	}
	return shared.server.addr()
}

// onceTB lets the shared server start outside any one test.
type onceTB struct {
	testing.TB
	failed string
}

func (o *onceTB) Helper()                   {}
func (o *onceTB) Fatal(args ...any)         { o.failed = fmt.Sprint(args...); panic(o.failed) }
func (o *onceTB) Fatalf(f string, a ...any) { o.failed = fmt.Sprintf(f, a...); panic(o.failed) }

// quiet drops go-redis's log lines (a dial refused while a test has cut a
// link or killed a node is expected).
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	if addr := os.Getenv(childAddrEnv); addr != "" {
		os.Exit(runChild(addr, os.Getenv(childPrefixEnv)))
	}
	code := m.Run()
	if shared.server != nil {
		shared.server.stop()
		os.RemoveAll(shared.server.dir)
	}
	os.Exit(code)
}

// collect receives n events from s, failing after a generous real-time
// bound (a hang, not a timing assertion).
func collect(t testing.TB, s *presence.Subscription, n int) []presence.Event {
	t.Helper()
	out := make([]presence.Event, 0, n)
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for len(out) < n {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("subscription closed after %d of %d events: %v", len(out), n, s.Err())
			}
			out = append(out, ev)
		case <-timeout.C:
			t.Fatalf("got %d events, want %d (no more after 30s)", len(out), n)
		}
	}
	return out
}

// buffered returns the events already in s's buffer.
func buffered(s *presence.Subscription) []presence.Event {
	var out []presence.Event
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

// ctx is the context of the tests' calls that need no deadline of their own.
var ctx = context.Background()
