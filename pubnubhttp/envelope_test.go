package pubnubhttp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/presencekit/presence"
)

// TestResponseHeaders checks PubNub's headers and the exact body bytes of
// the answers written from bodies encoded once (heartbeat, leave, channel
// registration) and of those encoded per request (here_now, an error).
func TestResponseHeaders(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	f.heartbeat("u1", "ch")
	for _, c := range []struct {
		target string
		status int
		body   string // exact bytes; "" checks headers only
	}{
		{"/v2/presence/sub-key/k/channel/ch/heartbeat?uuid=u1&heartbeat=300", 200, `{"message":"OK","service":"Presence","status":200}`},
		{"/v2/presence/sub-key/k/channel/ch-pnpres/heartbeat?uuid=u1", 200, `{"message":"OK","service":"Presence","status":200}`},
		{"/v2/presence/sub-key/k/channel/x/leave?uuid=u1", 200, `{"action":"leave","message":"OK","service":"Presence","status":200}`},
		{"/v1/channel-registration/sub-key/k/channel-group/g?add=a,b", 200, `{"error":false,"message":"OK","service":"channel-registry","status":200}`},
		{"/v1/channel-registration/sub-key/k/channel-group/g/remove", 200, `{"error":false,"message":"OK","service":"channel-registry","status":200}`},
		{"/v2/presence/sub-key/k/channel/ch", 200, ""},
		{"/v2/presence/sub-key/k/channel/ch/heartbeat?uuid=u1&heartbeat=soon", 400, ""},
	} {
		r := httptest.NewRequest(http.MethodGet, c.target, nil)
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != c.status {
			t.Errorf("GET %s: status %d, want %d; body %s", c.target, w.Code, c.status, w.Body)
			continue
		}
		if c.body != "" && w.Body.String() != c.body {
			t.Errorf("GET %s: body %s, want %s", c.target, w.Body, c.body)
		}
		want := map[string]string{
			"Content-Type":                 `text/javascript; charset="UTF-8"`,
			"Cache-Control":                "no-cache",
			"Access-Control-Allow-Origin":  "*",
			"Access-Control-Allow-Methods": "GET",
			"Server":                       "Pubnub Presence",
			"Content-Length":               strconv.Itoa(w.Body.Len()),
		}
		for k, v := range want {
			if got := w.Header().Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("GET %s: header %s %q, want [%q]", c.target, k, got, v)
			}
		}
		if len(w.Header()) != len(want) {
			t.Errorf("GET %s: headers %v, want only %v", c.target, w.Header(), want)
		}
	}
}

// TestResponseHeadersAddLater checks that a header added to one response
// after the handler wrote its headers (as a wrapping handler might) changes
// neither that response's other headers nor the next response's.
func TestResponseHeadersAddLater(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	target := "/v2/presence/sub-key/k/channel/ch/heartbeat?uuid=u1"
	w1 := httptest.NewRecorder()
	f.h.ServeHTTP(w1, httptest.NewRequest(http.MethodGet, target, nil))
	w1.Header().Add("Cache-Control", "private")
	if got := w1.Header().Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != "*" {
		t.Errorf("after an Add of Cache-Control: Access-Control-Allow-Origin %q, want [\"*\"]", got)
	}
	w2 := httptest.NewRecorder()
	f.h.ServeHTTP(w2, httptest.NewRequest(http.MethodGet, target, nil))
	if got := w2.Header().Values("Cache-Control"); len(got) != 1 || got[0] != "no-cache" {
		t.Errorf("next response: Cache-Control %q, want [\"no-cache\"]", got)
	}
}

// waitingBackend is an engine whose Heartbeat waits for its context to end,
// as a network backend that gets no answer does.
type waitingBackend struct {
	*presence.Engine
	deadline chan bool // whether each Heartbeat's context had a deadline
}

func (b *waitingBackend) Heartbeat(ctx context.Context, _ presence.HeartbeatRequest) error {
	_, ok := ctx.Deadline()
	b.deadline <- ok
	<-ctx.Done()
	return ctx.Err()
}

// TestCallTimeout checks that a call to a backend other than the in-memory
// engine gets Options.CallTimeout as its deadline and that a backend that
// does not answer within it makes the request a 503.
func TestCallTimeout(t *testing.T) {
	eng, err := presence.New(presence.Config{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	b := &waitingBackend{Engine: eng, deadline: make(chan bool, 1)}
	h, err := New(b, Options{CallTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	code, body := serve(h, "/v2/presence/sub-key/k/channel/ch/heartbeat?uuid=u")
	if code != http.StatusServiceUnavailable {
		t.Errorf("heartbeat to a backend that never answers: status %d, want 503; body %s", code, body)
	}
	if !<-b.deadline {
		t.Errorf("the backend's context had no deadline, want CallTimeout's")
	}
}
