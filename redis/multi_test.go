package presenceredis

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
	"github.com/redis/go-redis/v9"
)

var epoch = time.Unix(1_700_000_000, 0)

func mockClock() *clock.Mock {
	clk := clock.NewMock()
	clk.Set(epoch)
	return clk
}

// instances starts n backends sharing one key space on addr, each with its
// own client, as n servers of one application would.
func instances(t *testing.T, n int, addrs []string, cfg Config) []*Backend {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = uniquePrefix(t)
	}
	out := make([]*Backend, n)
	for i := range out {
		out[i] = newBackend(t, newClient(t, addrs[i%len(addrs)]), cfg)
	}
	return out
}

func baseConfig(clk clock.Clock) presence.Config {
	return presence.Config{Clock: clk, SweepInterval: -1, MinTimeout: time.Second, AnnounceMax: -1}
}

func subAll(t *testing.T, b *Backend, buffer int) *presence.Subscription {
	t.Helper()
	s, err := b.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: buffer})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func flush(t *testing.T, bs ...*Backend) {
	t.Helper()
	for _, b := range bs {
		if err := b.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
	}
}

// render is "action channel uuid occupancy" per event.
func render(evs []presence.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = fmt.Sprintf("%s %s %s %d", ev.Action, ev.Channel, ev.UUID, ev.Occupancy)
	}
	return out
}

// parallel runs f(i) for i in [0, n) in goroutines and fails on any error.
func parallel(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- f(i)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestOneUUIDThroughThreeInstances: a uuid heartbeating through three
// instances at once joins once and times out once, and every instance
// delivers each of those events once.
func TestOneUUIDThroughThreeInstances(t *testing.T) {
	clk := mockClock()
	bs := instances(t, 3, []string{sharedRedis(t)}, Config{Config: baseConfig(clk)})
	subs := make([]*presence.Subscription, len(bs))
	for i, b := range bs {
		subs[i] = subAll(t, b, 1000)
	}
	parallel(t, 3, func(i int) error {
		for range 20 {
			if err := bs[i].Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"lobby", "game"}, Timeout: 30 * time.Second}); err != nil {
				return err
			}
		}
		return nil
	})
	flush(t, bs...)
	for i, s := range subs {
		got, want := render(buffered(s)), []string{"join lobby u 1", "join game u 1"}
		if !slices.Equal(got, want) {
			t.Fatalf("instance %d: events %q, want %q", i, got, want)
		}
	}
	clk.Add(30 * time.Second)
	parallel(t, 3, func(i int) error { return bs[i].Sweep(ctx) })
	flush(t, bs...)
	for i, s := range subs {
		got := render(buffered(s))
		slices.Sort(got)
		if want := []string{"timeout game u 0", "timeout lobby u 0"}; !slices.Equal(got, want) {
			t.Fatalf("instance %d: events %q, want %q", i, got, want)
		}
	}
}

// TestTenThousandTimeouts: 10,000 members expiring while all three
// instances sweep give exactly 10,000 timeouts, each delivered once to each
// instance's subscribers.
func TestTenThousandTimeouts(t *testing.T) {
	const members = 10_000
	clk := mockClock()
	bs := instances(t, 3, []string{sharedRedis(t)}, Config{Config: baseConfig(clk), SweepBatch: 500})
	subs := make([]*presence.Subscription, len(bs))
	for i, b := range bs {
		subs[i] = subAll(t, b, 3*members)
	}
	var reqs []presence.HeartbeatRequest
	for i := range members {
		reqs = append(reqs, presence.HeartbeatRequest{UUID: fmt.Sprintf("u%05d", i), Channels: []string{fmt.Sprintf("c%02d", i%100)}, Timeout: time.Minute})
	}
	// three instances heartbeat overlapping thirds: every member twice
	parallel(t, 3, func(i int) error {
		for lo := i * members / 3; lo < i*members/3+members*2/3; lo += 500 {
			var batch []presence.HeartbeatRequest
			for j := lo; j < lo+500; j++ {
				batch = append(batch, reqs[j%members])
			}
			if err := bs[i].Heartbeats(ctx, batch...); err != nil {
				return err
			}
		}
		return nil
	})
	clk.Add(time.Minute)
	parallel(t, 3, func(i int) error { return bs[i].Sweep(ctx) })
	flush(t, bs...)
	for i, s := range subs {
		joins, timeouts := map[string]int{}, map[string]int{}
		for _, ev := range buffered(s) {
			switch ev.Action {
			case presence.Join:
				joins[ev.UUID]++
			case presence.Timeout:
				timeouts[ev.UUID]++
				if !ev.Time.Equal(epoch.Add(time.Minute)) {
					t.Fatalf("timeout at %v, want the sweep's now %v", ev.Time, epoch.Add(time.Minute))
				}
			default:
				t.Fatalf("instance %d: unexpected %s event", i, ev.Action)
			}
		}
		if len(joins) != members || len(timeouts) != members {
			t.Fatalf("instance %d: %d uuids joined, %d timed out; want %d each", i, len(joins), len(timeouts), members)
		}
		for u, n := range timeouts {
			if n != 1 || joins[u] != 1 {
				t.Fatalf("instance %d: %s joined %d times, timed out %d times; want once each", i, u, joins[u], n)
			}
		}
	}
	st, err := bs[0].Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Memberships != 0 || st.Channels != 0 || st.UUIDs != 0 || st.Events != 2*members {
		t.Fatalf("Stats = %+v, want nothing present and %d events", st, 2*members)
	}
}

