package presence_test

import (
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg     presence.Config
		mention string
	}{
		{presence.Config{MinTimeout: time.Millisecond}, "MinTimeout"},
		{presence.Config{MinTimeout: 30 * time.Second, MaxTimeout: 25 * time.Second}, "MaxTimeout"},
		{presence.Config{DefaultTimeout: -time.Second}, "DefaultTimeout"},
		{presence.Config{Interval: -time.Second}, "Interval"},
		{presence.Config{MaxStateBytes: -1}, "MaxStateBytes"},
		{presence.Config{MaxNamesPerCall: -1}, "MaxNamesPerCall"},
		{presence.Config{Shards: 5000}, "Shards"},
		{presence.Config{HereNowCacheTTL: -time.Second}, "HereNowCacheTTL"},
		{presence.Config{SubscriptionBuffer: -1}, "SubscriptionBuffer"},
	} {
		e, err := presence.New(tc.cfg)
		if !errors.Is(err, presence.ErrInvalidConfig) || e != nil {
			t.Errorf("New(%+v) = %v, %v; want ErrInvalidConfig", tc.cfg, e, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("New error %q does not name %s", err, tc.mention)
		}
	}
}

// TestCloseStopsGoroutines checks that Close stops the sweeper (real
// clock, and a mock clock's ticker) and every sweep worker.
func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	mock := clock.NewMock()
	for _, clk := range []clock.Clock{nil, mock} {
		e, err := presence.New(presence.Config{Clock: clk, SweepInterval: 10 * time.Millisecond, MinTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"a", "b", "c", "d"} {
			e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{c}, Timeout: time.Second})
		}
		if clk == mock {
			mock.Add(2 * time.Second) // fires the sweeper's ticker
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Close waited for its goroutines: the count is back without polling.
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", after, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestHereNowCache checks the optional cache: answers are at most TTL
// stale by the engine's clock, copied, and fresh again after the TTL.
func TestHereNowCache(t *testing.T) {
	clk := clock.NewMock()
	e, err := presence.New(presence.Config{Clock: clk, SweepInterval: -1, HereNowCacheTTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	occ := func() int {
		r, err := e.HereNow(ctx, presence.HereNowQuery{Channels: []string{"c"}})
		if err != nil {
			t.Fatal(err)
		}
		return r.TotalOccupancy
	}
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "a", Channels: []string{"c"}})
	if got := occ(); got != 1 {
		t.Fatalf("occupancy %d, want 1", got)
	}
	r, _ := e.HereNow(ctx, presence.HereNowQuery{Channels: []string{"c"}})
	r.Channels[0].Occupants[0].UUID = "mutated by the caller"
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "b", Channels: []string{"c"}})
	clk.Add(2 * time.Second)
	if got := occ(); got != 1 {
		t.Fatalf("within the TTL: occupancy %d, want the cached 1", got)
	}
	r, _ = e.HereNow(ctx, presence.HereNowQuery{Channels: []string{"c"}})
	if r.Channels[0].Occupants[0].UUID != "a" {
		t.Fatalf("a caller's change reached the cache: %q", r.Channels[0].Occupants[0].UUID)
	}
	clk.Add(time.Second)
	if got := occ(); got != 2 {
		t.Fatalf("after the TTL: occupancy %d, want 2", got)
	}
	if n, _ := e.Occupancy(ctx, "c"); n != 2 {
		t.Fatalf("Occupancy is never cached: %d", n)
	}
}

// TestAppendOccupants checks AppendOccupants lists what HereNow lists, in
// the same order, after dst's own elements.
func TestAppendOccupants(t *testing.T) {
	e, _ := presence.New(presence.Config{})
	defer e.Close()
	for i := range 50 {
		e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u" + strconv.Itoa(i), Channels: []string{"c"}})
	}
	e.Leave(ctx, presence.LeaveRequest{UUID: "u7", Channels: []string{"c"}})
	got, err := e.AppendOccupants(ctx, []string{"kept"}, "c")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := e.HereNow(ctx, presence.HereNowQuery{Channels: []string{"c"}})
	want := []string{"kept"}
	for _, o := range r.Channels[0].Occupants {
		want = append(want, o.UUID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("AppendOccupants = %q, want %q", got, want)
	}
	if got, _ := e.AppendOccupants(ctx, nil, "empty"); len(got) != 0 {
		t.Fatalf("empty channel: %q", got)
	}
	if _, err := e.AppendOccupants(ctx, nil, "a,b"); !errors.Is(err, presence.ErrInvalidName) {
		t.Fatalf("bad name: %v", err)
	}
}

// TestSweeperWakesAtDeadline checks that the sweeper plans its next wake-up
// from the earliest deadline rather than the next multiple of SweepInterval:
// with a 2 s interval, a deadline 3 s after New is swept at about 3 s, not
// at the 4 s wake-up a fixed ticker would give. Real clock: the slack
// (500 ms) is for a busy machine, not a measurement.
func TestSweeperWakesAtDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 3 s of real time")
	}
	e, err := presence.New(presence.Config{SweepInterval: 2 * time.Second, MinTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sub, err := e.Subscribe(ctx, presence.SubscribeOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}, Timeout: time.Until(deadline)}); err != nil {
		t.Fatal(err)
	}
	for ev := range sub.Events() {
		if ev.Action != presence.Timeout {
			continue
		}
		if late := ev.Time.Sub(deadline); late < 0 || late > 500*time.Millisecond {
			t.Fatalf("timeout swept %v after its deadline; want under 500ms (interval 2s)", late)
		}
		return
	}
	t.Fatalf("subscription ended: %v", sub.Err())
}
