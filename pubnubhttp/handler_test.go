package pubnubhttp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/presencekit/presence"
)

func TestTime(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	code, body := f.do("/time/0")
	if code != http.StatusOK {
		t.Fatalf("status %d, want 200", code)
	}
	var got []int64
	if err := json.Unmarshal(body, &got); err != nil || len(got) != 1 {
		t.Fatalf("body %s: want [timetoken]", body)
	}
	if want := start.UnixNano() / 100; got[0] != want {
		t.Errorf("timetoken %d, want %d", got[0], want)
	}
}

func TestHereNowSingleChannelShapes(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	f.heartbeat("u1", "ch")
	if _, err := f.eng.SetState(t.Context(), presence.SetStateRequest{UUID: "u2", Channels: []string{"ch"}, State: json.RawMessage(`{"mood":"ok"}`)}); err != nil {
		t.Fatal(err)
	}
	f.heartbeat("u2", "ch")
	ok := `"status":200,"message":"OK","service":"Presence"`
	tests := []struct{ target, want string }{
		{"/v2/presence/sub_key/k/channel/ch?uuid=x", `{` + ok + `,"occupancy":2,"uuids":["u1","u2"]}`},
		{"/v2/presence/sub-key/k/channel/ch?uuid=x&state=1", `{` + ok + `,"occupancy":2,"uuids":[{"uuid":"u1"},{"uuid":"u2","state":{"mood":"ok"}}]}`},
		{"/v2/presence/sub-key/k/channel/ch?state=0", `{` + ok + `,"occupancy":2,"uuids":["u1","u2"]}`},
		{"/v2/presence/sub-key/k/channel/ch?disable_uuids=1", `{` + ok + `,"occupancy":2,"uuids":[]}`},
		{"/v2/presence/sub_key/k/channel/ch?disable-uuids=1", `{` + ok + `,"occupancy":2,"uuids":[]}`},
		{"/v2/presence/sub_key/k/channel/ch?disable-uuids=0", `{` + ok + `,"occupancy":2,"uuids":["u1","u2"]}`},
		{"/v2/presence/sub-key/k/channel/ch?limit=0", `{` + ok + `,"occupancy":2,"uuids":[]}`},
		{"/v2/presence/sub-key/k/channel/empty", `{` + ok + `,"occupancy":0,"uuids":[]}`},
		{"/v2/presence/sub-key/k/channel/empty?disable_uuids=1", `{` + ok + `,"occupancy":0,"uuids":[]}`},
	}
	for _, tt := range tests {
		f.checkJSON(tt.target, tt.want)
	}
}

func TestHereNowMultiShapes(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	f.heartbeat("u1", "a", "b")
	f.heartbeat("u2", "a")
	if err := f.eng.AddChannels(t.Context(), "g", []string{"b", "empty"}); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.AddChannels(t.Context(), "solo", []string{"a"}); err != nil {
		t.Fatal(err)
	}
	ok := `"status":200,"message":"OK","service":"Presence"`
	tests := []struct{ target, want string }{
		// Empty channels are left out; total_channels counts the result.
		{"/v2/presence/sub_key/k/channel/a,b,empty", `{` + ok + `,"payload":{"channels":{"a":{"occupancy":2,"uuids":["u1","u2"]},"b":{"occupancy":1,"uuids":["u1"]}},"total_channels":2,"total_occupancy":3}}`},
		{"/v2/presence/sub_key/k/channel/a,b?disable_uuids=1", `{` + ok + `,"payload":{"channels":{"a":{"occupancy":2},"b":{"occupancy":1}},"total_channels":2,"total_occupancy":3}}`},
		{"/v2/presence/sub_key/k/channel/a,b?limit=0", `{` + ok + `,"payload":{"channels":{"a":{"occupancy":2},"b":{"occupancy":1}},"total_channels":2,"total_occupancy":3}}`},
		{"/v2/presence/sub_key/k/channel/a,b?state=1", `{` + ok + `,"payload":{"channels":{"a":{"occupancy":2,"uuids":[{"uuid":"u1"},{"uuid":"u2"}]},"b":{"occupancy":1,"uuids":[{"uuid":"u1"}]}},"total_channels":2,"total_occupancy":3}}`},
		// A group query has the multi shape even with one channel.
		{"/v2/presence/sub_key/k/channel/,?channel-group=solo", `{` + ok + `,"payload":{"channels":{"a":{"occupancy":2,"uuids":["u1","u2"]}},"total_channels":1,"total_occupancy":2}}`},
		{"/v2/presence/sub_key/k/channel/a?channel-group=g", `{` + ok + `,"payload":{"channels":{"a":{"occupancy":2,"uuids":["u1","u2"]},"b":{"occupancy":1,"uuids":["u1"]}},"total_channels":2,"total_occupancy":3}}`},
		{"/v2/presence/sub_key/k/channel/,?channel-group=nosuch", `{` + ok + `,"payload":{"channels":{},"total_channels":0,"total_occupancy":0}}`},
		// Global.
		{"/v2/presence/sub_key/k?uuid=x", `{` + ok + `,"payload":{"channels":{"a":{"occupancy":2,"uuids":["u1","u2"]},"b":{"occupancy":1,"uuids":["u1"]}},"total_channels":2,"total_occupancy":3}}`},
		{"/v2/presence/sub-key/k/?disable_uuids=1", `{` + ok + `,"payload":{"channels":{"a":{"occupancy":2},"b":{"occupancy":1}},"total_channels":2,"total_occupancy":3}}`},
	}
	for _, tt := range tests {
		f.checkJSON(tt.target, tt.want)
	}
}

