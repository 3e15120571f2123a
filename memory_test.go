package presence

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// manual is a clock.Clock that only tells the time it is set to.
type manual struct {
	clockNowOnly
	now time.Time
}

// TestChurnLeavesNothing churns 100k unique channels and uuids, half of
// them leaving and half expiring, and checks the engine holds no entry for
// any of them afterwards, and that the heap returns to the empty engine's.
func TestChurnLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100k channels")
	}
	clk := &manual{now: time.Unix(1_700_000_000, 0)}
	sub0 := heapAlloc()
	e, err := New(Config{Clock: clk, SweepInterval: -1, MinTimeout: time.Second, AnnounceMax: 2, Deltas: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// A first small churn lets the runtime start the threads a parallel
	// sweep uses, so that its own allocations are in the baseline.
	for i := range 1000 {
		e.Heartbeat(ctx, HeartbeatRequest{UUID: fmt.Sprint("warm-", i), Channels: []string{fmt.Sprint("warm-", i%64)}})
	}
	clk.now = clk.now.Add(e.cfg.DefaultTimeout)
	e.Sweep(ctx)
	empty := heapAlloc()
	sub, _ := e.Subscribe(ctx, SubscribeOptions{All: true, Buffer: 16})
	const n = 100_000
	for i := range n {
		ch, uuid := fmt.Sprintf("chan-%d", i), fmt.Sprintf("uuid-%d", i)
		if err := e.Heartbeat(ctx, HeartbeatRequest{UUID: uuid, Channels: []string{ch, "shared"}, Timeout: 10 * time.Second, State: map[string]any{ch: json.RawMessage(`{"i":1}`)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.SetState(ctx, SetStateRequest{UUID: uuid, Channels: []string{"elsewhere-" + ch}, State: json.RawMessage(`{"p":1}`)}); err != nil { // pending state
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := e.Leave(ctx, LeaveRequest{UUID: uuid, Channels: []string{ch, "shared"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.AddChannels(ctx, "grp", []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteGroup(ctx, "grp"); err != nil {
		t.Fatal(err)
	}
	st, _ := e.Stats(ctx)
	if st.Memberships != n/2*2 {
		t.Fatalf("Memberships = %d, want %d", st.Memberships, n)
	}
	clk.now = clk.now.Add(e.cfg.DefaultTimeout) // past every deadline and every pending state
	e.Sweep(ctx)
	sub.Close()

	st, _ = e.Stats(ctx)
	if st != (Stats{Events: st.Events, SlowSubscriptions: st.SlowSubscriptions}) {
		t.Fatalf("Stats after churn = %+v, want all zero", st)
	}
	for i := range e.shards {
		cs := &e.shards[i]
		if len(cs.byName) != 0 || cs.chans != nil || cs.freeIdx != nil || len(cs.buckets) != 0 || len(cs.bheap) != 0 ||
			len(cs.ticks) != 0 || len(cs.pending) != 0 || len(cs.pheap) != 0 || cs.members != 0 {
			t.Fatalf("channel shard %d keeps entries: %d channels, %d slots, %d buckets, %d ticks, %d pending",
				i, len(cs.byName), len(cs.chans), len(cs.buckets), len(cs.ticks), len(cs.pending))
		}
	}
	for i := range e.uuids {
		us := &e.uuids[i]
		if us.entries != nil || us.index.slots != nil || us.index.n != 0 {
			t.Fatalf("uuid shard %d keeps %d uuids, %d index slots", i, len(us.entries), len(us.index.slots))
		}
	}
	if len(e.groups.byName) != 0 || len(e.groups.ofChannel) != 0 {
		t.Fatalf("groups keep entries: %d groups, %d channels", len(e.groups.byName), len(e.groups.ofChannel))
	}
	// Everything that grew was given back: the heap is within 5% of the
	// empty engine's, plus 8 KiB for what the runtime keeps that is not the
	// engine's (an OS thread's M started meanwhile, encoding/json's type
	// cache): the figure comes from the comparison benchmark.
	if raceEnabled {
		return // the race detector's own allocations blur a 5% comparison
	}
	after := heapAlloc()
	if size, left := empty-sub0, int64(after)-int64(empty); left > int64(size)/20+8<<10 {
		t.Fatalf("%d bytes left behind by the churn; the empty engine takes %d", left, size)
	} else {
		t.Logf("empty engine %d bytes; left behind after the churn: %d", size, left)
	}
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
