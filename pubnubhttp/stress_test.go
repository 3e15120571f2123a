package pubnubhttp

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/presencekit/presence"
)

// TestSubscribeReplaysToHereNow: clients heartbeat and leave concurrently
// over REST while a listener follows every channel through subscribe
// long-polls; replaying what it received rebuilds exactly what here_now
// shows, and every event arrives once.
func TestSubscribeReplaysToHereNow(t *testing.T) {
	f := newFixture(t, presence.Config{AnnounceMax: -1}, Options{MaxMessages: 7, PollTimeout: time.Second})
	channels := []string{"c0", "c1", "c2", "c3", "c4"}
	path := "/v2/subscribe/k/c0-pnpres,c1-pnpres,c2-pnpres,c3-pnpres,c4-pnpres/0?uuid=listener"
	cursor := f.subscribe(path).cursor(t)

	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range 150 {
				uuid := fmt.Sprintf("u%d", rng.IntN(12))
				ch := channels[rng.IntN(len(channels))]
				op := "heartbeat"
				if rng.IntN(3) == 0 {
					op = "leave"
				}
				serve(f.h, "/v2/presence/sub-key/k/channel/"+ch+"/"+op+"?uuid="+uuid)
			}
		}()
	}
	wg.Wait()
	st, err := f.eng.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	present := map[string]map[string]bool{}
	for _, c := range channels {
		present[c] = map[string]bool{}
	}
	seen := map[string]bool{}
	for n, empty := 0, 0; uint64(n) < st.Events; {
		env := f.subscribe(path + "&tt=" + strconv.FormatInt(cursor, 10))
		cursor = env.cursor(t)
		if empty++; len(env.M) > 0 {
			empty = 0
		} else if empty == 10 {
			t.Fatalf("received %d events, want %d", n, st.Events)
		}
		for _, m := range env.M {
			var d struct {
				Action    string
				UUID      string
				Occupancy int
			}
			if err := json.Unmarshal(m.D, &d); err != nil {
				t.Fatal(err)
			}
			key := m.P.T
			if seen[key] {
				t.Fatalf("event %s delivered twice", key)
			}
			seen[key] = true
			ch := m.C[:len(m.C)-len("-pnpres")]
			switch d.Action {
			case "join":
				present[ch][d.UUID] = true
			case "leave":
				delete(present[ch], d.UUID)
			default:
				t.Fatalf("unexpected action %q", d.Action)
			}
			if d.Occupancy != len(present[ch]) {
				t.Fatalf("%s of %s on %s: occupancy %d, replay has %d", d.Action, d.UUID, ch, d.Occupancy, len(present[ch]))
			}
			n++
		}
	}
	for _, c := range channels {
		res, err := f.eng.HereNow(t.Context(), presence.HereNowQuery{Channels: []string{c}})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, o := range res.Channels[0].Occupants {
			want = append(want, o.UUID)
		}
		var got []string
		for u := range present[c] {
			got = append(got, u)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("channel %s: replayed %v, here_now %v", c, got, want)
		}
	}
}
