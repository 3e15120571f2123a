package presence_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
)

// replayer rebuilds memberships from the event stream of an
// all-subscription, checking as it goes that timetokens increase per
// channel, no membership joins twice or ends without a join, and the
// occupancy every event carries is the replayed one.
type replayer struct {
	sets    map[string]map[string]bool
	last    map[string]int64
	actions map[presence.Action]int
}

func newReplayer() *replayer {
	return &replayer{sets: map[string]map[string]bool{}, last: map[string]int64{}, actions: map[presence.Action]int{}}
}

func (r *replayer) apply(ev presence.Event) error {
	r.actions[ev.Action]++
	if ev.Timetoken <= r.last[ev.Channel] {
		return fmt.Errorf("%s: timetoken %d after %d", ev.Channel, ev.Timetoken, r.last[ev.Channel])
	}
	r.last[ev.Channel] = ev.Timetoken
	set := r.sets[ev.Channel]
	if set == nil {
		set = map[string]bool{}
		r.sets[ev.Channel] = set
	}
	change := func(a presence.Action, u string) error {
		switch a {
		case presence.Join:
			if set[u] {
				return fmt.Errorf("%s: second join of %s", ev.Channel, u)
			}
			set[u] = true
		case presence.Leave, presence.Timeout:
			if !set[u] {
				return fmt.Errorf("%s: %s of absent %s", ev.Channel, a, u)
			}
			delete(set, u)
		}
		return nil
	}
	switch ev.Action {
	case presence.Interval:
		if ev.HereNowRefresh {
			return fmt.Errorf("%s: here_now_refresh: the deltas cannot be replayed", ev.Channel)
		}
		for _, d := range ev.Deltas {
			if err := change(d.Action, d.UUID); err != nil {
				return err
			}
		}
	case presence.StateChange:
		// in interval mode its occupancy is the true one, which the stream
		// catches up with at the next interval event
		return nil
	default:
		if err := change(ev.Action, ev.UUID); err != nil {
			return err
		}
	}
	if ev.Occupancy != len(set) {
		return fmt.Errorf("%s: %s carries occupancy %d, replay has %d", ev.Channel, ev.Action, ev.Occupancy, len(set))
	}
	return nil
}

// drain replays every event buffered in sub.
func (r *replayer) drain(t *testing.T, sub *presence.Subscription) {
	t.Helper()
	for n := len(sub.Events()); n > 0; n-- {
		if err := r.apply(<-sub.Events()); err != nil {
			t.Fatal(err)
		}
	}
	if sub.Err() != nil {
		t.Fatalf("subscription: %v", sub.Err())
	}
}

