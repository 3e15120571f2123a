// access.go holds access control: the Authorizer a Handler may consult before
// each call, the Access it is given (operation, keys, uuids, names), and
// AccessDenied, the refusal it answers with PubNub's Access Manager envelope.
// Package pam implements PubNub's Access Manager on top of it; an embedder
// may plug its own rules instead.

package pubnubhttp

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// Operation is the presence call a request makes, as an Authorizer sees it.
type Operation uint8

// The operations of the REST API that an Authorizer is asked about. /time/0
// is not among them: it is answered to anyone.
const (
	// OpHereNow reads the occupants of Access.Channels and Access.Groups;
	// with neither it is the global here_now of every channel.
	OpHereNow Operation = iota + 1
	// OpWhereNow reads the channels where Access.Target is present.
	OpWhereNow
	// OpHeartbeat makes Access.Target present on the channels and groups.
	OpHeartbeat
	// OpLeave removes Access.Target from the channels and groups.
	OpLeave
	// OpSetState sets the state of Access.Target on the channels and groups.
	OpSetState
	// OpGetState reads the state of Access.Target on the channels and groups.
	OpGetState
	// OpSubscribe is a subscribe long-poll: presence events of the
	// channels and groups named (their "-pnpres" names included, as sent),
	// and, with a heartbeat, presence of Access.Target on them.
	OpSubscribe
	// OpListGroups lists every channel group of the keyset.
	OpListGroups
	// OpGroupChannels lists the channels of the one group in Access.Groups.
	OpGroupChannels
	// OpAddChannels adds Access.Channels to the one group in Access.Groups.
	OpAddChannels
	// OpRemoveChannels removes Access.Channels from the one group in
	// Access.Groups.
	OpRemoveChannels
	// OpDeleteGroup deletes the one group in Access.Groups.
	OpDeleteGroup
)

// String returns the operation's PubNub name, for example "here_now".
func (o Operation) String() string {
	switch o {
	case OpHereNow:
		return "here_now"
	case OpWhereNow:
		return "where_now"
	case OpHeartbeat:
		return "heartbeat"
	case OpLeave:
		return "leave"
	case OpSetState:
		return "set_state"
	case OpGetState:
		return "get_state"
	case OpSubscribe:
		return "subscribe"
	case OpListGroups:
		return "list_groups"
	case OpGroupChannels:
		return "list_group_channels"
	case OpAddChannels:
		return "add_channels"
	case OpRemoveChannels:
		return "remove_channels"
	case OpDeleteGroup:
		return "delete_group"
	}
	return fmt.Sprintf("Operation(%d)", uint8(o))
}

// Access describes one request to an Authorizer. Its slices belong to the
// request: an Authorizer may read them during the call and must not keep or
// change them.
type Access struct {
	Op Operation
	// SubKey is the subscribe key the request names in its path.
	SubKey string
	// UUID is the request's uuid parameter: who says it is asking.
	UUID string
	// Target is the uuid the call reads or changes: the path's uuid for
	// where_now, set_state and get_state, UUID for heartbeat, leave and
	// subscribe, empty for the other operations.
	Target string
	// Auth is the request's auth parameter (an Access Manager token), as
	// decoded from the query; empty when absent.
	Auth string
	// Channels and Groups are the names the call acts on or reads. For
	// heartbeat and leave the "-pnpres" names are left out (the handler
	// ignores them); for subscribe they are included as sent, so a
	// subscribe with presence to "a" names "a" and "a-pnpres".
	Channels, Groups []string
	// Request is the HTTP request, for checks of headers or of a
	// signature over its method, path and query. Its body is not read by
	// the handler (every presence call is a GET).
	Request *http.Request
}

// An Authorizer decides whether a request may run. A Handler with one calls
// Authorize before the call touches the backend, so a refused request
// changes nothing. Returning nil allows the request; returning an
// *AccessDenied (or an error wrapping one) answers it with that refusal;
// any other error is answered as the backend's errors are (for example 503
// for one wrapping presence.ErrUnavailable, else 500). Authorize is called
// concurrently from many requests, with the request's context, which has
// no deadline of its own: an Authorizer that waits on a network bounds its
// own calls (go-redis, for one, has read and write timeouts).
type Authorizer interface {
	Authorize(ctx context.Context, a Access) error
}

// AuthorizerFunc adapts a function to an Authorizer.
type AuthorizerFunc func(ctx context.Context, a Access) error

