package presencetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
)

// Epoch is the mock clock's start in every suite test.
var Epoch = time.Unix(1_700_000_000, 0)

// env is one suite test's backend and clock.
type env struct {
	t   *testing.T
	b   presence.Backend
	clk *clock.Mock
}

func newEnv(t *testing.T, f Factory, edit func(*presence.Config)) *env {
	t.Helper()
	clk := clock.NewMock()
	clk.Set(Epoch)
	cfg := presence.Config{
		Clock:         clk,
		SweepInterval: -1,
		MinTimeout:    time.Second,
		AnnounceMax:   -1,
	}
	if edit != nil {
		edit(&cfg)
	}
	b := f(t, cfg)
	t.Cleanup(func() { b.Close() })
	return &env{t: t, b: b, clk: clk}
}

func (e *env) hb(uuid string, channels []string, groups []string, timeout time.Duration, state map[string]any) {
	e.t.Helper()
	if err := e.b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid, Channels: channels, Groups: groups, Timeout: timeout, State: state}); err != nil {
		e.t.Fatalf("Heartbeat(%q, %v, %v): %v", uuid, channels, groups, err)
	}
}

func (e *env) advance(d time.Duration) {
	e.t.Helper()
	e.clk.Add(d)
	if err := e.b.Sweep(ctx); err != nil {
		e.t.Fatalf("Sweep: %v", err)
	}
}

func (e *env) sub(opts presence.SubscribeOptions) *presence.Subscription {
	e.t.Helper()
	s, err := e.b.Subscribe(ctx, opts)
	if err != nil {
		e.t.Fatalf("Subscribe(%+v): %v", opts, err)
	}
	e.t.Cleanup(s.Close)
	return s
}

// drain returns the events buffered in s once the backend has delivered
// everything (Flush), without waiting for more.
func (e *env) drain(s *presence.Subscription) []presence.Event {
	e.t.Helper()
	if err := e.b.Flush(ctx); err != nil {
		e.t.Fatalf("Flush: %v", err)
	}
	var out []presence.Event
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

// short renders events as "action channel uuid occupancy [state]" lines.
func short(evs []presence.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		s := fmt.Sprintf("%s %s %s %d", ev.Action, ev.Channel, ev.UUID, ev.Occupancy)
		if ev.State != nil {
			s += " " + string(ev.State)
		}
		if ev.Group != "" {
			s += " via " + ev.Group
		}
		for _, d := range ev.Deltas {
			s += " " + d.Action.String() + ":" + d.UUID
		}
		if ev.HereNowRefresh {
			s += " here_now_refresh"
		}
		out[i] = s
	}
	return out
}

func (e *env) wantEvents(s *presence.Subscription, want ...string) []presence.Event {
	e.t.Helper()
	evs := e.drain(s)
	if got := short(evs); !slices.Equal(got, want) {
		e.t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
	return evs
}

func (e *env) occupants(channel string) []string {
	e.t.Helper()
	r, err := e.b.HereNow(ctx, presence.HereNowQuery{Channels: []string{channel}})
	if err != nil {
		e.t.Fatalf("HereNow(%q): %v", channel, err)
	}
	var out []string
	for _, o := range r.Channels[0].Occupants {
		out = append(out, o.UUID)
	}
	slices.Sort(out)
	return out
}

func (e *env) wantOccupants(channel string, want ...string) {
	e.t.Helper()
	got := e.occupants(channel)
	if !slices.Equal(got, want) {
		e.t.Fatalf("occupants of %q: got %q, want %q", channel, got, want)
	}
	n, err := e.b.Occupancy(ctx, channel)
	if err != nil || n != len(want) {
		e.t.Fatalf("Occupancy(%q) = %d, %v; want %d", channel, n, err, len(want))
	}
}

func (e *env) wantWhere(uuid string, want ...string) {
	e.t.Helper()
	got, err := e.b.WhereNow(ctx, uuid)
	if err != nil {
		e.t.Fatalf("WhereNow(%q): %v", uuid, err)
	}
	if want == nil {
		want = []string{}
	}
	if got == nil || !slices.Equal(got, want) {
		e.t.Fatalf("WhereNow(%q) = %q, want %q", uuid, got, want)
	}
}

func (e *env) wantState(uuid string, channels []string, want map[string]string) {
	e.t.Helper()
	got, err := e.b.GetState(ctx, presence.GetStateRequest{UUID: uuid, Channels: channels})
	if err != nil {
		e.t.Fatalf("GetState(%q, %v): %v", uuid, channels, err)
	}
	g := map[string]string{}
	for k, v := range got {
		g[k] = string(v)
	}
	if fmt.Sprint(g) != fmt.Sprint(want) {
		e.t.Fatalf("GetState(%q, %v) = %v, want %v", uuid, channels, g, want)
	}
}

func wantErr(t *testing.T, what string, err, sentinel error, mention string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s: error %v, want %v", what, err, sentinel)
	}
	if mention != "" && !strings.Contains(err.Error(), mention) {
		t.Fatalf("%s: error %q does not name %q", what, err, mention)
	}
}

