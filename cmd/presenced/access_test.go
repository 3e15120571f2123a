package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presencekit/presence/pubnubhttp/pam"
)

func TestKeysFromFlagsAndEnvironment(t *testing.T) {
	t.Setenv(envSubscribeKey, "sub-env")
	t.Setenv(envPublishKey, "pub-env")
	t.Setenv(envSecretKey, "sec-env")
	for _, tc := range []struct {
		args []string
		want pam.Keyset
	}{
		{nil, pam.Keyset{SubscribeKey: "sub-env", PublishKey: "pub-env", SecretKey: "sec-env"}},
		{[]string{"-subscribe-key", "sub-flag", "-secret-key", "sec-flag"}, pam.Keyset{SubscribeKey: "sub-flag", PublishKey: "pub-env", SecretKey: "sec-flag"}},
		{[]string{"-secret-key", ""}, pam.Keyset{SubscribeKey: "sub-env", PublishKey: "pub-env"}}, // an explicit empty flag wins too
	} {
		fs := newTestFlagSet()
		af := addAccessFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		af.fromEnv(fs)
		if af.keys != tc.want {
			t.Errorf("%q: keys %+v, want %+v", tc.args, af.keys, tc.want)
		}
	}
}

func TestKeysetRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-secret-key", "s", "-publish-key", "p"}, "need -subscribe-key"},
		{[]string{"-subscribe-key", "s", "-secret-key", "x"}, "-secret-key needs -publish-key"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("%q: exit %d, stderr %q; want %d naming %q", tc.args, code, stderr.String(), exitUsage, tc.msg)
		}
	}
}

func TestAccessModeIsSaid(t *testing.T) {
	for _, tc := range []struct {
		keys pam.Keyset
		msg  string
	}{
		{pam.Keyset{}, "any sub key is accepted and no access is checked"},
		{pam.Keyset{SubscribeKey: "s"}, `sub key "s" only; no -secret-key`},
		{pam.Keyset{SubscribeKey: "s", PublishKey: "p", SecretKey: "x"}, `Access Manager on for sub key "s"`},
	} {
		var w bytes.Buffer
		a, err := openAccess(&accessFlags{keys: tc.keys}, backendFlags{}, nil, &w)
		if err != nil {
			t.Fatalf("%+v: %v", tc.keys, err)
		}
		a.close()
		if !strings.Contains(w.String(), tc.msg) || strings.Contains(w.String(), "x\"") {
			t.Errorf("%+v: said %q, want %q (and never the secret)", tc.keys, w.String(), tc.msg)
		}
		if (a.m == nil) != (tc.keys.SubscribeKey == "") {
			t.Errorf("%+v: manager %v", tc.keys, a.m)
		}
	}
}

// sign adds timestamp and a v2 signature to target: PubNub's algorithm,
// written here apart from package pam's so that each checks the other.
func sign(secret, pub, method, target string, body []byte) string {
	target += "&timestamp=" + strconv.FormatInt(time.Now().Unix(), 10)
	path, rawQuery, _ := strings.Cut(target, "?")
	q, _ := url.ParseQuery(rawQuery)
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	enc := strings.NewReplacer("+", "%20", "~", "%7E")
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+enc.Replace(url.QueryEscape(q.Get(k))))
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(method + "\n" + pub + "\n" + path + "\n" + strings.Join(parts, "&") + "\n"))
	mac.Write(body)
	return target + "&signature=v2." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// do sends a request and returns the status and the decoded JSON body.
func do(t *testing.T, method, u string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, u, b, err)
	}
	return resp.StatusCode, out
}

// grantVia grants read on channel a through s's grant endpoint.
func grantVia(t *testing.T, s *server) string {
	t.Helper()
	body := []byte(`{"ttl":10,"permissions":{"resources":{"channels":{"a":1}},"patterns":{},"meta":{}}}`)
	code, out := do(t, "POST", s.url+sign("sec", "pub", "POST", "/v3/pam/sub/grant?uuid=server", body), body)
	data, _ := out["data"].(map[string]any)
	tok, _ := data["token"].(string)
	if code != 200 || tok == "" {
		t.Fatalf("grant: %d %v", code, out)
	}
	return tok
}

func TestAccessManagerOnPresenced(t *testing.T) {
	t.Setenv(envSecretKey, "sec")
	s := startPresenced(t, "-subscribe-key", "sub", "-publish-key", "pub")
	hb := "/v2/presence/sub-key/sub/channel/a/heartbeat?uuid=alice"
	if code, out := do(t, "GET", s.url+hb, nil); code != 403 || out["service"] != "Access Manager" {
		t.Errorf("heartbeat without a token: %d %v, want 403 from Access Manager", code, out)
	}
	if code, out := do(t, "GET", s.url+"/v2/presence/sub-key/other/channel/a?uuid=alice", nil); code != 400 || out["message"] != "Invalid Subscribe Key" {
		t.Errorf("here_now of another sub key: %d %v, want 400 Invalid Subscribe Key", code, out)
	}
	tok := grantVia(t, s)
	if code, out := do(t, "GET", s.url+hb+"&auth="+tok, nil); code != 200 {
		t.Errorf("heartbeat with the granted token: %d %v, want 200", code, out)
	}
	if code, out := do(t, "GET", s.url+sign("sec", "pub", "GET", "/v2/presence/sub-key/sub/channel/b/heartbeat?uuid=server", nil), nil); code != 200 {
		t.Errorf("signed heartbeat: %d %v, want 200", code, out)
	}
}

func TestSubKeyOnlyOnPresenced(t *testing.T) {
	s := startPresenced(t, "-subscribe-key", "sub")
	if code, out := do(t, "GET", s.url+"/v2/presence/sub-key/sub/channel/a/heartbeat?uuid=alice", nil); code != 200 {
		t.Errorf("heartbeat on the sub key, no token: %d %v, want 200", code, out)
	}
	if code, out := do(t, "GET", s.url+"/v2/presence/sub-key/else/channel/a/heartbeat?uuid=alice", nil); code != 400 {
		t.Errorf("heartbeat on another sub key: %d %v, want 400", code, out)
	}
}

// TestRevokeAcrossServersOnRedis: two presenced sharing a Redis; a token
// revoked on one is refused by the other at once.
func TestRevokeAcrossServersOnRedis(t *testing.T) {
	addr := startRedis(t)
	t.Setenv(envSecretKey, "sec")
	args := []string{"-subscribe-key", "sub", "-publish-key", "pub", "-redis", "redis://" + addr + "/0"}
	a := startPresenced(t, args...)
	b := startPresenced(t, args...)
	tok := grantVia(t, a)
	hb := "/v2/presence/sub-key/sub/channel/a/heartbeat?uuid=alice&auth=" + tok
	if code, out := do(t, "GET", b.url+hb, nil); code != 200 {
		t.Fatalf("heartbeat on b with a's token: %d %v, want 200", code, out)
	}
	code, out := do(t, "DELETE", a.url+sign("sec", "pub", "DELETE", "/v3/pam/sub/grant/"+tok+"?uuid=server", nil), nil)
	if code != 200 {
		t.Fatalf("revoke on a: %d %v", code, out)
	}
	if code, out := do(t, "GET", b.url+hb, nil); code != 403 || !strings.Contains(out["message"].(string), "revoked") {
		t.Errorf("heartbeat on b after the revoke on a: %d %v, want 403 token revoked", code, out)
	}
}

func newTestFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("presenced", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
