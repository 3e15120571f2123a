package pam

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/fxamacker/cbor/v2"
)

var testKeys = Keyset{SubscribeKey: "sub-c-test", PublishKey: "pub-c-test", SecretKey: "sec-c-test"}

// start is the mock clock's time in every test: tokens carry whole seconds.
var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newManager(t testing.TB, keys Keyset) (*Manager, *clock.Mock) {
	t.Helper()
	clk := clock.NewMock()
	clk.Set(start)
	m, err := New(keys, Options{Clock: clk})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, clk
}

func grant(t testing.TB, m *Manager, g Grant) string {
	t.Helper()
	tok, err := m.Grant(context.Background(), g)
	if err != nil {
		t.Fatalf("Grant(%+v): %v", g, err)
	}
	return tok
}

var fullGrant = Grant{
	TTL:            60,
	AuthorizedUUID: "alice",
	Resources: Resources{
		Channels: map[string]Permission{"a": Read, "b": Read | Write},
		Groups:   map[string]Permission{"g": Read | Manage},
		UUIDs:    map[string]Permission{"bob": Get},
	},
	Patterns: Resources{Channels: map[string]Permission{"room-[0-9]+": Read}},
	Meta:     map[string]any{"role": "player", "level": int64(3), "vip": true},
}

func TestGrantVerifyRoundTrip(t *testing.T) {
	m, _ := newManager(t, testKeys)
	tok := grant(t, m, fullGrant)
	if strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q: want base64url without padding", tok)
	}
	got, err := m.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := Token{
		Version:        2,
		Issued:         start,
		TTL:            60,
		AuthorizedUUID: "alice",
		Resources:      fullGrant.Resources,
		Patterns: Resources{
			Channels: fullGrant.Patterns.Channels,
			Groups:   map[string]Permission{},
			UUIDs:    map[string]Permission{},
		},
		Meta:      map[string]any{"role": "player", "level": uint64(3), "vip": true},
		Signature: got.Signature,
	}
	if !got.Issued.Equal(want.Issued) {
		t.Errorf("Issued %v, want %v", got.Issued, want.Issued)
	}
	got.Issued = want.Issued
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("Verify:\n got %+v\nwant %+v", *got, want)
	}
	if len(got.Signature) != 32 {
		t.Errorf("signature is %d bytes, want 32 (HMAC-SHA256)", len(got.Signature))
	}
	if exp := got.Expires(); !exp.Equal(start.Add(time.Hour)) {
		t.Errorf("Expires %v, want %v", exp, start.Add(time.Hour))
	}
	parsed, err := ParseToken(tok)
	if err != nil {
		t.Fatalf("ParseToken: %v", err)
	}
	parsed.Issued = want.Issued
	if !reflect.DeepEqual(*parsed, want) {
		t.Errorf("ParseToken:\n got %+v\nwant %+v", *parsed, want)
	}
}

// TestTokenWireFormat checks the encoding the SDKs decode: a CBOR map whose
// keys are byte strings (as in PubNub's own tokens), all five resource kinds
// present in res and pat, the signature a byte string.
func TestTokenWireFormat(t *testing.T) {
	m, _ := newManager(t, testKeys)
	tok := grant(t, m, Grant{TTL: 1, Resources: Resources{Channels: map[string]Permission{"a": Read}}})
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatalf("token %q is not base64url: %v", tok, err)
	}
	var top map[any]any
	if err := cbor.Unmarshal(b, &top); err != nil {
		t.Fatalf("token is not CBOR: %v", err)
	}
	keys := map[string]bool{}
	for k := range top {
		bk, ok := k.(cbor.ByteString)
		if !ok {
			t.Errorf("top-level key %#v is a %T, want a byte string", k, k)
			continue
		}
		keys[string(bk)] = true
	}
	for _, k := range []string{"v", "t", "ttl", "res", "pat", "meta", "sig"} {
		if !keys[k] {
			t.Errorf("top-level key %q missing; have %v", k, keys)
		}
	}
	if keys["uuid"] {
		t.Errorf("top-level uuid present without an authorized uuid")
	}
	for _, part := range []string{"res", "pat"} {
		inner, ok := top[cbor.ByteString(part)].(map[any]any)
		if !ok {
			t.Fatalf("%s is a %T, want a map", part, top[cbor.ByteString(part)])
		}
		for _, kind := range []string{"chan", "grp", "uuid", "usr", "spc"} {
			if _, ok := inner[cbor.ByteString(kind)]; !ok {
				t.Errorf("%s.%s missing", part, kind)
			}
		}
	}
	if sig, ok := top[cbor.ByteString("sig")].([]byte); !ok || len(sig) != 32 {
		t.Errorf("sig %#v, want 32 bytes", top[cbor.ByteString("sig")])
	}
}

