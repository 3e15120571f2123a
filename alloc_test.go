package presence

import (
	"context"
	"strconv"
	"testing"
)

// TestHotPathsDoNotAllocate checks the engine's promise that the calls a
// server makes most often allocate nothing once the member is present:
// a heartbeat that refreshes (also with a request built afresh for each
// call, as a server parsing requests builds it), a leave that finds
// nothing to remove and an occupancy read.
// Each call is made on
// the concrete *Engine, where the compiler sees that the request's
// slices do not outlive the call.
func TestHotPathsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's runtime allocates on its own")
	}
	ctx := context.Background()
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	uuids := make([]string, 64)
	chans := make([]string, 16)
	for i := range uuids {
		uuids[i] = "user-" + strconv.Itoa(i)
	}
	for i := range chans {
		chans[i] = "room-" + strconv.Itoa(i)
	}
	for _, u := range uuids {
		for _, c := range chans {
			if err := e.Heartbeat(ctx, HeartbeatRequest{UUID: u, Channels: []string{c}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	shared := [][]string{{chans[0]}, {chans[1], chans[2]}}
	i := 0
	next := func() (string, string) {
		i++
		return uuids[i%len(uuids)], chans[(i/len(uuids))%len(chans)]
	}
	for _, tc := range []struct {
		name string
		call func()
	}{
		{"heartbeat with a fresh one-channel slice", func() {
			u, c := next()
			if err := e.Heartbeat(ctx, HeartbeatRequest{UUID: u, Channels: []string{c}}); err != nil {
				t.Fatal(err)
			}
		}},
		{"heartbeat with a fresh two-channel slice", func() {
			u, c := next()
			if err := e.Heartbeat(ctx, HeartbeatRequest{UUID: u, Channels: []string{c, chans[0]}}); err != nil {
				t.Fatal(err)
			}
		}},
		{"heartbeat with a shared slice", func() {
			u, _ := next()
			if err := e.Heartbeat(ctx, HeartbeatRequest{UUID: u, Channels: shared[i%2]}); err != nil {
				t.Fatal(err)
			}
		}},
		{"leave of an absent member with a fresh slice", func() {
			_, c := next()
			if err := e.Leave(ctx, LeaveRequest{UUID: "nobody", Channels: []string{c}}); err != nil {
				t.Fatal(err)
			}
		}},
		{"occupancy", func() {
			_, c := next()
			if _, err := e.Occupancy(ctx, c); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		if got := testing.AllocsPerRun(1000, tc.call); got != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tc.name, got)
		}
	}
}
