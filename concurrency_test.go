package presence_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
)

// TestConcurrentReplay runs many goroutines on overlapping channels and
// uuids, with sweeps racing them, then checks that the all-subscription's
// events replay, channel by channel, to exactly the final memberships, and
// that every occupancy they carry is the replayed one.
func TestConcurrentReplay(t *testing.T) {
	clk := presencetest.NewManualClock(presencetest.Epoch)
	e, err := presence.New(presence.Config{Clock: clk, SweepInterval: -1, MinTimeout: time.Second, AnnounceMax: -1, Shards: 8})
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
	const workers, ops = 8, 3000
	errs := make(chan error, workers+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range ops {
				uuid := fmt.Sprintf("u%d", r.IntN(12))
				chans := []string{fmt.Sprintf("c%d", r.IntN(10)), fmt.Sprintf("c%d", r.IntN(10))}
				var groups []string
				if r.IntN(5) == 0 {
					groups = []string{"g"}
				}
				var err error
				switch r.IntN(10) {
				case 0, 1, 2, 3, 4:
					err = e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid, Channels: chans, Groups: groups, Timeout: time.Duration(1+r.IntN(3)) * time.Second})
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
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { // the clock and the sweeper race the workers
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			clk.Add(5 * time.Millisecond)
			if err := e.Sweep(ctx); err != nil {
				errs <- err
				return
			}
			runtime.Gosched()
		}
	}()
	wg.Wait()
	close(stop)
	<-done
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	replayed := map[string]map[string]bool{}
	last := map[string]int64{}
	actions := map[presence.Action]int{}
	for n := len(sub.Events()); n > 0; n-- {
		ev := <-sub.Events()
		actions[ev.Action]++
		if ev.Timetoken <= last[ev.Channel] {
			t.Fatalf("%s: timetoken %d after %d", ev.Channel, ev.Timetoken, last[ev.Channel])
		}
		last[ev.Channel] = ev.Timetoken
		set := replayed[ev.Channel]
		if set == nil {
			set = map[string]bool{}
			replayed[ev.Channel] = set
		}
		switch ev.Action {
		case presence.Join:
			if set[ev.UUID] {
				t.Fatalf("%s: second join of %s", ev.Channel, ev.UUID)
			}
			set[ev.UUID] = true
		case presence.Leave, presence.Timeout:
			if !set[ev.UUID] {
				t.Fatalf("%s: %s of absent %s", ev.Channel, ev.Action, ev.UUID)
			}
			delete(set, ev.UUID)
		}
		if ev.Occupancy != len(set) {
			t.Fatalf("%s: %s carries occupancy %d, replay has %d", ev.Channel, ev.Action, ev.Occupancy, len(set))
		}
	}
	if sub.Err() != nil {
		t.Fatalf("subscription: %v", sub.Err())
	}
	if actions[presence.Timeout] == 0 || actions[presence.Leave] == 0 {
		t.Fatalf("events by action %v: the run raced no timeout or no leave", actions)
	}
	t.Logf("events by action: %v", actions)
	res, err := e.HereNow(ctx, presence.HereNowQuery{})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range res.Channels {
		var got, want []string
		for _, o := range c.Occupants {
			got = append(got, o.UUID)
		}
		for u := range replayed[c.Channel] {
			want = append(want, u)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || c.Occupancy != len(got) {
			t.Fatalf("%s: here_now %q (occupancy %d), events replay to %q", c.Channel, got, c.Occupancy, want)
		}
		total += c.Occupancy
		delete(replayed, c.Channel)
	}
	for c, set := range replayed {
		if len(set) != 0 {
			t.Fatalf("%s: events replay to %d members, here_now has none", c, len(set))
		}
	}
	st, _ := e.Stats(ctx)
	if st.Memberships != total {
		t.Fatalf("Stats.Memberships = %d, here_now totals %d", st.Memberships, total)
	}
	for i := range 12 {
		uuid := fmt.Sprintf("u%d", i)
		where, _ := e.WhereNow(ctx, uuid)
		for _, c := range where {
			r, _ := e.HereNow(ctx, presence.HereNowQuery{Channels: []string{c}})
			if !slices.ContainsFunc(r.Channels[0].Occupants, func(o presence.Occupant) bool { return o.UUID == uuid }) {
				t.Fatalf("WhereNow(%s) has %s, whose here_now lacks it", uuid, c)
			}
		}
	}
}