func TestHereNowPaging(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	for i := range 8 {
		f.heartbeat(fmt.Sprintf("u%d", i), "ch", "other")
	}
	for _, multi := range []bool{false, true} {
		seen := map[string]bool{}
		for _, page := range []struct{ offset, n int }{{0, 3}, {3, 3}, {6, 2}, {8, 0}, {100, 0}} {
			target := fmt.Sprintf("/v2/presence/sub-key/k/channel/ch?limit=3&offset=%d", page.offset)
			if multi {
				target = fmt.Sprintf("/v2/presence/sub-key/k/channel/ch,other?limit=3&offset=%d", page.offset)
			}
			body := f.get(target)
			entry := body
			if multi {
				payload := body["payload"].(map[string]any)
				if got := payload["total_occupancy"]; got != 16.0 {
					t.Errorf("%s: total_occupancy %v, want 16", target, got)
				}
				entry = payload["channels"].(map[string]any)["ch"].(map[string]any)
			}
			if got := entry["occupancy"]; got != 8.0 {
				t.Errorf("%s: occupancy %v, want 8", target, got)
			}
			uuids := entry["uuids"].([]any)
			if len(uuids) != page.n {
				t.Errorf("%s: %d uuids, want %d", target, len(uuids), page.n)
			}
			for _, u := range uuids {
				if seen[u.(string)] {
					t.Errorf("%s: uuid %v on two pages", target, u)
				}
				seen[u.(string)] = true
			}
		}
		if len(seen) != 8 {
			t.Errorf("multi=%v: pages covered %d uuids, want 8", multi, len(seen))
		}
	}
}

