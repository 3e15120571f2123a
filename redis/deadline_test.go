package presenceredis

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// failAfter is a go-redis hook that lets the first n commands or pipelines
// through (the stream readers' XREADs not counted) and fails every later
// one before it is sent, as a connection lost half way through an
// operation would.
type failAfter struct {
	mu    sync.Mutex
	armed bool
	left  int
}

var errInjected = errors.New("injected: connection reset")

func (f *failAfter) arm(n int) {
	f.mu.Lock()
	f.armed, f.left = true, n
	f.mu.Unlock()
}

func (f *failAfter) disarm() {
	f.mu.Lock()
	f.armed = false
	f.mu.Unlock()
}

func (f *failAfter) pass() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.armed {
		return true
	}
	f.left--
	return f.left >= 0
}

func (f *failAfter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *failAfter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "xread" || f.pass() {
			return next(ctx, cmd)
		}
		cmd.SetErr(errInjected)
		return errInjected
	}
}

func (f *failAfter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if f.pass() {
			return next(ctx, cmds)
		}
		for _, c := range cmds {
			c.SetErr(errInjected)
		}
		return errInjected
	}
}

// TestGroupEditAtomic: a group edit cut short by a lost connection after
// any number of its round trips leaves the group and the index that routes
// events to group subscriptions in agreement: every channel GroupChannels
// lists routes its events to the group's subscribers, and no other does.
func TestGroupEditAtomic(t *testing.T) {
	for _, parts := range []int{1, 4} {
		t.Run(fmt.Sprintf("Partitions%d", parts), func(t *testing.T) {
			clk := mockClock()
			c := newClient(t, sharedRedis(t))
			hook := &failAfter{}
			c.AddHook(hook)
			b := newBackend(t, c, Config{Config: baseConfig(clk), Prefix: uniquePrefix(t), Partitions: parts})
			chans := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
			s, err := b.Subscribe(ctx, presence.SubscribeOptions{Groups: []string{"grp"}, Buffer: 100})
			if err != nil {
				t.Fatal(err)
			}
			// agree checks the invariant: a member joining each channel
			// reaches the group subscription exactly for the channels listed.
			round := 0
			agree := func(after string) {
				t.Helper()
				round++
				listed, err := b.GroupChannels(ctx, "grp")
				if err != nil {
					t.Fatal(err)
				}
				u := fmt.Sprintf("u%d", round)
				for _, ch := range chans {
					if err := b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: u, Channels: []string{ch}}); err != nil {
						t.Fatal(err)
					}
				}
				flush(t, b)
				var routed []string
				for _, ev := range buffered(s) {
					routed = append(routed, ev.Channel)
				}
				slices.Sort(routed) // with several partitions, events of different channels come in any order
				if fmt.Sprint(routed) != fmt.Sprint(listed) {
					t.Fatalf("after %s: GroupChannels lists %v, events of %v reach the group's subscribers", after, listed, routed)
				}
			}
			edits := []struct {
				name string
				do   func() error
			}{
				{"AddChannels", func() error { return b.AddChannels(ctx, "grp", chans) }},
				{"RemoveChannels", func() error { return b.RemoveChannels(ctx, "grp", chans[2:]) }},
				{"DeleteGroup", func() error { return b.DeleteGroup(ctx, "grp") }},
			}
			for _, e := range edits {
				for n := range 4 {
					if err := b.AddChannels(ctx, "grp", chans[:4]); err != nil {
						t.Fatal(err)
					}
					hook.arm(n)
					err := e.do()
					hook.disarm()
					if err != nil && !errors.Is(err, presence.ErrUnavailable) {
						t.Fatalf("%s cut after %d round trips: %v, want nil or ErrUnavailable", e.name, n, err)
					}
					agree(fmt.Sprintf("%s cut after %d round trips (%v)", e.name, n, err))
				}
			}
		})
	}
}
