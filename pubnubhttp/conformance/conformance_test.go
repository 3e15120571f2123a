package conformance

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/pubnubhttp"
	pubnub "github.com/pubnub/go/v7"
)

// startServer runs the presence server on a loopback port and returns its
// origin ("127.0.0.1:PORT"), as cmd/presenced does with the same Config.
func startServer(t *testing.T, cfg presence.Config) string {
	t.Helper()
	eng, err := presence.New(cfg)
	if err != nil {
		t.Fatalf("presence.New: %v", err)
	}
	h, err := pubnubhttp.New(eng, pubnubhttp.Options{PollTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("pubnubhttp.New: %v", err)
	}
	// Through Listen, as cmd/presenced serves: long-polls are parked.
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = pubnubhttp.Listen(srv.Listener)
	srv.Start()
	t.Cleanup(func() {
		_ = h.Close() // answers held long-polls, so srv.Close need not wait
		srv.Close()
		_ = eng.Close()
	})
	u, _ := url.Parse(srv.URL)
	return u.Host
}

// newClient returns a PubNub Go SDK client with user id uuid pointed at
// origin: the configuration the README shows.
func newClient(t *testing.T, origin, uuid string) *pubnub.PubNub {
	t.Helper()
	config := pubnub.NewConfigWithUserId(pubnub.UserId(uuid))
	config.SubscribeKey = "demo"
	config.PublishKey = "demo"
	config.Origin = origin // e.g. "127.0.0.1:8090"
	config.Secure = false  // the server speaks plain HTTP
	pn := pubnub.NewPubNub(config)
	// Not pn.Destroy: in v7.3.2 it closes a channel that a subscribe loop
	// still starting may send on ("send on closed channel" panic in
	// subscribeMessageWorker). UnsubscribeAll ends the loop and sends leave.
	t.Cleanup(pn.UnsubscribeAll)
	return pn
}

// eventually retries check until it returns "" or 15 s pass; presence made
// by subscribe is asynchronous in the SDK.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func occupants(ch pubnub.HereNowChannelData) []string {
	var out []string
	for _, o := range ch.Occupants {
		out = append(out, o.UUID)
	}
	sort.Strings(out)
	return out
}

