package pubnubhttp

import (
	"strconv"
	"testing"

	"github.com/presencekit/presence"
)

// TestHeldPolls checks the held long-poll count through a poll's life: 0,
// 1 while it is held, 0 once an event answered it.
func TestHeldPolls(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	if n := f.h.HeldPolls(); n != 0 {
		t.Fatalf("HeldPolls() before any poll = %d, want 0", n)
	}
	cursor := f.subscribe("/v2/subscribe/k/ch-pnpres/0?uuid=l").cursor(t)
	ch, cancel := f.poll("/v2/subscribe/k/ch-pnpres/0?uuid=l&tt=" + strconv.FormatInt(cursor, 10))
	defer cancel()
	waitFor(t, func() bool { return f.h.HeldPolls() == 1 })
	f.heartbeat("u", "ch") // answers the poll
	if r := <-ch; r.code != 200 || len(r.env.M) != 1 {
		t.Fatalf("poll answered with status %d body %s, want the join", r.code, r.raw)
	}
	waitFor(t, func() bool { return f.h.HeldPolls() == 0 })
}
