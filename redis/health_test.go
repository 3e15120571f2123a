package presenceredis

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/redis/go-redis/v9"
)

// observed records Config.ObserveCall's calls.
type observed struct {
	mu    sync.Mutex
	ok    map[string]int
	fails map[string]int
}

func (o *observed) observe(op string, took time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if took < 0 {
		o.fails["negative duration of "+op]++
	}
	if err == nil {
		o.ok[op]++
	} else {
		o.fails[op]++
	}
}

func (o *observed) counts(op string) (ok, failed int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ok[op], o.fails[op]
}

// TestHealth: Ping, Health and ObserveCall follow Redis going away and
// coming back: Ping fails and Health says Down while it is away, and after
// it is back the first write sets the outage grace and Health counts one
// outage and one recovery.
func TestHealth(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	obs := &observed{ok: map[string]int{}, fails: map[string]int{}}
	clk := mockClock()
	cfg := Config{Config: baseConfig(clk), Prefix: uniquePrefix(t), ObserveCall: obs.observe, OutageGrace: 10 * time.Second}
	b := newBackend(t, newClient(t, srv.addr()), cfg)
	hb := func(ctx context.Context) error {
		return b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}})
	}
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := hb(ctx); err != nil {
		t.Fatal(err)
	}
	if h := b.Health(); h != (Health{}) {
		t.Fatalf("Health before any outage: %+v, want zero", h)
	}
	if ok, _ := obs.counts("heartbeat"); ok != 1 {
		t.Fatalf("ObserveCall saw %d successful heartbeats, want 1", ok)
	}

	srv.stop()
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := b.Ping(short); !errors.Is(err, presence.ErrUnavailable) {
		t.Fatalf("Ping with Redis down: %v, want ErrUnavailable", err)
	}
	if err := hb(ctx); !errors.Is(err, presence.ErrUnavailable) {
		t.Fatalf("Heartbeat with Redis down: %v, want ErrUnavailable", err)
	}
	if h := b.Health(); !h.Down || h.Outages != 1 || h.Failures == 0 || h.Recoveries != 0 {
		t.Fatalf("Health with Redis down: %+v, want Down, one outage, failures", h)
	}
	// the heartbeat's first round trip was the outage grace's hold, which
	// failed
	for _, op := range []string{"ping", "hold"} {
		if _, failed := obs.counts(op); failed == 0 {
			t.Fatalf("ObserveCall saw no failed %s", op)
		}
	}

	srv.start()
	retryUnavailable(t, "heartbeat after the restart", func() error { return hb(ctx) })
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping after the restart: %v", err)
	}
	h := b.Health()
	if h.Down || h.Outages != 1 || h.Recoveries != 1 {
		t.Fatalf("Health after the restart: %+v, want up, one outage, one recovery", h)
	}
	if ok, _ := obs.counts("hold"); ok == 0 {
		t.Fatal("ObserveCall saw no hold after the outage")
	}
	// the grace the recovery set, read from Redis: OutageGrace from the
	// clock's now, in µs
	c := redis.NewClient(&redis.Options{Addr: srv.addr()})
	defer c.Close()
	hold, err := c.HGet(ctx, b.bases[0]+":meta", "hold").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.FormatInt(clk.Now().Add(10*time.Second).UnixMicro(), 10); hold != want {
		t.Fatalf("hold %s, want %s (OutageGrace from now)", hold, want)
	}
}

// TestStallIsOutage: a round trip unanswered for longer than
// StallThreshold marks the backend down although it then succeeds, and the
// next write sets the outage grace.
func TestStallIsOutage(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	clk := mockClock()
	cfg := Config{Config: baseConfig(clk), Prefix: uniquePrefix(t), StallThreshold: 200 * time.Millisecond, OutageGrace: 10 * time.Second}
	c := redis.NewClient(&redis.Options{Addr: srv.addr()})
	t.Cleanup(func() { c.Close() })
	b := newBackend(t, c, cfg)
	srv.signal(syscall.SIGSTOP)
	resumed := make(chan struct{})
	go func() {
		defer close(resumed)
		time.Sleep(time.Second) // the stall
		srv.signal(syscall.SIGCONT)
	}()
	if err := b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}}); err != nil {
		t.Fatalf("Heartbeat through a 1s stall: %v", err)
	}
	<-resumed
	if h := b.Health(); !h.Down || h.Stalls == 0 || h.Failures != 0 {
		t.Fatalf("Health after a stall: %+v, want Down with stalls and no failure", h)
	}
	if err := b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}}); err != nil {
		t.Fatal(err)
	}
	if h := b.Health(); h.Down || h.Recoveries != 1 {
		t.Fatalf("Health after the next write: %+v, want up after one recovery", h)
	}
}

// TestCallTimeout: with no deadline on the context, Config.CallTimeout
// bounds every call during a stall.
func TestCallTimeout(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.addr()})
	t.Cleanup(func() { c.Close() })
	const timeout = 300 * time.Millisecond
	b := newBackend(t, c, Config{Config: baseConfig(mockClock()), Prefix: uniquePrefix(t), CallTimeout: timeout})
	if got := b.cfg.CallTimeout; got != timeout {
		t.Fatalf("CallTimeout %v, want %v", got, timeout)
	}
	res := callsDuringStall(t, srv, b, timeout+lateSlack, func() (context.Context, context.CancelFunc) {
		return context.Background(), func() {}
	})
	for name, err := range res {
		if !errors.Is(err, presence.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s during a stall: %v, want ErrUnavailable wrapping context.DeadlineExceeded", name, err)
		}
	}
}