// TestErrors checks every error path: the status, PubNub's envelope, a
// message naming the problem, and that nothing changed.
func TestErrors(t *testing.T) {
	f := newFixture(t, presence.Config{MaxStateBytes: 64, MaxNamesPerCall: 3, MaxGroupEdit: 2}, Options{MaxURLBytes: 2048, MaxNames: 5})
	f.heartbeat("present", "ch")
	if err := f.eng.AddChannels(t.Context(), "g", []string{"ch"}); err != nil {
		t.Fatal(err)
	}
	big := `{"k":"` + strings.Repeat("x", 100) + `"}`
	tests := []struct {
		name, target string
		status       int
		service      string
		message      string // a substring of the message
	}{
		{"unknown route", "/v2/nothing/here", 404, "Presence", "Not Found"},
		{"unknown presence route", "/v2/presence/sub-key/k/channel/ch/what", 404, "Presence", "Not Found"},
		{"unknown registry route", "/v1/channel-registration/sub-key/k/channel-group/g/what", 404, "Presence", "Not Found"},
		{"uri too long", "/v2/presence/sub-key/k/channel/" + strings.Repeat("c", 3000), 414, "Presence", "Too Long"},
		{"limit too big", "/v2/presence/sub-key/k/channel/ch?limit=1001", 400, "Presence", "invalid limit 1001"},
		{"limit negative", "/v2/presence/sub-key/k/channel/ch?limit=-1", 400, "Presence", "invalid limit -1"},
		{"offset negative", "/v2/presence/sub-key/k/channel/ch?offset=-1", 400, "Presence", "invalid offset -1"},
		{"limit not a number", "/v2/presence/sub-key/k/channel/ch?limit=ten", 400, "Presence", `Invalid limit "ten"`},
		{"offset not a number", "/v2/presence/sub-key/k/channel/ch?offset=x", 400, "Presence", `Invalid offset "x"`},
		{"invalid channel", "/v2/presence/sub-key/k/channel/ok,bad%01/heartbeat?uuid=u", 400, "Presence", "invalid channel"},
		{"reserved suffix in set_state", "/v2/presence/sub-key/k/channel/ok,x-pnpres/uuid/u/data?state=%7B%7D", 400, "Presence", "-pnpres"},
		{"reserved suffix in here_now", "/v2/presence/sub-key/k/channel/ok,x-pnpres", 400, "Presence", "-pnpres"},
		{"invalid group", "/v2/presence/sub-key/k/channel/ok/heartbeat?uuid=u&channel-group=bad%7F", 400, "Presence", "invalid group"},
		{"missing uuid", "/v2/presence/sub-key/k/channel/ok/heartbeat", 400, "Presence", "invalid uuid"},
		{"negative heartbeat", "/v2/presence/sub-key/k/channel/ok/heartbeat?uuid=u&heartbeat=-5", 400, "Presence", `heartbeat "-5"`},
		{"heartbeat not a number", "/v2/presence/sub-key/k/channel/ok/heartbeat?uuid=u&heartbeat=soon", 400, "Presence", `heartbeat "soon"`},
		{"heartbeat invalid state", "/v2/presence/sub-key/k/channel/ok/heartbeat?uuid=u&state={bad", 400, "Presence", "Invalid JSON"},
		{"heartbeat array state", "/v2/presence/sub-key/k/channel/ok/heartbeat?uuid=u&state=[1]", 400, "Presence", "Invalid JSON"},
		{"heartbeat non-object channel state", `/v2/presence/sub-key/k/channel/ok/heartbeat?uuid=u&state={"ok":1}`, 200, "Presence", "OK"},
		{"too many names for the engine", "/v2/presence/sub-key/k/channel/a,b,c,d/heartbeat?uuid=u", 400, "Presence", "too many names"},
		{"too many names for the handler", "/v2/presence/sub-key/k/channel/a,b,c,d,e,f/heartbeat?uuid=u", 400, "Presence", "Too many channels: 6"},
		{"set_state missing", "/v2/presence/sub-key/k/channel/ch/uuid/present/data", 400, "Presence", "Missing state"},
		{"set_state empty", "/v2/presence/sub-key/k/channel/ch/uuid/present/data?state=", 400, "Presence", "Invalid JSON"},
		{"set_state invalid JSON", "/v2/presence/sub-key/k/channel/ch/uuid/present/data?state=%7Bnope", 400, "Presence", "Invalid JSON"},
		{"set_state null", "/v2/presence/sub-key/k/channel/ch/uuid/present/data?state=null", 400, "Presence", "Invalid JSON"},
		{"set_state string", `/v2/presence/sub-key/k/channel/ch/uuid/present/data?state="s"`, 400, "Presence", "Invalid JSON"},
		{"set_state too large", "/v2/presence/sub-key/k/channel/ch/uuid/present/data?state=" + url.QueryEscape(big), 400, "Presence", "too large"},
		{"set_state invalid uuid", "/v2/presence/sub-key/k/channel/ch/uuid/bad%0A/data?state=%7B%7D", 400, "Presence", "invalid uuid"},
		{"get_state invalid channel", "/v2/presence/sub-key/k/channel/x-pnpres/uuid/present", 400, "Presence", "-pnpres"},
		{"where_now invalid uuid", "/v2/presence/sub-key/k/uuid/%01", 400, "Presence", "invalid uuid"},
		{"bad percent-encoding", "/v2/presence/sub-key/k/uuid/%zz", 400, "Presence", "percent-encoding"},
		{"group edit too many", "/v1/channel-registration/sub-key/k/channel-group/g?add=a,b,c", 400, "channel-registry", "too many channels"},
		{"group invalid name", "/v1/channel-registration/sub-key/k/channel-group/g-pnpres?add=a", 400, "channel-registry", "invalid group"},
		{"group invalid channel", "/v1/channel-registration/sub-key/k/channel-group/g?remove=%01", 400, "channel-registry", "invalid channel"},
		{"delete invalid group", "/v1/channel-registration/sub-key/k/channel-group/%01/remove", 400, "channel-registry", "invalid group"},
		{"subscribe no channels", "/v2/subscribe/k/,/0?uuid=u", 400, "Presence", "Missing channels"},
		{"subscribe invalid tt", "/v2/subscribe/k/ok/0?uuid=u&tt=later", 400, "Presence", `Invalid tt "later"`},
		{"subscribe invalid channel", "/v2/subscribe/k/ok,%01/0?uuid=u", 400, "Presence", "invalid channel"},
		{"subscribe invalid presence channel", "/v2/subscribe/k/%01-pnpres/0?uuid=u", 400, "Presence", "invalid channel"},
		{"subscribe invalid uuid", "/v2/subscribe/k/ok-pnpres/0?uuid=", 400, "Presence", "invalid uuid"},
		{"subscribe invalid state", "/v2/subscribe/k/ok/0?uuid=u&state=%5B%5D", 400, "Presence", "Invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := f.eng.Stats(t.Context())
			code, body := f.do(tt.target)
			if code != tt.status {
				t.Errorf("status %d, want %d; body %s", code, tt.status, body)
			}
			m := decode(t, body)
			if got := m["status"]; got != float64(tt.status) {
				t.Errorf("body status %v, want %d", got, tt.status)
			}
			if got := m["service"]; got != tt.service {
				t.Errorf("service %v, want %q", got, tt.service)
			}
			if msg, _ := m["message"].(string); !strings.Contains(msg, tt.message) {
				t.Errorf("message %q, want it to contain %q", msg, tt.message)
			}
			if tt.status == 200 {
				return
			}
			switch tt.service {
			case "channel-registry":
				if m["error"] != true {
					t.Errorf("error %v, want true", m["error"])
				}
			default:
				if m["error"] != 1.0 {
					t.Errorf("error %v, want 1", m["error"])
				}
			}
			after, _ := f.eng.Stats(t.Context())
			if after.Memberships != before.Memberships || after.Events != before.Events || after.Groups != before.Groups {
				t.Errorf("bad input changed the engine: stats %+v, then %+v", before, after)
			}
		})
	}
	// Nothing of the refused calls is visible.
	f.checkJSON("/v2/presence/sub-key/k/channel/ch?state=1", `{"status":200,"message":"OK","service":"Presence","occupancy":1,"uuids":[{"uuid":"present"}]}`)
	f.checkJSON("/v1/channel-registration/sub-key/k/channel-group/g", `{"status":200,"message":"OK","service":"channel-registry","error":false,"payload":{"channels":["ch"],"group":"g"}}`)
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v2/presence/sub-key/k/channel/ch/heartbeat?uuid=u", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("status %d, want 405; body %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Allow"); got != "GET" {
		t.Errorf("Allow %q, want GET", got)
	}
	if n, _ := f.eng.Occupancy(t.Context(), "ch"); n != 0 {
		t.Errorf("occupancy after a refused POST %d, want 0", n)
	}
}

