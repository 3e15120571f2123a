package pubnubhttp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
)

// start is the mock clock's time: a realistic date gives 17-digit timetokens.
var start = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// fixture is a handler over an engine driven by a mock clock.
type fixture struct {
	t   *testing.T
	eng *presence.Engine
	h   *Handler
	clk *clock.Mock
}

// newFixture returns a handler over a fresh engine with a mock clock and no
// sweeper; cfg and opt may set anything else.
func newFixture(t *testing.T, cfg presence.Config, opt Options) *fixture {
	t.Helper()
	clk := clock.NewMock()
	clk.Set(start)
	cfg.Clock = clk
	cfg.SweepInterval = -1
	eng, err := presence.New(cfg)
	if err != nil {
		t.Fatalf("presence.New: %v", err)
	}
	h, err := New(eng, opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		_ = h.Close()
		_ = eng.Close()
	})
	return &fixture{t: t, eng: eng, h: h, clk: clk}
}

// do serves target and returns the status and the raw body.
func (f *fixture) do(target string) (int, []byte) {
	f.t.Helper()
	return serve(f.h, target)
}

func serve(h http.Handler, target string) (int, []byte) {
	r := &http.Request{Method: http.MethodGet, RequestURI: target, Header: http.Header{}}
	if u, err := url.ParseRequestURI(target); err == nil {
		r.URL = u
	} else {
		r.URL = &url.URL{Path: "/"}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes()
}

// get serves target, wants HTTP 200, and decodes the body.
func (f *fixture) get(target string) map[string]any {
	f.t.Helper()
	code, body := f.do(target)
	if code != http.StatusOK {
		f.t.Fatalf("GET %s: status %d, want 200; body %s", target, code, body)
	}
	return decode(f.t, body)
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %s: not a JSON object: %v", body, err)
	}
	return m
}

// jsonEqual reports whether got (a decoded value) encodes like the JSON want,
// with the occupants of every "uuids" list in the same order: here_now's
// order of a channel's occupants is stable but not promised (the engine's
// is that of its member table), so the lists compare as sets.
func jsonEqual(t *testing.T, got any, want string) bool {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	// a copy of got, so the sort does not reorder the caller's value
	var g any
	a, _ := json.Marshal(got)
	if err := json.Unmarshal(a, &g); err != nil {
		t.Fatalf("got %s: %v", a, err)
	}
	sortOccupants(g)
	sortOccupants(w)
	a, _ = json.Marshal(g)
	b, _ := json.Marshal(w)
	return string(a) == string(b)
}

// sortOccupants sorts, in place, every list under a "uuids" key of v by
// uuid (a string, or an object's "uuid").
func sortOccupants(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if l, ok := x.([]any); ok && k == "uuids" {
				key := func(o any) string {
					if m, ok := o.(map[string]any); ok {
						s, _ := m["uuid"].(string)
						return s
					}
					s, _ := o.(string)
					return s
				}
				slices.SortFunc(l, func(a, b any) int { return strings.Compare(key(a), key(b)) })
			}
			sortOccupants(x)
		}
	case []any:
		for _, x := range v {
			sortOccupants(x)
		}
	}
}

func (f *fixture) checkJSON(target, want string) {
	f.t.Helper()
	got := f.get(target)
	if !jsonEqual(f.t, got, want) {
		b, _ := json.Marshal(got)
		f.t.Errorf("GET %s:\n got %s\nwant %s", target, b, want)
	}
}

func (f *fixture) heartbeat(uuid string, channels ...string) {
	f.t.Helper()
	if err := f.eng.Heartbeat(f.t.Context(), presence.HeartbeatRequest{UUID: uuid, Channels: channels}); err != nil {
		f.t.Fatalf("Heartbeat(%s, %v): %v", uuid, channels, err)
	}
}