// Run runs the behaviour suite against backends made by f. Every subtest
// builds its own backend on a mock clock starting at Epoch.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"JoinRefreshLeave", testJoinRefreshLeave},
		{"TimeoutAtDeadline", testTimeoutAtDeadline},
		{"TimeoutClamp", testTimeoutClamp},
		{"HeartbeatAfterDeadline", testHeartbeatAfterDeadline},
		{"ReadsAtDeadline", testReadsAtDeadline},
		{"ConcurrentSweeps", testConcurrentSweeps},
		{"State", testState},
		{"HeartbeatState", testHeartbeatState},
		{"PendingState", testPendingState},
		{"Groups", testGroups},
		{"GroupLimits", testGroupLimits},
		{"GroupSubscriptions", testGroupSubscriptions},
		{"HereNow", testHereNow},
		{"Paging", testPaging},
		{"Validation", testValidation},
		{"IntervalMode", testIntervalMode},
		{"HereNowRefresh", testHereNowRefresh},
		{"Timetokens", testTimetokens},
		{"SlowConsumer", testSlowConsumer},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, f) })
	}
}

func testJoinRefreshLeave(t *testing.T, f Factory) {
	e := newEnv(t, f, nil)
	s := e.sub(presence.SubscribeOptions{All: true})
	e.hb("alice", []string{"lobby", "game"}, nil, 30*time.Second, nil)
	e.hb("bob", []string{"lobby"}, nil, 30*time.Second, nil)
	e.wantEvents(s, "join lobby alice 1", "join game alice 1", "join lobby bob 2")
	e.advance(20 * time.Second)
	e.hb("alice", []string{"lobby", "game"}, nil, 30*time.Second, nil) // refresh: silent
	e.wantEvents(s)
	e.wantOccupants("lobby", "alice", "bob")
	e.wantWhere("alice", "game", "lobby")
	e.wantWhere("nobody")
	if err := e.b.Leave(ctx, presence.LeaveRequest{UUID: "alice", Channels: []string{"lobby"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.b.Leave(ctx, presence.LeaveRequest{UUID: "alice", Channels: []string{"lobby", "nowhere"}}); err != nil { // absent: no event, no error
		t.Fatal(err)
	}
	e.wantEvents(s, "leave lobby alice 1")
	e.wantOccupants("lobby", "bob")
	e.wantWhere("alice", "game")
	e.advance(15 * time.Second) // bob's deadline (30 s) has passed, alice's refreshed one (50 s) has not
	e.wantEvents(s, "timeout lobby bob 0")
	e.wantOccupants("lobby")
	e.wantWhere("alice", "game")
	st, err := e.b.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Channels != 1 || st.Memberships != 1 || st.UUIDs != 1 || st.Subscriptions != 1 {
		t.Fatalf("Stats = %+v, want 1 channel, 1 membership, 1 uuid, 1 subscription", st)
	}
}

func testTimeoutAtDeadline(t *testing.T, f Factory) {
	e := newEnv(t, f, nil)
	s := e.sub(presence.SubscribeOptions{Channels: []string{"c"}})
	e.hb("u", []string{"c"}, nil, 10*time.Second, nil)
	e.advance(10*time.Second - time.Nanosecond)
	e.wantEvents(s, "join c u 1")
	e.wantOccupants("c", "u")
	e.advance(time.Nanosecond) // now == deadline: due
	evs := e.wantEvents(s, "timeout c u 0")
	if want := Epoch.Add(10 * time.Second); !evs[0].Time.Equal(want) {
		t.Fatalf("timeout time = %v, want the sweep's now %v", evs[0].Time, want)
	}
	e.wantWhere("u")
	// a zero timeout means the default (300 s)
	e.hb("v", []string{"c"}, nil, 0, nil)
	e.advance(299 * time.Second)
	e.wantOccupants("c", "v")
	e.advance(time.Second)
	e.wantOccupants("c")
}

func testTimeoutClamp(t *testing.T, f Factory) {
	e := newEnv(t, f, func(c *presence.Config) { c.MinTimeout = 5 * time.Second; c.MaxTimeout = 60 * time.Second })
	e.hb("short", []string{"c"}, nil, time.Second, nil)
	e.hb("long", []string{"c"}, nil, time.Hour, nil)
	e.advance(4 * time.Second)
	e.wantOccupants("c", "long", "short")
	e.advance(time.Second)
	e.wantOccupants("c", "long")
	e.advance(55 * time.Second)
	e.wantOccupants("c")
	err := e.b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}, Timeout: -time.Second})
	wantErr(t, "negative timeout", err, presence.ErrInvalidTimeout, "-1s")
	// a shorter timeout on a refresh moves the deadline earlier
	e.hb("u", []string{"c"}, nil, 60*time.Second, nil)
	e.hb("u", []string{"c"}, nil, 5*time.Second, nil)
	e.advance(5 * time.Second)
	e.wantOccupants("c")
}