func TestWhereNow(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	f.heartbeat("u1", "zeta", "alpha")
	f.checkJSON("/v2/presence/sub-key/k/uuid/u1?uuid=u1", `{"status":200,"message":"OK","service":"Presence","payload":{"channels":["alpha","zeta"]}}`)
	f.checkJSON("/v2/presence/sub_key/k/uuid/nobody", `{"status":200,"message":"OK","service":"Presence","payload":{"channels":[]}}`)
}

func TestHeartbeatAndLeave(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	if err := f.eng.AddChannels(t.Context(), "g", []string{"g1", "g2"}); err != nil {
		t.Fatal(err)
	}
	f.checkJSON("/v2/presence/sub-key/k/channel/a,b/heartbeat?uuid=u&heartbeat=60", `{"status":200,"message":"OK","service":"Presence"}`)
	f.checkJSON("/v2/presence/sub-key/k/channel/,/heartbeat?uuid=u&channel-group=g", `{"status":200,"message":"OK","service":"Presence"}`)
	f.checkJSON("/v2/presence/sub-key/k/uuid/u", `{"status":200,"message":"OK","service":"Presence","payload":{"channels":["a","b","g1","g2"]}}`)
	f.checkJSON("/v2/presence/sub-key/k/channel/a/leave?uuid=u", `{"status":200,"action":"leave","message":"OK","service":"Presence"}`)
	f.checkJSON("/v2/presence/sub-key/k/channel/,/leave?uuid=u&channel-group=g", `{"status":200,"action":"leave","message":"OK","service":"Presence"}`)
	f.checkJSON("/v2/presence/sub-key/k/uuid/u", `{"status":200,"message":"OK","service":"Presence","payload":{"channels":["b"]}}`)
	// Presence names in a heartbeat or leave are ignored (SDKs send them).
	f.get("/v2/presence/sub-key/k/channel/b,b-pnpres/heartbeat?uuid=w&channel-group=g-pnpres")
	f.checkJSON("/v2/presence/sub-key/k/uuid/w", `{"status":200,"message":"OK","service":"Presence","payload":{"channels":["b"]}}`)
	f.checkJSON("/v2/presence/sub-key/k/channel/b,b-pnpres/leave?uuid=w&channel-group=g-pnpres", `{"status":200,"action":"leave","message":"OK","service":"Presence"}`)
	f.checkJSON("/v2/presence/sub-key/k/uuid/w", `{"status":200,"message":"OK","service":"Presence","payload":{"channels":[]}}`)
	// A leave where the uuid is absent is fine and does nothing.
	f.checkJSON("/v2/presence/sub-key/k/channel/nowhere/leave?uuid=u", `{"status":200,"action":"leave","message":"OK","service":"Presence"}`)
}