func channelData(res *pubnub.HereNowResponse, name string) (pubnub.HereNowChannelData, bool) {
	for _, c := range res.Channels {
		if c.ChannelName == name {
			return c, true
		}
	}
	return pubnub.HereNowChannelData{}, false
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestTime(t *testing.T) {
	origin := startServer(t, presence.Config{})
	pn := newClient(t, origin, "timekeeper")
	before := time.Now().UnixNano() / 100
	res, _, err := pn.Time().Execute()
	if err != nil {
		t.Fatalf("Time: %v", err)
	}
	if res.Timetoken < before || res.Timetoken > time.Now().UnixNano()/100 {
		t.Errorf("Time: timetoken %d, want now (%d)", res.Timetoken, before)
	}
}

func TestChannelGroups(t *testing.T) {
	origin := startServer(t, presence.Config{})
	pn := newClient(t, origin, "admin")
	if _, _, err := pn.AddChannelToChannelGroup().Channels([]string{"c2", "c1", "c3"}).ChannelGroup("cg").Execute(); err != nil {
		t.Fatalf("AddChannelToChannelGroup: %v", err)
	}
	list := func() []string {
		t.Helper()
		res, _, err := pn.ListChannelsInChannelGroup().ChannelGroup("cg").Execute()
		if err != nil {
			t.Fatalf("ListChannelsInChannelGroup: %v", err)
		}
		if res.ChannelGroup != "cg" {
			t.Errorf("ListChannelsInChannelGroup: group %q, want cg", res.ChannelGroup)
		}
		return res.Channels
	}
	if got, want := list(), []string{"c1", "c2", "c3"}; !slices.Equal(got, want) {
		t.Errorf("channels %v, want %v", got, want)
	}
	if _, _, err := pn.RemoveChannelFromChannelGroup().Channels([]string{"c2"}).ChannelGroup("cg").Execute(); err != nil {
		t.Fatalf("RemoveChannelFromChannelGroup: %v", err)
	}
	if got, want := list(), []string{"c1", "c3"}; !slices.Equal(got, want) {
		t.Errorf("after remove: channels %v, want %v", got, want)
	}
	if _, _, err := pn.DeleteChannelGroup().ChannelGroup("cg").Execute(); err != nil {
		t.Fatalf("DeleteChannelGroup: %v", err)
	}
	if got := list(); len(got) != 0 {
		t.Errorf("after delete: channels %v, want none", got)
	}
	// Bad input comes back as an error, not a silent success.
	if _, _, err := pn.AddChannelToChannelGroup().Channels([]string{"ok"}).ChannelGroup("bad-pnpres").Execute(); err == nil {
		t.Errorf("AddChannelToChannelGroup to group bad-pnpres: no error, want 400")
	}
}

// TestPresenceCalls has three clients join in three ways (subscribe with
// state, heartbeat with state, subscribe through a channel group) and
// checks here_now in every shape, where_now, set/get state and leave.
func TestPresenceCalls(t *testing.T) {
	origin := startServer(t, presence.Config{SweepInterval: 100 * time.Millisecond})
	alice := newClient(t, origin, "alice")
	bob := newClient(t, origin, "bob")
	carol := newClient(t, origin, "carol")

	if _, _, err := alice.AddChannelToChannelGroup().Channels([]string{"b", "c"}).ChannelGroup("g").Execute(); err != nil {
		t.Fatalf("AddChannelToChannelGroup: %v", err)
	}
	alice.Subscribe().Channels([]string{"a", "b"}).State(map[string]any{"role": "host"}).Execute()
	if _, _, err := bob.Heartbeat().Channels([]string{"a"}).State(map[string]any{"a": map[string]any{"role": "guest"}}).Execute(); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	carol.Subscribe().ChannelGroups([]string{"g"}).Execute()

	eventually(t, "here_now of a, b, c", func() string {
		res, _, err := bob.HereNow().Channels([]string{"a", "b", "c"}).Execute()
		if err != nil {
			return err.Error()
		}
		if res.TotalOccupancy != 5 || res.TotalChannels != 3 {
			return fmt.Sprintf("total occupancy %d, channels %d; want 5 and 3", res.TotalOccupancy, res.TotalChannels)
		}
		return ""
	})

	// Single channel, with state.
	res, _, err := carol.HereNow().Channels([]string{"a"}).IncludeUUIDs(true).IncludeState(true).Execute()
	if err != nil {
		t.Fatalf("HereNow(a): %v", err)
	}
	a, _ := channelData(res, "a")
	if len(res.Channels) != 1 || a.Occupancy != 2 || !slices.Equal(occupants(a), []string{"alice", "bob"}) {
		t.Errorf("HereNow(a): %s, want occupancy 2: alice, bob", asJSON(res))
	}
	for _, o := range a.Occupants {
		want := map[string]string{"alice": "host", "bob": "guest"}[o.UUID]
		if o.State["role"] != want {
			t.Errorf("HereNow(a) state of %s: %v, want role %s", o.UUID, o.State, want)
		}
	}
	// Single channel, occupancy only.
	res, _, err = carol.HereNow().Channels([]string{"a"}).IncludeUUIDs(false).Execute()
	if err != nil {
		t.Fatalf("HereNow(a, no uuids): %v", err)
	}
	if a, _ := channelData(res, "a"); a.Occupancy != 2 || len(a.Occupants) != 0 || res.TotalOccupancy != 2 {
		t.Errorf("HereNow(a, no uuids): %s, want occupancy 2 and no occupants", asJSON(res))
	}
	// Multi channel: the empty channel is left out.
	res, _, err = carol.HereNow().Channels([]string{"a", "b", "empty"}).Execute()
	if err != nil {
		t.Fatalf("HereNow(a, b, empty): %v", err)
	}
	b, _ := channelData(res, "b")
	if res.TotalChannels != 2 || res.TotalOccupancy != 4 || !slices.Equal(occupants(b), []string{"alice", "carol"}) {
		t.Errorf("HereNow(a, b, empty): %s, want 2 channels, occupancy 4, b: alice, carol", asJSON(res))
	}
	// Channel group.
	res, _, err = alice.HereNow().ChannelGroups([]string{"g"}).Execute()
	if err != nil {
		t.Fatalf("HereNow(group g): %v", err)
	}
	c, _ := channelData(res, "c")
	if res.TotalChannels != 2 || res.TotalOccupancy != 3 || !slices.Equal(occupants(c), []string{"carol"}) {
		t.Errorf("HereNow(group g): %s, want b and c, occupancy 3", asJSON(res))
	}
	// Global.
	res, _, err = alice.HereNow().Execute()
	if err != nil {
		t.Fatalf("global HereNow: %v", err)
	}
	if res.TotalChannels != 3 || res.TotalOccupancy != 5 {
		t.Errorf("global HereNow: %s, want 3 channels, occupancy 5", asJSON(res))
	}

	// where_now, of oneself and of another uuid.
	wn, _, err := bob.WhereNow().UUID("alice").Execute()
	if err != nil {
		t.Fatalf("WhereNow(alice): %v", err)
	}
	if !slices.Equal(wn.Channels, []string{"a", "b"}) {
		t.Errorf("WhereNow(alice): %v, want [a b]", wn.Channels)
	}
	wn, _, err = carol.WhereNow().Execute()
	if err != nil {
		t.Fatalf("WhereNow(): %v", err)
	}
	if !slices.Equal(wn.Channels, []string{"b", "c"}) {
		t.Errorf("WhereNow() of carol: %v, want [b c]", wn.Channels)
	}

	// set_state and get_state: single channel, several, and through a group.
	ss, _, err := bob.SetState().Channels([]string{"a"}).State(map[string]any{"role": "speaker", "turn": 2}).Execute()
	if err != nil {
		t.Fatalf("SetState: %v", err)
	}
	if got := asJSON(ss.State); got != `{"role":"speaker","turn":2}` {
		t.Errorf("SetState: state %s, want the stored state", got)
	}
	gs, _, err := alice.GetState().Channels([]string{"a"}).UUID("bob").Execute()
	if err != nil {
		t.Fatalf("GetState(a, bob): %v", err)
	}
	if got := asJSON(gs.State); got != `{"a":{"role":"speaker","turn":2}}` || gs.UUID != "bob" {
		t.Errorf("GetState(a, bob): uuid %s state %s, want bob {a:{role:speaker,turn:2}}", gs.UUID, got)
	}
	if _, _, err := carol.SetState().ChannelGroups([]string{"g"}).State(map[string]any{"away": true}).Execute(); err != nil {
		t.Fatalf("SetState(group g): %v", err)
	}
	gs, _, err = carol.GetState().Channels([]string{"a"}).ChannelGroups([]string{"g"}).Execute()
	if err != nil {
		t.Fatalf("GetState(a, group g): %v", err)
	}
	if got := asJSON(gs.State); got != `{"b":{"away":true},"c":{"away":true}}` {
		t.Errorf("GetState(a, group g) of carol: %s, want b and c away", got)
	}
	gs, _, err = alice.GetState().Channels([]string{"a", "b"}).Execute()
	if err != nil {
		t.Fatalf("GetState(a, b): %v", err)
	}
	if got := asJSON(gs.State); got != `{"a":{"role":"host"},"b":{"role":"host"}}` {
		t.Errorf("GetState(a, b) of alice: %s, want her subscribe state on both", got)
	}
	// A state that is not an object is refused and changes nothing.
	if _, _, err := bob.SetState().Channels([]string{"a", "bad,name"}).State(map[string]any{"x": 1}).Execute(); err == nil {
		t.Errorf("SetState on an invalid channel: no error, want 400")
	}

	// leave.
	if _, err := bob.Leave().Channels([]string{"a"}).Execute(); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	wn, _, err = bob.WhereNow().Execute()
	if err != nil {
		t.Fatalf("WhereNow(): %v", err)
	}
	if len(wn.Channels) != 0 {
		t.Errorf("WhereNow() of bob after leave: %v, want none", wn.Channels)
	}
	// Unsubscribing sends a leave.
	carol.UnsubscribeAll()
	eventually(t, "where_now of carol after unsubscribe", func() string {
		wn, _, err := alice.WhereNow().UUID("carol").Execute()
		if err != nil {
			return err.Error()
		}
		if len(wn.Channels) != 0 {
			return fmt.Sprintf("channels %v, want none", wn.Channels)
		}
		return ""
	})
}

// recorder collects the presence events and statuses of one SDK listener.
// The SDK announces each event on its own goroutine, so their order is not
// kept; tests look events up by content.
type recorder struct {
	mu     sync.Mutex
	events []*pubnub.PNPresence
	stop   chan struct{}
}

func listen(t *testing.T, pn *pubnub.PubNub) *recorder {
	r := &recorder{stop: make(chan struct{})}
	l := pubnub.NewListener()
	pn.AddListener(l)
	go func() {
		for {
			select {
			case ev := <-l.Presence:
				r.mu.Lock()
				r.events = append(r.events, ev)
				r.mu.Unlock()
			case <-l.Status:
			case <-r.stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(r.stop) })
	return r
}

// wait returns the first event that ok accepts, failing after 15 s.
func (r *recorder) wait(t *testing.T, what string, ok func(*pubnub.PNPresence) bool) *pubnub.PNPresence {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r.mu.Lock()
		for _, ev := range r.events {
			if ok(ev) {
				r.mu.Unlock()
				return ev
			}
		}
		n := len(r.events)
		r.mu.Unlock()
		if time.Now().After(deadline) {
			r.mu.Lock()
			got := asJSON(r.events)
			r.mu.Unlock()
			t.Fatalf("no %s event among %d: %s", what, n, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func is(event, uuid string) func(*pubnub.PNPresence) bool {
	return func(ev *pubnub.PNPresence) bool { return ev.Event == event && ev.UUID == uuid }
}

// TestPresenceListener: a listener subscribed with presence receives join
// (with the subscribe's state), state-change, leave and timeout events, on
// the channel itself and through a channel group.
func TestPresenceListener(t *testing.T) {
	origin := startServer(t, presence.Config{
		MinTimeout:     time.Second,
		DefaultTimeout: 3 * time.Second,
		MaxTimeout:     3 * time.Second,
		SweepInterval:  100 * time.Millisecond,
		AnnounceMax:    -1,
	})
	listener := newClient(t, origin, "listener")
	groupListener := newClient(t, origin, "group-listener")
	joiner := newClient(t, origin, "joiner")
	dropper := newClient(t, origin, "dropper")

	if _, _, err := listener.AddChannelToChannelGroup().Channels([]string{"room"}).ChannelGroup("lobby").Execute(); err != nil {
		t.Fatalf("AddChannelToChannelGroup: %v", err)
	}
	events := listen(t, listener)
	listener.Subscribe().Channels([]string{"room"}).WithPresence(true).Execute()
	// The listener sees its own join: subscribe works end to end.
	own := events.wait(t, "join of listener", is("join", "listener"))
	if own.Channel != "room" || own.Occupancy != 1 || own.Timetoken == 0 || own.Timestamp == 0 {
		t.Errorf("own join: %s, want channel room, occupancy 1, a timetoken and a timestamp", asJSON(own))
	}
	groupEvents := listen(t, groupListener)
	groupListener.Subscribe().ChannelGroups([]string{"lobby-pnpres"}).Execute()
	// The group-listener subscribes to presence only, so it is not in room;
	// give its handshake time to land before the events it must see.
	eventually(t, "group-listener's subscribe", func() string {
		res, _, err := groupListener.HereNow().Channels([]string{"room"}).Execute()
		if err != nil {
			return err.Error()
		}
		if res.TotalOccupancy != 1 {
			return fmt.Sprintf("occupancy %d, want 1 (the listener)", res.TotalOccupancy)
		}
		return ""
	})
	time.Sleep(200 * time.Millisecond) // let the presence-only subscribe reach its long-poll

	joiner.Subscribe().Channels([]string{"room"}).State(map[string]any{"mood": "curious"}).Execute()
	join := events.wait(t, "join of joiner", is("join", "joiner"))
	if join.Occupancy != 2 || asJSON(join.State) != `{"mood":"curious"}` {
		t.Errorf("join of joiner: %s, want occupancy 2 and the subscribe's state", asJSON(join))
	}
	gj := groupEvents.wait(t, "join of joiner through lobby", is("join", "joiner"))
	if gj.Channel != "room" || gj.Subscription != "lobby" {
		t.Errorf("group join: channel %q subscription %q, want room and lobby", gj.Channel, gj.Subscription)
	}

	if _, _, err := joiner.SetState().Channels([]string{"room"}).State(map[string]any{"mood": "busy"}).Execute(); err != nil {
		t.Fatalf("SetState: %v", err)
	}
	sc := events.wait(t, "state-change of joiner", is("state-change", "joiner"))
	if asJSON(sc.State) != `{"mood":"busy"}` || sc.Occupancy != 2 {
		t.Errorf("state-change: %s, want mood busy, occupancy 2", asJSON(sc))
	}

	joiner.Unsubscribe().Channels([]string{"room"}).Execute()
	leave := events.wait(t, "leave of joiner", is("leave", "joiner"))
	if leave.Occupancy != 1 {
		t.Errorf("leave: occupancy %d, want 1", leave.Occupancy)
	}
	groupEvents.wait(t, "leave of joiner through lobby", is("leave", "joiner"))

	// The dropper vanishes without a leave: the others see a timeout once
	// its presence timeout (3 s on this server) has passed.
	dropper.Config.SuppressLeaveEvents = true
	dropper.Subscribe().Channels([]string{"room"}).Execute()
	events.wait(t, "join of dropper", is("join", "dropper"))
	dropper.UnsubscribeAll()
	to := events.wait(t, "timeout of dropper", is("timeout", "dropper"))
	if to.Occupancy != 1 {
		t.Errorf("timeout: occupancy %d, want 1", to.Occupancy)
	}
	groupEvents.wait(t, "timeout of dropper through lobby", is("timeout", "dropper"))

	// The listener, whose long-poll is held far longer than 3 s at times,
	// never timed out: a held long-poll keeps its uuid present.
	events.mu.Lock()
	for _, ev := range events.events {
		if ev.UUID == "listener" && ev.Event != "join" {
			t.Errorf("listener got %s of itself, want only its join", ev.Event)
		}
	}
	events.mu.Unlock()

	// Unsubscribing with presence sends a leave naming room-pnpres too;
	// the server ignores that name and the listener leaves room.
	listener.UnsubscribeAll()
	groupEvents.wait(t, "leave of listener through lobby", is("leave", "listener"))
	wn, _, err := groupListener.WhereNow().UUID("listener").Execute()
	if err != nil {
		t.Fatalf("WhereNow(listener): %v", err)
	}
	if len(wn.Channels) != 0 {
		t.Errorf("WhereNow(listener) after unsubscribe: %v, want none", wn.Channels)
	}
}

// TestIntervalEvents: above AnnounceMax a channel sends interval events,
// which the SDK surfaces with the occupancy.
func TestIntervalEvents(t *testing.T) {
	origin := startServer(t, presence.Config{
		AnnounceMax:   2,
		Interval:      time.Second,
		Deltas:        true,
		SweepInterval: 100 * time.Millisecond,
	})
	listener := newClient(t, origin, "listener")
	events := listen(t, listener)
	listener.Subscribe().Channels([]string{"hall-pnpres"}).Execute()
	time.Sleep(200 * time.Millisecond) // let the handshake land
	for i := range 3 {
		c := newClient(t, origin, fmt.Sprintf("guest-%d", i))
		if _, _, err := c.Heartbeat().Channels([]string{"hall"}).Execute(); err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
	}
	ev := events.wait(t, "interval", func(ev *pubnub.PNPresence) bool { return ev.Event == "interval" })
	if ev.Occupancy != 3 || ev.Channel != "hall" {
		t.Errorf("interval: %s, want occupancy 3 on hall", asJSON(ev))
	}
	events.wait(t, "join of guest-0", is("join", "guest-0"))
}
