package pubnubhttp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/presencekit/presence"
)

// envelope is a decoded subscribe response.
type envelope struct {
	T struct {
		T string `json:"t"`
		R int    `json:"r"`
	} `json:"t"`
	M []struct {
		A string          `json:"a"`
		B string          `json:"b"`
		C string          `json:"c"`
		K string          `json:"k"`
		D json.RawMessage `json:"d"`
		P struct {
			T string `json:"t"`
			R int    `json:"r"`
		} `json:"p"`
	} `json:"m"`
}

func (e envelope) cursor(t *testing.T) int64 {
	t.Helper()
	n, err := strconv.ParseInt(e.T.T, 10, 64)
	if err != nil || len(e.T.T) != 17 {
		t.Fatalf("cursor %q: want a 17-digit timetoken", e.T.T)
	}
	return n
}

type result struct {
	code int
	env  envelope
	raw  string
}

// poll serves a subscribe in a goroutine; cancel ends the client side.
func (f *fixture) poll(target string) (<-chan result, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan result, 1)
	go func() {
		u, _ := url.ParseRequestURI(target)
		r := (&http.Request{Method: "GET", RequestURI: target, URL: u, Header: http.Header{}}).WithContext(ctx)
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		res := result{code: w.Code, raw: w.Body.String()}
		if w.Body.Len() > 0 {
			_ = json.Unmarshal(w.Body.Bytes(), &res.env)
		}
		out <- res
	}()
	return out, cancel
}

// subscribe serves a subscribe and waits for its answer.
func (f *fixture) subscribe(target string) envelope {
	f.t.Helper()
	ch, cancel := f.poll(target)
	defer cancel()
	select {
	case r := <-ch:
		if r.code != 200 {
			f.t.Fatalf("GET %s: status %d, want 200; body %s", target, r.code, r.raw)
		}
		return r.env
	case <-time.After(30 * time.Second):
		f.t.Fatalf("GET %s: no answer", target)
	}
	return envelope{}
}

// collect polls from cursor until n messages arrived.
func (f *fixture) collect(path string, cursor int64, n int) (msgs []map[string]any, bs, cs []string) {
	f.t.Helper()
	for len(msgs) < n {
		env := f.subscribe(path + "&tt=" + strconv.FormatInt(cursor, 10))
		next := env.cursor(f.t)
		if next < cursor {
			f.t.Fatalf("cursor went back from %d to %d", cursor, next)
		}
		cursor = next
		for _, m := range env.M {
			var d map[string]any
			if err := json.Unmarshal(m.D, &d); err != nil {
				f.t.Fatalf("d %s: %v", m.D, err)
			}
			if len(m.P.T) != 17 || m.A != "1" || m.K != "k" {
				f.t.Errorf("message envelope a=%q k=%q p.t=%q, want a=1 k=k and a 17-digit p.t", m.A, m.K, m.P.T)
			}
			msgs = append(msgs, d)
			bs = append(bs, m.B)
			cs = append(cs, m.C)
		}
	}
	return msgs, bs, cs
}

// without drops the timestamps, which the tests do not fix.
func without(d map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range d {
		if k != "timestamp" && k != "precise_timestamp" {
			out[k] = v
		}
	}
	return out
}

func TestSubscribeHandshake(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	for _, target := range []string{"/v2/subscribe/k/ch,ch-pnpres/0?uuid=u&tt=0&heartbeat=60", "/v2/subscribe/k/ch2/0?uuid=u&ee="} {
		env := f.subscribe(target)
		if got := env.cursor(t); got < start.UnixNano()/100 {
			t.Errorf("%s: cursor %d, want at least the start time %d", target, got, start.UnixNano()/100)
		}
		if len(env.M) != 0 || env.T.R != 1 {
			t.Errorf("%s: %d messages, region %d; want 0 and region 1", target, len(env.M), env.T.R)
		}
	}
	f.checkJSON("/v2/presence/sub-key/k/uuid/u", `{"status":200,"message":"OK","service":"Presence","payload":{"channels":["ch","ch2"]}}`)
	// A presence-only subscribe joins nobody.
	f.subscribe("/v2/subscribe/k/only-pnpres/0?uuid=listener")
	f.checkJSON("/v2/presence/sub-key/k/uuid/listener", `{"status":200,"message":"OK","service":"Presence","payload":{"channels":[]}}`)
}