func testHeartbeatAfterDeadline(t *testing.T, f Factory) {
	e := newEnv(t, f, nil)
	s := e.sub(presence.SubscribeOptions{All: true})
	e.hb("u", []string{"c"}, nil, 10*time.Second, nil)
	e.clk.Add(10 * time.Second) // due, not swept
	e.hb("u", []string{"c"}, nil, 10*time.Second, nil)
	e.wantEvents(s, "join c u 1", "timeout c u 0", "join c u 1")
	e.wantOccupants("c", "u")
}

// testReadsAtDeadline: a member is present while now < deadline. At the
// deadline, before any sweep, the reads leave it out; Occupancy and Stats
// may count it until it is removed; a leave then reports a timeout.
func testReadsAtDeadline(t *testing.T, f Factory) {
	e := newEnv(t, f, nil)
	s := e.sub(presence.SubscribeOptions{All: true})
	e.b.AddChannels(ctx, "g", []string{"c"})
	e.hb("u", []string{"c", "d"}, nil, 10*time.Second, map[string]any{"c": json.RawMessage(`{"s":1}`)})
	e.hb("v", []string{"c"}, nil, time.Minute, nil)
	e.clk.Add(10 * time.Second) // u is due on c and d, not swept
	if got := e.occupants("c"); !slices.Equal(got, []string{"v"}) {
		t.Fatalf("occupants of c at u's deadline: %q, want [v]", got)
	}
	r, err := e.b.HereNow(ctx, presence.HereNowQuery{Groups: []string{"g"}, Channels: []string{"d"}, IncludeState: true})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := r.Channel("c"); c.Occupancy != 1 || len(c.Occupants) != 1 || r.TotalOccupancy != 1 {
		t.Fatalf("HereNow at u's deadline = %+v, want c with v alone and d empty", r)
	}
	r, _ = e.b.HereNow(ctx, presence.HereNowQuery{})
	if len(r.Channels) != 1 || r.Channels[0].Channel != "c" {
		t.Fatalf("global HereNow at u's deadline = %+v, want c alone", r)
	}
	e.wantWhere("u")
	e.wantState("u", []string{"c", "d"}, map[string]string{})
	for c, held := range map[string]int{"c": 2, "d": 1} {
		if n, err := e.b.Occupancy(ctx, c); err != nil || n > held {
			t.Fatalf("Occupancy(%s) = %d, %v; want at most the %d members not yet removed", c, n, err, held)
		}
	}
	if err := e.b.Leave(ctx, presence.LeaveRequest{UUID: "u", Channels: []string{"d"}}); err != nil {
		t.Fatal(err)
	}
	e.wantEvents(s, `join c u 1 {"s":1}`, "join d u 1", "join c v 2", "timeout d u 0")
	e.advance(0)
	e.wantEvents(s, "timeout c u 1")
	e.wantOccupants("c", "v")
}