func TestHeartbeatState(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	if err := f.eng.AddChannels(t.Context(), "g", []string{"g1"}); err != nil {
		t.Fatal(err)
	}
	// Keyed by channel and group (un-escaped JSON, as the Go SDK sends it).
	f.get(`/v2/presence/sub-key/k/channel/a,b/heartbeat?uuid=u&channel-group=g&state={"a":{"n":1},"g":{"n":2}}`)
	f.checkJSON("/v2/presence/sub-key/k/channel/a,b,g1/uuid/u", `{"status":200,"message":"OK","service":"Presence","uuid":"u","payload":{"channels":{"a":{"n":1},"g1":{"n":2}}}}`)
	// A state whose keys are not the request's names applies to every target.
	f.get(`/v2/presence/sub-key/k/channel/c,d/heartbeat?uuid=v&state=%7B%22mood%22%3A%22ok%22%7D`)
	f.checkJSON("/v2/presence/sub-key/k/channel/c,d/uuid/v", `{"status":200,"message":"OK","service":"Presence","uuid":"v","payload":{"channels":{"c":{"mood":"ok"},"d":{"mood":"ok"}}}}`)
}

func TestSetAndGetState(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	f.heartbeat("u", "a", "b")
	if err := f.eng.AddChannels(t.Context(), "g", []string{"b", "c"}); err != nil {
		t.Fatal(err)
	}
	ok := `"status":200,"message":"OK","service":"Presence"`
	f.checkJSON("/v2/presence/sub-key/k/channel/a/uuid/u/data?state=%7B%22z%22%3A1%2C%22a%22%3A2%7D", `{`+ok+`,"payload":{"a":2,"z":1}}`)
	f.checkJSON("/v2/presence/sub-key/k/channel/a/uuid/u", `{`+ok+`,"uuid":"u","channel":"a","payload":{"a":2,"z":1}}`)
	f.checkJSON("/v2/presence/sub-key/k/channel/b/uuid/u", `{`+ok+`,"uuid":"u","channel":"b","payload":{}}`)
	// Through a group: every channel of the group; c is pending state.
	f.checkJSON(`/v2/presence/sub-key/k/channel/,/uuid/u/data?channel-group=g&state={"s":true}`, `{`+ok+`,"payload":{"s":true}}`)
	f.checkJSON("/v2/presence/sub-key/k/channel/a/uuid/u?channel-group=g", `{`+ok+`,"uuid":"u","payload":{"channels":{"a":{"a":2,"z":1},"b":{"s":true},"c":{"s":true}}}}`)
	f.checkJSON("/v2/presence/sub-key/k/channel/a,b/uuid/u", `{`+ok+`,"uuid":"u","payload":{"channels":{"a":{"a":2,"z":1},"b":{"s":true}}}}`)
	// {} clears.
	f.checkJSON("/v2/presence/sub-key/k/channel/a/uuid/u/data?state=%7B%7D", `{`+ok+`,"payload":{}}`)
	f.checkJSON("/v2/presence/sub-key/k/channel/a/uuid/u", `{`+ok+`,"uuid":"u","channel":"a","payload":{}}`)
}