// TestSubscribePresenceEvents follows join, state-change, leave and
// timeout through subscribe with the payloads PubNub sends.
func TestSubscribePresenceEvents(t *testing.T) {
	f := newFixture(t, presence.Config{MinTimeout: time.Second}, Options{})
	cursor := f.subscribe("/v2/subscribe/k/ch-pnpres/0?uuid=listener").cursor(t)

	// u1 subscribes with state, so its join carries it (no state-change).
	f.subscribe(`/v2/subscribe/k/ch/0?uuid=u1&heartbeat=60&state={"ch":{"mood":"in"}}`)
	f.get("/v2/presence/sub-key/k/channel/ch/uuid/u1/data?state=%7B%22mood%22%3A%22out%22%7D")
	f.get("/v2/presence/sub-key/k/channel/ch/heartbeat?uuid=u2&heartbeat=5")
	f.get("/v2/presence/sub-key/k/channel/ch/leave?uuid=u1")
	f.clk.Add(6 * time.Second)
	if err := f.eng.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	msgs, bs, cs := f.collect("/v2/subscribe/k/ch-pnpres/0?uuid=listener", cursor, 5)
	want := []string{
		`{"action":"join","uuid":"u1","occupancy":1,"data":{"mood":"in"}}`,
		`{"action":"state-change","uuid":"u1","occupancy":1,"data":{"mood":"out"}}`,
		`{"action":"join","uuid":"u2","occupancy":2}`,
		`{"action":"leave","uuid":"u1","occupancy":1}`,
		`{"action":"timeout","uuid":"u2","occupancy":0}`,
	}
	for i, w := range want {
		if !jsonEqual(t, without(msgs[i]), w) {
			b, _ := json.Marshal(without(msgs[i]))
			t.Errorf("event %d: got %s, want %s", i, b, w)
		}
		if cs[i] != "ch-pnpres" || bs[i] != "ch-pnpres" {
			t.Errorf("event %d: c=%q b=%q, want both ch-pnpres", i, cs[i], bs[i])
		}
		if _, ok := msgs[i]["timestamp"].(float64); !ok {
			t.Errorf("event %d: timestamp %v, want a number", i, msgs[i]["timestamp"])
		}
	}
	if got, want := int64(msgs[4]["timestamp"].(float64)), start.Add(6*time.Second).Unix(); got != want {
		t.Errorf("timeout timestamp %d, want %d (the sweep's time, in seconds)", got, want)
	}
}

func TestSubscribeIntervalEvents(t *testing.T) {
	f := newFixture(t, presence.Config{AnnounceMax: 1, Deltas: true, Interval: 10 * time.Second}, Options{})
	cursor := f.subscribe("/v2/subscribe/k/ch-pnpres/0?uuid=listener").cursor(t)
	f.heartbeat("u1", "ch")
	f.heartbeat("u2", "ch")
	f.heartbeat("u3", "ch")
	f.clk.Add(10 * time.Second)
	if err := f.eng.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	msgs, _, _ := f.collect("/v2/subscribe/k/ch-pnpres/0?uuid=listener", cursor, 2)
	if want := `{"action":"join","uuid":"u1","occupancy":1}`; !jsonEqual(t, without(msgs[0]), want) {
		t.Errorf("event 0: got %v, want %s", msgs[0], want)
	}
	if want := `{"action":"interval","occupancy":3,"join":["u2","u3"]}`; !jsonEqual(t, without(msgs[1]), want) {
		t.Errorf("event 1: got %v, want %s", msgs[1], want)
	}
}

