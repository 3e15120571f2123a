// authorize.go holds Manager.Authorize, the pubnubhttp.Authorizer: the sub
// key check, requests signed with the secret key, and for the others the
// token checks and the permission each operation needs (the table in
// needs, which the README repeats).

package pam

import (
	"context"
	"errors"
	"net/http"

	"github.com/presencekit/presence/pubnubhttp"
	"github.com/presencekit/presence/pubnubhttp/internal/reqtarget"
)

var _ pubnubhttp.Authorizer = (*Manager)(nil)

// Authorize decides a presence request, in this order:
//
//  1. A request naming another sub key is refused 400 "Invalid Subscribe
//     Key". Without a secret key that is the only check.
//  2. A request signed with the secret key (a server SDK) is allowed
//     everything; a wrong signature is refused 403, a timestamp outside the
//     skew window 400.
//  3. Otherwise its auth token must verify, be unexpired and unrevoked; a
//     token with an authorized uuid may only be used by that uuid, and
//     heartbeat, leave, set_state and subscribe may only act on it.
//  4. The token must grant what the operation needs on every name (see
//     needs); the names it does not are listed in the 403.
//
// Errors of the Revocations store are returned wrapped, not as a refusal.
func (m *Manager) Authorize(ctx context.Context, a pubnubhttp.Access) error {
	if a.SubKey != m.keys.SubscribeKey {
		return &pubnubhttp.AccessDenied{Status: http.StatusBadRequest, Message: "Invalid Subscribe Key", Channels: a.Channels, Groups: a.Groups}
	}
	if m.keys.SecretKey == "" {
		return nil
	}
	deny := func(msg string) error {
		return &pubnubhttp.AccessDenied{Message: msg, Channels: a.Channels, Groups: a.Groups}
	}
	if a.Request != nil {
		path, rawQuery := reqtarget.Split(requestURI(a.Request))
		signed, err := checkSignature(m.keys.SecretKey, m.keys.PublishKey,
			signedRequest{method: a.Request.Method, path: path, rawQuery: rawQuery}, m.clock.Now(), m.skew)
		switch {
		case errors.Is(err, ErrBadTimestamp):
			return &pubnubhttp.AccessDenied{Status: http.StatusBadRequest, Message: "Invalid Timestamp", Channels: a.Channels, Groups: a.Groups}
		case err != nil:
			return deny("Signature Does Not Match")
		case signed:
			return nil
		}
	}
	if a.Auth == "" {
		return deny("Forbidden: no auth token")
	}
	v, err := m.check(ctx, a.Auth)
	switch {
	case errors.Is(err, ErrExpired):
		return deny("Forbidden: token expired")
	case errors.Is(err, ErrRevoked):
		return deny("Forbidden: token revoked")
	case errors.Is(err, ErrInvalidToken):
		return deny("Forbidden: invalid token")
	case err != nil:
		return err
	}
	if au := v.tok.AuthorizedUUID; au != "" {
		if a.UUID != au {
			return deny("Forbidden: token authorized for another uuid")
		}
		if actsOnTarget(a.Op) && a.Target != au {
			return deny("Forbidden: token authorized for another uuid")
		}
	}
	return m.needs(v, a)
}

// actsOnTarget reports whether op changes the presence or state of
// Access.Target, which a token with an authorized uuid may only do for it.
func actsOnTarget(op pubnubhttp.Operation) bool {
	switch op {
	case pubnubhttp.OpHeartbeat, pubnubhttp.OpLeave, pubnubhttp.OpSetState, pubnubhttp.OpSubscribe:
		return true
	}
	return false
}

// needs checks the permission table:
//
//	operation                          needs
//	here_now (channels, groups)        read on each channel and group
//	here_now (global, none named)      a signed request
//	heartbeat, leave                   read on each channel and group
//	set_state, get_state               read on each channel and group
//	subscribe                          read on each channel and group named, "-pnpres" ones included
//	where_now                          the target is the token's authorized uuid, or get on the target uuid
//	list/add/remove group channels     manage on the group
//	delete group                       manage on the group
//	list groups                        a signed request
func (m *Manager) needs(v *verified, a pubnubhttp.Access) error {
	switch a.Op {
	case pubnubhttp.OpHereNow, pubnubhttp.OpHeartbeat, pubnubhttp.OpLeave,
		pubnubhttp.OpSetState, pubnubhttp.OpGetState, pubnubhttp.OpSubscribe:
		if a.Op == pubnubhttp.OpHereNow && len(a.Channels) == 0 && len(a.Groups) == 0 {
			return &pubnubhttp.AccessDenied{Message: "Forbidden: global here_now needs a request signed with the secret key"}
		}
		return v.deny(a.Channels, Read, a.Groups, Read)
	case pubnubhttp.OpWhereNow:
		if a.Target != "" && a.Target == v.tok.AuthorizedUUID || v.allows(v.tok.Resources.UUIDs, v.patterns.uuids, a.Target, Get) {
			return nil
		}
		return &pubnubhttp.AccessDenied{Message: "Forbidden: where_now of another uuid needs get on it"}
	case pubnubhttp.OpGroupChannels, pubnubhttp.OpAddChannels, pubnubhttp.OpRemoveChannels, pubnubhttp.OpDeleteGroup:
		return v.deny(nil, 0, a.Groups, Manage)
	case pubnubhttp.OpListGroups:
		return &pubnubhttp.AccessDenied{Message: "Forbidden: listing every group needs a request signed with the secret key"}
	}
	return &pubnubhttp.AccessDenied{Message: "Forbidden: " + a.Op.String() + " is not an operation Access Manager knows", Channels: a.Channels, Groups: a.Groups}
}

// deny returns an AccessDenied listing the channels not granted chanPerm and
// the groups not granted groupPerm, or nil when every one is.
func (v *verified) deny(channels []string, chanPerm Permission, groups []string, groupPerm Permission) error {
	var badC, badG []string
	for _, c := range channels {
		if !v.allows(v.tok.Resources.Channels, v.patterns.channels, c, chanPerm) {
			badC = append(badC, c)
		}
	}
	for _, g := range groups {
		if !v.allows(v.tok.Resources.Groups, v.patterns.groups, g, groupPerm) {
			badG = append(badG, g)
		}
	}
	if badC == nil && badG == nil {
		return nil
	}
	return &pubnubhttp.AccessDenied{Channels: badC, Groups: badG}
}

// requestURI returns r's request target as received.
func requestURI(r *http.Request) string {
	if r.RequestURI != "" {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}
