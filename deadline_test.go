package presence_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
)

// TestReadsAtDeadline is finding 6 of the reliability issue: a membership
// is present while now < deadline. At now == deadline, before any sweep,
// HereNow (named, by group, global, paged), WhereNow, GetState and
// AppendOccupants no longer report it, as Leave (a timeout) and Heartbeat
// (a new join) already treat it; HereNow's occupancy counts what it lists.
// Occupancy may lag until the sweep: it counts at most the members not yet
// swept.
func TestReadsAtDeadline(t *testing.T) {
	clk := presencetest.NewManualClock(presencetest.Epoch)
	e, err := presence.New(presence.Config{Clock: clk, SweepInterval: -1, MinTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.AddChannels(ctx, "g", []string{"c", "only-u"})
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c", "only-u"}, Timeout: 10 * time.Second, State: map[string]any{"c": json.RawMessage(`{"s":1}`)}})
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "v", Channels: []string{"c"}, Timeout: time.Minute, State: map[string]any{"c": json.RawMessage(`{"s":2}`)}})
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "w", Channels: []string{"c"}, Timeout: time.Minute})
	for _, at := range []time.Duration{10*time.Second - time.Nanosecond, time.Nanosecond} {
		clk.Add(at)
		due := clk.Now().Sub(presencetest.Epoch) >= 10*time.Second
		wantC := []string{"u", "v", "w"}
		wantOnly := []string{"u"}
		wantWhere := []string{"c", "only-u"}
		wantState := map[string]string{"c": `{"s":1}`}
		if due {
			wantC, wantOnly, wantWhere, wantState = []string{"v", "w"}, []string{}, []string{}, map[string]string{}
		}
		occupants := func(cp presence.ChannelPresence) []string {
			out := []string{}
			for _, o := range cp.Occupants {
				out = append(out, o.UUID)
			}
			slices.Sort(out)
			return out
		}
		for _, q := range []presence.HereNowQuery{{Channels: []string{"c", "only-u"}}, {Groups: []string{"g"}}, {Channels: []string{"c"}, Groups: []string{"g"}, IncludeState: true}} {
			r, err := e.HereNow(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			c, _ := r.Channel("c")
			o, _ := r.Channel("only-u")
			if got := occupants(c); !slices.Equal(got, wantC) || c.Occupancy != len(wantC) {
				t.Fatalf("at %v, HereNow(%+v): c lists %q with occupancy %d, want %q", clk.Now().Sub(presencetest.Epoch), q, got, c.Occupancy, wantC)
			}
			if got := occupants(o); !slices.Equal(got, wantOnly) || o.Occupancy != len(wantOnly) {
				t.Fatalf("at %v, HereNow(%+v): only-u lists %q with occupancy %d, want %q", clk.Now().Sub(presencetest.Epoch), q, got, o.Occupancy, wantOnly)
			}
			if r.TotalOccupancy != len(wantC)+len(wantOnly) {
				t.Fatalf("at %v: total occupancy %d, want %d", clk.Now().Sub(presencetest.Epoch), r.TotalOccupancy, len(wantC)+len(wantOnly))
			}
		}
		r, _ := e.HereNow(ctx, presence.HereNowQuery{})
		var global []string
		for _, c := range r.Channels {
			global = append(global, c.Channel)
		}
		if want := []string{"c", "only-u"}; due && !slices.Equal(global, want[:1]) || !due && !slices.Equal(global, want) {
			t.Fatalf("at %v: global HereNow lists %q", clk.Now().Sub(presencetest.Epoch), global)
		}
		// pages of c: every present member once
		var paged []string
		for off := 0; off < 4; off++ {
			r, _ := e.HereNow(ctx, presence.HereNowQuery{Channels: []string{"c"}, Limit: 1, Offset: off})
			if r.Channels[0].Occupancy != len(wantC) {
				t.Fatalf("at %v: page at offset %d has occupancy %d, want %d", clk.Now().Sub(presencetest.Epoch), off, r.Channels[0].Occupancy, len(wantC))
			}
			for _, o := range r.Channels[0].Occupants {
				paged = append(paged, o.UUID)
			}
		}
		slices.Sort(paged)
		if !slices.Equal(paged, wantC) {
			t.Fatalf("at %v: pages of c list %q, want %q", clk.Now().Sub(presencetest.Epoch), paged, wantC)
		}
		app, _ := e.AppendOccupants(ctx, nil, "c")
		slices.Sort(app)
		if !slices.Equal(app, wantC) {
			t.Fatalf("at %v: AppendOccupants(c) = %q, want %q", clk.Now().Sub(presencetest.Epoch), app, wantC)
		}
		if w, _ := e.WhereNow(ctx, "u"); !slices.Equal(w, wantWhere) {
			t.Fatalf("at %v: WhereNow(u) = %q, want %q", clk.Now().Sub(presencetest.Epoch), w, wantWhere)
		}
		st, _ := e.GetState(ctx, presence.GetStateRequest{UUID: "u", Channels: []string{"c", "only-u"}})
		got := map[string]string{}
		for k, v := range st {
			got[k] = string(v)
		}
		if len(got) != len(wantState) || got["c"] != wantState["c"] {
			t.Fatalf("at %v: GetState(u) = %v, want %v", clk.Now().Sub(presencetest.Epoch), got, wantState)
		}
		if n, _ := e.Occupancy(ctx, "c"); n < len(wantC) || n > 3 {
			t.Fatalf("at %v: Occupancy(c) = %d, want between the %d present and the 3 not yet swept", clk.Now().Sub(presencetest.Epoch), n, len(wantC))
		}
	}
}

// TestOccupancyLagBound checks the bound of Occupancy's documented lag:
// with the sweeper on, a member past its deadline is counted at most
// until the sweeper's next wake-up, at most SweepInterval after the
// deadline (by the clock). The mock clock moves only when told, so the
// sweep's time is exact.
func TestOccupancyLagBound(t *testing.T) {
	const sweepEvery = 10 * time.Second
	clk := clock.NewMock()
	clk.Set(presencetest.Epoch)
	e, err := presence.New(presence.Config{Clock: clk, SweepInterval: sweepEvery, MinTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sub, _ := e.Subscribe(ctx, presence.SubscribeOptions{All: true})
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}, Timeout: time.Second})
	<-sub.Events() // the join
	deadline := presencetest.Epoch.Add(time.Second)
	clk.Add(time.Second) // at the deadline: reads no longer list u, Occupancy may
	if r, _ := e.HereNow(ctx, presence.HereNowQuery{Channels: []string{"c"}}); r.TotalOccupancy != 0 {
		t.Fatalf("HereNow at the deadline: occupancy %d, want 0", r.TotalOccupancy)
	}
	clk.Add(sweepEvery - time.Second) // the sweeper's wake-up, SweepInterval after New
	ev := <-sub.Events()
	if ev.Action != presence.Timeout || ev.UUID != "u" {
		t.Fatalf("event %+v, want u's timeout", ev)
	}
	if late := ev.Time.Sub(deadline); late < 0 || late > sweepEvery {
		t.Fatalf("swept %v after the deadline, want at most SweepInterval (%v)", late, sweepEvery)
	}
	if n, _ := e.Occupancy(ctx, "c"); n != 0 {
		t.Fatalf("Occupancy after the sweeper's timeout event = %d, want 0", n)
	}
}