// Authorize returns f(ctx, a).
func (f AuthorizerFunc) Authorize(ctx context.Context, a Access) error { return f(ctx, a) }

// AccessDenied is an Authorizer's refusal. The handler answers it in
// PubNub's Access Manager envelope:
//
//	{"status":403,"error":true,"message":"Forbidden","service":"Access Manager",
//	 "payload":{"channels":["b"],"channel-groups":[":g"]}}
//
// Groups are listed with a ':' prefix in "channel-groups", as PubNub lists
// them; "payload" is left out when both lists are empty.
type AccessDenied struct {
	// Status is the HTTP status: zero means 403. An Authorizer may answer
	// 400 for a malformed credential (PubNub does for an invalid
	// subscribe key or signature timestamp); values outside 400..499 are
	// answered 403.
	Status int
	// Message is the envelope's message: empty means "Forbidden".
	Message string
	// Channels and Groups are the names refused.
	Channels, Groups []string
}

// Error describes the refusal: its message and the names refused.
func (e *AccessDenied) Error() string {
	var b strings.Builder
	b.WriteString("pubnubhttp: access denied: ")
	b.WriteString(e.message())
	if len(e.Channels) > 0 {
		fmt.Fprintf(&b, "; channels %q", e.Channels)
	}
	if len(e.Groups) > 0 {
		fmt.Fprintf(&b, "; groups %q", e.Groups)
	}
	return b.String()
}

func (e *AccessDenied) status() int {
	if e.Status >= 400 && e.Status <= 499 {
		return e.Status
	}
	return http.StatusForbidden
}

func (e *AccessDenied) message() string {
	if e.Message == "" {
		return "Forbidden"
	}
	return e.Message
}

// body returns the Access Manager envelope of e.
func (e *AccessDenied) body() obj {
	body := obj{"status": e.status(), "error": true, "message": e.message(), "service": serviceAccessManager}
	if len(e.Channels) > 0 || len(e.Groups) > 0 {
		payload := obj{}
		if len(e.Channels) > 0 {
			payload["channels"] = e.Channels
		}
		if len(e.Groups) > 0 {
			groups := make([]string, len(e.Groups))
			for i, g := range e.Groups {
				groups[i] = ":" + g
			}
			payload["channel-groups"] = groups
		}
		body["payload"] = payload
	}
	return body
}

const serviceAccessManager = "Access Manager"

// accessOf returns the Access of a parsed request, or false for a route no
// Authorizer is asked about (/time/0).
func accessOf(r *http.Request, req *request, groups []string) (Access, bool) {
	a := Access{
		SubKey:   req.subKey,
		UUID:     req.query.get("uuid"),
		Auth:     req.query.get("auth"),
		Channels: req.channels,
		Groups:   groups,
		Request:  r,
	}
	switch req.route {
	case routeHereNow, routeGlobalHereNow:
		a.Op = OpHereNow
	case routeWhereNow:
		a.Op, a.Target = OpWhereNow, req.uuid
	case routeHeartbeat, routeLeave:
		a.Op = OpHeartbeat
		if req.route == routeLeave {
			a.Op = OpLeave
		}
		a.Target = a.UUID
		a.Channels, a.Groups = withoutPresence(req.channels), withoutPresence(groups)
	case routeSetState:
		a.Op, a.Target = OpSetState, req.uuid
	case routeGetState:
		a.Op, a.Target = OpGetState, req.uuid
	case routeSubscribe:
		a.Op, a.Target = OpSubscribe, a.UUID
	case routeListGroups:
		a.Op = OpListGroups
	case routeGroup:
		a.Channels, a.Groups = nil, []string{req.group}
		switch {
		case req.query.has("add"):
			a.Op, a.Channels = OpAddChannels, req.query.list("add")
		case req.query.has("remove"):
			a.Op, a.Channels = OpRemoveChannels, req.query.list("remove")
		default:
			a.Op = OpGroupChannels
		}
	case routeDeleteGroup:
		a.Op, a.Channels, a.Groups = OpDeleteGroup, nil, []string{req.group}
	default:
		return Access{}, false
	}
	return a, true
}

// authorize asks the Authorizer about a parsed request, with the request's
// context: no timer of its own on the hot path (a context.WithTimeout would
// cost about as much as the check of a cached token).
func (h *Handler) authorize(r *http.Request, req *request, groups []string) error {
	a, ok := accessOf(r, req, groups)
	if !ok {
		return nil
	}
	return h.opt.Authorizer.Authorize(r.Context(), a)
}
