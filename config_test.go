package presence_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
)

// TestConfigBounds is finding 3 of the reliability issue: every duration
// and size of Config has a lower and an upper bound, New refuses a value
// outside them with ErrInvalidConfig naming the field, the value and the
// bound, and accepts the bounds themselves.
func TestConfigBounds(t *testing.T) {
	type field struct {
		name   string
		set    func(*presence.Config, int64)
		lo, hi int64
		unit   func(int64) string
	}
	dur := func(v int64) string { return time.Duration(v).String() }
	num := func(v int64) string { return fmt.Sprint(v) }
	d := func(f func(*presence.Config) *time.Duration) func(*presence.Config, int64) {
		return func(c *presence.Config, v int64) { *f(c) = time.Duration(v) }
	}
	n := func(f func(*presence.Config) *int) func(*presence.Config, int64) {
		return func(c *presence.Config, v int64) { *f(c) = int(v) }
	}
	fields := []field{
		{"MinTimeout", d(func(c *presence.Config) *time.Duration { return &c.MinTimeout }), int64(time.Second), int64(24 * time.Hour), dur},
		{"MaxTimeout", d(func(c *presence.Config) *time.Duration { return &c.MaxTimeout }), int64(presence.DefaultMinTimeout), int64(24 * time.Hour), dur},
		{"DefaultTimeout", d(func(c *presence.Config) *time.Duration { return &c.DefaultTimeout }), 0, int64(24 * time.Hour), dur},
		{"Interval", d(func(c *presence.Config) *time.Duration { return &c.Interval }), int64(time.Second), int64(24 * time.Hour), dur},
		{"HereNowCacheTTL", d(func(c *presence.Config) *time.Duration { return &c.HereNowCacheTTL }), 0, int64(time.Hour), dur},
		{"SweepInterval", d(func(c *presence.Config) *time.Duration { return &c.SweepInterval }), int64(10 * time.Millisecond), int64(time.Hour), dur},
		{"MaxStateBytes", n(func(c *presence.Config) *int { return &c.MaxStateBytes }), 2, 1 << 20, num},
		{"MaxNamesPerCall", n(func(c *presence.Config) *int { return &c.MaxNamesPerCall }), 1, 10_000, num},
		{"MaxNameBytes", n(func(c *presence.Config) *int { return &c.MaxNameBytes }), 1, 1024, num},
		{"MaxGroupChannels", n(func(c *presence.Config) *int { return &c.MaxGroupChannels }), 1, 100_000, num},
		{"MaxGroupEdit", n(func(c *presence.Config) *int { return &c.MaxGroupEdit }), 1, 10_000, num},
		{"HereNowCacheSize", n(func(c *presence.Config) *int { return &c.HereNowCacheSize }), 1, 1 << 20, num},
		{"SubscriptionBuffer", n(func(c *presence.Config) *int { return &c.SubscriptionBuffer }), 1, 1 << 20, num},
		{"Shards", n(func(c *presence.Config) *int { return &c.Shards }), 1, 4096, num},
	}
	build := func(f field, v int64) (*presence.Engine, error) {
		cfg := presence.Config{Clock: presencetest.NewManualClock(presencetest.Epoch), SweepInterval: -1}
		f.set(&cfg, v)
		switch f.name {
		case "SweepInterval":
			cfg.Clock = nil // the real clock: the sweeper needs timers
		case "MinTimeout":
			cfg.MaxTimeout = 24 * time.Hour
		}
		return presence.New(cfg)
	}
	for _, f := range fields {
		for _, v := range []int64{f.lo, f.hi} {
			if v == 0 {
				continue // zero is the default, tested everywhere
			}
			e, err := build(f, v)
			if err != nil {
				t.Errorf("%s %s (a bound): %v, want accepted", f.name, f.unit(v), err)
				continue
			}
			e.Close()
		}
		for _, c := range []struct {
			v     int64
			bound int64
		}{{f.lo - 1, f.lo}, {f.hi + 1, f.hi}, {math.MaxInt64, f.hi}} {
			if c.v == 0 || (f.name == "SweepInterval" && c.v < 0) {
				continue // zero is the default; a negative SweepInterval turns the sweeper off
			}
			e, err := build(f, c.v)
			if !errors.Is(err, presence.ErrInvalidConfig) || e != nil {
				t.Errorf("New with %s %s: error %v, want ErrInvalidConfig", f.name, f.unit(c.v), err)
				if e != nil {
					e.Close()
				}
				continue
			}
			for _, part := range []string{f.name, f.unit(c.v), f.unit(c.bound)} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("New with %s %s: error %q does not name %q", f.name, f.unit(c.v), err, part)
				}
			}
		}
	}
	// the settings the issue found broken
	for _, cfg := range []presence.Config{
		{MaxTimeout: 100 * 365 * 24 * time.Hour},
		{MaxTimeout: math.MaxInt64},
		{Interval: math.MaxInt64},
		{SweepInterval: time.Nanosecond},
		{SubscriptionBuffer: math.MaxInt},
	} {
		if e, err := presence.New(cfg); !errors.Is(err, presence.ErrInvalidConfig) {
			t.Errorf("New(%+v): error %v, want ErrInvalidConfig", cfg, err)
			if e != nil {
				e.Close()
			}
		}
	}
	e, _ := presence.New(presence.Config{SweepInterval: -1})
	defer e.Close()
	if _, err := e.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: 1<<20 + 1}); !errors.Is(err, presence.ErrInvalidConfig) {
		t.Errorf("Subscribe with a buffer of 2^20+1: %v, want ErrInvalidConfig", err)
	}
}

