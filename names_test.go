package presence

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestOneChannelCallsCheckNames checks that the one-channel fast paths of
// Heartbeat and Leave, which look a member up before checking names, still
// reject every bad name and change nothing: a bad uuid joining a channel
// that exists, a present uuid naming a bad channel, and leaves of each.
// It also checks the cases they skip checks for: a uuid already on a
// channel joining another, and a leave of a present member.
func TestOneChannelCallsCheckNames(t *testing.T) {
	ctx := context.Background()
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sub, err := e.Subscribe(ctx, SubscribeOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	hb := func(uuid, c string) error {
		return e.Heartbeat(ctx, HeartbeatRequest{UUID: uuid, Channels: []string{c}})
	}
	leave := func(uuid, c string) error {
		return e.Leave(ctx, LeaveRequest{UUID: uuid, Channels: []string{c}})
	}
	if err := hb("alice", "room"); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		call func() error
		kind error
	}{
		{"heartbeat: bad uuid into an existing channel", func() error { return hb("bob,eve", "room") }, ErrInvalidUUID},
		{"heartbeat: bad uuid into a new channel", func() error { return hb("bob\x00", "hall") }, ErrInvalidUUID},
		{"heartbeat: present uuid, bad channel", func() error { return hb("alice", "room-pnpres") }, ErrInvalidChannel},
		{"heartbeat: empty uuid", func() error { return hb("", "room") }, ErrInvalidUUID},
		{"leave: bad uuid", func() error { return leave("bob,eve", "room") }, ErrInvalidUUID},
		{"leave: present uuid, bad channel", func() error { return leave("alice", "a,b") }, ErrInvalidChannel},
		{"leave: empty channel", func() error { return leave("alice", "") }, ErrInvalidChannel},
	}
	for _, c := range bad {
		err := c.call()
		if !errors.Is(err, c.kind) || !errors.Is(err, ErrInvalidName) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.kind)
		}
	}
	if got, _ := e.WhereNow(ctx, "alice"); !slices.Equal(got, []string{"room"}) {
		t.Fatalf("alice is on %v after the bad calls, want [room]", got)
	}
	if n, _ := e.Occupancy(ctx, "room"); n != 1 {
		t.Fatalf("occupancy of room = %d after the bad calls, want 1", n)
	}
	if n, _ := e.Occupancy(ctx, "hall"); n != 0 {
		t.Fatalf("occupancy of hall = %d after the bad calls, want 0", n)
	}
	// a uuid on a channel joins another; a present member leaves
	if err := hb("alice", "hall"); err != nil {
		t.Fatal(err)
	}
	if err := leave("alice", "room"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.WhereNow(ctx, "alice"); !slices.Equal(got, []string{"hall"}) {
		t.Fatalf("alice is on %v, want [hall]", got)
	}
	var got []string
	for len(got) < 3 {
		ev := <-sub.Events()
		got = append(got, ev.Action.String()+" "+ev.UUID+" "+ev.Channel)
	}
	want := []string{"join alice room", "join alice hall", "leave alice room"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	select {
	case ev := <-sub.Events():
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}
