package presence_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
)

// syncBuffer is a bytes.Buffer safe for a handler and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSpace(s.b.String()), "\n")
}

// slowClock reads as its time, then moves it on by step: with a step set,
// every operation between two readings seems to take step.
type slowClock struct {
	clock.Clock
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *slowClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

func (c *slowClock) set(t time.Time, step time.Duration) {
	c.mu.Lock()
	c.now, c.step = t, step
	c.mu.Unlock()
}

// TestLogger checks Config.Logger: a subscription closed as a slow
// consumer is a Warn with its buffer size, logged by the call whose event
// found it full; a sweep that ran longer than SweepInterval is a Warn with
// its duration and what it did; a quick sweep and the ordinary calls log
// nothing.
func TestLogger(t *testing.T) {
	var out syncBuffer
	clk := &slowClock{now: presencetest.Epoch}
	e, err := presence.New(presence.Config{Clock: clk, SweepInterval: -1, MinTimeout: time.Second, AnnounceMax: presence.NoIntervalMode,
		Logger: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sub, _ := e.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: 3})
	for i := range 3 {
		e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: fmt.Sprint("u", i), Channels: []string{"c"}, Timeout: time.Second})
	}
	if got := out.lines(); len(got) != 1 || got[0] != "" {
		t.Fatalf("ordinary calls logged %q", got)
	}
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u3", Channels: []string{"c"}, Timeout: time.Second}) // the fourth event: slow
	got := out.lines()
	if len(got) != 1 || !strings.Contains(got[0], "level=WARN") || !strings.Contains(got[0], "slow consumer") || !strings.Contains(got[0], "buffer=3") {
		t.Fatalf("after a slow close the log is %q, want one Warn with buffer=3", got)
	}
	if sub.Err() == nil {
		t.Fatal("subscription not closed as slow")
	}
	// a quick sweep: nothing logged
	clk.set(presencetest.Epoch.Add(500*time.Millisecond), 0)
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "late", Channels: []string{"d"}, Timeout: time.Second})
	clk.set(presencetest.Epoch.Add(time.Second), 0)
	e.Sweep(ctx)
	if n := len(out.lines()); n != 1 {
		t.Fatalf("a quick sweep logged: %q", out.lines()[1:])
	}
	// a sweep whose clock readings are a second apart: longer than 250 ms
	clk.set(presencetest.Epoch.Add(2*time.Second), time.Second)
	e.Sweep(ctx)
	got = out.lines()
	if len(got) != 2 {
		t.Fatalf("after a long sweep the log is %q, want a second line", got)
	}
	for _, want := range []string{"level=WARN", "sweep ran long", "duration=1s", "limit=250ms", "expired=1", "intervals=0", "shards=1"} {
		if !strings.Contains(got[1], want) {
			t.Fatalf("long sweep logged %q, which lacks %q", got[1], want)
		}
	}
}
