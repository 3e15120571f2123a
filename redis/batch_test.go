package presenceredis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/redis/go-redis/v9"
)

// TestHeartbeatConcurrentCalls: heartbeats from many goroutines at once
// (which share batches) join each member once, refresh silently, set
// states with one event each, and a bad request among them fails alone
// with its own error.
func TestHeartbeatConcurrentCalls(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(mockClock())
	cfg.AnnounceMax = presence.NoIntervalMode
	b := newBackend(t, newClient(t, sharedRedis(t)), Config{Config: cfg, Prefix: uniquePrefix(t)})
	sub, err := b.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: 4096})
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	req := func(i int) presence.HeartbeatRequest {
		return presence.HeartbeatRequest{UUID: fmt.Sprintf("u%02d", i), Channels: []string{fmt.Sprintf("c%d", i%4)}}
	}
	// run calls f(i) for every i from n goroutines at once and returns
	// their errors.
	run := func(f func(i int) error) []error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = f(i)
			})
		}
		close(start)
		wg.Wait()
		return errs
	}

	errs := run(func(i int) error {
		if i == 7 {
			return b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "bad,uuid", Channels: []string{"c0"}})
		}
		return b.Heartbeat(ctx, req(i))
	})
	for i, err := range errs {
		if i == 7 {
			if !errors.Is(err, presence.ErrInvalidUUID) {
				t.Errorf("bad request: got %v, want ErrInvalidUUID", err)
			}
		} else if err != nil {
			t.Errorf("heartbeat %d: %v", i, err)
		}
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	joins := map[string]int{}
	for _, ev := range buffered(sub) {
		if ev.Action != presence.Join {
			t.Errorf("event %+v, want joins only", ev)
		}
		joins[ev.Channel+"/"+ev.UUID]++
	}
	for i := range n {
		k := fmt.Sprintf("c%d/u%02d", i%4, i)
		want := 1
		if i == 7 {
			want = 0
		}
		if joins[k] != want {
			t.Errorf("joins of %s: got %d, want %d", k, joins[k], want)
		}
	}

	// refreshes, half of them setting a state: one state change each, and
	// no other event
	errs = run(func(i int) error {
		if i == 7 {
			return nil
		}
		r := req(i)
		if i%2 == 0 {
			r.State = map[string]any{r.Channels[0]: map[string]int{"i": i}}
		}
		return b.Heartbeat(ctx, r)
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("refresh %d: %v", i, err)
		}
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, ev := range buffered(sub) {
		if ev.Action != presence.StateChange {
			t.Errorf("event %+v, want state changes only", ev)
			continue
		}
		if _, dup := states[ev.UUID]; dup {
			t.Errorf("two state changes of %s", ev.UUID)
		}
		states[ev.UUID] = string(ev.State)
	}
	for i := 0; i < n; i += 2 {
		u := fmt.Sprintf("u%02d", i)
		if want := fmt.Sprintf(`{"i":%d}`, i); states[u] != want {
			t.Errorf("state change of %s: got %q, want %q", u, states[u], want)
		}
	}
	res, err := b.HereNow(ctx, presence.HereNowQuery{Channels: []string{"c0", "c1", "c2", "c3"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.TotalOccupancy != n-1 {
		t.Errorf("total occupancy %d, want %d", res.TotalOccupancy, n-1)
	}
}

// TestHeartbeatsQueuedAtClose: with Redis stalled, one heartbeat's batch
// is stuck in Redis and others wait for the next batch; Close returns
// without waiting for the stuck round trip (CallTimeout is a minute), and
// every one of those calls returns presence.ErrClosed.
func TestHeartbeatsQueuedAtClose(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	cfg := baseConfig(mockClock())
	// the client waits for a reply as long as the backend would: only
	// Close can end the stuck round trip's wait
	c := redis.NewClient(&redis.Options{Addr: srv.addr(), MaxRetries: -1, ReadTimeout: 2 * time.Minute})
	t.Cleanup(func() { c.Close() })
	b, err := New(c, mockStalls(Config{Config: cfg, Prefix: uniquePrefix(t), CallTimeout: time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	srv.signal(syscall.SIGSTOP)
	defer srv.signal(syscall.SIGCONT)
	errs := make(chan error, 4)
	beat := func(i int) {
		errs <- b.Heartbeat(context.Background(), presence.HeartbeatRequest{UUID: fmt.Sprintf("u%d", i), Channels: []string{"c"}})
	}
	go beat(0)
	time.Sleep(200 * time.Millisecond) // the batcher takes it: its round trip is stuck
	for i := 1; i < cap(errs); i++ {
		go beat(i)
	}
	// whichever way they are split, each ends with ErrClosed; wait (a
	// while at most) until the three later ones are queued behind the first
	for range 500 {
		b.beatQ.mu.Lock()
		queued := len(b.beatQ.calls)
		b.beatQ.mu.Unlock()
		if queued == cap(errs)-1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() {
		b.Close()
		close(closed)
	}()
	hang := time.NewTimer(30 * time.Second) // a hang, not a timing assertion: CallTimeout is a minute
	defer hang.Stop()
	select {
	case <-closed:
	case <-hang.C:
		t.Fatal("Close still waiting for a round trip stuck on a stalled Redis")
	}
	for range cap(errs) {
		select {
		case err := <-errs:
			if !errors.Is(err, presence.ErrClosed) {
				t.Errorf("heartbeat during Close: got %v, want ErrClosed", err)
			}
		case <-hang.C:
			t.Fatal("a heartbeat still waiting after Close")
		}
	}
}
