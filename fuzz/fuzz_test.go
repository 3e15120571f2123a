package fuzz

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
	"pgregory.net/rapid"
)

// ctx is the context of the fuzzers' calls: the engine does not consult it.
var ctx = context.Background()

func newBackend(cfg presence.Config) (presence.Backend, error) { return presence.New(cfg) }

// FuzzOperations runs the model-based state machine on fuzzer input.
func FuzzOperations(f *testing.F) {
	f.Fuzz(rapid.MakeFuzz(func(t *rapid.T) { presencetest.Check(t, newBackend) }))
}

func newEngine(t *testing.T, edit func(*presence.Config)) *presence.Engine {
	cfg := presence.Config{Clock: presencetest.NewManualClock(presencetest.Epoch), SweepInterval: -1, MaxStateBytes: 256}
	if edit != nil {
		edit(&cfg)
	}
	e, err := presence.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// FuzzState sets raw state JSON and checks it against encoding/json: it is
// accepted exactly when it is a JSON object whose canonical form fits;
// the stored form is canonical (setting it again stores the same bytes) and
// means the same as the input; refused input changes nothing.
func FuzzState(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, ` {"b":[1,2,{"c":null}],"a":"x"} `, `null`, `[1]`, `"s"`, `{"a":1}{}`, `{"a":1e400}`, "{\"a\":\"\xff\"}", `{"<>":"&"}`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e := newEngine(t, nil)
		sub, _ := e.Subscribe(ctx, presence.SubscribeOptions{All: true})
		if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}, State: map[string]any{"c": json.RawMessage(`{"old":1}`)}}); err != nil {
			t.Fatal(err)
		}
		<-sub.Events()
		got, err := e.SetState(ctx, presence.SetStateRequest{UUID: "u", Channels: []string{"c"}, State: json.RawMessage(raw)})
		isObject := isJSONObject(raw)
		if err != nil {
			if !errors.Is(err, presence.ErrInvalidState) && !errors.Is(err, presence.ErrStateTooLarge) {
				t.Fatalf("SetState(%q): unexpected error %v", raw, err)
			}
			if errors.Is(err, presence.ErrInvalidState) && isObject && utf8.Valid(raw) {
				t.Fatalf("SetState(%q) refused a valid object: %v", raw, err)
			}
			if st, _ := e.GetState(ctx, presence.GetStateRequest{UUID: "u", Channels: []string{"c"}}); string(st["c"]) != `{"old":1}` {
				t.Fatalf("refused SetState(%q) changed the state to %s", raw, st["c"])
			}
			if len(sub.Events()) != 0 {
				t.Fatalf("refused SetState(%q) emitted an event", raw)
			}
			return
		}
		if !isObject {
			t.Fatalf("SetState(%q) accepted a non-object, stored %s", raw, got)
		}
		if len(got) > 256 {
			t.Fatalf("stored %d bytes, over MaxStateBytes", len(got))
		}
		again, err := e.SetState(ctx, presence.SetStateRequest{UUID: "u", Channels: []string{"c"}, State: got})
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("canonical %s is not stable: %s, %v", got, again, err)
		}
		a, b := decode(raw), decode(got)
		if ja, jb := mustJSON(a), mustJSON(b); ja != jb {
			t.Fatalf("SetState(%q) stored %s, which means %s, not %s", raw, got, jb, ja)
		}
	})
}

// isJSONObject is the reference rule: one JSON object, numbers of any size.
func isJSONObject(raw []byte) bool {
	if !json.Valid(raw) {
		return false
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	return d.Decode(&v) == nil && isMap(v)
}

func isMap(v any) bool { _, ok := v.(map[string]any); return ok }

func decode(raw []byte) any {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		panic(err)
	}
	return v
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// validName is the naming rule as the package documents it (non-empty,
// valid UTF-8, at most 92 bytes, no control character or ',', no
// "-pnpres" suffix on a channel or group, and with strict names none of
// the characters : * / \ and space), written independently of the
// engine's code.
func validName(s string, channelLike, strict bool) bool {
	if s == "" || len(s) > 92 || !utf8.ValidString(s) || strings.Contains(s, ",") {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return false
		}
		if channelLike && strict && strings.ContainsRune(":*/\\ ", r) {
			return false
		}
	}
	return !channelLike || !strings.HasSuffix(s, "-pnpres")
}

// FuzzNames gives a name as a channel, a group and a uuid, with and
// without strict names, and checks the engine accepts exactly the valid
// ones, names the value in its error, and changes nothing when it refuses.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"lobby", "", "a,b", "x-pnpres", "tab\t", "a:b", "with space", "é", "\u0085", string([]byte{0xff}), strings.Repeat("n", 93)} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, name string, strict bool) {
		cases := []struct {
			what    string
			req     presence.HeartbeatRequest
			valid   bool
			members int // memberships when accepted
		}{
			{"channel", presence.HeartbeatRequest{UUID: "u", Channels: []string{"ok", name}}, validName(name, true, strict), len(dedup("ok", name))},
			{"group", presence.HeartbeatRequest{UUID: "u", Channels: []string{"ok"}, Groups: []string{name}}, validName(name, true, strict), 1},
			{"uuid", presence.HeartbeatRequest{UUID: name, Channels: []string{"ok"}}, validName(name, false, strict), 1},
		}
		for _, c := range cases {
			e := newEngine(t, func(c *presence.Config) { c.StrictNames = strict })
			err := e.Heartbeat(ctx, c.req)
			st, _ := e.Stats(ctx)
			switch {
			case c.valid && err != nil:
				t.Fatalf("%s %q (strict %v) refused: %v", c.what, name, strict, err)
			case c.valid && st.Memberships != c.members:
				t.Fatalf("%s %q (strict %v): %d memberships, want %d", c.what, name, strict, st.Memberships, c.members)
			case !c.valid && !errors.Is(err, presence.ErrInvalidName):
				t.Fatalf("%s %q (strict %v): error %v, want ErrInvalidName", c.what, name, strict, err)
			case !c.valid && !strings.Contains(err.Error(), fmt.Sprintf("%q", name)):
				t.Fatalf("error %q does not name the value %q", err, name)
			case !c.valid && st.Memberships != 0:
				t.Fatalf("refused %s %q changed the engine: %d memberships", c.what, name, st.Memberships)
			}
		}
	})
}

