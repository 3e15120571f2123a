package pubnubhttp

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presencekit/presence"
)

// FuzzRequest feeds arbitrary request targets to the parser and to the
// whole handler. The parser must never panic and must only return non-empty
// names; the handler must answer every target with JSON, and every error in
// PubNub's envelope with the HTTP status in its body. The seed corpus is in
// testdata/fuzz/FuzzRequest.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		"/time/0",
		"/v2/presence/sub_key/k/channel/a,b?state=1&disable-uuids=0&limit=2&offset=1",
		"/v2/presence/sub-key/k/channel/,/heartbeat?uuid=u&channel-group=g&heartbeat=30&state={\"g\":{\"a\":1}}",
		"/v2/presence/sub-key/k/channel/a/uuid/u/data?state=%7B%22x%22%3A1%7D",
		"/v1/channel-registration/sub-key/k/channel-group/g?add=a%2Cb",
		"/v2/subscribe/k/a,a-pnpres/0?uuid=u&tt=0&channel-group=g-pnpres",
		"http://127.0.0.1:8090/v2/presence/sub-key/k/uuid/u%zz",
	} {
		f.Add(s)
	}
	eng, err := presence.New(presence.Config{SweepInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	h, err := New(eng, Options{PollTimeout: time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		_ = h.Close()
		_ = eng.Close()
	})
	f.Fuzz(func(t *testing.T, target string) {
		req, err := parseRequest(target)
		if err == nil {
			if req.route < routeTime || req.route > routeSubscribe {
				t.Fatalf("parseRequest(%q): route %v out of range", target, req.route)
			}
			for _, c := range req.channels {
				if c == "" {
					t.Fatalf("parseRequest(%q): empty channel in %q", target, req.channels)
				}
			}
			for _, g := range req.query.list("channel-group") {
				if g == "" || strings.Contains(g, ",") {
					t.Fatalf("parseRequest(%q): bad group %q", target, g)
				}
			}
		}
		code, body := serve(h, target)
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("GET %q: status %d, body %q is not JSON: %v", target, code, body, err)
		}
		if code == http.StatusOK {
			return
		}
		m, _ := v.(map[string]any)
		if m["status"] != float64(code) || m["error"] == nil || m["message"] == "" || m["service"] == nil {
			t.Fatalf("GET %q: status %d, body %s: want PubNub's error envelope with that status", target, code, body)
		}
	})
}
