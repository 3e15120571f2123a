package presence_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
)

// TestConcurrentSweepsBothComplete is finding 1 of the reliability issue:
// two Sweeps at the same instant. Each must return only when every
// membership due at its now is gone and its timeout event delivered, even
// when the other one took the due members out of their buckets first.
func TestConcurrentSweepsBothComplete(t *testing.T) {
	const n = 20_000
	for run := range 3 {
		clk := presencetest.NewManualClock(presencetest.Epoch)
		e, err := presence.New(presence.Config{Clock: clk, SweepInterval: -1, MinTimeout: time.Second, AnnounceMax: presence.NoIntervalMode})
		if err != nil {
			t.Fatal(err)
		}
		sub, err := e.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: 2 * n})
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			ch := fmt.Sprintf("c%d", i%500)
			if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: fmt.Sprintf("u%d", i), Channels: []string{ch}, Timeout: time.Second}); err != nil {
				t.Fatal(err)
			}
		}
		clk.Add(time.Second)
		var wg sync.WaitGroup
		left := make(chan string, 2)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := e.Sweep(ctx); err != nil {
					left <- err.Error()
					return
				}
				// this Sweep has returned: nothing due at its now is present
				if st, _ := e.Stats(ctx); st.Memberships != 0 {
					left <- fmt.Sprintf("%d of %d due memberships still present after Sweep returned", st.Memberships, n)
					return
				}
				if got := len(sub.Events()); got < 2*n {
					left <- fmt.Sprintf("%d events delivered after Sweep returned, want %d joins and %d timeouts", got, n, n)
				}
			}()
		}
		wg.Wait()
		close(left)
		for msg := range left {
			t.Errorf("run %d: %s", run, msg)
		}
		e.Close()
		if t.Failed() {
			return
		}
	}
}

// TestMockClockRecipe follows Config.Clock's documentation with the
// default, positive SweepInterval: clock.Mock's Add also fires the
// sweeper, which then sweeps at the same instant as the test's Sweep. When
// Sweep returns, every due membership is gone all the same.
func TestMockClockRecipe(t *testing.T) {
	const n = 5_000
	for run := range 5 {
		clk := clock.NewMock()
		clk.Set(presencetest.Epoch)
		e, err := presence.New(presence.Config{Clock: clk, MinTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: fmt.Sprintf("u%d", i), Channels: []string{fmt.Sprintf("c%d", i%300)}, Timeout: time.Second}); err != nil {
				t.Fatal(err)
			}
		}
		clk.Add(time.Second)
		if err := e.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		st, _ := e.Stats(ctx)
		e.Close()
		if st.Memberships != 0 {
			t.Fatalf("run %d: %d of %d due memberships present after Add and Sweep", run, st.Memberships, n)
		}
	}
}
