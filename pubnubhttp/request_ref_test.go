package pubnubhttp

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/presencekit/presence/pubnubhttp/internal/reqtarget"
)

// FuzzParseRequestSame checks parseRequest against refParseRequest, the
// parser as it was before it kept its names and parameters in the request
// (a map for the query, strings.Split for the path): the same route,
// names, errors and parameter values for every target. The seeds are
// FuzzRequest's corpus plus targets with repeated, encoded and many
// parameters and long paths.
func FuzzParseRequestSame(f *testing.F) {
	for _, s := range []string{
		"/time/0",
		"/v2/presence/sub-key/k/channel/ch/heartbeat?uuid=u&heartbeat=300",
		"/v2/presence/sub_key/k/channel/a,b?state=1&disable-uuids=0&limit=2&offset=1",
		"/v2/presence/sub-key/k/channel/,/heartbeat?uuid=u&channel-group=g&heartbeat=30&state={\"g\":{\"a\":1}}",
		"/v2/presence/sub-key/k/channel/a/uuid/u/data?state=%7B%22x%22%3A1%7D",
		"/v1/channel-registration/sub-key/k/channel-group/g?add=a%2Cb",
		"/v1/channel-registration/sub-key/k/channel-group/?add=a",
		"/v2/subscribe/k/a,a-pnpres/0?uuid=u&tt=0&channel-group=g-pnpres",
		"http://127.0.0.1:8090/v2/presence/sub-key/k/uuid/u%zz",
		"/v2/presence/sub-key/k%zz/channel/a/b/c/d/e/f/g/h",
		"/v2/presence/sub-key/k/channel/a/uuid/u/data/x/y",
		"/v2/presence/sub-key/k/channel/a%2Cb,,c%zz/heartbeat?uuid=a&uuid=b&u%75id=c&=x&&k&a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9",
		"/",
		"",
		"?",
		"//",
	} {
		f.Add(s)
	}
	if files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzRequest", "*")); err == nil {
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				if s, ok := corpusString(string(b)); ok {
					f.Add(s)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, target string) {
		got, gotErr := parseRequest(target)
		want, wantErr := refParseRequest(target)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("parseRequest(%q): error %v, want %v", target, gotErr, wantErr)
		}
		if (got == nil) != (want == nil) {
			t.Fatalf("parseRequest(%q) = %v, want %v", target, got, want)
		}
		if got == nil {
			return
		}
		if got.route != want.route || got.subKey != want.subKey || got.uuid != want.uuid || got.group != want.group {
			t.Fatalf("parseRequest(%q): route %v sub key %q uuid %q group %q, want %v %q %q %q",
				target, got.route, got.subKey, got.uuid, got.group, want.route, want.subKey, want.uuid, want.group)
		}
		if !reflect.DeepEqual(got.channels, want.channels) {
			t.Fatalf("parseRequest(%q): channels %#v, want %#v", target, got.channels, want.channels)
		}
		keys := []string{"uuid", "heartbeat", "state", "channel-group", "add", "remove", "tt", "auth", "limit", "offset", ""}
		for k := range want.query {
			keys = append(keys, k)
		}
		for _, k := range keys {
			if got.query.has(k) != want.query.has(k) || got.query.get(k) != want.query.get(k) || !reflect.DeepEqual(got.query.list(k), want.query.list(k)) {
				t.Fatalf("parseRequest(%q): parameter %q: has %v get %q list %#v, want %v %q %#v", target, k,
					got.query.has(k), got.query.get(k), got.query.list(k), want.query.has(k), want.query.get(k), want.query.list(k))
			}
		}
		for _, p := range got.query {
			if _, ok := want.query[p.key]; !ok {
				t.Fatalf("parseRequest(%q): parameter %q, not in %v", target, p.key, want.query)
			}
		}
	})
}

// corpusString reads the string of a one-value "go test fuzz v1" file.
func corpusString(file string) (string, bool) {
	lines := strings.Split(strings.TrimSpace(file), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "string(") {
		return "", false
	}
	var s string
	if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"), "%q", &s); err != nil {
		return "", false
	}
	return s, true
}

// The parser before this package kept names and parameters in the request.

type refQuery map[string]string

func (q refQuery) has(key string) bool {
	_, ok := q[key]
	return ok
}

func (q refQuery) get(key string) string { return reqtarget.Unescape(q[key]) }

