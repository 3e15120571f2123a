package pam

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/presencekit/presence/pubnubhttp"
)

// access builds an Access as the handler does, with a GET request for
// target.
func access(op pubnubhttp.Operation, uuid, target, auth string, channels, groups []string) pubnubhttp.Access {
	return pubnubhttp.Access{
		Op: op, SubKey: testKeys.SubscribeKey, UUID: uuid, Target: target, Auth: auth,
		Channels: channels, Groups: groups,
		Request: httptest.NewRequest(http.MethodGet, "/v2/presence/sub-key/sub-c-test/channel/x?uuid="+uuid, nil),
	}
}

// denied returns the refusal in err, failing when err is not one.
func denied(t *testing.T, what string, err error) *pubnubhttp.AccessDenied {
	t.Helper()
	var ad *pubnubhttp.AccessDenied
	if !errors.As(err, &ad) {
		t.Fatalf("%s: got %v, want an *AccessDenied", what, err)
	}
	return ad
}

func TestAuthorizePermissionTable(t *testing.T) {
	m, _ := newManager(t, testKeys)
	tok := grant(t, m, Grant{
		TTL: 60,
		Resources: Resources{
			Channels: map[string]Permission{"a": Read, "a-pnpres": Read, "w": Write},
			Groups:   map[string]Permission{"g": Read, "admin": Manage},
			UUIDs:    map[string]Permission{"carol": Get},
		},
		Patterns: Resources{
			Channels: map[string]Permission{"room-[0-9]+": Read},
			Groups:   map[string]Permission{"team-.*": Manage},
		},
	})
	type names = []string
	for _, tc := range []struct {
		name           string
		op             pubnubhttp.Operation
		target         string
		channels       names
		groups         names
		deniedChannels names
		deniedGroups   names
	}{
		{"here_now granted", pubnubhttp.OpHereNow, "", names{"a"}, nil, nil, nil},
		{"here_now of an ungranted channel", pubnubhttp.OpHereNow, "", names{"a", "b"}, nil, names{"b"}, nil},
		{"here_now with write only", pubnubhttp.OpHereNow, "", names{"w"}, nil, names{"w"}, nil},
		{"here_now by pattern", pubnubhttp.OpHereNow, "", names{"room-12"}, nil, nil, nil},
		{"patterns match whole names", pubnubhttp.OpHereNow, "", names{"room-12x", "xroom-1"}, nil, names{"room-12x", "xroom-1"}, nil},
		{"here_now of groups", pubnubhttp.OpHereNow, "", nil, names{"g", "h"}, nil, names{"h"}},
		{"heartbeat", pubnubhttp.OpHeartbeat, "me", names{"a", "b"}, names{"g"}, names{"b"}, nil},
		{"leave", pubnubhttp.OpLeave, "me", names{"b"}, nil, names{"b"}, nil},
		{"set_state", pubnubhttp.OpSetState, "me", names{"a"}, names{"x"}, nil, names{"x"}},
		{"get_state", pubnubhttp.OpGetState, "bob", names{"b"}, nil, names{"b"}, nil},
		{"subscribe with presence granted", pubnubhttp.OpSubscribe, "me", names{"a", "a-pnpres"}, nil, nil, nil},
		{"subscribe with presence not granted", pubnubhttp.OpSubscribe, "me", names{"room-1", "room-1-pnpres"}, nil, names{"room-1-pnpres"}, nil},
		{"group channels need manage", pubnubhttp.OpGroupChannels, "", nil, names{"g"}, nil, names{"g"}},
		{"group add with manage", pubnubhttp.OpAddChannels, "", names{"anything"}, names{"admin"}, nil, nil},
		{"group remove by pattern", pubnubhttp.OpRemoveChannels, "", names{"c"}, names{"team-red"}, nil, nil},
		{"group delete", pubnubhttp.OpDeleteGroup, "", nil, names{"other"}, nil, names{"other"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := m.Authorize(context.Background(), access(tc.op, "me", tc.target, tok, tc.channels, tc.groups))
			if tc.deniedChannels == nil && tc.deniedGroups == nil {
				if err != nil {
					t.Fatalf("Authorize: %v, want nil", err)
				}
				return
			}
			ad := denied(t, "Authorize", err)
			if ad.Status != 0 || !reflect.DeepEqual(ad.Channels, tc.deniedChannels) || !reflect.DeepEqual(ad.Groups, tc.deniedGroups) {
				t.Errorf("refused status %d channels %q groups %q; want 403 (0) channels %q groups %q",
					ad.Status, ad.Channels, ad.Groups, tc.deniedChannels, tc.deniedGroups)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		op     pubnubhttp.Operation
		target string
		ok     bool
	}{
		{"where_now of a uuid granted get", pubnubhttp.OpWhereNow, "carol", true},
		{"where_now of another uuid", pubnubhttp.OpWhereNow, "dave", false},
		{"global here_now", pubnubhttp.OpHereNow, "", false},
		{"list groups", pubnubhttp.OpListGroups, "", false},
		{"unknown operation", pubnubhttp.Operation(99), "", false},
	} {
		err := m.Authorize(context.Background(), access(tc.op, "me", tc.target, tok, nil, nil))
		if tc.ok && err != nil {
			t.Errorf("%s: %v, want nil", tc.name, err)
		}
		if !tc.ok {
			denied(t, tc.name, err)
		}
	}
}

func TestAuthorizeAuthorizedUUID(t *testing.T) {
	m, _ := newManager(t, testKeys)
	tok := grant(t, m, Grant{TTL: 60, AuthorizedUUID: "alice", Resources: Resources{Channels: map[string]Permission{"a": Read}}})
	a := []string{"a"}
	for _, tc := range []struct {
		name         string
		op           pubnubhttp.Operation
		uuid, target string
		ok           bool
	}{
		{"alice heartbeats", pubnubhttp.OpHeartbeat, "alice", "alice", true},
		{"bob uses alice's token", pubnubhttp.OpHeartbeat, "bob", "bob", false},
		{"alice sets bob's state", pubnubhttp.OpSetState, "alice", "bob", false},
		{"alice sets her state", pubnubhttp.OpSetState, "alice", "alice", true},
		{"alice makes bob leave", pubnubhttp.OpLeave, "bob", "bob", false},
		{"alice reads bob's state", pubnubhttp.OpGetState, "alice", "bob", true},
		{"alice's where_now", pubnubhttp.OpWhereNow, "alice", "alice", true},
		{"alice's where_now of bob", pubnubhttp.OpWhereNow, "alice", "bob", false},
		{"no uuid parameter", pubnubhttp.OpHereNow, "", "", false},
	} {
		err := m.Authorize(context.Background(), access(tc.op, tc.uuid, tc.target, tok, a, nil))
		if tc.ok && err != nil {
			t.Errorf("%s: %v, want nil", tc.name, err)
		}
		if !tc.ok {
			denied(t, tc.name, err)
		}
	}
}

func TestAuthorizeTokenRefusals(t *testing.T) {
	m, clk := newManager(t, testKeys)
	ctx := context.Background()
	chans := Resources{Channels: map[string]Permission{"a": Read}}
	expiring := grant(t, m, Grant{TTL: 1, Resources: chans})
	revoked := grant(t, m, Grant{TTL: 60, Resources: chans})
	foreign, _ := newManager(t, Keyset{SubscribeKey: "sub-c-other", PublishKey: "p", SecretKey: testKeys.SecretKey})
	foreignTok := grant(t, foreign, Grant{TTL: 60, Resources: chans})
	if err := m.Authorize(ctx, access(pubnubhttp.OpHereNow, "me", "", revoked, []string{"a"}, nil)); err != nil {
		t.Fatalf("before revoke: %v", err)
	}
	if err := m.Revoke(ctx, revoked); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	clk.Set(start.Add(time.Minute))
	for _, tc := range []struct{ name, auth, msg string }{
		{"no token", "", "no auth token"},
		{"garbage", "not a token", "invalid token"},
		{"another keyset's token", foreignTok, "invalid token"},
		{"expired", expiring, "token expired"},
		{"revoked", revoked, "token revoked"},
	} {
		err := m.Authorize(ctx, access(pubnubhttp.OpHereNow, "me", "", tc.auth, []string{"a"}, []string{"g"}))
		ad := denied(t, tc.name, err)
		if ad.Status != 0 || !strings.Contains(ad.Message, tc.msg) || !reflect.DeepEqual(ad.Channels, []string{"a"}) || !reflect.DeepEqual(ad.Groups, []string{"g"}) {
			t.Errorf("%s: got %+v, want 403 %q listing every name", tc.name, *ad, tc.msg)
		}
	}
}

func TestAuthorizeSubKeyAndSignature(t *testing.T) {
	m, clk := newManager(t, testKeys)
	ctx := context.Background()
	wrong := access(pubnubhttp.OpHereNow, "me", "", "", []string{"a"}, nil)
	wrong.SubKey = "sub-c-else"
	if ad := denied(t, "another sub key", m.Authorize(ctx, wrong)); ad.Status != 400 || ad.Message != "Invalid Subscribe Key" {
		t.Errorf("another sub key: got %+v, want 400 Invalid Subscribe Key", *ad)
	}
	open, _ := newManager(t, Keyset{SubscribeKey: testKeys.SubscribeKey})
	if err := open.Authorize(ctx, access(pubnubhttp.OpHereNow, "me", "", "", nil, nil)); err != nil {
		t.Errorf("without a secret key, the right sub key and no token: %v, want nil", err)
	}
	if ad := denied(t, "without a secret key, another sub key", open.Authorize(ctx, wrong)); ad.Status != 400 {
		t.Errorf("without a secret key, another sub key: status %d, want 400", ad.Status)
	}

	target := "/v2/presence/sub-key/sub-c-test?uuid=server"
	req := func(target string) pubnubhttp.Access {
		a := access(pubnubhttp.OpHereNow, "server", "", "", nil, nil) // global here_now: needs a signature
		a.Request = httptest.NewRequest(http.MethodGet, target, nil)
		return a
	}
	if err := m.Authorize(ctx, req(signTarget(testKeys, "GET", target, nil, start))); err != nil {
		t.Errorf("signed global here_now: %v, want nil", err)
	}
	bad := signTarget(Keyset{PublishKey: testKeys.PublishKey, SecretKey: "guess"}, "GET", target, nil, start)
	if ad := denied(t, "bad signature", m.Authorize(ctx, req(bad))); ad.Status != 0 || ad.Message != "Signature Does Not Match" {
		t.Errorf("bad signature: got %+v, want 403 Signature Does Not Match", *ad)
	}
	clk.Set(start.Add(2 * time.Minute))
	if ad := denied(t, "old timestamp", m.Authorize(ctx, req(signTarget(testKeys, "GET", target, nil, start)))); ad.Status != 400 || ad.Message != "Invalid Timestamp" {
		t.Errorf("old timestamp: got %+v, want 400 Invalid Timestamp", *ad)
	}
	if ad := denied(t, "unsigned global here_now", m.Authorize(ctx, req(target))); ad.Status != 0 {
		t.Errorf("unsigned global here_now: status %d, want 403", ad.Status)
	}
}

// failingStore is a Revocations whose lookups fail.
type failingStore struct{}

var errStore = errors.New("store down")

func (failingStore) Revoke(context.Context, string, time.Time) error { return errStore }
func (failingStore) Revoked(context.Context, string) (bool, error)   { return false, errStore }

func TestAuthorizeStoreFailureIsNotARefusal(t *testing.T) {
	clk := clock0()
	m, err := New(testKeys, Options{Clock: clk, Revocations: failingStore{}})
	if err != nil {
		t.Fatal(err)
	}
	tok := grant(t, m, Grant{TTL: 5, Resources: Resources{Channels: map[string]Permission{"a": Read}}})
	err = m.Authorize(context.Background(), access(pubnubhttp.OpHereNow, "me", "", tok, []string{"a"}, nil))
	var ad *pubnubhttp.AccessDenied
	if !errors.Is(err, errStore) || errors.As(err, &ad) {
		t.Errorf("Authorize with a failing store: got %v, want the store's error, not a refusal", err)
	}
	if err := m.Revoke(context.Background(), tok); !errors.Is(err, errStore) {
		t.Errorf("Revoke with a failing store: got %v, want the store's error", err)
	}
}
