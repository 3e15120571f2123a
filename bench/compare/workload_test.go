package compare

import (
	"testing"
)

func TestWorkloadShape(t *testing.T) {
	w := NewWorkload(Small)
	if got, want := len(w.Pairs), Small.UUIDs*Small.PerUUID; got != want {
		t.Fatalf("%d pairs, want %d", got, want)
	}
	perChan := make([]int, len(w.Channels))
	seen := map[Pair]bool{}
	for _, p := range w.Pairs {
		if seen[p] {
			t.Fatalf("pair %+v twice", p)
		}
		seen[p] = true
		perChan[p.C]++
	}
	for c, n := range perChan[:w.HotChannel] {
		if n != w.PerChannel() {
			t.Errorf("channel %d has %d members, want %d", c, n, w.PerChannel())
		}
	}
	for _, u := range w.UUIDs {
		if len(u) != 36 {
			t.Errorf("uuid %q: %d bytes, want 36", u, len(u))
		}
	}
	for _, c := range w.Channels {
		if len(c) != 16 {
			t.Errorf("channel %q: %d bytes, want 16", c, len(c))
		}
	}
	if len(w.HotMembers) != Small.Hot {
		t.Errorf("%d hot members, want %d", len(w.HotMembers), Small.Hot)
	}
	again := NewWorkload(Small)
	if again.UUIDs[0] != w.UUIDs[0] || again.Pairs[0] != w.Pairs[0] {
		t.Errorf("workload is not deterministic")
	}
}

// TestBackendsAgree fills every backend with the small workload and checks
// that they answer occupancy and here_now alike, and that everything leaves.
func TestBackendsAgree(t *testing.T) {
	w := NewWorkload(Small)
	for _, name := range Names {
		be := New(name, w)
		Fill(be, w, w.UUIDs)
		FillHot(be, w)
		for _, c := range []int{int(w.Pairs[0].C), w.HotChannel} {
			want := w.PerChannel()
			if c == w.HotChannel {
				want = w.Hot
			}
			if got := be.Occupancy(c); got != want {
				t.Errorf("%s: occupancy %d, want %d", name, got, want)
			}
			if got := be.HereNow(c); got != want {
				t.Errorf("%s: here_now listed %d, want %d", name, got, want)
			}
		}
		for _, p := range w.Pairs {
			be.Leave(w.UUIDs[p.U], int(p.C))
		}
		if got := be.Occupancy(int(w.Pairs[0].C)); got != 0 {
			t.Errorf("%s: occupancy %d after everyone left, want 0", name, got)
		}
		be.Close()
	}
}