// TestKilledInstance: an instance that stops without leaving has its
// members timed out by the others at their deadlines, not before.
func TestKilledInstance(t *testing.T) {
	clk := mockClock()
	addr := sharedRedis(t)
	cfg := Config{Config: baseConfig(clk), Prefix: uniquePrefix(t)}
	victimClient := redis.NewClient(&redis.Options{Addr: addr})
	victim, err := New(victimClient, cfg)
	if err != nil {
		t.Fatal(err)
	}
	bs := instances(t, 2, []string{addr}, cfg)
	subs := []*presence.Subscription{subAll(t, bs[0], 100), subAll(t, bs[1], 100)}
	for _, hb := range []presence.HeartbeatRequest{
		{UUID: "u1", Channels: []string{"c"}, Timeout: 30 * time.Second},
		{UUID: "u2", Channels: []string{"c", "d"}, Timeout: 60 * time.Second},
	} {
		if err := victim.Heartbeat(ctx, hb); err != nil {
			t.Fatal(err)
		}
	}
	victim.Close() // killed: no leave
	victimClient.Close()
	flush(t, bs...)
	want := []string{"join c u1 1", "join c u2 2", "join d u2 1"}
	for i, s := range subs {
		if got := render(buffered(s)); !slices.Equal(got, want) {
			t.Fatalf("instance %d: %q, want %q", i, got, want)
		}
	}
	step := func(d time.Duration, want ...string) {
		t.Helper()
		clk.Add(d)
		parallel(t, 2, func(i int) error { return bs[i].Sweep(ctx) })
		flush(t, bs...)
		for i, s := range subs {
			evs := buffered(s)
			got := render(evs)
			slices.Sort(got)
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("instance %d after %v: %q, want %q", i, clk.Now().Sub(epoch), got, want)
			}
			for _, ev := range evs {
				if !ev.Time.Equal(clk.Now()) {
					t.Fatalf("timeout time %v, want %v", ev.Time, clk.Now())
				}
			}
		}
	}
	step(30*time.Second - time.Microsecond)
	step(time.Microsecond, "timeout c u1 1")
	step(30*time.Second-time.Microsecond, []string{}...)
	step(time.Microsecond, "timeout c u2 0", "timeout d u2 0")
}