func TestChannelGroups(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	ok := `"status":200,"message":"OK","service":"channel-registry","error":false`
	f.checkJSON("/v1/channel-registration/sub-key/k/channel-group", `{`+ok+`,"payload":{"groups":[],"sub_key":"k"}}`)
	f.checkJSON("/v1/channel-registration/sub-key/k/channel-group/g1?add=c,a,b", `{`+ok+`}`)
	f.checkJSON("/v1/channel-registration/sub_key/k/channel-group/g2?add=x", `{`+ok+`}`)
	f.checkJSON("/v1/channel-registration/sub-key/k/channel-group/g1", `{`+ok+`,"payload":{"channels":["a","b","c"],"group":"g1"}}`)
	f.checkJSON("/v1/channel-registration/sub-key/k/channel-group", `{`+ok+`,"payload":{"groups":["g1","g2"],"sub_key":"k"}}`)
	f.checkJSON("/v1/channel-registration/sub-key/k/channel-group/g1?remove=b", `{`+ok+`}`)
	f.checkJSON("/v1/channel-registration/sub-key/k/channel-group/g1", `{`+ok+`,"payload":{"channels":["a","c"],"group":"g1"}}`)
	f.checkJSON("/v1/channel-registration/sub-key/k/channel-group/g1/remove", `{`+ok+`}`)
	f.checkJSON("/v1/channel-registration/sub-key/k/channel-group/g1", `{`+ok+`,"payload":{"channels":[],"group":"g1"}}`)
	f.checkJSON("/v1/channel-registration/sub-key/k/channel-group", `{`+ok+`,"payload":{"groups":["g2"],"sub_key":"k"}}`)
	// Adding a channel to a group joins nobody.
	f.checkJSON("/v2/presence/sub-key/k/channel/,?channel-group=g2", `{"status":200,"message":"OK","service":"Presence","payload":{"channels":{},"total_channels":0,"total_occupancy":0}}`)
}

// TestTolerantRequests checks the request forms SDKs send: both sub key
// spellings, percent-encoded names, unknown parameters, a stray '%'.
func TestTolerantRequests(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	f.get("/v2/presence/sub_key/k/channel/a%2Bb,c%20d/heartbeat?uuid=u%201&pnsdk=PubNub-Go%2F7.3.2&l_pres=0.1&ee&requestid=x&whatever=%zz")
	f.checkJSON("/v2/presence/sub-key/k/uuid/u%201", `{"status":200,"message":"OK","service":"Presence","payload":{"channels":["a+b","c d"]}}`)
	// The list is split before decoding: %2C stays inside the name, which
	// the engine then refuses (',' is the list separator).
	code, body := f.do("/v2/presence/sub_key/k/channel/x%2Cy/heartbeat?uuid=u")
	if code != 400 || !strings.Contains(string(body), `invalid channel \"x,y\"`) {
		t.Errorf("channel x%%2Cy: status %d body %s, want 400 naming \"x,y\"", code, body)
	}
}

// TestAbsoluteFormTarget sends "GET http://host/path HTTP/1.1", as the Go
// SDK does, over a real connection.
func TestAbsoluteFormTarget(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	host := srv.Listener.Addr().String()
	fmt.Fprintf(conn, "GET http://%s/v2/presence/sub-key/k/channel/x/heartbeat?uuid=u&state={\"x\":{\"a\":1}} HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host, host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200; body %s", resp.StatusCode, body)
	}
	f.checkJSON("/v2/presence/sub-key/k/channel/x?state=1", `{"status":200,"message":"OK","service":"Presence","occupancy":1,"uuids":[{"uuid":"u","state":{"a":1}}]}`)
}

// TestClosedEngine: every call on a closed engine is a 503 envelope.
func TestClosedEngine(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	if err := f.eng.Close(); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{
		"/v2/presence/sub-key/k/channel/ch",
		"/v2/presence/sub-key/k/channel/ch/heartbeat?uuid=u",
		"/v1/channel-registration/sub-key/k/channel-group",
		"/v2/subscribe/k/ch/0?uuid=u",
	} {
		code, body := f.do(target)
		m := decode(t, body)
		if code != http.StatusServiceUnavailable || m["status"] != 503.0 || m["message"] != "Service Unavailable" {
			t.Errorf("GET %s on a closed engine: status %d body %s, want 503 Service Unavailable", target, code, body)
		}
	}
}

