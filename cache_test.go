package presence_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
)

// TestHereNowCacheKeys is finding 2 of the reliability issue: '|' is a
// legal name character, so the cache key of channels ["a|b"] with groups
// ["c"] must differ from that of channels ["a"] with groups ["b|c"], and a
// channel list must not be taken for a group list.
func TestHereNowCacheKeys(t *testing.T) {
	e, err := presence.New(presence.Config{Clock: presencetest.NewManualClock(presencetest.Epoch), SweepInterval: -1, HereNowCacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for g, chans := range map[string][]string{"c": {"x"}, "b|c": {"y"}, "a": {"z"}} {
		if err := e.AddChannels(ctx, g, chans); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{"a|b", "a", "x", "y", "z"} {
		if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u-" + c, Channels: []string{c}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []presence.HereNowQuery{
		{Channels: []string{"a|b"}, Groups: []string{"c"}},
		{Channels: []string{"a"}, Groups: []string{"b|c"}},
		{Groups: []string{"a"}},
		{Channels: []string{"a"}},
		{Channels: []string{"a", "x"}},
		{Groups: []string{"a", "c"}},
	} {
		for range 2 { // the second answer comes from the cache
			r, err := e.HereNow(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range r.Channels {
				got = append(got, c.Channel)
			}
			want := append([]string(nil), q.Channels...)
			for _, g := range q.Groups {
				chs, _ := e.GroupChannels(ctx, g)
				want = append(want, chs...)
			}
			if len(got) != len(want) {
				t.Fatalf("HereNow(%+v) lists %q, want %q", q, got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("HereNow(%+v) lists %q, want %q", q, got, want)
				}
			}
		}
	}
}

// hookClock is a ManualClock that counts its readings and runs hook, once,
// at the reading numbered fireAt.
type hookClock struct {
	*presencetest.ManualClock
	reads  atomic.Int64
	fireAt atomic.Int64
	hook   func()
}

func (c *hookClock) Now() time.Time {
	if n := c.reads.Add(1); n == c.fireAt.Load() && c.hook != nil {
		c.hook()
	}
	return c.ManualClock.Now()
}

// TestHereNowCacheGroupEdit is the second half of finding 2: a group edit
// that lands while a here_now of the group is being answered must not leave
// the answer of the old expansion in the cache. The clock's last reading of
// the call, the one that times the entry it stores, runs the edit.
func TestHereNowCacheGroupEdit(t *testing.T) {
	clk := &hookClock{ManualClock: presencetest.NewManualClock(presencetest.Epoch)}
	e, err := presence.New(presence.Config{Clock: clk, SweepInterval: -1, HereNowCacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.AddChannels(ctx, "g", []string{"a"}); err != nil {
		t.Fatal(err)
	}
	// how many readings a here_now that misses the cache takes
	before := clk.reads.Load()
	if _, err := e.HereNow(ctx, presence.HereNowQuery{Channels: []string{"other"}}); err != nil {
		t.Fatal(err)
	}
	n := clk.reads.Load() - before
	clk.hook = func() {
		if err := e.AddChannels(ctx, "g", []string{"b"}); err != nil {
			t.Error(err)
		}
	}
	clk.fireAt.Store(clk.reads.Load() + n)
	if _, err := e.HereNow(ctx, presence.HereNowQuery{Groups: []string{"g"}}); err != nil {
		t.Fatal(err)
	}
	r, err := e.HereNow(ctx, presence.HereNowQuery{Groups: []string{"g"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Channels) != 2 {
		t.Fatalf("here_now of group g after adding b lists %d channels (%+v), want a and b", len(r.Channels), r.Channels)
	}
}
