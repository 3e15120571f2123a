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

// TestConcurrentPollsSeeEveryEvent: listeners, one per channel plus one
// through a group, long-poll while clients heartbeat and leave
// concurrently. Each poll sleeps until an event of its own names is logged
// (and a poll that times out moves its cursor to the newest entry), so a
// wake-up lost between the log and a poll would skip events: every
// listener's replay must still rebuild here_now, each event once.
func TestConcurrentPollsSeeEveryEvent(t *testing.T) {
	f := newFixture(t, presence.Config{AnnounceMax: -1}, Options{MaxMessages: 3, PollTimeout: 100 * time.Millisecond, MaxPollsPerUUID: 10})
	f.get("/v1/channel-registration/sub-key/k/channel-group/g?add=c3,c4")
	channels := []string{"c0", "c1", "c2", "c3", "c4"}
	type listener struct {
		path    string
		present map[string]map[string]bool
		seen    map[string]bool
		err     string
	}
	var ls []*listener
	for _, c := range channels[:3] {
		ls = append(ls, &listener{path: "/v2/subscribe/k/" + c + "-pnpres/0?uuid=l-" + c})
	}
	ls = append(ls, &listener{path: "/v2/subscribe/k/,/0?uuid=l-g&channel-group=g-pnpres"})
	cursors := make([]int64, len(ls))
	for i, l := range ls {
		l.present = map[string]map[string]bool{}
		l.seen = map[string]bool{}
		cursors[i] = f.subscribe(l.path).cursor(t)
	}

	var writers sync.WaitGroup
	done := make(chan struct{})
	for w := range 6 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for range 120 {
				uuid := fmt.Sprintf("u%d", rng.IntN(8))
				op := "heartbeat"
				if rng.IntN(3) == 0 {
					op = "leave"
				}
				serve(f.h, "/v2/presence/sub-key/k/channel/"+channels[rng.IntN(len(channels))]+"/"+op+"?uuid="+uuid)
			}
		}()
	}
	var pollers sync.WaitGroup
	for i, l := range ls {
		pollers.Add(1)
		go func() {
			defer pollers.Done()
			cursor := cursors[i]
			quiet := 0
			for quiet < 3 { // after the writers, three polls in a row with nothing
				code, body := serve(f.h, l.path+"&tt="+strconv.FormatInt(cursor, 10))
				var env envelope
				if err := json.Unmarshal(body, &env); code != 200 || err != nil {
					l.err = fmt.Sprintf("status %d body %s", code, body)
					return
				}
				next, _ := strconv.ParseInt(env.T.T, 10, 64)
				cursor = next
				select {
				case <-done:
					if len(env.M) == 0 {
						quiet++
					} else {
						quiet = 0
					}
				default:
				}
				for _, m := range env.M {
					var d struct {
						Action string
						UUID   string
					}
					_ = json.Unmarshal(m.D, &d)
					if l.seen[m.P.T] {
						l.err = "event " + m.P.T + " delivered twice"
						return
					}
					l.seen[m.P.T] = true
					ch := m.C[:len(m.C)-len(pnpres)]
					if l.present[ch] == nil {
						l.present[ch] = map[string]bool{}
					}
					if d.Action == "join" {
						l.present[ch][d.UUID] = true
					} else {
						delete(l.present[ch], d.UUID)
					}
				}
			}
		}()
	}
	writers.Wait()
	close(done)
	pollers.Wait()
	want := func(chs ...string) map[string][]string {
		out := map[string][]string{}
		for _, c := range chs {
			res, err := f.eng.HereNow(t.Context(), presence.HereNowQuery{Channels: []string{c}})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range res.Channels[0].Occupants {
				out[c] = append(out[c], o.UUID)
			}
			slices.Sort(out[c])
		}
		return out
	}
	for i, l := range ls {
		if l.err != "" {
			t.Fatalf("listener %s: %s", l.path, l.err)
		}
		chs := []string{channels[i]}
		if i == 3 {
			chs = []string{"c3", "c4"}
		}
		got := map[string][]string{}
		for c, set := range l.present {
			for u := range set {
				got[c] = append(got[c], u)
			}
			slices.Sort(got[c])
		}
		for c, w := range want(chs...) {
			if !slices.Equal(got[c], w) {
				t.Errorf("listener %s, channel %s: replayed %v, here_now %v", l.path, c, got[c], w)
			}
		}
	}
}