// TestPendingStateJoins: state set before a uuid is present is carried by
// its join, which a subscriber receives as the join's data.
func TestPendingStateJoins(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	path := "/v2/subscribe/k/ch-pnpres/0?uuid=listener"
	cursor := f.subscribe(path).cursor(t)
	f.get(`/v2/presence/sub-key/k/channel/ch/uuid/u/data?state={"ready":true}`)
	f.checkJSON("/v2/presence/sub-key/k/channel/ch?state=1", `{"status":200,"message":"OK","service":"Presence","occupancy":0,"uuids":[]}`)
	f.get("/v2/presence/sub-key/k/channel/ch/heartbeat?uuid=u")
	msgs, _, _ := f.collect(path, cursor, 1)
	if want := `{"action":"join","uuid":"u","occupancy":1,"data":{"ready":true}}`; !jsonEqual(t, without(msgs[0]), want) {
		t.Errorf("join: got %v, want %s", msgs[0], want)
	}
}

// TestMissingTargets: a heartbeat, leave, set_state or get_state naming no
// channel and no group is a 400 in PubNub's error envelope, as subscribe
// is, and changes nothing. One naming only presence names ("-pnpres",
// which SDKs may send) is fine and does nothing.
func TestMissingTargets(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	f.heartbeat("present", "ch")
	for _, target := range []string{
		"/v2/presence/sub-key/k/channel/,/heartbeat?uuid=u",
		"/v2/presence/sub-key/k/channel/,/heartbeat?uuid=u&channel-group=",
		"/v2/presence/sub-key/k/channel/,/leave?uuid=present",
		"/v2/presence/sub-key/k/channel/,/uuid/present/data?state=%7B%22a%22%3A1%7D",
		"/v2/presence/sub-key/k/channel/,/uuid/present",
		"/v2/subscribe/k/,/0?uuid=u",
	} {
		before, _ := f.eng.Stats(t.Context())
		code, body := f.do(target)
		m := decode(t, body)
		msg, _ := m["message"].(string)
		if code != http.StatusBadRequest || m["status"] != 400.0 || m["error"] != 1.0 || m["service"] != "Presence" || !strings.Contains(msg, "Missing channels") {
			t.Errorf("GET %s: status %d body %s, want 400 and the error envelope naming the missing channels", target, code, body)
		}
		after, _ := f.eng.Stats(t.Context())
		if after != before {
			t.Errorf("GET %s changed the engine: stats %+v, then %+v", target, before, after)
		}
	}
	f.checkJSON("/v2/presence/sub-key/k/channel/ch-pnpres/heartbeat?uuid=w", `{"status":200,"message":"OK","service":"Presence"}`)
	f.checkJSON("/v2/presence/sub-key/k/channel/ch-pnpres/leave?uuid=present", `{"status":200,"action":"leave","message":"OK","service":"Presence"}`)
	f.checkJSON("/v2/presence/sub-key/k/channel/ch?uuid=x", `{"status":200,"message":"OK","service":"Presence","occupancy":1,"uuids":["present"]}`)
}

// TestChannelGroupTrailingSlash: an add or remove whose group is empty
// (".../channel-group/?add=x") is refused, not taken for "list groups".
func TestChannelGroupTrailingSlash(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	f.get("/v1/channel-registration/sub-key/k/channel-group/g?add=a")
	for _, target := range []string{
		"/v1/channel-registration/sub-key/k/channel-group/?add=x",
		"/v1/channel-registration/sub-key/k/channel-group/?remove=a",
	} {
		code, body := f.do(target)
		m := decode(t, body)
		msg, _ := m["message"].(string)
		if code != http.StatusBadRequest || m["error"] != true || m["service"] != "channel-registry" || !strings.Contains(msg, "invalid group") {
			t.Errorf("GET %s: status %d body %s, want 400 naming the invalid (empty) channel group", target, code, body)
		}
	}
	ok := `"status":200,"message":"OK","service":"channel-registry","error":false`
	f.checkJSON("/v1/channel-registration/sub-key/k/channel-group/", `{`+ok+`,"payload":{"groups":["g"],"sub_key":"k"}}`)
	f.checkJSON("/v1/channel-registration/sub-key/k/channel-group/g", `{`+ok+`,"payload":{"channels":["a"],"group":"g"}}`)
}

