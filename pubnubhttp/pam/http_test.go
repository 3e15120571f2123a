package pam

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// call serves one request on m.Wrap(next) and decodes the JSON answer.
func call(t *testing.T, h http.Handler, method, target, body string) (int, map[string]any) {
	t.Helper()
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", method, target, w.Body.String(), err)
	}
	return w.Code, out
}

// grantBodyOf is the body the JS SDK's grantToken sends.
const jsGrantBody = `{"ttl":15,"permissions":{"uuid":"alice","resources":{"channels":{"a":1},"groups":{"g":5},"uuids":{"bob":32},"users":{},"spaces":{}},"patterns":{"channels":{"^room-.*$":1},"groups":{},"uuids":{},"users":{},"spaces":{}},"meta":{"n":2,"s":"x"}}}`

func TestGrantEndpoint(t *testing.T) {
	m, _ := newManager(t, testKeys)
	h := m.Wrap(http.NotFoundHandler())
	target := signTarget(testKeys, "POST", "/v3/pam/sub-c-test/grant?uuid=server&pnsdk=PubNub-JS-Nodejs%2F12.0.0", []byte(jsGrantBody), start)
	code, out := call(t, h, "POST", target, jsGrantBody)
	if code != 200 || out["status"] != float64(200) || out["service"] != "Access Manager" {
		t.Fatalf("grant: %d %v, want 200 in the Access Manager envelope", code, out)
	}
	data, _ := out["data"].(map[string]any)
	if data["message"] != "Success" {
		t.Errorf("grant: data %v, want message Success", data)
	}
	tok, _ := data["token"].(string)
	got, err := m.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify(granted token): %v", err)
	}
	if got.TTL != 15 || got.AuthorizedUUID != "alice" || got.Resources.Channels["a"] != Read ||
		got.Resources.Groups["g"] != Read|Manage || got.Resources.UUIDs["bob"] != Get ||
		got.Patterns.Channels["^room-.*$"] != Read || got.Meta["n"] != uint64(2) || got.Meta["s"] != "x" {
		t.Errorf("granted token: %+v, want the body's grant", *got)
	}

	// The same body, re-signed for each refusal.
	sign := func(path string, body string, at time.Time) string {
		return signTarget(testKeys, "POST", path, []byte(body), at)
	}
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
		msg                        string
	}{
		{"unsigned", "POST", "/v3/pam/sub-c-test/grant?uuid=server", jsGrantBody, 403, "must be signed"},
		{"bad signature", "POST", target, strings.Replace(jsGrantBody, `"a":1`, `"a":3`, 1), 403, "Signature Does Not Match"},
		{"old timestamp", "POST", sign("/v3/pam/sub-c-test/grant?uuid=server", jsGrantBody, start.Add(-2*time.Minute)), jsGrantBody, 400, "Invalid Timestamp"},
		{"another sub key", "POST", "/v3/pam/sub-c-other/grant", jsGrantBody, 400, "Invalid Subscribe Key"},
		{"GET", "GET", "/v3/pam/sub-c-test/grant", "", 405, "only POST"},
		{"no ttl", "POST", sign("/v3/pam/sub-c-test/grant", `{"permissions":{"resources":{"channels":{"a":1}}}}`, start), `{"permissions":{"resources":{"channels":{"a":1}}}}`, 400, "no ttl"},
		{"ttl -1 (the Go SDK's unset ttl)", "POST", sign("/v3/pam/sub-c-test/grant", `{"ttl":-1,"permissions":{"resources":{"channels":{"a":1}}}}`, start), `{"ttl":-1,"permissions":{"resources":{"channels":{"a":1}}}}`, 400, "ttl -1"},
		{"bits out of range", "POST", sign("/v3/pam/sub-c-test/grant", `{"ttl":5,"permissions":{"resources":{"channels":{"a":256}}}}`, start), `{"ttl":5,"permissions":{"resources":{"channels":{"a":256}}}}`, 400, "must be 0..255"},
		{"not JSON", "POST", sign("/v3/pam/sub-c-test/grant", `ttl=5`, start), `ttl=5`, 400, "not the grant JSON"},
		{"another path", "POST", "/v3/pam/sub-c-test/audit", "", 404, "Not Found"},
	} {
		code, out := call(t, h, tc.method, tc.target, tc.body)
		e, _ := out["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if code != tc.status || out["status"] != float64(tc.status) || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %v, want %d with a message containing %q", tc.name, code, out, tc.status, tc.msg)
		}
	}
}

func TestRevokeEndpoint(t *testing.T) {
	m, _ := newManager(t, testKeys)
	h := m.Wrap(http.NotFoundHandler())
	tok := grant(t, m, Grant{TTL: 5, Resources: Resources{Channels: map[string]Permission{"a": Read}}})
	path := "/v3/pam/sub-c-test/grant/" + tok + "?uuid=server"
	if code, out := call(t, h, "DELETE", path, ""); code != 403 {
		t.Errorf("unsigned revoke: %d %v, want 403", code, out)
	}
	if _, err := m.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify after a refused revoke: %v", err)
	}
	code, out := call(t, h, "DELETE", signTarget(testKeys, "DELETE", path, nil, start), "")
	if code != 200 || out["status"] != float64(200) {
		t.Fatalf("revoke: %d %v, want 200", code, out)
	}
	if _, err := m.Verify(context.Background(), tok); err == nil {
		t.Errorf("Verify after revoke: nil error, want ErrRevoked")
	}
	forged := "/v3/pam/sub-c-test/grant/qEF2AkF0?uuid=server"
	if code, out := call(t, h, "DELETE", signTarget(testKeys, "DELETE", forged, nil, start), ""); code != 400 {
		t.Errorf("revoke of a forged token: %d %v, want 400", code, out)
	}
}

func TestWrapPassesOtherPaths(t *testing.T) {
	m, _ := newManager(t, testKeys)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"next":true}`))
	})
	if _, out := call(t, m.Wrap(next), "GET", "/v2/presence/sub-key/sub-c-test/channel/a", ""); out["next"] != true {
		t.Errorf("a presence path went to %v, want the next handler", out)
	}
}

func TestGrantEndpointWithoutSecretKey(t *testing.T) {
	m, _ := newManager(t, Keyset{SubscribeKey: "sub-c-test"})
	code, out := call(t, m.Wrap(http.NotFoundHandler()), "POST", "/v3/pam/sub-c-test/grant", jsGrantBody)
	if code != 403 {
		t.Errorf("grant without a secret key: %d %v, want 403", code, out)
	}
}
