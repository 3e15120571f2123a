package presence_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
)

// TestSubscribersOwnTheirEvents is finding 4 of the reliability issue:
// Event.State and Event.Deltas belong to the receiver. One subscription
// that writes into its events' State and Deltas changes nothing another
// subscription (all, by channel, by group) receives.
func TestSubscribersOwnTheirEvents(t *testing.T) {
	clk := presencetest.NewManualClock(presencetest.Epoch)
	e, err := presence.New(presence.Config{Clock: clk, SweepInterval: -1, MinTimeout: time.Second, AnnounceMax: 1, Deltas: true, Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.AddChannels(ctx, "g", []string{"c"}); err != nil {
		t.Fatal(err)
	}
	var subs []*presence.Subscription
	for _, o := range []presence.SubscribeOptions{{All: true}, {Channels: []string{"c"}}, {Groups: []string{"g"}}} {
		s, err := e.Subscribe(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "a", Channels: []string{"c"}, State: map[string]any{"c": json.RawMessage(`{"k":"v"}`)}})
	e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "b", Channels: []string{"c"}}) // interval mode
	clk.Add(time.Second)
	e.Sweep(ctx) // interval with deltas [join:b]
	for writer := range subs {
		// every subscription receives the join (with state) and the interval (with deltas)
		var got [][]presence.Event
		for _, s := range subs {
			got = append(got, []presence.Event{<-s.Events(), <-s.Events()})
		}
		for i, evs := range got {
			if string(evs[0].State) != `{"k":"v"}` || len(evs[1].Deltas) != 1 || evs[1].Deltas[0].UUID != "b" {
				t.Fatalf("subscription %d received %+v", i, evs)
			}
		}
		for j := range got[writer][0].State {
			got[writer][0].State[j] = 'X'
		}
		got[writer][1].Deltas[0] = presence.Delta{Action: presence.Leave, UUID: "mutated"}
		for i, evs := range got {
			if i == writer {
				continue
			}
			if string(evs[0].State) != `{"k":"v"}` {
				t.Fatalf("subscription %d wrote its join's State; subscription %d sees %s", writer, i, evs[0].State)
			}
			if d := evs[1].Deltas[0]; d.UUID != "b" || d.Action != presence.Join {
				t.Fatalf("subscription %d wrote its interval's Deltas; subscription %d sees %+v", writer, i, d)
			}
		}
		// the same two events again for the next writer
		e.Leave(ctx, presence.LeaveRequest{UUID: "a", Channels: []string{"c"}})
		e.Leave(ctx, presence.LeaveRequest{UUID: "b", Channels: []string{"c"}})
		for _, s := range subs {
			<-s.Events() // the interval that ends interval mode
			<-s.Events() // b's leave
		}
		e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "a", Channels: []string{"c"}, State: map[string]any{"c": json.RawMessage(`{"k":"v"}`)}})
		e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "b", Channels: []string{"c"}})
		clk.Add(time.Second)
		e.Sweep(ctx)
	}
}
