package presenceredis

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/presencekit/presence"
)

// checkFailover checks what the instances delivered through failovers:
// no event twice on any instance; until an instance's first resync marker,
// its stream replays (no join of a present member, no removal of an absent
// one); without any resync marker, every instance delivered the same events
// in the same order per channel, wantEvents of them; and the view converged: every
// instance sees no membership left. It returns the number of resync
// markers.
func checkFailover(t *testing.T, bs []*Backend, delivered [][]presence.Event, wantEvents int) int {
	t.Helper()
	resyncs := 0
	var seqs []map[string][]string // per instance, per channel
	counts := make([]int, len(delivered))
	for i, evs := range delivered {
		seen := map[string]bool{}
		present := map[string]bool{}
		replaying := true
		seq := map[string][]string{}
		for _, ev := range evs {
			if IsResync(ev) {
				resyncs++
				replaying = false
				continue
			}
			id := fmt.Sprintf("%s %s %s %d", ev.Action, ev.Channel, ev.UUID, ev.Timetoken)
			if seen[id] {
				t.Fatalf("instance %d: %q delivered twice", i, id)
			}
			seen[id] = true
			seq[ev.Channel] = append(seq[ev.Channel], id)
			counts[i]++
			if !replaying {
				continue
			}
			key := ev.Channel + "/" + ev.UUID
			switch ev.Action {
			case presence.Join:
				if present[key] {
					t.Fatalf("instance %d: join of %s, already present", i, key)
				}
				present[key] = true
			case presence.Leave, presence.Timeout:
				if !present[key] {
					t.Fatalf("instance %d: %s of %s, not present", i, ev.Action, key)
				}
				delete(present, key)
			}
		}
		seqs = append(seqs, seq)
	}
	if resyncs == 0 {
		for i := range seqs {
			if !maps.EqualFunc(seqs[i], seqs[0], slices.Equal) {
				t.Fatalf("instance %d delivered other events or in another order per channel than instance 0 (%d and %d events)", i, counts[i], counts[0])
			}
		}
		if counts[0] != wantEvents {
			t.Fatalf("%d events, want %d", counts[0], wantEvents)
		}
	}
	// A failover may have dropped the writes after the last sweep (the
	// leaves, the sweep itself): sweep until the view converges, as the
	// sweepers of a live deployment do, and let clients that have not yet
	// switched to the new master catch up.
	for i, b := range bs {
		waitUntil(t, fmt.Sprintf("instance %d sees every member expired", i), func() bool {
			_ = b.Sweep(ctx)
			st, err := b.Stats(ctx)
			return err == nil && st.Memberships == 0
		})
	}
	return resyncs
}