func TestSubscribeGroupPresence(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	f.get("/v1/channel-registration/sub-key/k/channel-group/g?add=a,b")
	path := "/v2/subscribe/k/,/0?uuid=listener&channel-group=g-pnpres"
	cursor := f.subscribe(path).cursor(t)
	f.get("/v2/presence/sub-key/k/channel/b,outside/heartbeat?uuid=u")
	// A subscribe naming the group joins its channels.
	f.subscribe("/v2/subscribe/k/,/0?uuid=v&channel-group=g")
	msgs, bs, cs := f.collect(path, cursor, 3)
	wantC := []string{"b-pnpres", "a-pnpres", "b-pnpres"}
	wantUUID := []string{"u", "v", "v"}
	for i := range 3 {
		if bs[i] != "g-pnpres" || cs[i] != wantC[i] || msgs[i]["uuid"] != wantUUID[i] {
			t.Errorf("event %d: b=%q c=%q uuid=%v, want b=g-pnpres c=%s uuid=%s", i, bs[i], cs[i], msgs[i]["uuid"], wantC[i], wantUUID[i])
		}
	}
}

func TestSubscribeLongPollWakes(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	cursor := f.subscribe("/v2/subscribe/k/ch-pnpres/0?uuid=listener").cursor(t)
	ch, cancel := f.poll("/v2/subscribe/k/ch-pnpres,other/0?uuid=listener&tt=" + strconv.FormatInt(cursor, 10))
	defer cancel()
	f.heartbeat("u", "elsewhere") // not for this listener: the poll stays
	f.heartbeat("u", "ch")
	r := <-ch
	if r.code != 200 || len(r.env.M) != 1 || r.env.M[0].C != "ch-pnpres" {
		t.Fatalf("got status %d body %s, want one event on ch-pnpres", r.code, r.raw)
	}
	// The listener's poll named "other": it joined there.
	if n, _ := f.eng.Occupancy(t.Context(), "other"); n != 1 {
		t.Errorf("occupancy of other %d, want 1", n)
	}
}

// TestSubscribeResyncOnEviction: a cursor older than the log tells the
// client to re-read here_now.
func TestSubscribeResyncOnEviction(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{LogSize: 2})
	f.get("/v1/channel-registration/sub-key/k/channel-group/g?add=a")
	path := "/v2/subscribe/k/ch-pnpres/0?uuid=listener&channel-group=g-pnpres"
	cursor := f.subscribe(path).cursor(t)
	f.heartbeat("u1", "ch")
	f.heartbeat("u2", "ch")
	f.heartbeat("u3", "a")
	// Wait until the log holds the last event, so the first is evicted.
	waitFor(t, func() bool { return f.h.log.lastCursor() > cursor+2 })
	env := f.subscribe(path + "&tt=" + strconv.FormatInt(cursor, 10))
	if len(env.M) != 2 {
		t.Fatalf("got %d messages, want 2 resync events", len(env.M))
	}
	want := []struct{ c, b, d string }{
		{"ch-pnpres", "ch-pnpres", `{"action":"interval","occupancy":2,"here_now_refresh":true}`},
		{"a-pnpres", "g-pnpres", `{"action":"interval","occupancy":1,"here_now_refresh":true}`},
	}
	for i, w := range want {
		var d map[string]any
		_ = json.Unmarshal(env.M[i].D, &d)
		if env.M[i].C != w.c || env.M[i].B != w.b || !jsonEqual(t, without(d), w.d) {
			t.Errorf("message %d: c=%s b=%s d=%s, want c=%s b=%s d=%s", i, env.M[i].C, env.M[i].B, env.M[i].D, w.c, w.b, w.d)
		}
	}
	if got, want := env.cursor(t), f.h.log.lastCursor(); got != want {
		t.Errorf("cursor %d, want the newest %d", got, want)
	}
}

// TestSubscribeResyncAfterSlowConsumer: when the engine closes the log's
// subscription as slow, the handler resubscribes and clients resync.
func TestSubscribeResyncAfterSlowConsumer(t *testing.T) {
	f := newFixture(t, presence.Config{SubscriptionBuffer: 1}, Options{})
	path := "/v2/subscribe/k/ch-pnpres/0?uuid=listener"
	cursor := f.subscribe(path).cursor(t)
	f.h.log.mu.Lock() // stall the event goroutine
	f.heartbeat("u1", "ch")
	f.heartbeat("u2", "ch")
	f.heartbeat("u3", "ch")
	f.h.log.mu.Unlock()
	waitFor(t, func() bool {
		st, _ := f.eng.Stats(t.Context())
		return st.SlowSubscriptions == 1 && st.Subscriptions == 1
	})
	env := f.subscribe(path + "&tt=" + strconv.FormatInt(cursor, 10))
	var d map[string]any
	if len(env.M) == 1 {
		_ = json.Unmarshal(env.M[0].D, &d)
	}
	if want := `{"action":"interval","occupancy":3,"here_now_refresh":true}`; len(env.M) != 1 || !jsonEqual(t, without(d), want) {
		t.Fatalf("got %d messages (%v), want one resync event %s", len(env.M), d, want)
	}
	// Events after the gap are delivered again.
	f.heartbeat("u4", "ch")
	msgs, _, _ := f.collect(path, env.cursor(t), 1)
	if msgs[0]["uuid"] != "u4" {
		t.Errorf("after resync: got %v, want the join of u4", msgs[0])
	}
}

