package presence

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// gateClock tells the time it is set to; once armed, its next reading
// signals entered and waits for the gate to open.
type gateClock struct {
	clockNowOnly
	mu      sync.Mutex
	now     time.Time
	gate    chan struct{}
	entered chan struct{}
}

func (c *gateClock) Now() time.Time {
	c.mu.Lock()
	gate, entered := c.gate, c.entered
	c.gate, c.entered = nil, nil
	now := c.now
	c.mu.Unlock()
	if gate != nil {
		close(entered)
		<-gate
	}
	return now
}

// TestCloseWaitsForSweep is finding 7b of the reliability issue,
// confirmed: Close must not return while a Sweep the caller started is
// still running (it and its workers touch the shards and publish events).
// The caller's Sweep is held at its first clock reading while Close is
// called; Close may only return once that Sweep has removed every due
// membership.
func TestCloseWaitsForSweep(t *testing.T) {
	clk := &gateClock{now: time.Unix(1_700_000_000, 0)}
	e, err := New(Config{Clock: clk, SweepInterval: -1, MinTimeout: time.Second, AnnounceMax: NoIntervalMode})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	for i := range n {
		e.Heartbeat(ctx, HeartbeatRequest{UUID: fmt.Sprint("u", i), Channels: []string{fmt.Sprint("c", i%100)}, Timeout: time.Second})
	}
	gate, entered := make(chan struct{}), make(chan struct{})
	clk.mu.Lock()
	clk.now = clk.now.Add(time.Second)
	clk.gate, clk.entered = gate, entered
	clk.mu.Unlock()
	go e.Sweep(ctx)
	<-entered // the Sweep has begun: it is reading the clock
	closed := make(chan struct{})
	go func() {
		e.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a Sweep the caller started was still running")
	case <-time.After(50 * time.Millisecond): // Close is waiting (or slow to start): let the Sweep go on
	}
	close(gate)
	<-closed
	members := 0
	for i := range e.shards {
		cs := &e.shards[i]
		cs.mu.Lock()
		members += cs.members
		cs.mu.Unlock()
	}
	if members != 0 {
		t.Fatalf("Close returned with %d of %d due memberships not yet removed by the running Sweep", members, n)
	}
}