// testConcurrentSweeps: two Sweeps at the same instant each return only
// when every membership due then is gone and its event delivered.
func testConcurrentSweeps(t *testing.T, f Factory) {
	e := newEnv(t, f, nil)
	const n = 1000
	s := e.sub(presence.SubscribeOptions{All: true, Buffer: 2 * n})
	for i := range n {
		e.hb(fmt.Sprintf("u%d", i), []string{fmt.Sprintf("c%d", i%50)}, nil, time.Second, nil)
	}
	e.clk.Add(time.Second)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			if err := e.b.Sweep(ctx); err != nil {
				errs <- err
				return
			}
			st, err := e.b.Stats(ctx)
			if err == nil && st.Memberships != 0 {
				err = fmt.Errorf("%d of %d due memberships present after a Sweep returned", st.Memberships, n)
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := len(e.drain(s)); got != 2*n {
		t.Fatalf("%d events after both Sweeps, want %d joins and %d timeouts", got, n, n)
	}
}

func testState(t *testing.T, f Factory) {
	e := newEnv(t, f, func(c *presence.Config) { c.MaxStateBytes = 64 })
	s := e.sub(presence.SubscribeOptions{All: true})
	e.hb("u", []string{"a", "b"}, nil, time.Minute, nil)
	got, err := e.b.SetState(ctx, presence.SetStateRequest{UUID: "u", Channels: []string{"a", "b"}, State: json.RawMessage(` { "z" : 1, "a" : "x" } `)})
	if err != nil || string(got) != `{"a":"x","z":1}` {
		t.Fatalf("SetState = %s, %v; want canonical {\"a\":\"x\",\"z\":1}", got, err)
	}
	e.wantEvents(s, "join a u 1", "join b u 1", `state-change a u 1 {"a":"x","z":1}`, `state-change b u 1 {"a":"x","z":1}`)
	// SetState always announces, even when equal
	if _, err := e.b.SetState(ctx, presence.SetStateRequest{UUID: "u", Channels: []string{"a"}, State: map[string]any{"z": 1, "a": "x"}}); err != nil {
		t.Fatal(err)
	}
	e.wantEvents(s, `state-change a u 1 {"a":"x","z":1}`)
	e.wantState("u", []string{"a", "b", "c"}, map[string]string{"a": `{"a":"x","z":1}`, "b": `{"a":"x","z":1}`})
	// {} clears
	if got, err := e.b.SetState(ctx, presence.SetStateRequest{UUID: "u", Channels: []string{"a"}, State: json.RawMessage("{}")}); err != nil || string(got) != "{}" {
		t.Fatalf("SetState({}) = %s, %v", got, err)
	}
	e.wantEvents(s, "state-change a u 1 {}")
	e.wantState("u", []string{"a", "b"}, map[string]string{"b": `{"a":"x","z":1}`})
	r, _ := e.b.HereNow(ctx, presence.HereNowQuery{Channels: []string{"a", "b"}, IncludeState: true})
	if len(r.Channels) != 2 || r.Channels[0].Occupants[0].State != nil || string(r.Channels[1].Occupants[0].State) != `{"a":"x","z":1}` {
		t.Fatalf("HereNow with state = %+v", r)
	}
	for _, bad := range []any{"null", "[1]", "3", `"s"`, "{", `{"a":1} x`, nil, []int{1}, json.RawMessage("")} {
		_, err := e.b.SetState(ctx, presence.SetStateRequest{UUID: "u", Channels: []string{"a"}, State: bad})
		wantErr(t, fmt.Sprintf("SetState(%v)", bad), err, presence.ErrInvalidState, "")
	}
	_, err = e.b.SetState(ctx, presence.SetStateRequest{UUID: "u", Channels: []string{"a"}, State: map[string]string{"k": strings.Repeat("x", 64)}})
	wantErr(t, "large state", err, presence.ErrStateTooLarge, "64")
	e.wantEvents(s) // bad input changed nothing
	// leave drops state
	e.b.Leave(ctx, presence.LeaveRequest{UUID: "u", Channels: []string{"b"}})
	e.hb("u", []string{"b"}, nil, time.Minute, nil)
	e.wantState("u", []string{"b"}, map[string]string{})
}

func testHeartbeatState(t *testing.T, f Factory) {
	e := newEnv(t, f, nil)
	s := e.sub(presence.SubscribeOptions{All: true})
	e.hb("u", []string{"a"}, nil, time.Minute, map[string]any{"a": map[string]any{"mood": "ok"}, "zzz": "ignored, not a target"})
	e.wantEvents(s, `join a u 1 {"mood":"ok"}`)
	e.hb("u", []string{"a"}, nil, time.Minute, map[string]any{"a": json.RawMessage(`{"mood": "ok"}`)}) // same state: silent
	e.wantEvents(s)
	e.hb("u", []string{"a"}, nil, time.Minute, map[string]any{"a": json.RawMessage(`{"mood":"sad"}`)})
	e.wantEvents(s, `state-change a u 1 {"mood":"sad"}`)
	e.hb("u", []string{"a"}, nil, time.Minute, nil) // no state given: kept
	e.wantState("u", []string{"a"}, map[string]string{"a": `{"mood":"sad"}`})
	err := e.b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"a", "b"}, State: map[string]any{"b": "[1]"}})
	wantErr(t, "heartbeat with array state", err, presence.ErrInvalidState, "")
	e.wantEvents(s)
	e.wantWhere("u", "a")
}

func testPendingState(t *testing.T, f Factory) {
	e := newEnv(t, f, func(c *presence.Config) { c.DefaultTimeout = 60 * time.Second })
	s := e.sub(presence.SubscribeOptions{All: true})
	if _, err := e.b.SetState(ctx, presence.SetStateRequest{UUID: "u", Channels: []string{"a", "b", "c"}, State: json.RawMessage(`{"k":1}`)}); err != nil {
		t.Fatal(err)
	}
	e.wantEvents(s) // absent: pending, no event
	e.wantState("u", []string{"a", "b"}, map[string]string{"a": `{"k":1}`, "b": `{"k":1}`})
	e.wantOccupants("a")
	if st, _ := e.b.Stats(ctx); st.Memberships != 0 || st.Channels != 0 || st.UUIDs != 0 {
		t.Fatalf("pending state counted in Stats: %+v", st)
	}
	e.hb("u", []string{"a"}, nil, time.Minute, nil) // pending becomes the join's state
	e.hb("u", []string{"b"}, nil, time.Minute, map[string]any{"b": json.RawMessage(`{"k":2}`)})
	e.wantEvents(s, `join a u 1 {"k":1}`, `join b u 1 {"k":2}`)
	if err := e.b.Leave(ctx, presence.LeaveRequest{UUID: "u", Channels: []string{"c"}}); err != nil { // drops pending on c
		t.Fatal(err)
	}
	e.wantState("u", []string{"c"}, map[string]string{})
	e.b.SetState(ctx, presence.SetStateRequest{UUID: "v", Channels: []string{"d"}, State: json.RawMessage(`{"k":3}`)})
	e.advance(59 * time.Second)
	e.b.SetState(ctx, presence.SetStateRequest{UUID: "v", Channels: []string{"d"}, State: json.RawMessage(`{"k":4}`)}) // restarts the pending deadline
	e.advance(59 * time.Second)
	e.wantState("v", []string{"d"}, map[string]string{"d": `{"k":4}`})
	e.advance(time.Second)
	e.wantState("v", []string{"d"}, map[string]string{})
	e.hb("v", []string{"d"}, nil, time.Minute, nil)
	e.drain(s)
	e.wantState("v", []string{"d"}, map[string]string{})
}