func dedup(l ...string) []string {
	var out []string
	for _, s := range l {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// FuzzConfig gives New any Config: it never panics, and either refuses it
// with an error wrapping ErrInvalidConfig that starts with the package's
// prefix, or returns an engine whose heartbeat, here_now, occupancy and
// sweep work at the effective settings: a member joins, is present until
// its (clamped) timeout, and is gone with a timeout event after it.
func FuzzConfig(f *testing.F) {
	type seed struct {
		def, minT, maxT, interval, ttl, sweep                                 int64
		announce, state, names, nameBytes, groupCh, groupEdit, cache, buf, sh int
		deltas, strict                                                        bool
	}
	for _, s := range []seed{
		{},
		{minT: int64(time.Second), maxT: int64(24 * time.Hour), def: int64(24 * time.Hour), interval: int64(24 * time.Hour), ttl: int64(time.Hour), sweep: int64(time.Hour), announce: -2, sh: 4096},
		{maxT: 100 * 365 * 24 * int64(time.Hour)},
		{maxT: math.MaxInt64},
		{interval: math.MaxInt64, announce: -2},
		{sweep: 1},
		{sweep: int64(10 * time.Millisecond), minT: int64(time.Second)},
		{announce: -3},
		{state: 1, names: -1, buf: 1 << 30},
	} {
		f.Add(s.def, s.minT, s.maxT, s.interval, s.ttl, s.sweep, s.announce, s.state, s.names, s.nameBytes, s.groupCh, s.groupEdit, s.cache, s.buf, s.sh, s.deltas, s.strict)
	}
	f.Fuzz(func(t *testing.T, def, minT, maxT, interval, ttl, sweep int64, announce, state, names, nameBytes, groupCh, groupEdit, cache, buf, shards int, deltas, strict bool) {
		cfg := presence.Config{
			DefaultTimeout: time.Duration(def), MinTimeout: time.Duration(minT), MaxTimeout: time.Duration(maxT),
			AnnounceMax: announce, Interval: time.Duration(interval), Deltas: deltas,
			MaxStateBytes: state, MaxNamesPerCall: names, MaxNameBytes: nameBytes, StrictNames: strict,
			MaxGroupChannels: groupCh, MaxGroupEdit: groupEdit,
			HereNowCacheTTL: time.Duration(ttl), HereNowCacheSize: cache,
			SubscriptionBuffer: buf, SweepInterval: time.Duration(sweep), Shards: shards,
		}
		var advance func(time.Duration)
		if cfg.SweepInterval >= 0 { // a sweeper (zero is the default 250 ms) needs timers
			mock := clock.NewMock()
			mock.Set(presencetest.Epoch)
			cfg.Clock, advance = mock, mock.Add
		} else {
			manual := presencetest.NewManualClock(presencetest.Epoch)
			cfg.Clock, advance = manual, manual.Add
		}
		e, err := presence.New(cfg)
		if err != nil {
			if e != nil || !errors.Is(err, presence.ErrInvalidConfig) || !strings.HasPrefix(err.Error(), "presence: invalid config: ") {
				t.Fatalf("New(%+v) = %v, %v; want nil and an error wrapping ErrInvalidConfig", cfg, e, err)
			}
			return
		}
		defer e.Close()
		eff := e.Config()
		if eff.MinTimeout < time.Second || eff.MaxTimeout < eff.MinTimeout || eff.DefaultTimeout < eff.MinTimeout || eff.DefaultTimeout > eff.MaxTimeout || eff.Interval <= 0 || eff.Shards < 1 {
			t.Fatalf("effective config %+v breaks its own bounds", eff)
		}
		sub, err := e.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: 64})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}, Timeout: time.Duration(math.MaxInt64)}); err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
		if n, _ := e.Occupancy(ctx, "c"); n != 1 {
			t.Fatalf("occupancy %d after a join, want 1", n)
		}
		advance(eff.MaxTimeout - time.Nanosecond)
		if err := e.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if r, err := e.HereNow(ctx, presence.HereNowQuery{Channels: []string{"c"}, OccupancyOnly: true}); err != nil || r.TotalOccupancy != 1 {
			t.Fatalf("1 ns before the deadline (timeout %v): here_now %+v, %v; want occupancy 1", eff.MaxTimeout, r, err)
		}
		advance(time.Nanosecond)
		if err := e.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.Occupancy(ctx, "c"); n != 0 {
			t.Fatalf("at the deadline (timeout %v), after Sweep: occupancy %d, want 0", eff.MaxTimeout, n)
		}
		left := false
		for n := len(sub.Events()); n > 0; n-- {
			ev := <-sub.Events()
			left = left || ev.Action == presence.Timeout || slices.Contains(ev.TimedOut(), "u") || (ev.Action == presence.Interval && ev.Occupancy == 0)
		}
		if !left {
			t.Fatalf("no event tells of the timeout (announce max %d, deltas %v)", eff.AnnounceMax, eff.Deltas)
		}
	})
}