// TestLongTargetIs414: a request target over MaxURLBytes is answered 414 in
// the error envelope, however long (cmd/presenced tests the same through a
// real http.Server).
func TestLongTargetIs414(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	for _, n := range []int{DefaultMaxURLBytes + 1, 100 << 10} {
		target := "/v2/presence/sub-key/k/channel/ch/heartbeat?uuid=u&pad=" + strings.Repeat("x", n)
		code, body := f.do(target)
		m := decode(t, body)
		if code != http.StatusRequestURITooLong || m["status"] != 414.0 || m["error"] != 1.0 {
			t.Errorf("target of %d bytes: status %d body %.200s, want 414 in the error envelope", len(target), code, body)
		}
	}
}

// TestStateNotHTMLEscaped: '<', '>' and '&' in a state come back as they
// were set, in every response that carries state, not as \u003c and the
// like (six times longer).
func TestStateNotHTMLEscaped(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	cursor := f.subscribe("/v2/subscribe/k/ch-pnpres/0?uuid=listener").cursor(t)
	state := `{"html":"<b>a & b</b>"}`
	f.heartbeat("u", "ch")
	for _, target := range []string{
		"/v2/presence/sub-key/k/channel/ch/uuid/u/data?state=%7B%22html%22%3A%22%3Cb%3Ea%20%26%20b%3C%2Fb%3E%22%7D",
		"/v2/presence/sub-key/k/channel/ch/uuid/u",
		"/v2/presence/sub-key/k/channel/ch,other/uuid/u",
		"/v2/presence/sub-key/k/channel/ch?state=1",
		"/v2/subscribe/k/ch-pnpres/0?uuid=listener&tt=" + strconv.FormatInt(cursor, 10),
	} {
		code, body := f.do(target)
		if code != http.StatusOK || !strings.Contains(string(body), `"<b>a & b</b>"`) || strings.Contains(string(body), `\u003c`) {
			t.Errorf("GET %s: status %d body %s, want 200 and the state as set: %s", target, code, body, state)
		}
	}
}

// stalled is a backend whose presence calls cannot reach their store: they
// fail as a network backend's do, with ErrUnavailable wrapping the cause.
// It records the context of each call.
type stalled struct {
	*presence.Engine
	ctxs chan context.Context
}

func (s stalled) fail(ctx context.Context) error {
	s.ctxs <- ctx
	return fmt.Errorf("%w: %w", presence.ErrUnavailable, context.DeadlineExceeded)
}

func (s stalled) Heartbeat(ctx context.Context, _ presence.HeartbeatRequest) error {
	return s.fail(ctx)
}

func (s stalled) HereNow(ctx context.Context, _ presence.HereNowQuery) (presence.HereNowResult, error) {
	return presence.HereNowResult{}, s.fail(ctx)
}

func (s stalled) AddChannels(ctx context.Context, _ string, _ []string) error {
	return s.fail(ctx)
}

type ctxKey struct{}

// TestUnavailableIs503: a backend that cannot reach its store makes the
// request a 503 in PubNub's envelope, without the cause's details; every
// backend call gets the request's context.
func TestUnavailableIs503(t *testing.T) {
	eng, err := presence.New(presence.Config{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	b := stalled{Engine: eng, ctxs: make(chan context.Context, 1)}
	h, err := New(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, tt := range []struct{ target, service string }{
		{"/v2/presence/sub-key/k/channel/ch/heartbeat?uuid=u", "Presence"},
		{"/v2/presence/sub-key/k/channel/ch", "Presence"},
		{"/v2/subscribe/k/ch/0?uuid=u", "Presence"},
		{"/v1/channel-registration/sub-key/k/channel-group/g?add=a", "channel-registry"},
	} {
		u, _ := url.ParseRequestURI(tt.target)
		r := (&http.Request{Method: "GET", RequestURI: tt.target, URL: u, Header: http.Header{}}).WithContext(context.WithValue(t.Context(), ctxKey{}, tt.target))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		m := decode(t, w.Body.Bytes())
		if msg, _ := m["message"].(string); w.Code != http.StatusServiceUnavailable || m["status"] != 503.0 || !strings.HasPrefix(msg, "Service Unavailable") || m["service"] != tt.service {
			t.Errorf("GET %s: status %d body %s, want 503 Service Unavailable from %s", tt.target, w.Code, w.Body, tt.service)
		}
		if strings.Contains(w.Body.String(), "deadline") {
			t.Errorf("GET %s: body %s names the cause; want it kept on the server", tt.target, w.Body)
		}
		if ctx := <-b.ctxs; ctx.Value(ctxKey{}) != tt.target {
			t.Errorf("GET %s: the backend call's context is not the request's", tt.target)
		}
	}
}