func testGroups(t *testing.T, f Factory) {
	e := newEnv(t, f, nil)
	if err := e.b.AddChannels(ctx, "g", []string{"c2", "c1", "c2"}); err != nil {
		t.Fatal(err)
	}
	if err := e.b.AddChannels(ctx, "h", []string{"c1", "c3"}); err != nil {
		t.Fatal(err)
	}
	chs, _ := e.b.GroupChannels(ctx, "g")
	if !slices.Equal(chs, []string{"c1", "c2"}) {
		t.Fatalf("GroupChannels(g) = %q", chs)
	}
	if chs, _ := e.b.GroupChannels(ctx, "none"); chs == nil || len(chs) != 0 {
		t.Fatalf("GroupChannels(none) = %#v, want empty", chs)
	}
	gs, _ := e.b.Groups(ctx)
	if !slices.Equal(gs, []string{"g", "h"}) {
		t.Fatalf("Groups() = %q", gs)
	}
	e.wantOccupants("c1") // adding to a group joins nobody
	s := e.sub(presence.SubscribeOptions{All: true})
	// state: channel's own entry wins, then the group named first
	e.hb("u", []string{"c3"}, []string{"h", "g"}, time.Minute, map[string]any{"g": json.RawMessage(`{"from":"g"}`), "h": json.RawMessage(`{"from":"h"}`), "c3": json.RawMessage(`{"from":"c3"}`)})
	got := short(e.drain(s))
	slices.Sort(got)
	want := []string{`join c1 u 1 {"from":"h"}`, `join c2 u 1 {"from":"g"}`, `join c3 u 1 {"from":"c3"}`}
	if !slices.Equal(got, want) {
		t.Fatalf("joins through groups: got %q, want %q", got, want)
	}
	r, err := e.b.HereNow(ctx, presence.HereNowQuery{Groups: []string{"g"}})
	if err != nil || r.TotalChannels != 2 || r.TotalOccupancy != 2 {
		t.Fatalf("HereNow(group g) = %+v, %v", r, err)
	}
	// groups expand at the moment of the call
	e.b.RemoveChannels(ctx, "g", []string{"c2"})
	e.b.Leave(ctx, presence.LeaveRequest{UUID: "u", Groups: []string{"g"}})
	e.wantEvents(s, "leave c1 u 0")
	e.wantWhere("u", "c2", "c3")
	// only empty or unknown groups: not global, nothing happens
	e.b.DeleteGroup(ctx, "g")
	e.b.DeleteGroup(ctx, "g")
	if chs, _ := e.b.GroupChannels(ctx, "g"); len(chs) != 0 {
		t.Fatalf("deleted group lists %q", chs)
	}
	r, err = e.b.HereNow(ctx, presence.HereNowQuery{Groups: []string{"g", "unknown"}})
	if err != nil || len(r.Channels) != 0 || r.TotalOccupancy != 0 {
		t.Fatalf("HereNow(empty groups) = %+v, %v; want empty, not global", r, err)
	}
	e.hb("w", nil, []string{"unknown"}, 0, nil)
	if _, err := e.b.SetState(ctx, presence.SetStateRequest{UUID: "w", Groups: []string{"unknown"}, State: json.RawMessage(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	e.wantEvents(s)
	e.wantWhere("w")
}

func testGroupLimits(t *testing.T, f Factory) {
	e := newEnv(t, f, func(c *presence.Config) { c.MaxGroupChannels = 5; c.MaxGroupEdit = 3 })
	err := e.b.AddChannels(ctx, "g", []string{"a", "b", "c", "d"})
	wantErr(t, "4 channels in one edit", err, presence.ErrTooManyChannels, `"g"`)
	for _, batch := range [][]string{{"a", "b", "c"}, {"c", "d"}} {
		if err := e.b.AddChannels(ctx, "g", batch); err != nil {
			t.Fatal(err)
		}
	}
	err = e.b.AddChannels(ctx, "g", []string{"e", "f"})
	wantErr(t, "group over 5", err, presence.ErrGroupFull, `"g"`)
	if chs, _ := e.b.GroupChannels(ctx, "g"); len(chs) != 4 {
		t.Fatalf("a refused add changed the group: %q", chs)
	}
	err = e.b.AddChannels(ctx, "g", []string{"ok", "bad,name"})
	wantErr(t, "bad channel in group add", err, presence.ErrInvalidName, `"bad,name"`)
	if chs, _ := e.b.GroupChannels(ctx, "g"); len(chs) != 4 {
		t.Fatalf("a refused add changed the group: %q", chs)
	}
}

func testGroupSubscriptions(t *testing.T, f Factory) {
	e := newEnv(t, f, nil)
	e.b.AddChannels(ctx, "g1", []string{"a", "b"})
	e.b.AddChannels(ctx, "g2", []string{"b", "c"})
	s12 := e.sub(presence.SubscribeOptions{Groups: []string{"g2", "g1"}})
	sb := e.sub(presence.SubscribeOptions{Channels: []string{"b"}, Groups: []string{"g1"}})
	e.hb("u", []string{"a", "b", "c", "d"}, nil, time.Minute, nil)
	e.wantEvents(s12, "join a u 1 via g1", "join b u 1 via g2", "join c u 1 via g2")
	e.wantEvents(sb, "join a u 1 via g1", "join b u 1")
	// group subscriptions follow membership at the moment of each event
	e.b.AddChannels(ctx, "g1", []string{"d"})
	e.b.RemoveChannels(ctx, "g1", []string{"a"})
	e.b.Leave(ctx, presence.LeaveRequest{UUID: "u", Channels: []string{"a", "d"}})
	e.wantEvents(s12, "leave d u 0 via g1")
	e.wantEvents(sb, "leave d u 0 via g1")
}

func testHereNow(t *testing.T, f Factory) {
	e := newEnv(t, f, nil)
	e.hb("u1", []string{"a", "b"}, nil, time.Minute, nil)
	e.hb("u2", []string{"a"}, nil, time.Minute, map[string]any{"a": json.RawMessage(`{"n":2}`)})
	r, err := e.b.HereNow(ctx, presence.HereNowQuery{Channels: []string{"b", "empty", "a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range r.Channels {
		names = append(names, fmt.Sprintf("%s:%d:%d", c.Channel, c.Occupancy, len(c.Occupants)))
	}
	if !slices.Equal(names, []string{"b:1:1", "empty:0:0", "a:2:2"}) || r.TotalChannels != 3 || r.TotalOccupancy != 3 {
		t.Fatalf("HereNow(b, empty, a) = %q totals %d/%d", names, r.TotalChannels, r.TotalOccupancy)
	}
	if c, _ := r.Channel("a"); c.Occupants[0].State != nil || c.Occupants[1].State != nil {
		t.Fatalf("state included without IncludeState: %+v", c)
	}
	if c, _ := r.Channel("empty"); c.Occupants == nil {
		t.Fatalf("an empty named channel lists nil occupants, want empty")
	}
	r, _ = e.b.HereNow(ctx, presence.HereNowQuery{})
	names = names[:0]
	for _, c := range r.Channels {
		names = append(names, fmt.Sprintf("%s:%d", c.Channel, c.Occupancy))
	}
	if !slices.Equal(names, []string{"a:2", "b:1"}) || r.TotalOccupancy != 3 {
		t.Fatalf("global HereNow = %q total %d", names, r.TotalOccupancy)
	}
	r, _ = e.b.HereNow(ctx, presence.HereNowQuery{Channels: []string{"a"}, OccupancyOnly: true})
	if r.Channels[0].Occupancy != 2 || r.Channels[0].Occupants != nil {
		t.Fatalf("occupancy only = %+v", r.Channels[0])
	}
	r, _ = e.b.HereNow(ctx, presence.HereNowQuery{Channels: []string{"a"}, IncludeState: true})
	states := map[string]string{}
	for _, o := range r.Channels[0].Occupants {
		states[o.UUID] = string(o.State)
	}
	if states["u1"] != "" || states["u2"] != `{"n":2}` {
		t.Fatalf("HereNow states = %v", states)
	}
}

func testPaging(t *testing.T, f Factory) {
	e := newEnv(t, f, nil)
	for i := range 8 {
		e.hb(fmt.Sprintf("u%d", i), []string{"c"}, nil, time.Minute, nil)
	}
	var all []string
	for off := 0; off < 10; off += 3 {
		r, err := e.b.HereNow(ctx, presence.HereNowQuery{Channels: []string{"c"}, Limit: 3, Offset: off})
		if err != nil {
			t.Fatal(err)
		}
		if r.Channels[0].Occupancy != 8 || r.TotalOccupancy != 8 {
			t.Fatalf("paging changed occupancy: %+v", r)
		}
		for _, o := range r.Channels[0].Occupants {
			all = append(all, o.UUID)
		}
	}
	slices.Sort(all)
	if len(all) != 8 || len(slices.Compact(all)) != 8 {
		t.Fatalf("pages overlap or skip: %q", all)
	}
	r, _ := e.b.HereNow(ctx, presence.HereNowQuery{Channels: []string{"c"}, Offset: 100})
	if len(r.Channels[0].Occupants) != 0 || r.Channels[0].Occupancy != 8 {
		t.Fatalf("offset past the end = %+v", r.Channels[0])
	}
	for _, q := range []presence.HereNowQuery{{Limit: -1}, {Limit: 1001}, {Offset: -1}} {
		_, err := e.b.HereNow(ctx, q)
		wantErr(t, fmt.Sprintf("HereNow(%+v)", q), err, presence.ErrInvalidPaging, "")
	}
}

func testValidation(t *testing.T, f Factory) {
	e := newEnv(t, f, func(c *presence.Config) { c.MaxNamesPerCall = 4 })
	s := e.sub(presence.SubscribeOptions{All: true})
	e.hb("u", []string{"keep"}, nil, time.Minute, nil)
	e.drain(s)
	bad := map[string]string{
		"":                             "empty",
		"a,b":                          "','",
		"tab\there":                    "control",
		"c1\u0085":                     "control",
		"x-pnpres":                     "-pnpres",
		strings.Repeat("n", 93):        "92",
		string([]byte{'a', 0xff, 'b'}): "UTF-8",
		"del\x7f":                      "control",
	}
	for name, why := range bad {
		err := e.b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"ok1", name, "ok2"}})
		wantErr(t, fmt.Sprintf("channel %q", name), err, presence.ErrInvalidName, why)
		err = e.b.Leave(ctx, presence.LeaveRequest{UUID: "u", Channels: []string{"keep"}, Groups: []string{name}})
		if name != "" || true {
			wantErr(t, fmt.Sprintf("group %q", name), err, presence.ErrInvalidName, "")
		}
		if name != "x-pnpres" { // a uuid may end in -pnpres
			_, err = e.b.SetState(ctx, presence.SetStateRequest{UUID: name, Channels: []string{"keep"}, State: json.RawMessage(`{"a":1}`)})
			wantErr(t, fmt.Sprintf("uuid %q", name), err, presence.ErrInvalidName, "")
		}
	}
	if err := e.b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "x-pnpres", Channels: []string{"keep"}}); err != nil {
		t.Fatalf("uuid ending in -pnpres: %v", err)
	}
	err := e.b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"a", "b", "c"}, Groups: []string{"g1", "g2"}})
	wantErr(t, "5 names", err, presence.ErrTooManyNames, "5")
	if err := e.b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"a", "a", "b", "c", "a"}, Groups: []string{"g1"}}); err != nil {
		t.Fatalf("4 distinct names: %v", err)
	}
	_, err = e.b.HereNow(ctx, presence.HereNowQuery{Channels: []string{"a", "b", "c", "d", "e"}})
	wantErr(t, "5 names in here_now", err, presence.ErrTooManyNames, "")
	e.wantEvents(s, "join keep x-pnpres 2", "join a u 1", "join b u 1", "join c u 1")
	e.wantWhere("u", "a", "b", "c", "keep")
}

