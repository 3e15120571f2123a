package presenceredis

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/redis/go-redis/v9"
)

// everyCall is one call of each operation that goes to Redis, by name.
func everyCall(b *Backend) map[string]func(context.Context) error {
	hb := presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}, Groups: []string{"g"}}
	return map[string]func(context.Context) error{
		"Heartbeat": func(ctx context.Context) error { return b.Heartbeat(ctx, hb) },
		"Leave": func(ctx context.Context) error {
			return b.Leave(ctx, presence.LeaveRequest{UUID: "u", Channels: []string{"c"}})
		},
		"SetState": func(ctx context.Context) error {
			_, err := b.SetState(ctx, presence.SetStateRequest{UUID: "u", Channels: []string{"c"}, State: map[string]int{"a": 1}})
			return err
		},
		"GetState": func(ctx context.Context) error {
			_, err := b.GetState(ctx, presence.GetStateRequest{UUID: "u", Channels: []string{"c"}})
			return err
		},
		"HereNow": func(ctx context.Context) error {
			_, err := b.HereNow(ctx, presence.HereNowQuery{Channels: []string{"c"}})
			return err
		},
		"GlobalHereNow": func(ctx context.Context) error {
			_, err := b.HereNow(ctx, presence.HereNowQuery{})
			return err
		},
		"Occupancy": func(ctx context.Context) error {
			_, err := b.Occupancy(ctx, "c")
			return err
		},
		"WhereNow": func(ctx context.Context) error {
			_, err := b.WhereNow(ctx, "u")
			return err
		},
		"AddChannels":    func(ctx context.Context) error { return b.AddChannels(ctx, "g", []string{"c", "d"}) },
		"RemoveChannels": func(ctx context.Context) error { return b.RemoveChannels(ctx, "g", []string{"d"}) },
		"GroupChannels": func(ctx context.Context) error {
			_, err := b.GroupChannels(ctx, "g")
			return err
		},
		"Groups": func(ctx context.Context) error {
			_, err := b.Groups(ctx)
			return err
		},
		"DeleteGroup": func(ctx context.Context) error { return b.DeleteGroup(ctx, "h") },
		"Flush":       func(ctx context.Context) error { return b.Flush(ctx) },
		"Sweep":       func(ctx context.Context) error { return b.Sweep(ctx) },
		"Stats": func(ctx context.Context) error {
			_, err := b.Stats(ctx)
			return err
		},
	}
}

// callsDuringStall runs every call at once against b while its redis-server
// is stopped, each with the context made by mkCtx, and returns how each
// ended. A call still running after wait fails the test (a hang).
func callsDuringStall(t *testing.T, srv *redisServer, b *Backend, wait time.Duration, mkCtx func() (context.Context, context.CancelFunc)) map[string]error {
	t.Helper()
	srv.signal(syscall.SIGSTOP)
	defer srv.signal(syscall.SIGCONT)
	type result struct {
		name string
		err  error
	}
	calls := everyCall(b)
	results := make(chan result, len(calls))
	var wg sync.WaitGroup
	for name, call := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := mkCtx()
			defer cancel()
			results <- result{name, call(ctx)}
		}()
	}
	out := map[string]error{}
	limit := time.NewTimer(wait)
	defer limit.Stop()
	for len(out) < len(calls) {
		select {
		case r := <-results:
			out[r.name] = r.err
		case <-limit.C:
			var missing []string
			for name := range calls {
				if _, ok := out[name]; !ok {
					missing = append(missing, name)
				}
			}
			srv.signal(syscall.SIGCONT)
			wg.Wait()
			t.Fatalf("still running %v after the deadline while Redis is stalled: %v", wait, missing)
		}
	}
	return out
}

// TestDeadlineDuringStall: with redis-server stopped and go-redis's default
// options (which retry for many seconds and do not put the context's
// deadline on the connection), every call returns at its context's
// deadline with an error wrapping presence.ErrUnavailable and
// context.DeadlineExceeded.
func TestDeadlineDuringStall(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.addr()})
	t.Cleanup(func() { c.Close() })
	b := newBackend(t, c, Config{Config: baseConfig(mockClock()), Prefix: uniquePrefix(t)})
	const deadline = 300 * time.Millisecond
	res := callsDuringStall(t, srv, b, deadline+lateSlack, func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), deadline)
	})
	for name, err := range res {
		if !errors.Is(err, presence.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s during a stall: %v, want ErrUnavailable wrapping context.DeadlineExceeded", name, err)
		}
	}
}

// TestCancelDuringStall: cancelling the context ends every call at once
// with an error wrapping presence.ErrUnavailable and context.Canceled.
func TestCancelDuringStall(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.addr()})
	t.Cleanup(func() { c.Close() })
	b := newBackend(t, c, Config{Config: baseConfig(mockClock()), Prefix: uniquePrefix(t)})
	res := callsDuringStall(t, srv, b, lateSlack, func() (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		return ctx, cancel
	})
	for name, err := range res {
		if !errors.Is(err, presence.ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("%s cancelled during a stall: %v, want ErrUnavailable wrapping context.Canceled", name, err)
		}
	}
}