// TestConfigCeilings runs an engine at the ceilings of its durations, with
// a clock that goes far past them: a 24 h timeout expires exactly at its
// deadline, a 24 h interval ticks once per sweep however late the sweep,
// and a clock centuries ahead (engine time saturates) still sweeps,
// finishes and expires everyone.
func TestConfigCeilings(t *testing.T) {
	clk := presencetest.NewManualClock(presencetest.Epoch)
	e, err := presence.New(presence.Config{Clock: clk, SweepInterval: -1, MinTimeout: 24 * time.Hour, MaxTimeout: 24 * time.Hour,
		DefaultTimeout: 24 * time.Hour, Interval: 24 * time.Hour, AnnounceMax: presence.AlwaysIntervalMode, HereNowCacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sub, _ := e.Subscribe(ctx, presence.SubscribeOptions{All: true})
	if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}, Timeout: time.Duration(math.MaxInt64)}); err != nil {
		t.Fatal(err)
	}
	if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "v", Channels: []string{"d"}}); err != nil {
		t.Fatal(err)
	}
	clk.Add(24*time.Hour - time.Nanosecond)
	e.Sweep(ctx)
	if n, _ := e.Occupancy(ctx, "c"); n != 1 {
		t.Fatalf("1 ns before a 24 h deadline: occupancy %d, want 1", n)
	}
	clk.Add(time.Nanosecond)
	e.Sweep(ctx)
	if n, _ := e.Occupancy(ctx, "c"); n != 0 {
		t.Fatalf("at a 24 h deadline: occupancy %d, want 0", n)
	}
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}})
	for _, ahead := range []time.Duration{100 * 365 * 24 * time.Hour, math.MaxInt64} {
		clk.Add(ahead)
		if err := e.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if st, _ := e.Stats(ctx); st.Memberships != 0 {
			t.Fatalf("clock %v ahead: %d memberships after Sweep, want 0", ahead, st.Memberships)
		}
		e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "w", Channels: []string{"c"}})
		// engine time saturates about 292 years after New: from then on a
		// deadline is never after now, and a heartbeat is due at once
		want := 1
		if ahead == math.MaxInt64 {
			want = 0
		}
		if r, err := e.HereNow(ctx, presence.HereNowQuery{Channels: []string{"c"}}); err != nil || r.TotalOccupancy != want {
			t.Fatalf("clock %v ahead: here_now %+v, %v; want occupancy %d", ahead, r, err, want)
		}
		e.Leave(ctx, presence.LeaveRequest{UUID: "w", Channels: []string{"c"}})
	}
	if len(sub.Events()) == 0 || sub.Err() != nil {
		t.Fatalf("%d events, subscription error %v", len(sub.Events()), sub.Err())
	}
}

// TestFarClockKeepsExpiring is the slot overflow of finding 3 reached by
// the clock rather than by a timeout: a deadline a century after New does
// not fit an int32 of seconds, and when its slot wrapped it went to the top
// of the shard's heap, in front of everything due, and stopped all expiry
// in the shard.
func TestFarClockKeepsExpiring(t *testing.T) {
	clk := presencetest.NewManualClock(presencetest.Epoch)
	e, err := presence.New(presence.Config{Clock: clk, SweepInterval: -1, Shards: 1, MaxTimeout: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "a", Channels: []string{"old"}, Timeout: 24 * time.Hour})
	clk.Add(100 * 365 * 24 * time.Hour)
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "b", Channels: []string{"new"}, Timeout: 24 * time.Hour})
	e.Sweep(ctx)
	if n, _ := e.Occupancy(ctx, "old"); n != 0 {
		t.Fatalf("a deadline a century past: occupancy %d after Sweep, want 0", n)
	}
	if n, _ := e.Occupancy(ctx, "new"); n != 1 {
		t.Fatalf("a deadline 24 h ahead: occupancy %d after Sweep, want 1", n)
	}
}
