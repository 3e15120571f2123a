// request.go parses a PubNub REST request target (path and query) into a
// route and its arguments. It is tolerant the way PubNub's SDKs need: both
// "sub-key" and "sub_key", absolute-form targets, un-escaped JSON and stray
// '%' in query values, channel lists split on ',' before percent-decoding
// each name. It never touches the engine, so the fuzz target drives it alone.

package pubnubhttp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/presencekit/presence/pubnubhttp/internal/reqtarget"
)

// route is the PubNub call a request names.
type route uint8

const (
	routeTime route = iota + 1
	routeHereNow
	routeGlobalHereNow
	routeWhereNow
	routeHeartbeat
	routeLeave
	routeGetState
	routeSetState
	routeListGroups
	routeGroup // list, add or remove channels of one group
	routeDeleteGroup
	routeSubscribe
)

func (r route) String() string {
	switch r {
	case routeTime:
		return "time"
	case routeHereNow:
		return "here_now"
	case routeGlobalHereNow:
		return "global_here_now"
	case routeWhereNow:
		return "where_now"
	case routeHeartbeat:
		return "heartbeat"
	case routeLeave:
		return "leave"
	case routeGetState:
		return "get_state"
	case routeSetState:
		return "set_state"
	case routeListGroups:
		return "list_groups"
	case routeGroup:
		return "channel_group"
	case routeDeleteGroup:
		return "delete_group"
	case routeSubscribe:
		return "subscribe"
	}
	return fmt.Sprintf("route(%d)", uint8(r))
}

// errNotFound marks a target that names no PubNub presence call.
var errNotFound = errors.New("no such route")

// request is a parsed request target. It holds room for the usual few
// names and parameters, so that parsing a request costs one allocation.
type request struct {
	route    route
	subKey   string
	channels []string // the path's channel list, decoded; nil for ","
	uuid     string   // the path's uuid (where_now, get_state, set_state)
	group    string   // the path's channel group (channel registration)
	query    query

	chanBuf  [1]string // backs channels when the path names one
	paramBuf [8]param  // backs query when the target has at most 8 parameters
}

// param is one query parameter: its decoded key and its raw value.
type param struct{ key, raw string }

// query holds the raw (still percent-encoded) query values in the order
// sent; the first occurrence of a key wins.
type query []param

// lookup returns the raw value of key's first occurrence.
func (q query) lookup(key string) (string, bool) {
	for _, p := range q {
		if p.key == key {
			return p.raw, true
		}
	}
	return "", false
}

// has reports whether key is present, even with an empty value.
func (q query) has(key string) bool {
	_, ok := q.lookup(key)
	return ok
}

// get returns key's decoded value ("" when absent). A value that is not
// valid percent-encoding (for example un-escaped JSON holding a '%') is
// returned as sent. '+' stays '+': PubNub's SDKs encode spaces as %20.
func (q query) get(key string) string {
	raw, _ := q.lookup(key)
	return reqtarget.Unescape(raw)
}

// list returns key's value decoded and then split on ',', without empty
// elements. Query lists are decoded first because the JS SDK encodes the
// whole joined list (the ',' arrives as %2C) while the Go SDK sends it raw;
// names cannot hold a ',' (the list separator), so both read the same.
func (q query) list(key string) []string {
	var out []string
	for name := range strings.SplitSeq(q.get(key), ",") {
		if name != "" {
			out = append(out, name)
		}
	}
	return out
}

// splitNames splits a raw comma-separated list and decodes each element,
// appending to buf[:0]. Empty elements are dropped: "," is the empty list,
// returned as nil.
func splitNames(raw string, buf []string) []string {
	if raw == "" {
		return nil
	}
	out := buf[:0]
	for part := range strings.SplitSeq(raw, ",") {
		if part == "" {
			continue
		}
		out = append(out, reqtarget.Unescape(part))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// parseQuery splits a raw query on '&' and keeps the raw values, appending
// to buf[:0]. It accepts anything: keys are decoded, values are decoded
// lazily by query.get.
func parseQuery(raw string, buf []param) query {
	q := query(buf[:0])
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		q = append(q, param{reqtarget.Unescape(k), v})
	}
	return q
}

// maxSegments is the most path segments a route has (set_state's 9).
const maxSegments = 9

// parseRequest parses a raw request target. It returns errNotFound for a
// path that names no call, or an error naming a malformed path element.
func parseRequest(target string) (*request, error) {
	rawPath, rawQuery := reqtarget.Split(target)
	req := &request{}
	req.query = parseQuery(rawQuery, req.paramBuf[:])
	trailing := false
	if len(rawPath) > 1 {
		rawPath, trailing = strings.CutSuffix(rawPath, "/")
	}
	// The path's segments: n of them, the first maxSegments kept (no
	// route has more, so a longer path matches none).
	var segBuf [maxSegments]string
	n := 0
	for s := range strings.SplitSeq(rawPath[1:], "/") {
		if n < maxSegments {
			segBuf[n] = s
		}
		n++
	}
	seg := segBuf[:min(n, maxSegments)]
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
	case n == 2 && seg[0] == "time" && seg[1] == "0":
		req.route = routeTime
		return req, nil

	case n >= 4 && seg[0] == "v2" && seg[1] == "presence" && isSubKey(seg[2]):
		if req.subKey, err = decode("sub key", seg[3]); err != nil {
			return nil, err
		}
		switch {
		case n == 4:
			req.route = routeGlobalHereNow
			return req, nil
		case n == 6 && seg[4] == "uuid":
			req.route = routeWhereNow
			req.uuid, err = decode("uuid", seg[5])
			return req, err
		case n >= 6 && seg[4] == "channel":
			req.channels = splitNames(seg[5], req.chanBuf[:])
			switch {
			case n == 6:
				req.route = routeHereNow
			case n == 7 && seg[6] == "heartbeat":
				req.route = routeHeartbeat
			case n == 7 && seg[6] == "leave":
				req.route = routeLeave
			case n == 8 && seg[6] == "uuid":
				req.route = routeGetState
			case n == 9 && seg[6] == "uuid" && seg[8] == "data":
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

	case n >= 5 && seg[0] == "v1" && seg[1] == "channel-registration" && isSubKey(seg[2]) && seg[4] == "channel-group":
		if req.subKey, err = decode("sub key", seg[3]); err != nil {
			return nil, err
		}
		switch {
		case n == 5 && trailing && (req.query.has("add") || req.query.has("remove")):
			// ".../channel-group/?add=x" edits the group named "" (an
			// error), rather than listing groups and dropping the edit.
			req.route = routeGroup
			return req, nil
		case n == 5:
			req.route = routeListGroups
			return req, nil
		case n == 6:
			req.route = routeGroup
		case n == 7 && seg[6] == "remove":
			req.route = routeDeleteGroup
		default:
			return nil, errNotFound
		}
		req.group, err = decode("channel group", seg[5])
		return req, err

	case n >= 4 && n <= 5 && seg[0] == "v2" && seg[1] == "subscribe" && (n == 4 || at(4) == "0"):
		req.route = routeSubscribe
		if req.subKey, err = decode("sub key", seg[2]); err != nil {
			return nil, err
		}
		req.channels = splitNames(seg[3], req.chanBuf[:])
		return req, nil
	}
	return nil, errNotFound
}
