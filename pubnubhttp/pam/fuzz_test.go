package pam

import (
	"encoding/base64"
	"reflect"
	"testing"
)

// FuzzToken feeds token strings, starting from tokens this keyset issued, to
// ParseToken and verify. Neither may panic, and verify may accept only a
// token that says exactly what one of the issued tokens says: a token whose
// content was altered in any way must not verify.
func FuzzToken(f *testing.F) {
	m, _ := newManager(f, testKeys)
	grants := []Grant{
		fullGrant,
		{TTL: 1, Resources: Resources{Channels: map[string]Permission{"a": Read}}},
		{TTL: MaxTTL, AuthorizedUUID: "u", Patterns: Resources{Groups: map[string]Permission{"g-.*": Manage}, UUIDs: map[string]Permission{".*": Get}}},
	}
	var issued []*Token
	for _, g := range grants {
		tok := grant(f, m, g)
		f.Add(tok)
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		f.Add(base64.StdEncoding.EncodeToString(raw)) // padded, +/ alphabet
		parsed, err := ParseToken(tok)
		if err != nil {
			f.Fatalf("ParseToken(issued): %v", err)
		}
		issued = append(issued, parsed)
	}
	f.Add("")
	f.Add("qEF2AkF0GmEI03xDdHRsGDxDcmVzpURjaGFuoA")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseToken(s)
		v, err := verify(testKeys.SecretKey, testKeys.SubscribeKey, s)
		if err != nil {
			return
		}
		for _, want := range issued {
			if reflect.DeepEqual(v.tok, want) {
				return
			}
		}
		t.Fatalf("verify accepted %q, which says %+v: not a token this keyset issued", s, *v.tok)
	})
}