// compare checks the replayed memberships against HereNow, Stats and
// WhereNow of an engine nobody is changing.
func (r *replayer) compare(t *testing.T, e *presence.Engine, uuids int) {
	t.Helper()
	res, err := e.HereNow(ctx, presence.HereNowQuery{})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	seen := map[string]bool{}
	for _, c := range res.Channels {
		var got, want []string
		for _, o := range c.Occupants {
			got = append(got, o.UUID)
		}
		for u := range r.sets[c.Channel] {
			want = append(want, u)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || c.Occupancy != len(got) {
			t.Fatalf("%s: here_now %q (occupancy %d), events replay to %q", c.Channel, got, c.Occupancy, want)
		}
		total += c.Occupancy
		seen[c.Channel] = true
	}
	for c, set := range r.sets {
		if len(set) != 0 && !seen[c] {
			t.Fatalf("%s: events replay to %d members, here_now has none", c, len(set))
		}
	}
	if st, _ := e.Stats(ctx); st.Memberships != total {
		t.Fatalf("Stats.Memberships = %d, here_now totals %d", st.Memberships, total)
	}
	for i := range uuids {
		uuid := fmt.Sprintf("u%d", i)
		where, _ := e.WhereNow(ctx, uuid)
		for _, c := range where {
			if !r.sets[c][uuid] {
				t.Fatalf("WhereNow(%s) has %s, where the events replay no such member", uuid, c)
			}
		}
	}
}

// churn runs workers goroutines of random heartbeats, leaves, state
// changes and reads on overlapping channels and uuids until each has done
// ops, and returns the first error.
func churn(e *presence.Engine, workers, ops, uuids int, timeouts []time.Duration) error {
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range ops {
				uuid := fmt.Sprintf("u%d", r.IntN(uuids))
				chans := []string{fmt.Sprintf("c%d", r.IntN(10)), fmt.Sprintf("c%d", r.IntN(10))}
				var groups []string
				if r.IntN(5) == 0 {
					groups = []string{"g"}
				}
				var err error
				switch r.IntN(10) {
				case 0, 1, 2, 3, 4:
					err = e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid, Channels: chans, Groups: groups, Timeout: timeouts[r.IntN(len(timeouts))]})
				case 5, 6:
					err = e.Leave(ctx, presence.LeaveRequest{UUID: uuid, Channels: chans, Groups: groups})
				case 7:
					_, err = e.SetState(ctx, presence.SetStateRequest{UUID: uuid, Channels: chans, Groups: groups, State: json.RawMessage(fmt.Sprintf(`{"n":%d}`, r.IntN(3)))})
				case 8:
					_, err = e.HereNow(ctx, presence.HereNowQuery{Channels: chans, IncludeState: true})
				default:
					_, err = e.WhereNow(ctx, uuid)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// TestConcurrentReplay runs many goroutines on overlapping channels and
// uuids, with a mock clock and sweeps racing them, then checks that the
// all-subscription's events replay, channel by channel, to exactly the
// final memberships, and that every occupancy they carry is the replayed
// one: in announce mode, and in interval mode with deltas, where the final
// interval events carry what the stream has not yet told.
func TestConcurrentReplay(t *testing.T) {
	for _, mode := range []struct {
		name        string
		announceMax int
	}{{"announce", presence.NoIntervalMode}, {"interval", 2}} {
		t.Run(mode.name, func(t *testing.T) {
			clk := presencetest.NewManualClock(presencetest.Epoch)
			e, err := presence.New(presence.Config{Clock: clk, SweepInterval: -1, MinTimeout: time.Second, AnnounceMax: mode.announceMax,
				Deltas: true, Interval: time.Second, Shards: 8})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			sub, err := e.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.AddChannels(ctx, "g", []string{"c0", "c3", "c7"}); err != nil {
				t.Fatal(err)
			}
			stop, done := make(chan struct{}), make(chan error, 1)
			go func() { // the clock and the sweeps race the workers
				defer close(done)
				for {
					select {
					case <-stop:
						return
					default:
					}
					clk.Add(5 * time.Millisecond)
					if err := e.Sweep(ctx); err != nil {
						done <- err
						return
					}
					runtime.Gosched()
				}
			}()
			err = churn(e, 8, 3000, 12, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second})
			close(stop)
			if err2 := <-done; err == nil {
				err = err2
			}
			if err != nil {
				t.Fatal(err)
			}
			// one more Interval: every channel in interval mode tells its deltas
			clk.Add(time.Second)
			e.Sweep(ctx)
			r := newReplayer()
			r.drain(t, sub)
			if r.actions[presence.Leave]+r.actions[presence.Timeout]+r.actions[presence.Interval] == 0 {
				t.Fatalf("events by action %v: the run raced no removal", r.actions)
			}
			if mode.announceMax >= 0 && r.actions[presence.Interval] == 0 {
				t.Fatalf("events by action %v: no channel went into interval mode", r.actions)
			}
			t.Logf("events by action: %v", r.actions)
			r.compare(t, e, 12)
		})
	}
}

// TestSweepRacesSweeper runs the sweeper on the real clock at its
// shortest SweepInterval while the test calls Sweep as fast as it can and
// workers heartbeat and leave with 1 s timeouts. Run under -race. After
// the last deadline has passed and a final Sweep, nobody is present, and
// the event stream replays to exactly that, with every join before its
// end and every occupancy right.
func TestSweepRacesSweeper(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for 1 s timeouts on the real clock")
	}
	e, err := presence.New(presence.Config{SweepInterval: 10 * time.Millisecond, MinTimeout: time.Second, AnnounceMax: 3, Deltas: true, Interval: time.Second, Shards: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sub, err := e.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	e.AddChannels(ctx, "g", []string{"c1", "c2"})
	var sweeps atomic.Int64
	stop, done := make(chan struct{}), make(chan error, 1)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := e.Sweep(ctx); err != nil {
				done <- err
				return
			}
			sweeps.Add(1)
			runtime.Gosched()
		}
	}()
	err = churn(e, 4, 2000, 40, []time.Duration{time.Second})
	last := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(last.Add(time.Second))) // every deadline has passed
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.Stats(ctx); st.Memberships != 0 {
		t.Fatalf("%d memberships after every deadline passed and Sweep returned, want 0", st.Memberships)
	}
	// with nobody present no channel is in interval mode: the change to
	// occupancy 0 told the last deltas
	r := newReplayer()
	r.drain(t, sub)
	r.compare(t, e, 40)
	t.Logf("%d Sweeps raced the sweeper; events by action: %v", sweeps.Load(), r.actions)
}
