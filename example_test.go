package presence_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
)

// Heartbeat makes a user present; HereNow and WhereNow read who is where.
func Example() {
	e, err := presence.New(presence.Config{})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "alice", Channels: []string{"lobby", "game-1"}})
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "bob", Channels: []string{"lobby"}})

	res, _ := e.HereNow(ctx, presence.HereNowQuery{Channels: []string{"lobby"}})
	lobby, _ := res.Channel("lobby")
	fmt.Println("lobby occupancy:", lobby.Occupancy)
	where, _ := e.WhereNow(ctx, "alice")
	fmt.Println("alice is in:", where)
	// Output:
	// lobby occupancy: 2
	// alice is in: [game-1 lobby]
}

// With a mock clock, advance time and call Sweep: every due membership is
// removed with a timeout event before Sweep returns.
func ExampleEngine_Sweep() {
	clk := clock.NewMock()
	e, _ := presence.New(presence.Config{Clock: clk, SweepInterval: -1, MinTimeout: time.Second})
	defer e.Close()
	sub, _ := e.Subscribe(ctx, presence.SubscribeOptions{Channels: []string{"lobby"}})

	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "alice", Channels: []string{"lobby"}, Timeout: 10 * time.Second})
	clk.Add(9 * time.Second)
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "alice", Channels: []string{"lobby"}, Timeout: 10 * time.Second}) // refresh: no event
	clk.Add(10 * time.Second)
	e.Sweep(ctx)

	for range 2 {
		ev := <-sub.Events()
		fmt.Println(ev.Action, ev.UUID, "occupancy", ev.Occupancy)
	}
	// Output:
	// join alice occupancy 1
	// timeout alice occupancy 0
}

// State is a JSON object per membership; SetState replaces it and
// announces a state-change. A heartbeat may carry state keyed by channel.
func ExampleEngine_SetState() {
	e, _ := presence.New(presence.Config{})
	defer e.Close()
	sub, _ := e.Subscribe(ctx, presence.SubscribeOptions{All: true})

	e.Heartbeat(ctx, presence.HeartbeatRequest{
		UUID:     "alice",
		Channels: []string{"lobby"},
		State:    map[string]any{"lobby": map[string]any{"mood": "happy"}},
	})
	stored, _ := e.SetState(ctx, presence.SetStateRequest{UUID: "alice", Channels: []string{"lobby"}, State: json.RawMessage(`{"mood": "busy", "level": 3}`)})
	fmt.Println("stored:", string(stored))
	states, _ := e.GetState(ctx, presence.GetStateRequest{UUID: "alice", Channels: []string{"lobby"}})
	fmt.Println("lobby:", string(states["lobby"]))

	for range 2 {
		ev := <-sub.Events()
		fmt.Println(ev.Action, string(ev.State))
	}
	// Output:
	// stored: {"level":3,"mood":"busy"}
	// lobby: {"level":3,"mood":"busy"}
	// join {"mood":"happy"}
	// state-change {"level":3,"mood":"busy"}
}

// A channel group names channels; every operation that takes channels also
// takes groups, expanded at the moment of the call.
func ExampleEngine_AddChannels() {
	e, _ := presence.New(presence.Config{})
	defer e.Close()

	e.AddChannels(ctx, "europe", []string{"paris", "berlin"})
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "alice", Groups: []string{"europe"}})
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "bob", Channels: []string{"paris"}})

	res, _ := e.HereNow(ctx, presence.HereNowQuery{Groups: []string{"europe"}})
	for _, c := range res.Channels {
		fmt.Println(c.Channel, c.Occupancy)
	}
	fmt.Println("total:", res.TotalOccupancy)
	// Output:
	// paris 2
	// berlin 1
	// total: 3
}

// A subscription receives the events of its channels and groups through a
// bounded buffer; group events are marked with the group that matched.
func ExampleEngine_Subscribe() {
	e, _ := presence.New(presence.Config{})
	defer e.Close()
	e.AddChannels(ctx, "rooms", []string{"room-1", "room-2"})
	sub, _ := e.Subscribe(ctx, presence.SubscribeOptions{Groups: []string{"rooms"}})
	defer sub.Close()

	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "alice", Channels: []string{"room-1", "elsewhere"}})
	e.Leave(ctx, presence.LeaveRequest{UUID: "alice", Channels: []string{"room-1"}})

	for range 2 {
		ev := <-sub.Events()
		fmt.Printf("%s %s on %s via %s, occupancy %d\n", ev.Action, ev.UUID, ev.Channel, ev.Group, ev.Occupancy)
	}
	// Output:
	// join alice on room-1 via rooms, occupancy 1
	// leave alice on room-1 via rooms, occupancy 0
}

// Above AnnounceMax members a channel reports an interval event every
// Interval instead of each join, leave and timeout.
func ExampleConfig_announceMax() {
	clk := clock.NewMock()
	e, _ := presence.New(presence.Config{Clock: clk, SweepInterval: -1, AnnounceMax: 2, Interval: 10 * time.Second, Deltas: true})
	defer e.Close()
	sub, _ := e.Subscribe(ctx, presence.SubscribeOptions{Channels: []string{"arena"}})

	for _, u := range []string{"a", "b", "c", "d"} {
		e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: u, Channels: []string{"arena"}})
	}
	clk.Add(10 * time.Second)
	e.Sweep(ctx)

	for range 3 {
		ev := <-sub.Events()
		fmt.Println(ev.Action, ev.UUID, ev.Occupancy, ev.Joined())
	}
	// Output:
	// join a 1 []
	// join b 2 []
	// interval  4 [c d]
}

// AppendOccupants lists a channel's uuids into a reused slice, without
// allocating once the slice is large enough.
func ExampleEngine_AppendOccupants() {
	e, _ := presence.New(presence.Config{})
	defer e.Close()
	for _, u := range []string{"alice", "bob", "carol"} {
		e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: u, Channels: []string{"lobby"}})
	}
	buf := make([]string, 0, 64)
	buf, _ = e.AppendOccupants(ctx, buf[:0], "lobby")
	slices.Sort(buf) // the engine's order is stable, not sorted
	fmt.Println(len(buf), buf)
	// Output:
	// 3 [alice bob carol]
}