func testIntervalMode(t *testing.T, f Factory) {
	e := newEnv(t, f, func(c *presence.Config) { c.AnnounceMax = 2; c.Interval = 10 * time.Second; c.Deltas = true })
	s := e.sub(presence.SubscribeOptions{Channels: []string{"c"}})
	e.hb("u1", []string{"c"}, nil, time.Minute, nil)
	e.hb("u2", []string{"c"}, nil, time.Minute, nil)
	e.advance(time.Second)
	e.hb("u3", []string{"c"}, nil, time.Minute, nil) // above AnnounceMax: not announced alone
	e.hb("u4", []string{"c"}, nil, time.Minute, nil)
	e.b.Leave(ctx, presence.LeaveRequest{UUID: "u4", Channels: []string{"c"}})
	e.b.SetState(ctx, presence.SetStateRequest{UUID: "u1", Channels: []string{"c"}, State: json.RawMessage(`{"s":1}`)}) // still announced
	e.wantEvents(s, "join c u1 1", "join c u2 2", `state-change c u1 3 {"s":1}`)
	e.advance(9 * time.Second)
	e.wantEvents(s)
	e.advance(time.Second) // 10 s after entering interval mode
	evs := e.wantEvents(s, "interval c  3 join:u3 join:u4 leave:u4")
	if !slices.Equal(evs[0].Joined(), []string{"u3", "u4"}) || !slices.Equal(evs[0].Left(), []string{"u4"}) {
		t.Fatalf("Joined/Left = %q/%q", evs[0].Joined(), evs[0].Left())
	}
	e.advance(10 * time.Second) // emitted even when nothing changed
	e.wantEvents(s, "interval c  3")
	e.b.Leave(ctx, presence.LeaveRequest{UUID: "u2", Channels: []string{"c"}}) // back to AnnounceMax: flushed at once
	e.wantEvents(s, "interval c  2 leave:u2")
	e.advance(10 * time.Second)
	e.b.Leave(ctx, presence.LeaveRequest{UUID: "u1", Channels: []string{"c"}})
	e.wantEvents(s, "leave c u1 1")
	// without deltas: occupancy only
	e2 := newEnv(t, f, func(c *presence.Config) { c.AnnounceMax = 1; c.Interval = 5 * time.Second })
	s2 := e2.sub(presence.SubscribeOptions{All: true})
	e2.hb("a", []string{"c"}, nil, time.Minute, nil)
	e2.hb("b", []string{"c"}, nil, time.Minute, nil)
	e2.advance(5 * time.Second)
	e2.wantEvents(s2, "join c a 1", "interval c  2")
}

