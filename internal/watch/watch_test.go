package watch_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/internal/fanout"
	"github.com/presencekit/presence/internal/watch"
)

var ctx = context.Background()

func newEngine(t *testing.T) *presence.Engine {
	t.Helper()
	e, err := presence.New(presence.Config{SweepInterval: -1, AnnounceMax: presence.NoIntervalMode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func join(t *testing.T, b presence.Backend, uuid string, channels ...string) {
	t.Helper()
	if err := b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid, Channels: channels}); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond every few milliseconds for at most 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestTopFromSnapshotAndEvents checks the occupancies of channels occupied
// before Start (the snapshot) and changed after it (the events), and Top's
// order (occupancy, then name) and bound.
func TestTopFromSnapshotAndEvents(t *testing.T) {
	e := newEngine(t)
	join(t, e, "a", "one", "two", "three")
	join(t, e, "b", "two", "three")
	var mu sync.Mutex
	var seen []presence.Action
	w := watch.Start(e, watch.Options{Occupancy: true, OnEvent: func(ev presence.Event) {
		mu.Lock()
		seen = append(seen, ev.Action)
		mu.Unlock()
	}})
	defer w.Close()
	eventually(t, "never synced", w.Synced)
	join(t, e, "c", "three", "four")
	if err := e.Leave(ctx, presence.LeaveRequest{UUID: "a", Channels: []string{"one"}}); err != nil {
		t.Fatal(err)
	}
	want := []watch.Channel{{"three", 3}, {"two", 2}}
	eventually(t, "occupancies never caught up with the events", func() bool {
		return w.Occupancy("four") == 1 && w.Occupancy("one") == 0 && w.Occupancy("three") == 3
	})
	if got := w.Top(2); !reflect.DeepEqual(got, want) {
		t.Errorf("Top(2) = %v, want %v", got, want)
	}
	all := []watch.Channel{{"three", 3}, {"two", 2}, {"four", 1}}
	if got := w.Top(10); !reflect.DeepEqual(got, all) {
		t.Errorf("Top(10) = %v, want %v", got, all)
	}
	if got := w.Top(0); got != nil {
		t.Errorf("Top(0) = %v, want nil", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []presence.Action{presence.Join, presence.Join, presence.Leave}; !reflect.DeepEqual(seen, want) {
		t.Errorf("OnEvent saw %v, want %v", seen, want)
	}
}

// TestRenewsSlowSubscription checks that a subscription closed as slow is
// renewed, counted and reported, and that the occupancies are rebuilt from
// a snapshot, including the changes whose events were lost.
func TestRenewsSlowSubscription(t *testing.T) {
	e := newEngine(t)
	gate := make(chan struct{})
	renewed := make(chan error, 10)
	w := watch.Start(e, watch.Options{
		Occupancy: true, Buffer: 1, Retry: 10 * time.Millisecond,
		OnEvent: func(presence.Event) { <-gate },
		OnRenew: func(err error) { renewed <- err },
	})
	defer w.Close()
	eventually(t, "never synced", w.Synced)
	for i := range 5 { // the watcher blocks on the first: its buffer of 1 overflows
		join(t, e, fmt.Sprint("u", i), "c")
	}
	close(gate)
	select {
	case err := <-renewed:
		if !errors.Is(err, presence.ErrSlowConsumer) {
			t.Errorf("OnRenew(%v), want ErrSlowConsumer", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no renewal within 5 s after the subscription was closed as slow")
	}
	eventually(t, "never synced again after the renewal", func() bool { return w.Synced() && w.Occupancy("c") == 5 })
	if got := w.Renewals(); got != 1 {
		t.Errorf("Renewals() = %d, want 1", got)
	}
}

// TestStopsWhenBackendCloses checks that the watcher ends by itself, without
// counting a renewal, once its backend is closed, and that Close after that
// returns.
func TestStopsWhenBackendCloses(t *testing.T) {
	e := newEngine(t)
	w := watch.Start(e, watch.Options{})
	e.Close()
	select {
	case <-w.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("watcher still running 5 s after its backend closed")
	}
	w.Close()
	if got := w.Renewals(); got != 0 {
		t.Errorf("Renewals() = %d, want 0", got)
	}
}

// TestCloseEndsSubscription checks that Close ends the watcher's
// subscription even when it runs before the watcher's goroutine started.
func TestCloseEndsSubscription(t *testing.T) {
	e := newEngine(t)
	for range 50 {
		w := watch.Start(e, watch.Options{Occupancy: true})
		w.Close()
		if st, _ := e.Stats(ctx); st.Subscriptions != 0 {
			t.Fatalf("subscriptions after Close = %d, want 0", st.Subscriptions)
		}
	}
}

// split is a backend whose events come from another engine than its
// answers, so that the watcher's view can differ from the truth as after
// lost events; sub is the last subscription it returned.
type split struct {
	presence.Backend                             // answers
	events           *fanout.Hub[presence.Event] // the watcher's events: only what the test publishes
}

func (s *split) Subscribe(_ context.Context, opts presence.SubscribeOptions) (*presence.Subscription, error) {
	return s.events.Subscribe(opts)
}

// markerHub is a fan-out of events a test publishes itself, as a backend's
// reader publishes its resync markers.
func markerHub(t *testing.T) *fanout.Hub[presence.Event] {
	h := fanout.New(16, fanout.Ops[presence.Event]{
		Channel: func(ev *presence.Event) string { return ev.Channel },
		Clone:   func(ev presence.Event) presence.Event { return ev },
		Mark:    func(*presence.Event, string) {},
	}, presence.ErrClosed, presence.ErrSlowConsumer)
	t.Cleanup(h.Close)
	return h
}

// TestResyncMarker checks that a resync marker (as the Redis backend sends
// after Redis lost events) reloads the named channel's occupancy, or every
// channel's for "", and is not passed on as an event.
func TestResyncMarker(t *testing.T) {
	truth, events := newEngine(t), markerHub(t)
	b := &split{Backend: truth, events: events}
	resyncs := make(chan string, 2)
	var passed []presence.Event
	var mu sync.Mutex
	w := watch.Start(b, watch.Options{
		Occupancy: true,
		OnResync:  func(c string) { resyncs <- c },
		OnEvent: func(ev presence.Event) {
			mu.Lock()
			passed = append(passed, ev)
			mu.Unlock()
		},
	})
	defer w.Close()
	eventually(t, "never synced", w.Synced)
	join(t, truth, "ann", "x") // lost: the watcher does not see it
	join(t, truth, "bob", "y")
	marker := func(channel string) presence.Event {
		return presence.Event{Action: presence.Interval, Channel: channel, HereNowRefresh: true, Occupancy: -1}
	}
	events.Publish(marker("x"), nil)
	if c := <-resyncs; c != "x" {
		t.Errorf("OnResync(%q), want x", c)
	}
	if got, y := w.Occupancy("x"), w.Occupancy("y"); got != 1 || y != 0 {
		t.Errorf("after a marker for x: occupancy x %d, y %d; want 1 and 0 (y not reloaded)", got, y)
	}
	events.Publish(marker(""), nil)
	<-resyncs
	if got := w.Occupancy("y"); got != 1 {
		t.Errorf("after a marker for every channel: occupancy y %d, want 1", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(passed) != 0 {
		t.Errorf("OnEvent received %v, want nothing (markers are not events)", passed)
	}
}