func TestSubscribeEndsOnClose(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	cursor := f.subscribe("/v2/subscribe/k/ch-pnpres/0?uuid=l").cursor(t)
	ch, cancel := f.poll("/v2/subscribe/k/ch-pnpres/0?uuid=l&tt=" + strconv.FormatInt(cursor, 10))
	defer cancel()
	waitFor(t, func() bool { return f.h.poll.held() == 1 })
	if err := f.h.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.code != 200 || len(r.env.M) != 0 || r.env.cursor(t) != cursor {
		t.Errorf("got status %d body %s, want 200, no messages, cursor %d", r.code, r.raw, cursor)
	}
	// Later subscribes are answered at once.
	if env := f.subscribe("/v2/subscribe/k/ch-pnpres/0?uuid=l&tt=" + strconv.FormatInt(cursor, 10)); len(env.M) != 0 {
		t.Errorf("after Close: %d messages, want 0", len(env.M))
	}
}

func TestSubscribePollLimits(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{MaxPollsPerUUID: 1, MaxPolls: 2})
	cursor := strconv.FormatInt(f.subscribe("/v2/subscribe/k/ch-pnpres/0?uuid=l").cursor(t), 10)
	first, cancel1 := f.poll("/v2/subscribe/k/ch-pnpres/0?uuid=l&tt=" + cursor)
	defer cancel1()
	waitFor(t, func() bool { return f.h.poll.held() == 1 })
	second, cancel2 := f.poll("/v2/subscribe/k/ch-pnpres/0?uuid=l&tt=" + cursor)
	defer cancel2()
	// The second poll of uuid l ends the first.
	if r := <-first; r.code != 200 || len(r.env.M) != 0 {
		t.Errorf("evicted poll: status %d body %s, want 200 and no messages", r.code, r.raw)
	}
	waitFor(t, func() bool { return f.h.poll.held() == 1 })
	third, cancel3 := f.poll("/v2/subscribe/k/ch-pnpres/0?uuid=m&tt=" + cursor)
	defer cancel3()
	waitFor(t, func() bool { return f.h.poll.held() == 2 })
	// A third uuid is over MaxPolls.
	ch, cancel4 := f.poll("/v2/subscribe/k/ch-pnpres/0?uuid=n&tt=" + cursor)
	defer cancel4()
	if r := <-ch; r.code != http.StatusServiceUnavailable {
		t.Errorf("poll over MaxPolls: status %d body %s, want 503", r.code, r.raw)
	}
	// A client that goes away frees its slot.
	cancel2()
	<-second
	waitFor(t, func() bool { return f.h.poll.held() == 1 })
	_ = f.h.Close()
	<-third
}

func TestSubscribeFutureCursorResyncs(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	base := f.h.log.lastCursor()
	f.heartbeat("u", "ch")
	waitFor(t, func() bool { return f.h.log.lastCursor() > base })
	future := strconv.FormatInt(start.Add(time.Hour).UnixNano()/100, 10)
	env := f.subscribe("/v2/subscribe/k/ch-pnpres/0?uuid=l&tt=" + future)
	if len(env.M) != 1 || env.cursor(t) != f.h.log.lastCursor() {
		t.Errorf("got %d messages and cursor %s, want 1 resync event and cursor %d", len(env.M), env.T.T, f.h.log.lastCursor())
	}
}