func testHereNowRefresh(t *testing.T, f Factory) {
	e := newEnv(t, f, func(c *presence.Config) { c.AnnounceMax = 1; c.Deltas = true; c.MaxNamesPerCall = 100 })
	s := e.sub(presence.SubscribeOptions{Channels: []string{"c"}})
	long := strings.Repeat("u", 88)
	n := 0
	for size := 0; size <= 30000; n++ {
		e.hb(fmt.Sprintf("%s%04d", long, n), []string{"c"}, nil, time.Minute, nil)
		if n > 0 {
			size += 92 + 2 + 1
		}
	}
	e.advance(10 * time.Second)
	evs := e.drain(s)
	last := evs[len(evs)-1]
	if last.Action != presence.Interval || !last.HereNowRefresh || last.Deltas != nil || last.Occupancy != n {
		t.Fatalf("large interval = %+v, want here_now_refresh without deltas, occupancy %d", short([]presence.Event{last}), n)
	}
}

func testTimetokens(t *testing.T, f Factory) {
	e := newEnv(t, f, nil)
	s := e.sub(presence.SubscribeOptions{All: true})
	for i := range 5 {
		e.hb(fmt.Sprintf("u%d", i), []string{"a", "b"}, nil, time.Minute, nil)
	}
	e.advance(time.Second)
	e.b.Leave(ctx, presence.LeaveRequest{UUID: "u0", Channels: []string{"a"}})
	evs := e.drain(s)
	if len(evs) != 11 {
		t.Fatalf("got %d events, want 11", len(evs))
	}
	for i, ev := range evs {
		if i > 0 && ev.Timetoken <= evs[i-1].Timetoken {
			t.Fatalf("timetoken %d after %d: not increasing", ev.Timetoken, evs[i-1].Timetoken)
		}
		if ev.Timetoken < ev.Time.UnixNano()/100 || ev.Time.Before(Epoch) {
			t.Fatalf("event %d: time %v timetoken %d", i, ev.Time, ev.Timetoken)
		}
	}
	if want := Epoch.Add(time.Second); !evs[10].Time.Equal(want) {
		t.Fatalf("leave time = %v, want the clock's %v", evs[10].Time, want)
	}
	if st, _ := e.b.Stats(ctx); st.Events != 11 {
		t.Fatalf("Stats.Events = %d, want 11", st.Events)
	}
}

