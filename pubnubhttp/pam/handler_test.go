package pam

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
	"github.com/presencekit/presence/pubnubhttp"
)

// server is a presence handler with m as its Authorizer, wrapped by m, over
// an engine on the same mock clock.
type server struct {
	t   *testing.T
	m   *Manager
	clk *clock.Mock
	eng *presence.Engine
	h   http.Handler
}

func newServer(t *testing.T) *server {
	t.Helper()
	m, clk := newManager(t, testKeys)
	eng, err := presence.New(presence.Config{Clock: clk, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	h, err := pubnubhttp.New(eng, pubnubhttp.Options{Authorizer: m, PollTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(); _ = eng.Close() })
	return &server{t: t, m: m, clk: clk, eng: eng, h: m.Wrap(h)}
}

// get serves a GET of target and returns the status and decoded body.
func (s *server) get(target string) (int, map[string]any) {
	s.t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		s.t.Fatalf("GET %s: body %q: %v", target, w.Body.String(), err)
	}
	return w.Code, out
}

// present returns uuid → state of channel's occupants.
func (s *server) present(channel string) map[string]string {
	s.t.Helper()
	res, err := s.eng.HereNow(context.Background(), presence.HereNowQuery{Channels: []string{channel}, IncludeState: true})
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range res.Channels {
		for _, o := range c.Occupants {
			out[o.UUID] = string(o.State)
		}
	}
	return out
}

const hb = "/v2/presence/sub-key/sub-c-test/channel/"

// TestHandlerRefusals goes through every refusal path of the Access Manager
// over HTTP: each is answered in the Access Manager envelope and changes
// nothing.
func TestHandlerRefusals(t *testing.T) {
	s := newServer(t)
	alice := grant(t, s.m, Grant{TTL: 10, AuthorizedUUID: "alice", Resources: Resources{
		Channels: map[string]Permission{"a": Read},
		Groups:   map[string]Permission{"ga": Manage},
	}})
	expiring := grant(t, s.m, Grant{TTL: 1, Resources: Resources{Channels: map[string]Permission{"a": Read}}})
	revoked := grant(t, s.m, Grant{TTL: 10, Resources: Resources{Channels: map[string]Permission{"a": Read}}})
	if err := s.m.Revoke(context.Background(), revoked); err != nil {
		t.Fatal(err)
	}
	foreign, _ := newManager(t, Keyset{SubscribeKey: "sub-c-test", PublishKey: "p", SecretKey: "another"})
	foreignTok := grant(t, foreign, Grant{TTL: 10, Resources: Resources{Channels: map[string]Permission{"a": Read}}})
	if code, out := s.get(hb + "a/heartbeat?uuid=alice&auth=" + alice); code != 200 {
		t.Fatalf("alice's heartbeat: %d %v", code, out)
	}
	if code, out := s.get(hb + `a/uuid/alice/data?uuid=alice&state=%7B%22k%22%3A1%7D&auth=` + alice); code != 200 {
		t.Fatalf("alice's set_state: %d %v", code, out)
	}
	s.clk.Add(time.Minute) // expiring has expired

	for _, tc := range []struct {
		name, target, body string
		status             int
	}{
		{"another sub key", "/v2/presence/sub-key/sub-c-else/channel/a/heartbeat?uuid=alice&auth=" + alice,
			`{"status":400,"error":true,"message":"Invalid Subscribe Key","service":"Access Manager","payload":{"channels":["a"]}}`, 400},
		{"no token", hb + "a/heartbeat?uuid=eve",
			`{"status":403,"error":true,"message":"Forbidden: no auth token","service":"Access Manager","payload":{"channels":["a"]}}`, 403},
		{"garbage token", hb + "a/heartbeat?uuid=eve&auth=xyz",
			`{"status":403,"error":true,"message":"Forbidden: invalid token","service":"Access Manager","payload":{"channels":["a"]}}`, 403},
		{"another keyset's token", hb + "a/heartbeat?uuid=eve&auth=" + foreignTok,
			`{"status":403,"error":true,"message":"Forbidden: invalid token","service":"Access Manager","payload":{"channels":["a"]}}`, 403},
		{"expired token", hb + "a/heartbeat?uuid=eve&auth=" + expiring,
			`{"status":403,"error":true,"message":"Forbidden: token expired","service":"Access Manager","payload":{"channels":["a"]}}`, 403},
		{"revoked token", hb + "a/heartbeat?uuid=eve&auth=" + revoked,
			`{"status":403,"error":true,"message":"Forbidden: token revoked","service":"Access Manager","payload":{"channels":["a"]}}`, 403},
		{"ungranted channel", hb + "a,b/heartbeat?uuid=alice&auth=" + alice,
			`{"status":403,"error":true,"message":"Forbidden","service":"Access Manager","payload":{"channels":["b"]}}`, 403},
		{"ungranted group", hb + "a/heartbeat?uuid=alice&channel-group=gb&auth=" + alice,
			`{"status":403,"error":true,"message":"Forbidden","service":"Access Manager","payload":{"channel-groups":[":gb"]}}`, 403},
		{"another uuid heartbeats", hb + "a/heartbeat?uuid=bob&auth=" + alice,
			`{"status":403,"error":true,"message":"Forbidden: token authorized for another uuid","service":"Access Manager","payload":{"channels":["a"]}}`, 403},
		{"alice makes bob leave", hb + "a/leave?uuid=bob&auth=" + alice,
			`{"status":403,"error":true,"message":"Forbidden: token authorized for another uuid","service":"Access Manager","payload":{"channels":["a"]}}`, 403},
		{"alice sets bob's state", hb + "a/uuid/bob/data?uuid=alice&state=%7B%7D&auth=" + alice,
			`{"status":403,"error":true,"message":"Forbidden: token authorized for another uuid","service":"Access Manager","payload":{"channels":["a"]}}`, 403},
		{"alice sets her state on b", hb + "b/uuid/alice/data?uuid=alice&state=%7B%7D&auth=" + alice,
			`{"status":403,"error":true,"message":"Forbidden","service":"Access Manager","payload":{"channels":["b"]}}`, 403},
		{"subscribe without the presence channel", "/v2/subscribe/sub-c-test/a,a-pnpres/0?uuid=alice&tt=0&auth=" + alice,
			`{"status":403,"error":true,"message":"Forbidden","service":"Access Manager","payload":{"channels":["a-pnpres"]}}`, 403},
		{"where_now of bob", "/v2/presence/sub-key/sub-c-test/uuid/bob?uuid=alice&auth=" + alice,
			`{"status":403,"error":true,"message":"Forbidden: where_now of another uuid needs get on it","service":"Access Manager"}`, 403},
		{"global here_now", "/v2/presence/sub-key/sub-c-test?uuid=alice&auth=" + alice,
			`{"status":403,"error":true,"message":"Forbidden: global here_now needs a request signed with the secret key","service":"Access Manager"}`, 403},
		{"group edit without manage", "/v1/channel-registration/sub-key/sub-c-test/channel-group/gb?add=a&uuid=alice&auth=" + alice,
			`{"status":403,"error":true,"message":"Forbidden","service":"Access Manager","payload":{"channel-groups":[":gb"]}}`, 403},
		{"list groups", "/v1/channel-registration/sub-key/sub-c-test/channel-group?uuid=alice&auth=" + alice,
			`{"status":403,"error":true,"message":"Forbidden: listing every group needs a request signed with the secret key","service":"Access Manager"}`, 403},
		{"bad signature", signTarget(Keyset{PublishKey: "pub-c-test", SecretKey: "guess"}, "GET", hb+"a/leave?uuid=alice", nil, s.clk.Now()),
			`{"status":403,"error":true,"message":"Signature Does Not Match","service":"Access Manager","payload":{"channels":["a"]}}`, 403},
		{"stale signature", signTarget(testKeys, "GET", hb+"a/leave?uuid=alice", nil, s.clk.Now().Add(-2*time.Minute)),
			`{"status":400,"error":true,"message":"Invalid Timestamp","service":"Access Manager","payload":{"channels":["a"]}}`, 400},
	} {
		code, out := s.get(tc.target)
		var want map[string]any
		_ = json.Unmarshal([]byte(tc.body), &want)
		if code != tc.status || !reflect.DeepEqual(out, want) {
			t.Errorf("%s: %d %v\nwant %d %s", tc.name, code, out, tc.status, tc.body)
		}
	}
	if got, want := s.present("a"), map[string]string{"alice": `{"k":1}`}; !reflect.DeepEqual(got, want) {
		t.Errorf("a after the refused calls: %v, want %v", got, want)
	}
	if got := s.present("b"); len(got) != 0 {
		t.Errorf("b after the refused calls: %v, want nobody", got)
	}
	if code, out := s.get(hb + "a?uuid=alice&auth=" + alice); code != 200 {
		t.Errorf("alice's here_now of a: %d %v, want 200", code, out)
	}
	signed := signTarget(testKeys, "GET", "/v2/presence/sub-key/sub-c-test?uuid=server", nil, s.clk.Now())
	if code, out := s.get(signed); code != 200 {
		t.Errorf("signed global here_now: %d %v, want 200", code, out)
	}
}

// TestHandlerRevokeTakesEffectAtOnce: a token cached by a heartbeat is
// refused on the very next request after a revoke through the endpoint.
func TestHandlerRevokeTakesEffectAtOnce(t *testing.T) {
	s := newServer(t)
	tok := grant(t, s.m, Grant{TTL: 10, Resources: Resources{Channels: map[string]Permission{"a": Read}}})
	if code, out := s.get(hb + "a/heartbeat?uuid=u&auth=" + tok); code != 200 {
		t.Fatalf("heartbeat: %d %v", code, out)
	}
	r := httptest.NewRequest(http.MethodDelete, signTarget(testKeys, "DELETE", "/v3/pam/sub-c-test/grant/"+url.PathEscape(tok)+"?uuid=server", nil, s.clk.Now()), nil)
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	if code, out := s.get(hb + "a/heartbeat?uuid=u&auth=" + tok); code != 403 || !strings.Contains(out["message"].(string), "revoked") {
		t.Errorf("heartbeat after revoke: %d %v, want 403 token revoked", code, out)
	}
}

// discard is a ResponseWriter that keeps nothing, for the benchmark.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

// BenchmarkHeartbeat is one heartbeat through the handler, without access
// control ("open") and with the Access Manager checking a cached token
// ("token"), in the same run.
//
//	go test -run XXX -bench Heartbeat -count 10 ./pam/
func BenchmarkHeartbeat(b *testing.B) {
	for _, mode := range []string{"open", "token"} {
		b.Run(mode, func(b *testing.B) {
			eng, err := presence.New(presence.Config{SweepInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer eng.Close()
			opt := pubnubhttp.Options{}
			target := "/v2/presence/sub-key/sub-c-test/channel/a/heartbeat?uuid=alice&heartbeat=60"
			if mode == "token" {
				m, err := New(testKeys, Options{})
				if err != nil {
					b.Fatal(err)
				}
				tok, err := m.Grant(context.Background(), Grant{TTL: 60, AuthorizedUUID: "alice", Resources: Resources{Channels: map[string]Permission{"a": Read}}})
				if err != nil {
					b.Fatal(err)
				}
				opt.Authorizer = m
				target += "&auth=" + tok
			}
			h, err := pubnubhttp.New(eng, opt)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			r := httptest.NewRequest(http.MethodGet, target, nil)
			w := &discard{h: http.Header{}}
			h.ServeHTTP(w, r) // the first one verifies and caches the token
			if w.code != 200 {
				b.Fatalf("heartbeat: status %d", w.code)
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
			if w.code != 200 {
				b.Fatalf("heartbeat: status %d", w.code)
			}
		})
	}
}

// BenchmarkAuthorize is the Access Manager's check of one heartbeat with a
// cached token, alone: the part of BenchmarkHeartbeat/token that
// BenchmarkHeartbeat/open does not do, less the building of the Access.
func BenchmarkAuthorize(b *testing.B) {
	m, err := New(testKeys, Options{})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := m.Grant(context.Background(), Grant{TTL: 60, AuthorizedUUID: "alice", Resources: Resources{Channels: map[string]Permission{"a": Read}}})
	if err != nil {
		b.Fatal(err)
	}
	a := pubnubhttp.Access{
		Op: pubnubhttp.OpHeartbeat, SubKey: testKeys.SubscribeKey, UUID: "alice", Target: "alice", Auth: tok,
		Channels: []string{"a"},
		Request:  httptest.NewRequest(http.MethodGet, "/v2/presence/sub-key/sub-c-test/channel/a/heartbeat?uuid=alice&heartbeat=60&auth="+tok, nil),
	}
	ctx := context.Background()
	if err := m.Authorize(ctx, a); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Authorize(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
}