func TestGrantRefusals(t *testing.T) {
	m, _ := newManager(t, testKeys)
	chans := Resources{Channels: map[string]Permission{"a": Read}}
	for _, tc := range []struct {
		name string
		g    Grant
		msg  string
	}{
		{"ttl 0", Grant{TTL: 0, Resources: chans}, "ttl 0"},
		{"ttl over 30 days", Grant{TTL: MaxTTL + 1, Resources: chans}, "ttl 43201"},
		{"nothing granted", Grant{TTL: 5}, "no resources and no patterns"},
		{"empty name", Grant{TTL: 5, Resources: Resources{Groups: map[string]Permission{"": Read}}}, "empty resource name"},
		{"bad pattern", Grant{TTL: 5, Patterns: Resources{Channels: map[string]Permission{"room-[": Read}}}, `channel pattern "room-["`},
		{"object meta", Grant{TTL: 5, Resources: chans, Meta: map[string]any{"x": map[string]any{}}}, `meta "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Grant(context.Background(), tc.g)
			if !errors.Is(err, ErrInvalidGrant) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Grant: got %v, want ErrInvalidGrant naming %q", err, tc.msg)
			}
		})
	}
	off, _ := newManager(t, Keyset{SubscribeKey: "sub"})
	if _, err := off.Grant(context.Background(), Grant{TTL: 5, Resources: chans}); !errors.Is(err, ErrNoSecretKey) {
		t.Errorf("Grant without a secret key: got %v, want ErrNoSecretKey", err)
	}
}

func TestVerifyRefusals(t *testing.T) {
	m, clk := newManager(t, testKeys)
	ctx := context.Background()
	tok := grant(t, m, Grant{TTL: 1, Resources: Resources{Channels: map[string]Permission{"a": Read}}})

	otherSecret, _ := newManager(t, Keyset{SubscribeKey: testKeys.SubscribeKey, PublishKey: "p", SecretKey: "another secret"})
	otherSub, _ := newManager(t, Keyset{SubscribeKey: "sub-c-other", PublishKey: "p", SecretKey: testKeys.SecretKey})
	for name, mm := range map[string]*Manager{"another secret key": otherSecret, "another sub key, same secret": otherSub} {
		if _, err := mm.Verify(ctx, tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Verify: got %v, want ErrInvalidToken", name, err)
		}
	}

	// A token whose content was changed after signing: the read on "a"
	// becomes read on "b" (same length, so the CBOR stays well-formed).
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	i := strings.Index(string(raw), "\x61\x61\x01") // text "a" → 1
	if i < 0 {
		t.Fatalf("no channel a in %x", raw)
	}
	altered := append([]byte(nil), raw...)
	altered[i+1] = 'b'
	if _, err := m.Verify(ctx, base64.RawURLEncoding.EncodeToString(altered)); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("altered token: Verify: got %v, want ErrInvalidToken", err)
	}
	for _, bad := range []string{"", "!!!", "qEF2", strings.Repeat("A", MaxTokenBytes+1)} {
		if _, err := m.Verify(ctx, bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Verify(%.20q): got %v, want ErrInvalidToken", bad, err)
		}
	}

	if _, err := m.Verify(ctx, tok); err != nil {
		t.Fatalf("Verify before expiry: %v", err)
	}
	clk.Set(start.Add(time.Minute - time.Second))
	if _, err := m.Verify(ctx, tok); err != nil {
		t.Errorf("Verify 1 s before expiry: %v", err)
	}
	clk.Set(start.Add(time.Minute))
	if _, err := m.Verify(ctx, tok); !errors.Is(err, ErrExpired) {
		t.Errorf("Verify at expiry: got %v, want ErrExpired", err)
	}
}

func TestRevoke(t *testing.T) {
	m, clk := newManager(t, testKeys)
	ctx := context.Background()
	tok := grant(t, m, Grant{TTL: 10, Resources: Resources{Channels: map[string]Permission{"a": Read}}})
	other := grant(t, m, Grant{TTL: 10, Resources: Resources{Channels: map[string]Permission{"b": Read}}})
	if _, err := m.Verify(ctx, tok); err != nil { // now cached
		t.Fatalf("Verify: %v", err)
	}
	if err := m.Revoke(ctx, tok); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := m.Verify(ctx, tok); !errors.Is(err, ErrRevoked) {
		t.Errorf("Verify after Revoke: got %v, want ErrRevoked", err)
	}
	if _, err := m.Verify(ctx, other); err != nil {
		t.Errorf("Verify of another token after Revoke: %v", err)
	}
	if err := m.Revoke(ctx, "qEF2AkF0"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Revoke of a forged token: got %v, want ErrInvalidToken", err)
	}
	clk.Set(start.Add(10 * time.Minute))
	if _, err := m.Verify(ctx, tok); !errors.Is(err, ErrExpired) {
		t.Errorf("Verify after expiry: got %v, want ErrExpired", err)
	}
}

func TestMemoryRevocationsPrunes(t *testing.T) {
	clk := clock.NewMock()
	clk.Set(start)
	r := NewMemoryRevocations(clk)
	ctx := context.Background()
	for i := range 100 {
		_ = r.Revoke(ctx, "old"+string(rune('A'+i%26))+strings.Repeat("x", i), start.Add(time.Minute))
	}
	clk.Set(start.Add(time.Minute))
	for i := range 100 {
		_ = r.Revoke(ctx, "new"+strings.Repeat("y", i), start.Add(2*time.Minute))
	}
	if got := r.Len(); got > 128 {
		t.Errorf("Len after the first 100 expired and 100 more: %d, want at most 128 (expired ids pruned)", got)
	}
	if ok, _ := r.Revoked(ctx, "new"); !ok {
		t.Errorf("Revoked(new) = false, want true")
	}
	if ok, _ := r.Revoked(ctx, "oldA"); ok {
		t.Errorf("Revoked(oldA) after its expiry = true, want false")
	}
}

func TestPermissionString(t *testing.T) {
	for p, want := range map[Permission]string{0: "none", Read: "read", Read | Manage: "read|manage", Join | Get: "get|join"} {
		if got := p.String(); got != want {
			t.Errorf("Permission(%d).String() = %q, want %q", p, got, want)
		}
	}
}

func TestNewRefusals(t *testing.T) {
	for _, tc := range []struct {
		keys Keyset
		opt  Options
		msg  string
	}{
		{Keyset{}, Options{}, "empty subscribe key"},
		{Keyset{SubscribeKey: "s", SecretKey: "x"}, Options{}, "needs a publish key"},
		{Keyset{SubscribeKey: "s"}, Options{Skew: -1}, "skew"},
		{Keyset{SubscribeKey: "s"}, Options{CacheSize: -1}, "cache size"},
	} {
		if _, err := New(tc.keys, tc.opt); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("New(%+v, %+v): got %v, want ErrInvalidConfig naming %q", tc.keys, tc.opt, err, tc.msg)
		}
	}
}

// clock0 returns a mock clock set to start.
func clock0() *clock.Mock {
	clk := clock.NewMock()
	clk.Set(start)
	return clk
}