func testSlowConsumer(t *testing.T, f Factory) {
	e := newEnv(t, f, nil)
	slow := e.sub(presence.SubscribeOptions{All: true, Buffer: 2})
	fast := e.sub(presence.SubscribeOptions{All: true, Buffer: 100})
	for i := range 5 {
		e.hb(fmt.Sprintf("u%d", i), []string{"c"}, nil, time.Minute, nil)
	}
	if got := e.drain(fast); len(got) != 5 {
		t.Fatalf("fast subscriber got %d events, want 5", len(got))
	}
	got := e.drain(slow)
	if len(got) != 2 || got[0].UUID != "u0" || got[1].UUID != "u1" {
		t.Fatalf("slow subscriber got %q, want the first 2 buffered events", short(got))
	}
	if _, open := <-slow.Events(); open {
		t.Fatal("slow subscription still open")
	}
	if !errors.Is(slow.Err(), presence.ErrSlowConsumer) {
		t.Fatalf("slow.Err() = %v, want ErrSlowConsumer", slow.Err())
	}
	st, _ := e.b.Stats(ctx)
	if st.SlowSubscriptions != 1 || st.Subscriptions != 1 {
		t.Fatalf("Stats = %+v, want 1 slow, 1 open", st)
	}
	if fast.Err() != nil {
		t.Fatalf("fast.Err() = %v", fast.Err())
	}
}

func testClose(t *testing.T, f Factory) {
	e := newEnv(t, f, nil)
	s := e.sub(presence.SubscribeOptions{All: true})
	e.hb("u", []string{"c"}, nil, time.Minute, nil)
	if err := e.b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	got := 0
	for range s.Events() {
		got++
	}
	if got != 1 || !errors.Is(s.Err(), presence.ErrClosed) {
		t.Fatalf("after Close: %d events, Err %v; want 1 and ErrClosed", got, s.Err())
	}
	calls := map[string]error{}
	calls["Heartbeat"] = e.b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}})
	calls["Leave"] = e.b.Leave(ctx, presence.LeaveRequest{UUID: "u", Channels: []string{"c"}})
	_, calls["SetState"] = e.b.SetState(ctx, presence.SetStateRequest{UUID: "u", Channels: []string{"c"}, State: json.RawMessage(`{}`)})
	_, calls["GetState"] = e.b.GetState(ctx, presence.GetStateRequest{UUID: "u", Channels: []string{"c"}})
	_, calls["HereNow"] = e.b.HereNow(ctx, presence.HereNowQuery{})
	_, calls["Occupancy"] = e.b.Occupancy(ctx, "c")
	_, calls["WhereNow"] = e.b.WhereNow(ctx, "u")
	calls["AddChannels"] = e.b.AddChannels(ctx, "g", []string{"c"})
	calls["RemoveChannels"] = e.b.RemoveChannels(ctx, "g", []string{"c"})
	_, calls["GroupChannels"] = e.b.GroupChannels(ctx, "g")
	_, calls["Groups"] = e.b.Groups(ctx)
	calls["DeleteGroup"] = e.b.DeleteGroup(ctx, "g")
	_, calls["Subscribe"] = e.b.Subscribe(ctx, presence.SubscribeOptions{All: true})
	calls["Sweep"] = e.b.Sweep(ctx)
	_, calls["Stats"] = e.b.Stats(ctx)
	for name, err := range calls {
		if !errors.Is(err, presence.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}
