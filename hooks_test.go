package presence_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
)

// TestTimeoutEventDeadline checks that a Timeout event carries the deadline
// that passed, whichever path removed the member (the sweep, a leave or a
// heartbeat finding it due before the sweep did), and that other events
// carry none.
func TestTimeoutEventDeadline(t *testing.T) {
	clk := clock.NewMock()
	e, err := presence.New(presence.Config{Clock: clk, SweepInterval: -1, MinTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sub, err := e.Subscribe(ctx, presence.SubscribeOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	for _, c := range []string{"swept", "left", "rejoined"} {
		if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{c}, Timeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(7 * time.Second)
	if err := e.Leave(ctx, presence.LeaveRequest{UUID: "u", Channels: []string{"left"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"rejoined"}, Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	sub.Close()
	want := start.Add(5 * time.Second)
	timeouts := map[string]bool{}
	for ev := range sub.Events() {
		if ev.Action != presence.Timeout {
			if !ev.Deadline.IsZero() {
				t.Errorf("%v event on %q: Deadline = %v, want zero", ev.Action, ev.Channel, ev.Deadline)
			}
			continue
		}
		timeouts[ev.Channel] = true
		if !ev.Deadline.Equal(want) {
			t.Errorf("timeout on %q: Deadline = %v, want %v", ev.Channel, ev.Deadline, want)
		}
		if late := ev.Time.Sub(ev.Deadline); late != 2*time.Second {
			t.Errorf("timeout on %q: Time - Deadline = %v, want 2s", ev.Channel, late)
		}
	}
	for _, c := range []string{"swept", "left", "rejoined"} {
		if !timeouts[c] {
			t.Errorf("no timeout event on %q", c)
		}
	}
}

// TestOnSweep checks that Config.OnSweep is called once per sweep that has
// something due, with the number of memberships it expired, and not for a
// sweep with nothing due. Many channels spread the expiries over shards, so
// that the sweep runs on several workers where there are cores for them.
func TestOnSweep(t *testing.T) {
	type call struct {
		took    time.Duration
		expired int
	}
	var (
		mu    sync.Mutex
		calls []call
	)
	clk := clock.NewMock()
	e, err := presence.New(presence.Config{
		Clock: clk, SweepInterval: -1, MinTimeout: time.Second,
		OnSweep: func(took time.Duration, expired int) {
			mu.Lock()
			calls = append(calls, call{took, expired})
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	got := func() []call {
		mu.Lock()
		defer mu.Unlock()
		return append([]call(nil), calls...)
	}

	if err := e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if c := got(); len(c) != 0 {
		t.Fatalf("OnSweep calls after a sweep with nothing due: %v, want none", c)
	}
	const n = 100
	for i := range n {
		c := "c" + strconv.Itoa(i)
		if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{c}, Timeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	// one membership stays: its deadline is later
	if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "stays", Channels: []string{"c0"}, Timeout: 60 * time.Second}); err != nil {
		t.Fatal(err)
	}
	clk.Add(6 * time.Second)
	if err := e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	c := got()
	if len(c) != 1 {
		t.Fatalf("OnSweep calls after one sweep with expiries: %v, want 1", c)
	}
	if c[0].expired != n || c[0].took < 0 {
		t.Errorf("OnSweep(took %v, expired %d), want expired %d and took ≥ 0", c[0].took, c[0].expired, n)
	}
	if st, _ := e.Stats(ctx); st.Memberships != 1 {
		t.Errorf("memberships after the sweep = %d, want 1", st.Memberships)
	}
}