// TestPartitionedInstance: an instance cut off from Redis fails its calls
// with presence.ErrUnavailable, emits nothing, delivers nothing made up, and after
// the link heals delivers exactly the events it missed.
func TestPartitionedInstance(t *testing.T) {
	clk := mockClock()
	addr := sharedRedis(t)
	px := newProxy(t, addr)
	cfg := Config{Config: baseConfig(clk), Prefix: uniquePrefix(t), OutageGrace: -1}
	a := newBackend(t, newClient(t, addr), cfg)
	cClient := redis.NewClient(&redis.Options{Addr: px.addr(), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { cClient.Close() })
	c := newBackend(t, cClient, cfg)
	aSub, cSub := subAll(t, a, 100), subAll(t, c, 100)

	hb := func(b *Backend, u string) error {
		return b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: u, Channels: []string{"room"}, Timeout: time.Minute})
	}
	if err := hb(a, "u1"); err != nil {
		t.Fatal(err)
	}
	flush(t, a, c)
	buffered(aSub)
	if got := render(buffered(cSub)); !slices.Equal(got, []string{"join room u1 1"}) {
		t.Fatalf("before the cut: %q", got)
	}

	px.setCut(true)
	if err := hb(c, "u2"); !errors.Is(err, presence.ErrUnavailable) {
		t.Fatalf("Heartbeat through a cut link: %v, want presence.ErrUnavailable", err)
	}
	if _, err := c.HereNow(ctx, presence.HereNowQuery{}); !errors.Is(err, presence.ErrUnavailable) {
		t.Fatalf("HereNow through a cut link: %v, want presence.ErrUnavailable", err)
	}
	if err := c.Flush(ctx); !errors.Is(err, presence.ErrUnavailable) {
		t.Fatalf("Flush through a cut link: %v, want presence.ErrUnavailable", err)
	}
	// the others go on
	if err := hb(a, "u3"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetState(ctx, presence.SetStateRequest{UUID: "u3", Channels: []string{"room"}, State: json.RawMessage(`{"k":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Leave(ctx, presence.LeaveRequest{UUID: "u1", Channels: []string{"room"}}); err != nil {
		t.Fatal(err)
	}
	flush(t, a)
	missed := buffered(aSub)
	if got := render(buffered(cSub)); len(got) != 0 {
		t.Fatalf("the cut instance delivered %q", got)
	}

	px.setCut(false)
	for i := 0; ; i++ { // the reader may report one last failure from before the heal
		err := c.Flush(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, presence.ErrUnavailable) || i == 50 {
			t.Fatalf("Flush after healing: %v", err)
		}
	}
	got := buffered(cSub)
	if !slices.Equal(render(got), render(missed)) {
		t.Fatalf("after healing: %q, want the missed %q", render(got), render(missed))
	}
	for i := range got {
		if got[i].Timetoken != missed[i].Timetoken || string(got[i].State) != string(missed[i].State) {
			t.Fatalf("event %d: %+v, want %+v", i, got[i], missed[i])
		}
	}
	if n, err := c.Occupancy(ctx, "room"); err != nil || n != 1 {
		t.Fatalf("Occupancy after healing = %d, %v; want 1 (u3; u2's heartbeat failed)", n, err)
	}
}

// TestOutageGrace: after an outage longer than a member's timeout, the
// first sweep does not time it out; a heartbeat within the grace keeps it
// silently, and without one it times out when the grace ends.
func TestOutageGrace(t *testing.T) {
	clk := mockClock()
	addr := sharedRedis(t)
	px := newProxy(t, addr)
	client := redis.NewClient(&redis.Options{Addr: px.addr(), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { client.Close() })
	b := newBackend(t, client, Config{Config: baseConfig(clk), Prefix: uniquePrefix(t), OutageGrace: 10 * time.Second})
	s := subAll(t, b, 100)
	for _, u := range []string{"stays", "goes"} {
		if err := b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: u, Channels: []string{"c"}, Timeout: 20 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, b)
	buffered(s)
	px.setCut(true)
	clk.Add(30 * time.Second) // both deadlines pass during the outage
	if err := b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "stays", Channels: []string{"c"}, Timeout: 20 * time.Second}); !errors.Is(err, presence.ErrUnavailable) {
		t.Fatalf("Heartbeat during the outage: %v, want presence.ErrUnavailable", err)
	}
	px.setCut(false)
	if err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "stays", Channels: []string{"c"}, Timeout: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	clk.Add(9 * time.Second)
	if err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	flushRetry(t, b)
	if got := render(buffered(s)); len(got) != 0 {
		t.Fatalf("during the grace: %q, want nothing", got)
	}
	clk.Add(time.Second)
	if err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	flushRetry(t, b)
	if got, want := render(buffered(s)), []string{"timeout c goes 1"}; !slices.Equal(got, want) {
		t.Fatalf("after the grace: %q, want %q", got, want)
	}
}

// flushRetry flushes, allowing the reader to report failures from before a
// link healed.
func flushRetry(t *testing.T, b *Backend) {
	t.Helper()
	for i := 0; ; i++ {
		err := b.Flush(ctx)
		if err == nil {
			return
		}
		if !errors.Is(err, presence.ErrUnavailable) || i == 50 {
			t.Fatalf("Flush: %v", err)
		}
	}
}

// TestRedisRestart: Redis restarting without persistence gives every
// subscription a resync marker, and the view converges once every member
// has heartbeated once.
func TestRedisRestart(t *testing.T) {
	clk := mockClock()
	srv := startRedis(t)
	bs := instances(t, 2, []string{srv.addr()}, Config{Config: baseConfig(clk)})
	all := subAll(t, bs[0], 100)
	room, err := bs[1].Subscribe(ctx, presence.SubscribeOptions{Channels: []string{"room"}})
	if err != nil {
		t.Fatal(err)
	}
	hb := func() {
		t.Helper()
		for i, u := range []string{"u1", "u2"} {
			if err := bs[i].Heartbeat(ctx, presence.HeartbeatRequest{UUID: u, Channels: []string{"room"}, Timeout: time.Minute}); err != nil {
				t.Fatalf("Heartbeat(%s): %v", u, err)
			}
		}
	}
	hb()
	flush(t, bs...)
	want := []string{"join room u1 1", "join room u2 2"}
	for _, s := range []*presence.Subscription{all, room} {
		if got := render(buffered(s)); !slices.Equal(got, want) {
			t.Fatalf("before the restart: %q, want %q", got, want)
		}
	}

	srv.restart()
	for i, s := range []*presence.Subscription{all, room} {
		ev := collect(t, s, 1)[0]
		wantCh := []string{"", "room"}[i]
		if !IsResync(ev) || ev.Channel != wantCh {
			t.Fatalf("after the restart: %+v, want a resync marker for %q", ev, wantCh)
		}
	}
	for _, b := range bs {
		if b.Resyncs() == 0 {
			t.Fatal("Resyncs() = 0 after a restart")
		}
	}
	clk.Add(10 * time.Second) // within one heartbeat interval every member heartbeats again
	for i := 0; ; i++ {       // the first call may meet the connection the restart broke
		err := bs[0].Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u1", Channels: []string{"room"}, Timeout: time.Minute})
		if err == nil {
			break
		}
		if !errors.Is(err, presence.ErrUnavailable) || i == 10 {
			t.Fatal(err)
		}
	}
	hb()
	for _, b := range bs {
		flushRetry(t, b)
	}
	for _, s := range []*presence.Subscription{all, room} {
		if got := render(buffered(s)); !slices.Equal(got, want) {
			t.Fatalf("after the restart: %q, want %q", got, want)
		}
	}
	for i, b := range bs {
		r, err := b.HereNow(ctx, presence.HereNowQuery{Channels: []string{"room"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(r.Channels[0].Occupants); got != 2 || r.TotalOccupancy != 2 {
			t.Fatalf("instance %d: here_now %+v, want u1 and u2", i, r)
		}
	}
}

// TestSameOrderEverywhere: under concurrent operations from three
// instances (and sweeps by all), every instance delivers the same events in
// the same order per channel, and each channel's occupancies replay.
func TestSameOrderEverywhere(t *testing.T) {
	for _, parts := range []int{1, 4} {
		t.Run(fmt.Sprintf("Partitions%d", parts), func(t *testing.T) {
			clk := mockClock()
			cfg := Config{Config: baseConfig(clk), Partitions: parts}
			cfg.AnnounceMax = 3
			cfg.Deltas = true
			bs := instances(t, 3, []string{sharedRedis(t)}, cfg)
			subs := make([]*presence.Subscription, len(bs))
			for i, b := range bs {
				subs[i] = subAll(t, b, 10_000)
			}
			chans := []string{"c0", "c1", "c2", "c3", "c4"}
			for round := range 5 {
				parallel(t, 3, func(i int) error {
					rng := rand.New(rand.NewPCG(uint64(round), uint64(i)))
					b := bs[i]
					for range 60 {
						u := fmt.Sprintf("u%d", rng.IntN(8))
						cs := []string{chans[rng.IntN(len(chans))], chans[rng.IntN(len(chans))]}
						var err error
						switch rng.IntN(5) {
						case 0, 1:
							err = b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: u, Channels: cs, Timeout: time.Duration(1+rng.IntN(20)) * time.Second})
						case 2:
							err = b.Leave(ctx, presence.LeaveRequest{UUID: u, Channels: cs})
						case 3:
							_, err = b.SetState(ctx, presence.SetStateRequest{UUID: u, Channels: cs, State: json.RawMessage(fmt.Sprintf(`{"n":%d}`, rng.IntN(3)))})
						default:
							err = b.Sweep(ctx)
						}
						if err != nil {
							return err
						}
					}
					return nil
				})
				clk.Add(7 * time.Second)
			}
			parallel(t, 3, func(i int) error { return bs[i].Sweep(ctx) })
			flush(t, bs...)
			perChannel := make([]map[string][]string, len(bs))
			actions := map[presence.Action]int{}
			for i, s := range subs {
				perChannel[i] = map[string][]string{}
				for _, ev := range buffered(s) {
					if i == 0 {
						actions[ev.Action]++
					}
					perChannel[i][ev.Channel] = append(perChannel[i][ev.Channel],
						fmt.Sprintf("%s %s %d %s %v %d", ev.Action, ev.UUID, ev.Occupancy, ev.State, ev.Deltas, ev.Timetoken))
				}
			}
			total := 0
			for _, c := range slices.Sorted(maps.Keys(perChannel[0])) {
				total += len(perChannel[0][c])
				for i := 1; i < len(bs); i++ {
					if !slices.Equal(perChannel[i][c], perChannel[0][c]) {
						t.Fatalf("channel %s: instance %d delivered\n%q\ninstance 0 delivered\n%q", c, i, perChannel[i][c], perChannel[0][c])
					}
				}
			}
			for _, a := range []presence.Action{presence.Join, presence.Leave, presence.Timeout, presence.StateChange, presence.Interval} {
				if actions[a] == 0 {
					t.Fatalf("no %s event among %d: the test did not exercise it", a, total)
				}
			}
		})
	}
}
