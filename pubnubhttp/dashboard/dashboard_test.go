package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/pubnubhttp/dashboard"
)

var ctx = context.Background()

func setup(t *testing.T, opts dashboard.Options) (*presence.Engine, *httptest.Server) {
	t.Helper()
	e, err := presence.New(presence.Config{SweepInterval: -1, AnnounceMax: presence.NoIntervalMode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	d, err := dashboard.New(e, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(func() {
		d.Close() // ends the open event streams first, so Close of the server need not wait
		srv.Close()
	})
	return e, srv
}

func get(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
	return resp.StatusCode
}

func join(t *testing.T, e presence.Backend, uuid string, channels ...string) {
	t.Helper()
	if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid, Channels: channels}); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond for at most 5 s: the dashboard follows events on
// its own goroutine.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type overview struct {
	Memberships, Channels, UUIDs int
	Top                          []struct {
		Channel   string
		Occupancy int
	}
	Settings struct {
		AnnounceMax    int
		DefaultTimeout float64
	}
}

func TestOverviewAndChannel(t *testing.T) {
	e, srv := setup(t, dashboard.Options{})
	join(t, e, "ann", "lobby", "game")
	join(t, e, "bob", "lobby")
	if _, err := e.SetState(ctx, presence.SetStateRequest{UUID: "ann", Channels: []string{"lobby"}, State: json.RawMessage(`{"mood":"happy"}`)}); err != nil {
		t.Fatal(err)
	}
	var o overview
	eventually(t, "overview never listed lobby (2) and game (1)", func() bool {
		o = overview{}
		get(t, srv.URL+"/api/overview", &o)
		return len(o.Top) == 2 && o.Top[0].Channel == "lobby" && o.Top[0].Occupancy == 2 && o.Top[1].Channel == "game"
	})
	if o.Memberships != 3 || o.UUIDs != 2 || o.Channels != 2 {
		t.Errorf("overview counters = %d memberships, %d uuids, %d channels; want 3, 2, 2", o.Memberships, o.UUIDs, o.Channels)
	}
	if o.Settings.AnnounceMax != -1 || o.Settings.DefaultTimeout != 300 {
		t.Errorf("settings = %+v, want announceMax -1, defaultTimeout 300", o.Settings)
	}

	var ch struct {
		Channel   string
		Occupancy int
		Occupants []struct {
			UUID  string
			State json.RawMessage
		}
	}
	if code := get(t, srv.URL+"/api/channel?name=lobby", &ch); code != http.StatusOK {
		t.Fatalf("GET /api/channel: status %d", code)
	}
	states := map[string]string{}
	for _, o := range ch.Occupants {
		states[o.UUID] = string(o.State)
	}
	if ch.Occupancy != 2 || len(states) != 2 || states["ann"] != `{"mood":"happy"}` || states["bob"] != "" {
		t.Errorf("channel lobby = occupancy %d, states %v; want 2, ann {\"mood\":\"happy\"} and bob none", ch.Occupancy, states)
	}
	if code := get(t, srv.URL+"/api/channel", nil); code != http.StatusBadRequest {
		t.Errorf("GET /api/channel without a name: status %d, want 400", code)
	}
	if code := get(t, srv.URL+"/api/channel?name="+strings.Repeat("x", 200), nil); code != http.StatusBadRequest {
		t.Errorf("GET /api/channel with a 200-byte name: status %d, want 400", code)
	}
}

func TestPageIsServedSelfContained(t *testing.T) {
	_, srv := setup(t, dashboard.Options{})
	for path, want := range map[string]string{"/": "text/html", "/app.js": "text/javascript", "/app.css": "text/css"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), want) {
			t.Errorf("GET %s: status %d, type %q; want 200 %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q, want default-src 'self'", path, csp)
		}
		// offline: nothing is loaded from another origin
		if s := string(body); strings.Contains(s, "http://") || strings.Contains(s, "https://") {
			for _, line := range strings.Split(s, "\n") {
				if (strings.Contains(line, "http://") || strings.Contains(line, "https://")) && !strings.Contains(line, "http://www.w3.org/2000/svg") && !strings.Contains(line, "http://127.0.0.1:8090") {
					t.Errorf("%s refers to another origin: %s", path, strings.TrimSpace(line))
				}
			}
		}
	}
}

