package pam

import (
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presencekit/presence/pubnubhttp/internal/reqtarget"
)

// signTarget returns target with timestamp (now) and a v2 signature of the
// request added, as a server SDK sends it.
func signTarget(keys Keyset, method, target string, body []byte, now time.Time) string {
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	target += sep + "timestamp=" + strconv.FormatInt(now.Unix(), 10)
	path, rawQuery := reqtarget.Split(target)
	sig := signatureV2(keys.SecretKey, keys.PublishKey, signedRequest{method, path, rawQuery, body})
	return target + "&signature=" + sig
}

// sdkQuery is the Go SDK v7's PreparePamParams, written from its
// description: values sorted by key, each url.QueryEscape'd with '+' as
// %20 and *!'()[]~ percent-encoded. canonicalQuery must agree with it.
func sdkQuery(v url.Values) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	r := strings.NewReplacer("+", "%20", "*", "%2A", "!", "%21", "'", "%27", "(", "%28", ")", "%29", "[", "%5B", "]", "%5D", "~", "%7E")
	var parts []string
	for _, k := range keys {
		for _, val := range v[k] {
			parts = append(parts, k+"="+r.Replace(url.QueryEscape(val)))
		}
	}
	return strings.Join(parts, "&")
}

func TestCanonicalQueryMatchesTheSDKs(t *testing.T) {
	values := url.Values{
		"uuid":          {"alice smith"},
		"pnsdk":         {"PubNub-Go/7.3.2"},
		"auth":          {"qEF2AkF0Gm-_x"},
		"state":         {`{"mood":"~happy* (ok)!","n":[1,2]}`},
		"channel-group": {"g1,g2"},
		"timestamp":     {"1700000000"},
		"l_pres":        {"0.123"},
		"filter-expr":   {"a == 'b' && c != \"d\""},
		"unicode":       {"żółw ✓"},
	}
	want := sdkQuery(values)
	// The Go SDK sends most values raw and uuid/state encoded; the JS SDK
	// sends every value encoded. Both must read the same.
	raw := []string{}
	enc := []string{}
	for k, vs := range values {
		for _, v := range vs {
			raw = append(raw, k+"="+strings.NewReplacer(" ", "%20", "&", "%26").Replace(v))
			enc = append(enc, k+"="+strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
		}
	}
	raw = append(raw, "signature=v2.abc")
	for name, q := range map[string]string{"raw": strings.Join(raw, "&"), "encoded": strings.Join(enc, "&")} {
		if got := canonicalQuery(q); got != want {
			t.Errorf("%s: canonicalQuery:\n got %s\nwant %s", name, got, want)
		}
	}
}

func TestCheckSignature(t *testing.T) {
	keys := testKeys
	now := start
	target := "/v2/presence/sub-key/sub-c-test/channel/a,b/heartbeat?uuid=server&pnsdk=PubNub-Go%2F7.3.2"
	signed := signTarget(keys, "GET", target, nil, now)
	check := func(method, target string, body []byte, at time.Time) (bool, error) {
		path, q := reqtarget.Split(target)
		return checkSignature(keys.SecretKey, keys.PublishKey, signedRequest{method, path, q, body}, at, time.Minute)
	}
	if ok, err := check("GET", signed, nil, now); !ok || err != nil {
		t.Fatalf("signed request: got %v, %v; want true, nil", ok, err)
	}
	if ok, err := check("GET", "http://127.0.0.1:1"+signed, nil, now); !ok || err != nil {
		t.Errorf("signed request in absolute form: got %v, %v; want true, nil", ok, err)
	}
	if ok, err := check("GET", target, nil, now); ok || err != nil {
		t.Errorf("unsigned request: got %v, %v; want false, nil", ok, err)
	}
	for _, tc := range []struct {
		name, method, target string
		at                   time.Time
		want                 error
	}{
		{"another method", "POST", signed, now, ErrBadSignature},
		{"another path", "GET", strings.Replace(signed, "a,b", "a,c", 1), now, ErrBadSignature},
		{"another query value", "GET", strings.Replace(signed, "uuid=server", "uuid=servers", 1), now, ErrBadSignature},
		{"a parameter added", "GET", signed + "&auth=x", now, ErrBadSignature},
		{"timestamp 61 s old", "GET", signed, now.Add(61 * time.Second), ErrBadTimestamp},
		{"timestamp 61 s ahead", "GET", signed, now.Add(-61 * time.Second), ErrBadTimestamp},
		{"no timestamp", "GET", target + "&signature=v2.x", now, ErrBadTimestamp},
	} {
		ok, err := check(tc.method, tc.target, nil, tc.at)
		if ok || !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, %v; want false, %v", tc.name, ok, err, tc.want)
		}
	}
	if ok, err := check("GET", signed, nil, now.Add(59*time.Second)); !ok || err != nil {
		t.Errorf("timestamp 59 s old: got %v, %v; want true, nil", ok, err)
	}
	otherSecret := signTarget(Keyset{PublishKey: keys.PublishKey, SecretKey: "other"}, "GET", target, nil, now)
	if ok, err := check("GET", otherSecret, nil, now); ok || !errors.Is(err, ErrBadSignature) {
		t.Errorf("signed with another secret: got %v, %v; want false, ErrBadSignature", ok, err)
	}
	body := []byte(`{"ttl":5}`)
	post := signTarget(keys, "POST", "/v3/pam/sub-c-test/grant?uuid=server", body, now)
	if ok, err := check("POST", post, body, now); !ok || err != nil {
		t.Errorf("signed POST: got %v, %v; want true, nil", ok, err)
	}
	if ok, err := check("POST", post, []byte(`{"ttl":6}`), now); ok || !errors.Is(err, ErrBadSignature) {
		t.Errorf("signed POST, body changed: got %v, %v; want false, ErrBadSignature", ok, err)
	}
}
