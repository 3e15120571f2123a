// presence.go holds the presence calls: here_now (single-channel and
// multi-channel shapes), where_now, heartbeat, leave, set_state and
// get_state, and the parsing of their query parameters (heartbeat timeout,
// channel-keyed state, paging).

package pubnubhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/presencekit/presence"
)

func itoa(n int) string      { return strconv.Itoa(n) }
func quote(s string) string  { return strconv.Quote(s) }
func isTrue(v string) bool   { return v == "1" || v == "true" }
func isObject(b []byte) bool { b = bytes.TrimSpace(b); return len(b) > 0 && b[0] == '{' }

// intParam parses an optional integer parameter; absent or empty gives def.
func intParam(q query, key string, def int) (int, error) {
	v := q.get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest("Invalid " + key + " " + quote(v) + ": not an integer")
	}
	return n, nil
}

// heartbeatTimeout parses heartbeat=<seconds>: absent, empty or 0 means the
// engine's default; negative or not an integer is an error.
func heartbeatTimeout(q query) (time.Duration, error) {
	n, err := intParam(q, "heartbeat", 0)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, badRequest("Invalid heartbeat " + quote(q.get("heartbeat")) + ": negative")
	}
	if n > 1<<20 {
		n = 1 << 20 // the engine clamps to its MaxTimeout anyway
	}
	return time.Duration(n) * time.Second, nil
}