// waitFor polls cond until it holds, failing after 10 s. It waits for the
// handler's goroutines; it asserts no timing.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSubscribeHandshakeReplay: a join made just before the handshake (the
// JS SDK heartbeats and subscribes at once) reaches the first long-poll.
func TestSubscribeHandshakeReplay(t *testing.T) {
	for _, replay := range []time.Duration{0, -1} {
		f := newFixture(t, presence.Config{}, Options{HandshakeReplay: replay})
		f.clk.Add(time.Minute)
		base := f.h.log.lastCursor()
		f.get("/v2/presence/sub-key/k/channel/ch/heartbeat?uuid=u")
		waitFor(t, func() bool { return f.h.log.lastCursor() > base })
		path := "/v2/subscribe/k/ch,ch-pnpres/0?uuid=u"
		cursor := f.subscribe(path).cursor(t)
		f.heartbeat("v", "ch")
		msgs, _, _ := f.collect(path, cursor, 1)
		want := "u"
		if replay < 0 {
			want = "v"
		}
		if msgs[0]["uuid"] != want {
			t.Errorf("HandshakeReplay %v: first event of %v, want the join of %s", replay, msgs[0]["uuid"], want)
		}
	}
}

// TestHeldPollWakesOnlyForItsNames: a long-poll held on x (and on group g)
// is not woken by events of other channels: it neither returns nor wakes
// up to look at them. An event of its own channel, or of a channel of its
// group, wakes it once and is returned.
func TestHeldPollWakesOnlyForItsNames(t *testing.T) {
	f := newFixture(t, presence.Config{AnnounceMax: -1}, Options{})
	f.get("/v1/channel-registration/sub-key/k/channel-group/g?add=gx")
	path := "/v2/subscribe/k/x-pnpres/0?uuid=listener&channel-group=g-pnpres"
	cursor := f.subscribe(path).cursor(t)
	ch, cancel := f.poll(path + "&tt=" + strconv.FormatInt(cursor, 10))
	defer cancel()
	waitFor(t, func() bool { return f.h.log.waiting() == 1 }) // it waits in the log
	before := f.h.log.lastCursor()
	for i := range 50 {
		f.heartbeat(fmt.Sprintf("u%d", i), "y")
	}
	// Wait until the event goroutine logged all 50 joins of y.
	waitFor(t, func() bool { return f.h.log.lastCursor() >= before+50 })
	select {
	case r := <-ch:
		t.Fatalf("poll on x returned for events of y: status %d body %s", r.code, r.raw)
	default:
	}
	if n := f.h.wakeups.Load(); n != 0 {
		t.Errorf("held poll on x woken %d times by 50 events of y, want 0", n)
	}
	f.heartbeat("v", "x")
	r := <-ch
	if r.code != 200 || len(r.env.M) != 1 || r.env.M[0].C != "x-pnpres" {
		t.Fatalf("got status %d body %s, want the join of v on x-pnpres", r.code, r.raw)
	}
	if n := f.h.wakeups.Load(); n != 1 {
		t.Errorf("held poll woken %d times, want 1 (by the join on x)", n)
	}
	// The same through the group.
	ch, cancel2 := f.poll(path + "&tt=" + r.env.T.T)
	defer cancel2()
	waitFor(t, func() bool { return f.h.log.waiting() == 1 }) // it waits in the log
	f.heartbeat("w", "y")
	f.heartbeat("w", "gx")
	r = <-ch
	if r.code != 200 || len(r.env.M) != 1 || r.env.M[0].C != "gx-pnpres" || r.env.M[0].B != "g-pnpres" {
		t.Fatalf("got status %d body %s, want the join of w on gx-pnpres through g-pnpres", r.code, r.raw)
	}
	if n := f.h.wakeups.Load(); n != 2 {
		t.Errorf("held polls woken %d times in all, want 2", n)
	}
}

