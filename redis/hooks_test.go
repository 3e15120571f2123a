package presenceredis

import (
	"testing"
	"time"

	"github.com/presencekit/presence"
)

// TestTimeoutDeadlineAndOnSweep: a timeout event carries the deadline that
// passed, to the nanosecond, and Config.OnSweep reports each sweep that
// expired memberships with their number, as the engine does (the metrics
// module's lateness and sweep histograms read them).
func TestTimeoutDeadlineAndOnSweep(t *testing.T) {
	clk := mockClock()
	var swept []int
	cfg := Config{Config: baseConfig(clk), Prefix: uniquePrefix(t)}
	cfg.OnSweep = func(took time.Duration, expired int) {
		if took < 0 {
			t.Errorf("OnSweep took %v, want ≥ 0", took)
		}
		swept = append(swept, expired)
	}
	b := newBackend(t, newClient(t, sharedRedis(t)), cfg)
	sub := subAll(t, b, 16)
	clk.Add(123 * time.Nanosecond) // a deadline that is not a whole microsecond
	deadline := clk.Now().Add(5 * time.Second)
	for _, u := range []string{"u1", "u2"} {
		if err := b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: u, Channels: []string{"c"}, Timeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Sweep(ctx); err != nil { // nothing due: no OnSweep
		t.Fatal(err)
	}
	clk.Add(6 * time.Second)
	if err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if len(swept) != 1 || swept[0] != 2 {
		t.Errorf("OnSweep calls %v, want one with 2 expired", swept)
	}
	evs := collect(t, sub, 4)
	for _, ev := range evs {
		switch ev.Action {
		case presence.Timeout:
			if !ev.Deadline.Equal(deadline) {
				t.Errorf("timeout of %s: Deadline %v, want %v", ev.UUID, ev.Deadline, deadline)
			}
		default:
			if !ev.Deadline.IsZero() {
				t.Errorf("%v of %s: Deadline %v, want zero", ev.Action, ev.UUID, ev.Deadline)
			}
		}
	}
}
