package presence_test

import (
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
)

// stepClock tells the time it is set to; Now only (no sweeper).
type stepClock struct {
	clock.Clock
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// wallStepped returns t, which must carry a monotonic clock reading, with
// its wall clock moved by d (whole seconds) and its monotonic reading
// unchanged: what time.Now returns after the system's wall clock was
// stepped by d. No exported API builds such a time, so it edits t's fields
// as the time package lays them out (hasMonotonic in bit 63 of wall, the
// seconds above bit 30); it reports false when they are not laid out so.
func wallStepped(t time.Time, d time.Duration) (time.Time, bool) {
	type layout struct {
		wall uint64
		ext  int64
		loc  *time.Location
	}
	if unsafe.Sizeof(t) != unsafe.Sizeof(layout{}) {
		return t, false
	}
	out := t
	p := (*layout)(unsafe.Pointer(&out))
	if p.wall&(1<<63) == 0 {
		return t, false
	}
	p.wall += uint64(int64(d/time.Second)) << 30
	ok := out.Sub(t) == 0 && out.Unix()-t.Unix() == int64(d/time.Second)
	return out, ok
}

// TestWallClockStep is finding 7c of the reliability issue: deadlines must
// follow the clock's monotonic reading, so a step of the system's wall
// clock (NTP, a VM resumed, an operator) neither expires every member at
// once (a step forward) nor keeps vanished members present for the length
// of the step (a step back).
func TestWallClockStep(t *testing.T) {
	base := time.Now() // with a monotonic reading
	for _, step := range []time.Duration{time.Hour, -time.Hour} {
		clk := &stepClock{now: base}
		e, err := presence.New(presence.Config{Clock: clk, SweepInterval: -1, MinTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}, Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
		// one second later by the monotonic clock, step by the wall clock
		later, ok := wallStepped(base.Add(time.Second), step)
		if !ok {
			t.Skip("time.Time is not laid out as this test expects: cannot build a wall-clock step")
		}
		clk.set(later)
		e.Sweep(ctx)
		if n, _ := e.Occupancy(ctx, "c"); n != 1 {
			t.Fatalf("wall clock stepped %v one second after a 1-minute heartbeat: occupancy %d, want 1", step, n)
		}
		if w, _ := e.WhereNow(ctx, "u"); len(w) != 1 {
			t.Fatalf("wall clock stepped %v: WhereNow = %q, want [c]", step, w)
		}
		// a minute after the heartbeat by the monotonic clock, it is due
		due, _ := wallStepped(base.Add(time.Minute), step)
		clk.set(due)
		e.Sweep(ctx)
		if n, _ := e.Occupancy(ctx, "c"); n != 0 {
			t.Fatalf("wall clock stepped %v: occupancy %d one minute after the heartbeat, want 0", step, n)
		}
		e.Close()
	}
}