// TestCursorResumesOnAnotherHandler: two handlers reading one backend's
// events (two servers of one service) give every event the same cursor, so
// a client that polled one of them resumes on the other with its cursor
// and receives exactly the events after it: none missed, none repeated.
func TestCursorResumesOnAnotherHandler(t *testing.T) {
	f := newFixture(t, presence.Config{AnnounceMax: -1}, Options{})
	other, err := New(f.eng, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	g := &fixture{t: t, eng: f.eng, h: other, clk: f.clk}

	path := "/v2/subscribe/k/ch-pnpres/0?uuid=listener"
	cursor := f.subscribe(path).cursor(t)
	f.heartbeat("u1", "ch")
	f.heartbeat("u2", "ch")
	msgs, _, _ := f.collect(path, cursor, 2)
	env := f.subscribe(path + "&tt=" + strconv.FormatInt(cursor, 10))
	if len(env.M) != 2 || msgs[1]["uuid"] != "u2" {
		t.Fatalf("first server: %d messages, want the joins of u1 and u2", len(env.M))
	}
	cursor = env.cursor(t)
	f.heartbeat("u3", "ch")
	f.heartbeat("u4", "ch")
	waitFor(t, func() bool { return other.log.lastCursor() >= cursor+2 })
	got, _, _ := g.collect(path, cursor, 2)
	if len(got) != 2 || got[0]["uuid"] != "u3" || got[1]["uuid"] != "u4" {
		t.Errorf("second server from the first one's cursor: %v, want exactly the joins of u3 and u4", got)
	}
}

// TestCursorAheadOfLog: a cursor a little ahead of this server's log (an
// event another server logged first) waits for the events after it; one
// far ahead (not a cursor of this service) resyncs.
func TestCursorAheadOfLog(t *testing.T) {
	base := start.UnixNano() / 100
	l := newEventLog(8, base)
	sel := &selector{chans: map[string]struct{}{"ch": {}}}
	ahead := base + int64(time.Second/100)
	res, w := l.read(ahead, 10, sel, base, true)
	if res.resync || w == nil || res.next != ahead {
		t.Fatalf("cursor 1 s ahead: resync %v, waiter %v, next %d; want a wait from %d", res.resync, w != nil, res.next, ahead)
	}
	l.addEvent(presence.Event{Channel: "ch", Timetoken: ahead}, nil, nil) // delivered by the other server already
	l.addEvent(presence.Event{Channel: "ch", UUID: "new", Timetoken: ahead + 1}, nil, nil)
	<-w.ch
	after := l.release(w, res.next)
	res, _ = l.read(after, 10, sel, base, false)
	if res.resync || len(res.entries) != 1 || res.entries[0].ev.UUID != "new" {
		t.Errorf("after the wait: resync %v, %d entries; want only the event after the cursor", res.resync, len(res.entries))
	}
	far := base + int64(time.Hour/100)
	if res, w := l.read(far, 10, sel, base, true); !res.resync || w != nil {
		t.Errorf("cursor an hour ahead: resync %v, want a resync and no wait", res.resync)
	}
}

// TestEventLogGrows: the ring starts small and grows by doubling up to its
// size, keeping its entries in order; at its size the oldest leave it.
func TestEventLogGrows(t *testing.T) {
	base := start.UnixNano() / 100
	l := newEventLog(200, base)
	if n := len(l.ring); n != 64 {
		t.Fatalf("new log of 200: ring of %d entries, want 64", n)
	}
	sel := &selector{chans: map[string]struct{}{"ch": {}}}
	for i := range 300 {
		l.addEvent(presence.Event{Channel: "ch", UUID: strconv.Itoa(i), Timetoken: base + 1 + int64(i)}, nil, nil)
		if i == 99 {
			if n := len(l.ring); n != 128 {
				t.Errorf("after 100 events: ring of %d, want 128", n)
			}
			res, _ := l.read(base, 1000, sel, base, false)
			if len(res.entries) != 100 || res.entries[0].ev.UUID != "0" || res.entries[99].ev.UUID != "99" {
				t.Errorf("after 100 events: read %d entries, want the 100 in order", len(res.entries))
			}
		}
	}
	if n := len(l.ring); n != 200 {
		t.Errorf("after 300 events: ring of %d, want 200 (its size)", n)
	}
	res, _ := l.read(base+100, 1000, sel, base, false)
	if res.resync || len(res.entries) != 200 || res.entries[0].ev.UUID != "100" || res.entries[199].ev.UUID != "299" {
		t.Errorf("after 300 events: resync %v, %d entries; want the newest 200 in order", res.resync, len(res.entries))
	}
	if res, _ := l.read(base+99, 1000, sel, base, false); !res.resync {
		t.Errorf("a cursor evicted from the full ring: no resync")
	}
}