func (q refQuery) list(key string) []string {
	var out []string
	for name := range strings.SplitSeq(q.get(key), ",") {
		if name != "" {
			out = append(out, name)
		}
	}
	return out
}

type refRequest struct {
	route    route
	subKey   string
	channels []string
	uuid     string
	group    string
	query    refQuery
}

func refSplitNames(raw string) []string {
	if raw == "" {
		return nil
	}
	var out []string
	for part := range strings.SplitSeq(raw, ",") {
		if part == "" {
			continue
		}
		out = append(out, reqtarget.Unescape(part))
	}
	return out
}

func refParseQuery(raw string) refQuery {
	q := refQuery{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k = reqtarget.Unescape(k)
		if _, ok := q[k]; !ok {
			q[k] = v
		}
	}
	return q
}

// refParseRequest is parseRequest as it was.
func refParseRequest(target string) (*refRequest, error) {
	rawPath, rawQuery := reqtarget.Split(target)
	req := &refRequest{query: refParseQuery(rawQuery)}
	trailing := false
	if len(rawPath) > 1 {
		rawPath, trailing = strings.CutSuffix(rawPath, "/")
	}
	seg := strings.Split(rawPath[1:], "/")
	at := func(i int) string {
		if i < len(seg) {
			return seg[i]
		}
		return ""
	}
	decode := func(kind, raw string) (string, error) {
		v, err := url.PathUnescape(raw)
		if err != nil {
			return "", fmt.Errorf("invalid %s %q in path: bad percent-encoding", kind, raw)
		}
		return v, nil
	}
	isSubKey := func(s string) bool { return s == "sub-key" || s == "sub_key" }
	var err error
	switch {
	case len(seg) == 2 && seg[0] == "time" && seg[1] == "0":
		req.route = routeTime
		return req, nil

	case len(seg) >= 4 && seg[0] == "v2" && seg[1] == "presence" && isSubKey(seg[2]):
		if req.subKey, err = decode("sub key", seg[3]); err != nil {
			return nil, err
		}
		switch {
		case len(seg) == 4:
			req.route = routeGlobalHereNow
			return req, nil
		case len(seg) == 6 && seg[4] == "uuid":
			req.route = routeWhereNow
			req.uuid, err = decode("uuid", seg[5])
			return req, err
		case len(seg) >= 6 && seg[4] == "channel":
			req.channels = refSplitNames(seg[5])
			switch {
			case len(seg) == 6:
				req.route = routeHereNow
			case len(seg) == 7 && seg[6] == "heartbeat":
				req.route = routeHeartbeat
			case len(seg) == 7 && seg[6] == "leave":
				req.route = routeLeave
			case len(seg) == 8 && seg[6] == "uuid":
				req.route = routeGetState
			case len(seg) == 9 && seg[6] == "uuid" && seg[8] == "data":
				req.route = routeSetState
			default:
				return nil, errNotFound
			}
			if req.route == routeGetState || req.route == routeSetState {
				req.uuid, err = decode("uuid", seg[7])
			}
			return req, err
		}
		return nil, errNotFound

	case len(seg) >= 5 && seg[0] == "v1" && seg[1] == "channel-registration" && isSubKey(seg[2]) && seg[4] == "channel-group":
		if req.subKey, err = decode("sub key", seg[3]); err != nil {
			return nil, err
		}
		switch {
		case len(seg) == 5 && trailing && (req.query.has("add") || req.query.has("remove")):
			// ".../channel-group/?add=x" edits the group named "" (an
			// error), rather than listing groups and dropping the edit.
			req.route = routeGroup
			return req, nil
		case len(seg) == 5:
			req.route = routeListGroups
			return req, nil
		case len(seg) == 6:
			req.route = routeGroup
		case len(seg) == 7 && seg[6] == "remove":
			req.route = routeDeleteGroup
		default:
			return nil, errNotFound
		}
		req.group, err = decode("channel group", seg[5])
		return req, err

	case len(seg) >= 4 && len(seg) <= 5 && seg[0] == "v2" && seg[1] == "subscribe" && (len(seg) == 4 || at(4) == "0"):
		req.route = routeSubscribe
		if req.subKey, err = decode("sub key", seg[2]); err != nil {
			return nil, err
		}
		req.channels = refSplitNames(seg[3])
		return req, nil
	}
	return nil, errNotFound
}
