package presenceredis

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/presencekit/presence"
)

// The naming rules and the canonical JSON are the core's (internal/rules);
// these differential fuzz targets check the backend applies them with the
// same limits: the same input must give the same error message (or the same
// canonical state) from the engine and from the backend. They need no Redis.

func pair(t testing.TB, strict bool) (*presence.Engine, *Backend) {
	cfg := Config{Config: presence.Config{SweepInterval: -1, StrictNames: strict, MaxStateBytes: 256}}
	e, err := presence.New(cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	cfg, err = withDefaults(nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, &Backend{cfg: cfg, rules: newRules(cfg.Config)}
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func FuzzNamesMatchCore(f *testing.F) {
	for _, s := range []string{"lobby", "", "a,b", "tab\t", "c1\u0085", "x-pnpres", strings.Repeat("n", 93),
		"a\xffb", "del\x7f", "a:b", "a b", "ünï", "\u2028", "-pnpres-pnpres"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, name string, strict bool) {
		e, b := pair(t, strict)
		_, coreErr := e.Occupancy(ctx, name)
		if got, want := errText(b.checkName("channel", name, true)), errText(coreErr); got != want {
			t.Fatalf("channel %q (strict %v): backend %s, engine %s", name, strict, got, want)
		}
		_, coreErr = e.WhereNow(ctx, name)
		if got, want := errText(b.checkUUID(name)), errText(coreErr); got != want {
			t.Fatalf("uuid %q: backend %s, engine %s", name, got, want)
		}
	})
}

func FuzzStateMatchesCore(f *testing.F) {
	for _, s := range []string{`{}`, `{}}`, `{"a":1}`, ` { "z" : 1, "a" : "x" } `, `null`, `[1]`, `3`, `"s"`, `{`,
		`{"a":1} x`, `{"a":1.50,"b":[1,2]}`, `{"<":"&"}`, `{"a":"\u2028"}`, "{\"a\":\"\xff\"}", `{"k":"` + strings.Repeat("x", 300) + `"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		e, b := pair(t, false)
		if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"c"}}); err != nil {
			t.Fatal(err)
		}
		coreState, coreErr := e.SetState(ctx, presence.SetStateRequest{UUID: "u", Channels: []string{"c"}, State: json.RawMessage(raw)})
		got, err := b.canonicalState(json.RawMessage(raw))
		if errText(err) != errText(coreErr) {
			t.Fatalf("state %q: backend %s, engine %s", raw, errText(err), errText(coreErr))
		}
		if err == nil && orEmpty(got) != string(coreState) {
			t.Fatalf("state %q: backend %s, engine %s", raw, orEmpty(got), coreState)
		}
	})
}

func orEmpty(s string) string {
	if s == "" {
		return "{}"
	}
	return s
}

// TestNameErrorKinds: a bad name's error wraps the sentinel of its kind
// (ErrInvalidChannel, ErrInvalidGroup, ErrInvalidUUID) as well as
// ErrInvalidName, as the engine's do. Needs no Redis: validation comes
// first.
func TestNameErrorKinds(t *testing.T) {
	e, b := pair(t, false)
	for _, tc := range []struct {
		kind, name string
		err        func(be presence.Backend) error
		want       error
	}{
		{"channel", "a,b", func(be presence.Backend) error {
			return be.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Channels: []string{"a,b"}})
		}, presence.ErrInvalidChannel},
		{"group", "g,h", func(be presence.Backend) error {
			return be.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u", Groups: []string{"g,h"}})
		}, presence.ErrInvalidGroup},
		{"uuid", "u,v", func(be presence.Backend) error {
			return be.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "u,v", Channels: []string{"c"}})
		}, presence.ErrInvalidUUID},
	} {
		for name, be := range map[string]presence.Backend{"engine": e, "redis": b} {
			err := tc.err(be)
			if !errors.Is(err, tc.want) || !errors.Is(err, presence.ErrInvalidName) {
				t.Errorf("%s: %s %q: got %v, want an error wrapping %v and ErrInvalidName", name, tc.kind, tc.name, err, tc.want)
			}
		}
	}
}