// heartbeatState parses the state of a heartbeat or subscribe. PubNub's SDKs
// send it keyed by channel or group; when every key names a channel or group
// of the request and every value is an object it is taken so, otherwise the
// whole object applies to every channel and group of the request. Invalid
// JSON or a non-object is an error; the engine checks each value.
func heartbeatState(raw string, channels, groups []string) (map[string]any, error) {
	if raw == "" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m == nil {
		return nil, badRequest("Invalid JSON specified. state " + quote(truncate(raw)) + ": not a JSON object")
	}
	keyed := true
	for k, v := range m {
		if !contains(channels, k) && !contains(groups, k) || !isObject(v) {
			keyed = false
			break
		}
	}
	out := make(map[string]any)
	if keyed {
		for k, v := range m {
			out[k] = v
		}
		return out, nil
	}
	whole := json.RawMessage(raw)
	for _, c := range channels {
		out[c] = whole
	}
	for _, g := range groups {
		out[g] = whole
	}
	return out, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// hereNow answers here_now and global here_now.
func (h *Handler) hereNow(ctx context.Context, w http.ResponseWriter, req *request, groups []string) error {
	q := presence.HereNowQuery{
		Channels:      req.channels,
		Groups:        groups,
		IncludeState:  isTrue(req.query.get("state")),
		OccupancyOnly: isTrue(req.query.get("disable_uuids")) || isTrue(req.query.get("disable-uuids")),
	}
	limit, err := intParam(req.query, "limit", presence.DefaultHereNowLimit)
	if err != nil {
		return err
	}
	if q.Offset, err = intParam(req.query, "offset", 0); err != nil {
		return err
	}
	switch {
	case limit == 0:
		q.OccupancyOnly = true
	default:
		q.Limit = limit // the engine refuses values outside 0..1000
	}
	res, err := h.b.HereNow(ctx, q)
	if err != nil {
		return err
	}
	uuids := func(c presence.ChannelPresence) []any {
		out := make([]any, 0, len(c.Occupants))
		for _, o := range c.Occupants {
			if !q.IncludeState {
				out = append(out, o.UUID)
				continue
			}
			item := obj{"uuid": o.UUID}
			if o.State != nil {
				item["state"] = o.State
			}
			out = append(out, item)
		}
		return out
	}
	if req.route == routeHereNow && len(req.channels) == 1 && len(groups) == 0 {
		c, _ := res.Channel(req.channels[0])
		// "uuids" is written even for occupancy only: the Go SDK reads
		// the occupancy of a single channel only next to it.
		writeOK(w, servicePresence, obj{"occupancy": c.Occupancy, "uuids": uuids(c)})
		return nil
	}
	channels := obj{}
	total := 0
	for _, c := range res.Channels {
		if c.Occupancy == 0 {
			continue
		}
		entry := obj{"occupancy": c.Occupancy}
		if !q.OccupancyOnly {
			entry["uuids"] = uuids(c)
		}
		channels[c.Channel] = entry
		total += c.Occupancy
	}
	writeOK(w, servicePresence, obj{"payload": obj{
		"channels":        channels,
		"total_channels":  len(channels),
		"total_occupancy": total,
	}})
	return nil
}

// whereNow answers where_now for the path's uuid.
func (h *Handler) whereNow(ctx context.Context, w http.ResponseWriter, req *request) error {
	chans, err := h.b.WhereNow(ctx, req.uuid)
	if err != nil {
		return err
	}
	if chans == nil {
		chans = []string{}
	}
	writeOK(w, servicePresence, obj{"payload": obj{"channels": chans}})
	return nil
}

// presenceArgs reads the uuid, timeout and state of a heartbeat or
// subscribe.
func presenceArgs(req *request, channels, groups []string) (presence.HeartbeatRequest, error) {
	hb := presence.HeartbeatRequest{UUID: req.query.get("uuid"), Channels: channels, Groups: groups}
	var err error
	if hb.Timeout, err = heartbeatTimeout(req.query); err != nil {
		return hb, err
	}
	hb.State, err = heartbeatState(req.query.get("state"), channels, groups)
	return hb, err
}

// heartbeat answers heartbeat: the query's uuid is present on the targets.
// Presence names are ignored, as in subscribe: an SDK subscribed to
// "x-pnpres" as a plain channel heartbeats it too.
func (h *Handler) heartbeat(ctx context.Context, w http.ResponseWriter, req *request, groups []string) error {
	hb, err := presenceArgs(req, withoutPresence(req.channels), withoutPresence(groups))
	if err != nil {
		return err
	}
	if len(hb.Channels)+len(hb.Groups) == 0 {
		// Only presence names: nothing to be present on.
		writeOK(w, servicePresence, nil)
		return nil
	}
	if err := h.b.Heartbeat(ctx, hb); err != nil {
		return err
	}
	writeOK(w, servicePresence, nil)
	return nil
}

// withoutPresence drops the presence names ("<name>-pnpres") from l. The
// Go SDK v7.3.2 leaves its presence channels along with the others, and
// heartbeats a "-pnpres" name it subscribed to as a plain channel. It
// returns l itself when l has none (the usual case: no allocation), else a
// new slice; l is never changed.
func withoutPresence(l []string) []string {
	i := slices.IndexFunc(l, isPresenceName)
	if i < 0 {
		return l
	}
	out := make([]string, i, len(l)-1)
	copy(out, l)
	for _, s := range l[i+1:] {
		if !isPresenceName(s) {
			out = append(out, s)
		}
	}
	return out
}

// isPresenceName reports whether s is a presence name, "<name>-pnpres".
func isPresenceName(s string) bool { return strings.HasSuffix(s, pnpres) }

// leave answers leave for the query's uuid. Presence names are ignored:
// nobody is present on them.
func (h *Handler) leave(ctx context.Context, w http.ResponseWriter, req *request, groups []string) error {
	lr := presence.LeaveRequest{UUID: req.query.get("uuid"), Channels: withoutPresence(req.channels), Groups: withoutPresence(groups)}
	if len(lr.Channels)+len(lr.Groups) > 0 {
		if err := h.b.Leave(ctx, lr); err != nil {
			return err
		}
	}
	writeOK(w, servicePresence, obj{"action": "leave"})
	return nil
}

// setState answers set_state: the path's uuid gets the state on every
// target; the response echoes the state as stored.
func (h *Handler) setState(ctx context.Context, w http.ResponseWriter, req *request, groups []string) error {
	if !req.query.has("state") {
		return badRequest("Missing state: set_state needs a state=<JSON object> parameter")
	}
	raw := req.query.get("state")
	if strings.TrimSpace(raw) == "" {
		return badRequest("Invalid JSON specified. state \"\": empty")
	}
	st, err := h.b.SetState(ctx, presence.SetStateRequest{UUID: req.uuid, Channels: req.channels, Groups: groups, State: json.RawMessage(raw)})
	if err != nil {
		return err
	}
	writeOK(w, servicePresence, obj{"payload": st})
	return nil
}

// getState answers get_state: one channel and no group gives the single
// shape, anything else payload.channels.
func (h *Handler) getState(ctx context.Context, w http.ResponseWriter, req *request, groups []string) error {
	states, err := h.b.GetState(ctx, presence.GetStateRequest{UUID: req.uuid, Channels: req.channels, Groups: groups})
	if err != nil {
		return err
	}
	if len(req.channels) == 1 && len(groups) == 0 {
		st, ok := states[req.channels[0]]
		if !ok {
			st = json.RawMessage("{}")
		}
		writeOK(w, servicePresence, obj{"uuid": req.uuid, "channel": req.channels[0], "payload": st})
		return nil
	}
	chans := obj{}
	for c, st := range states {
		chans[c] = st
	}
	writeOK(w, servicePresence, obj{"uuid": req.uuid, "payload": obj{"channels": chans}})
	return nil
}
