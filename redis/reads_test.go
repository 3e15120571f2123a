package presenceredis

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/presencekit/presence"
)

// pagesOf reads channel c's occupants page by page (limit each) and checks
// that every page reports the same occupancy, which counts exactly the
// occupants listed.
func pagesOf(t *testing.T, b *Backend, c string, limit int) []string {
	t.Helper()
	var all []string
	occ := -1
	for off := 0; ; off += limit {
		r, err := b.HereNow(ctx, presence.HereNowQuery{Channels: []string{c}, Offset: off, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		cp, _ := r.Channel(c)
		if occ >= 0 && cp.Occupancy != occ {
			t.Fatalf("%s: occupancy %d at offset %d, %d before", c, cp.Occupancy, off, occ)
		}
		occ = cp.Occupancy
		if len(cp.Occupants) == 0 {
			break
		}
		for _, o := range cp.Occupants {
			all = append(all, o.UUID)
		}
	}
	if occ != len(all) {
		t.Fatalf("%s: occupancy %d, %d occupants listed (%q)", c, occ, len(all), all)
	}
	return all
}

// TestReadsAtDeadlinePaths: at a member's deadline, before any sweep, the
// reads leave it out, to the nanosecond, with a few memberships due in the
// partition (skipped by rank) and with more than here_now collects at once
// (every member checked), pages staying in byte order without overlap or
// gap; with one partition, and with four (the suite's ReadsAtDeadline
// checks a cross-channel event order, so it is not run partitioned).
func TestReadsAtDeadlinePaths(t *testing.T) {
	for _, tc := range []struct {
		name       string
		many       bool
		partitions int
	}{{"FewDue", false, 1}, {"ManyDue", true, 1}, {"FewDuePartitioned", false, 4}, {"ManyDuePartitioned", true, 4}} {
		many := tc.many
		t.Run(tc.name, func(t *testing.T) {
			clk := mockClock()
			b := newBackend(t, newClient(t, sharedRedis(t)), Config{Config: baseConfig(clk), Prefix: uniquePrefix(t), Partitions: tc.partitions})
			var want []string
			var reqs []presence.HeartbeatRequest
			for i := range 20 {
				u := fmt.Sprintf("u%02d", i)
				timeout := time.Minute
				if i%3 == 1 {
					timeout = 10 * time.Second // due at epoch + 10 s + 1 ns
				} else {
					want = append(want, u)
				}
				reqs = append(reqs, presence.HeartbeatRequest{UUID: u, Channels: []string{"a"}, Timeout: timeout,
					State: map[string]any{"a": json.RawMessage(`{"i":1}`)}})
			}
			if many {
				for i := range 1100 {
					reqs = append(reqs, presence.HeartbeatRequest{UUID: fmt.Sprintf("x%04d", i), Channels: []string{"x"}, Timeout: 10 * time.Second})
				}
			}
			clk.Add(time.Nanosecond)
			if err := b.Heartbeats(ctx, reqs...); err != nil {
				t.Fatal(err)
			}
			clk.Add(10 * time.Second) // epoch + 10 s + 1 ns
			for _, limit := range []int{1, 3, 7, 100} {
				if got := pagesOf(t, b, "a", limit); !slices.Equal(got, want) {
					t.Fatalf("pages of a (limit %d) at the deadline = %q, want %q", limit, got, want)
				}
			}
			r, err := b.HereNow(ctx, presence.HereNowQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Channels) != 1 || r.Channels[0].Channel != "a" || r.TotalOccupancy != len(want) || r.TotalChannels != 1 {
				t.Fatalf("global HereNow at the deadline = %+v, want a alone with %d", r, len(want))
			}
			if got, _ := b.WhereNow(ctx, "u01"); len(got) != 0 {
				t.Fatalf("WhereNow(u01) at its deadline = %q, want none", got)
			}
			if got, _ := b.GetState(ctx, presence.GetStateRequest{UUID: "u01", Channels: []string{"a"}}); len(got) != 0 {
				t.Fatalf("GetState(u01) at its deadline = %v, want none", got)
			}
			if got, _ := b.GetState(ctx, presence.GetStateRequest{UUID: "u00", Channels: []string{"a"}}); string(got["a"]) != `{"i":1}` {
				t.Fatalf("GetState(u00) before its deadline = %v, want its state", got)
			}
			if err := b.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			st, _ := b.Stats(ctx)
			if st.Memberships != len(want) {
				t.Fatalf("after a sweep at the deadline: %d memberships, want %d", st.Memberships, len(want))
			}
		})
	}
}

// TestDeadlineNanoseconds: deadlines and pending state expire at their
// instant to the nanosecond, for reads, heartbeats and sweeps alike.
func TestDeadlineNanoseconds(t *testing.T) {
	clk := mockClock()
	b := newBackend(t, newClient(t, sharedRedis(t)), Config{Config: baseConfig(clk), Prefix: uniquePrefix(t)})
	s := subAll(t, b, 16)
	clk.Add(1500 * time.Nanosecond)
	hb := func(u string) {
		t.Helper()
		if err := b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: u, Channels: []string{"c"}, Timeout: 10 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	hb("u") // due at epoch + 10 s + 1500 ns
	if _, err := b.SetState(ctx, presence.SetStateRequest{UUID: "p", Channels: []string{"c"}, State: map[string]int{"p": 1}}); err != nil {
		t.Fatal(err)
	}
	clk.Set(epoch.Add(10*time.Second + 1499*time.Nanosecond)) // 1 ns before
	if got := pagesOf(t, b, "c", 10); !slices.Equal(got, []string{"u"}) {
		t.Fatalf("occupants 1 ns before the deadline = %q, want [u]", got)
	}
	hb("v") // a heartbeat in the same microsecond, 1 ns later
	clk.Add(time.Nanosecond)
	if got := pagesOf(t, b, "c", 10); !slices.Equal(got, []string{"v"}) {
		t.Fatalf("occupants at u's deadline = %q, want [v]", got)
	}
	if err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pagesOf(t, b, "c", 10); !slices.Equal(got, []string{"v"}) {
		t.Fatalf("occupants after the sweep at u's deadline = %q, want [v]", got)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range buffered(s) {
		got = append(got, ev.Action.String()+" "+ev.UUID)
	}
	if want := []string{"join u", "join v", "timeout u"}; !slices.Equal(got, want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
	// p's pending state, set at epoch + 1500 ns, lasts the default timeout
	exp := epoch.Add(1500*time.Nanosecond + presence.DefaultTimeout)
	for _, tc := range []struct {
		at   time.Time
		want map[string]string
	}{{exp.Add(-time.Nanosecond), map[string]string{"c": `{"p":1}`}}, {exp, map[string]string{}}} {
		clk.Set(tc.at)
		st, err := b.GetState(ctx, presence.GetStateRequest{UUID: "p", Channels: []string{"c"}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for c, v := range st {
			got[c] = string(v)
		}
		if !maps.Equal(got, tc.want) {
			t.Fatalf("pending state at %v = %v, want %v", tc.at.Sub(epoch), got, tc.want)
		}
	}
}

// TestIntervalTickNanoseconds: a channel's interval ticks fall on the
// instant it entered interval mode plus whole intervals, to the nanosecond.
func TestIntervalTickNanoseconds(t *testing.T) {
	clk := mockClock()
	cfg := baseConfig(clk)
	cfg.AnnounceMax, cfg.Interval = presence.AlwaysIntervalMode, 10*time.Second
	b := newBackend(t, newClient(t, sharedRedis(t)), Config{Config: cfg, Prefix: uniquePrefix(t)})
	s := subAll(t, b, 16)
	clk.Add(1500 * time.Nanosecond)
	if err := b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Duration
		want int
	}{{10*time.Second + 1499, 0}, {10*time.Second + 1500, 1}, {20*time.Second + 1499, 0}, {20*time.Second + 1500, 1}} {
		clk.Set(epoch.Add(tc.at))
		if err := b.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := len(buffered(s)); got != tc.want {
			t.Fatalf("interval events at %v: %d, want %d", tc.at, got, tc.want)
		}
	}
}