// sse reads server-sent events from r.
type sse struct{ r *bufio.Reader }

// next returns the next event's name and data.
func (s sse) next(t *testing.T) (string, string) {
	t.Helper()
	var name, data string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func TestEventStream(t *testing.T) {
	e, srv := setup(t, dashboard.Options{Recent: 2})
	join(t, e, "early", "a")
	join(t, e, "ann", "lobby")
	join(t, e, "bob", "lobby")
	eventually(t, "the dashboard never saw the three joins", func() bool {
		var o overview
		get(t, srv.URL+"/api/overview", &o)
		return len(o.Top) == 2 && o.Top[0].Occupancy == 2
	})
	resp, err := http.Get(srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q, want text/event-stream", ct)
	}
	s := sse{bufio.NewReader(resp.Body)}
	type ev struct {
		Action, Channel, UUID string
		Occupancy             int
		State                 json.RawMessage
		Late                  *float64
	}
	read := func(wantName string) ev {
		t.Helper()
		name, data := s.next(t)
		if name != wantName {
			t.Fatalf("event %q %s, want a %q event", name, data, wantName)
		}
		var v ev
		json.Unmarshal([]byte(data), &v)
		return v
	}
	// the two most recent, oldest first, then ready
	if v := read("presence"); v.UUID != "ann" || v.Action != "join" {
		t.Errorf("first recent event %+v, want ann's join", v)
	}
	if v := read("presence"); v.UUID != "bob" || v.Occupancy != 2 {
		t.Errorf("second recent event %+v, want bob's join with occupancy 2", v)
	}
	read("ready")
	if _, err := e.SetState(ctx, presence.SetStateRequest{UUID: "ann", Channels: []string{"lobby"}, State: json.RawMessage(`{"x":1}`)}); err != nil {
		t.Fatal(err)
	}
	if v := read("presence"); v.Action != "state-change" || v.UUID != "ann" || string(v.State) != `{"x":1}` {
		t.Errorf("live event %+v, want ann's state-change to {\"x\":1}", v)
	}
}

func TestHistory(t *testing.T) {
	e, srv := setup(t, dashboard.Options{Sample: 5 * time.Millisecond, History: time.Second})
	join(t, e, "ann", "lobby")
	type sample struct {
		Time        int64
		Memberships int
		Top         []struct {
			Channel   string
			Occupancy int
		}
	}
	var h []sample
	eventually(t, "no sample with lobby's occupancy", func() bool {
		h = nil
		get(t, srv.URL+"/api/history", &h)
		n := len(h)
		return n > 1 && h[n-1].Memberships == 1 && len(h[n-1].Top) == 1 && h[n-1].Top[0].Occupancy == 1
	})
	for i := 1; i < len(h); i++ {
		if h[i].Time < h[i-1].Time {
			t.Fatalf("samples out of order: %d after %d", h[i].Time, h[i-1].Time)
		}
	}
	last := h[len(h)-1].Time
	var after []sample
	get(t, srv.URL+"/api/history?since="+strconv.FormatInt(last, 10), &after)
	for _, s := range after {
		if s.Time <= last {
			t.Errorf("?since=%d returned a sample of %d", last, s.Time)
		}
	}
	if code := get(t, srv.URL+"/api/history?since=yesterday", nil); code != http.StatusBadRequest {
		t.Errorf("?since=yesterday: status %d, want 400", code)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	e, err := presence.New(presence.Config{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, o := range []dashboard.Options{
		{TopChannels: 1001}, {TopChannels: -1}, {Recent: -1}, {Occupants: 5000},
		{Sample: -time.Second}, {Sample: time.Millisecond, History: time.Hour},
	} {
		if d, err := dashboard.New(e, o); err == nil {
			d.Close()
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := dashboard.New(nil, dashboard.Options{}); err == nil {
		t.Error("New(nil backend) accepted")
	}
}
