// token.go holds Access Manager v3 tokens: the permission bits, the Grant a
// token is issued from, the Token it decodes to, and their encoding, which is
// PubNub's so that the SDKs' parseToken reads it: a CBOR map with byte-string
// keys v (version 2), t (issue time, Unix seconds), ttl (minutes), res and pat
// (resources and patterns, each a map chan/grp/uuid/usr/spc of name →
// permission bits), meta, uuid (the authorized uuid, when set) and sig,
// encoded in base64url without padding.
//
// The signature. PubNub does not publish how its server signs a token (the
// SDKs never check it), so this package defines it: sig is
// HMAC-SHA256(secret key, "pam-v3\x00" + subscribe key + "\x00" + M), where M
// is the CBOR encoding of the token's map without sig, keys sorted
// bytewise. Verification decodes the map keeping each value's bytes as sent,
// re-encodes it without sig the same way and compares the MAC in constant
// time, so no value is re-encoded and a token is valid exactly when its
// content is what was signed. The subscribe key in the input makes a token
// of another keyset invalid even under the same secret key.

package pam

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Permission is a set of Access Manager permission bits, PubNub's values.
type Permission uint8

// PubNub's permission bits. Channels take all of them; groups take Read and
// Manage; uuids take Get, Update and Delete.
const (
	Read   Permission = 1
	Write  Permission = 2
	Manage Permission = 4
	Delete Permission = 8
	Create Permission = 16
	Get    Permission = 32
	Update Permission = 64
	Join   Permission = 128
)

// String lists the permissions set, for example "read|manage", or "none".
func (p Permission) String() string {
	names := []string{"read", "write", "manage", "delete", "create", "get", "update", "join"}
	var out []string
	for i, n := range names {
		if p&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "|")
}

// Resources maps names to the permissions granted on them, by kind. In a
// Grant's or Token's Patterns the names are regular expressions (Go's RE2
// syntax) that must match a whole name.
type Resources struct {
	Channels map[string]Permission
	Groups   map[string]Permission
	UUIDs    map[string]Permission
}

func (r Resources) empty() bool {
	return len(r.Channels) == 0 && len(r.Groups) == 0 && len(r.UUIDs) == 0
}

// Limits of a Grant, PubNub's.
const (
	MinTTL = 1         // minutes
	MaxTTL = 30 * 1440 // minutes: 43200, 30 days
)

// Grant is what a token is issued for.
type Grant struct {
	// TTL is the token's lifetime in minutes, MinTTL..MaxTTL.
	TTL int
	// AuthorizedUUID, when set, is the only uuid that may use the token.
	AuthorizedUUID string
	// Resources grants permissions on names; Patterns on every name a
	// pattern matches whole. At least one name or pattern is needed.
	Resources, Patterns Resources
	// Meta is carried in the token as is: string, bool, nil, integer or
	// float values only, as PubNub allows.
	Meta map[string]any
}

// ErrInvalidGrant is wrapped by the errors of a Grant that cannot be issued.
var ErrInvalidGrant = errors.New("pam: invalid grant")

// check validates g and compiles its patterns.
func (g Grant) check() error {
	if g.TTL < MinTTL || g.TTL > MaxTTL {
		return fmt.Errorf("%w: ttl %d: must be %d..%d minutes", ErrInvalidGrant, g.TTL, MinTTL, MaxTTL)
	}
	if g.Resources.empty() && g.Patterns.empty() {
		return fmt.Errorf("%w: no resources and no patterns: grant at least one channel, group or uuid", ErrInvalidGrant)
	}
	for _, r := range []Resources{g.Resources, g.Patterns} {
		for _, m := range []map[string]Permission{r.Channels, r.Groups, r.UUIDs} {
			for name := range m {
				if name == "" {
					return fmt.Errorf("%w: empty resource name", ErrInvalidGrant)
				}
			}
		}
	}
	if _, err := compilePatterns(g.Patterns); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidGrant, err)
	}
	for k, v := range g.Meta {
		switch v.(type) {
		case nil, string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		default:
			return fmt.Errorf("%w: meta %q is a %T: meta values must be strings, numbers, booleans or null", ErrInvalidGrant, k, v)
		}
	}
	return nil
}

// Token is a decoded token.
type Token struct {
	Version        int
	Issued         time.Time // t, to the second
	TTL            int       // minutes
	AuthorizedUUID string
	Resources      Resources
	Patterns       Resources
	Meta           map[string]any
	Signature      []byte
}

// Expires returns the first instant at which t is no longer valid: its
// issue time plus its TTL.
func (t *Token) Expires() time.Time { return t.Issued.Add(time.Duration(t.TTL) * time.Minute) }

// tokenVersion is the v of the tokens issued, PubNub's current one.
const tokenVersion = 2

// MaxTokenBytes bounds the length of a token string accepted.
const MaxTokenBytes = 32 << 10

// ErrInvalidToken is wrapped by the errors of a token that does not decode
// or whose signature does not verify.
var ErrInvalidToken = errors.New("pam: invalid token")

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = (cbor.EncOptions{Sort: cbor.SortBytewiseLexical}).EncMode(); err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:           cbor.DupMapKeyEnforcedAPF,
		IndefLength:         cbor.IndefLengthForbidden,
		TagsMd:              cbor.TagsForbidden,
		MaxNestedLevels:     8,
		MaxArrayElements:    1024,
		MaxMapPairs:         64 << 10,
		FieldNameByteString: cbor.FieldNameByteStringAllowed,
		ByteStringToString:  cbor.ByteStringToStringAllowed,
		DefaultMapType:      nil,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

type bs = cbor.ByteString

// wireResources is the CBOR form of Resources: PubNub's five kinds, empty
// maps included (the JS SDK's parseToken reads chan and grp unconditionally).
func wireResources(r Resources) map[bs]map[string]uint8 {
	conv := func(m map[string]Permission) map[string]uint8 {
		out := make(map[string]uint8, len(m))
		for k, v := range m {
			out[k] = uint8(v)
		}
		return out
	}
	return map[bs]map[string]uint8{
		"chan": conv(r.Channels),
		"grp":  conv(r.Groups),
		"uuid": conv(r.UUIDs),
		"usr":  {},
		"spc":  {},
	}
}

// issue encodes and signs a token for g issued at now. g must have passed
// check.
func issue(secret, subKey string, g Grant, now time.Time) (string, error) {
	meta := g.Meta
	if meta == nil {
		meta = map[string]any{}
	}
	m := map[bs]any{
		"v":    tokenVersion,
		"t":    now.Unix(),
		"ttl":  g.TTL,
		"res":  wireResources(g.Resources),
		"pat":  wireResources(g.Patterns),
		"meta": meta,
	}
	if g.AuthorizedUUID != "" {
		m["uuid"] = g.AuthorizedUUID
	}
	// Encode each value once: the signed map and the token hold the same
	// value bytes, which is what verify relies on.
	raw := make(map[bs]cbor.RawMessage, len(m)+1)
	for k, v := range m {
		b, err := encMode.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("pam: encoding token %s: %w", k, err)
		}
		raw[k] = b
	}
	sig, err := sign(secret, subKey, raw)
	if err != nil {
		return "", err
	}
	if raw["sig"], err = encMode.Marshal(sig); err != nil {
		return "", err
	}
	b, err := encMode.Marshal(raw)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// sign returns the MAC of the token map raw without its sig entry.
func sign(secret, subKey string, raw map[bs]cbor.RawMessage) ([]byte, error) {
	unsigned := make(map[bs]cbor.RawMessage, len(raw))
	for k, v := range raw {
		if k != "sig" {
			unsigned[k] = v
		}
	}
	b, err := encMode.Marshal(unsigned)
	if err != nil {
		return nil, fmt.Errorf("pam: encoding token: %w", err)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("pam-v3\x00"))
	mac.Write([]byte(subKey))
	mac.Write([]byte{0})
	mac.Write(b)
	return mac.Sum(nil), nil
}

// wireToken is the typed CBOR form of a token, for decoding.
type wireToken struct {
	V    int            `cbor:"v"`
	T    int64          `cbor:"t"`
	TTL  int            `cbor:"ttl"`
	Res  wireRes        `cbor:"res"`
	Pat  wireRes        `cbor:"pat"`
	Meta map[string]any `cbor:"meta"`
	UUID string         `cbor:"uuid"`
	Sig  []byte         `cbor:"sig"`
}

type wireRes struct {
	Chan map[string]uint64 `cbor:"chan"`
	Grp  map[string]uint64 `cbor:"grp"`
	UUID map[string]uint64 `cbor:"uuid"`
	Usr  map[string]uint64 `cbor:"usr"`
	Spc  map[string]uint64 `cbor:"spc"`
}

func (w wireRes) resources() (Resources, error) {
	conv := func(kind string, m map[string]uint64) (map[string]Permission, error) {
		out := make(map[string]Permission, len(m))
		for k, v := range m {
			if v > math.MaxUint8 {
				return nil, fmt.Errorf("%w: %s %q: permission bits %d out of range", ErrInvalidToken, kind, k, v)
			}
			out[k] = Permission(v)
		}
		return out, nil
	}
	var r Resources
	var err error
	if r.Channels, err = conv("channel", w.Chan); err != nil {
		return r, err
	}
	if r.Groups, err = conv("group", w.Grp); err != nil {
		return r, err
	}
	r.UUIDs, err = conv("uuid", w.UUID)
	return r, err
}

// decodeBytes returns the CBOR bytes of a token string: base64url with or
// without padding, as the SDKs read it.
func decodeBytes(s string) ([]byte, error) {
	if len(s) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if len(s) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidToken, len(s), MaxTokenBytes)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url: %v", ErrInvalidToken, err)
	}
	return b, nil
}

// ParseToken decodes a token without verifying its signature, as the SDKs'
// parseToken does: it tells what a token says, not that it is genuine. Use
// a Manager to check a token.
func ParseToken(s string) (*Token, error) {
	b, err := decodeBytes(s)
	if err != nil {
		return nil, err
	}
	return decodeToken(b)
}

func decodeToken(b []byte) (*Token, error) {
	var w wireToken
	if err := decMode.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if w.TTL < 0 {
		return nil, fmt.Errorf("%w: ttl %d: negative", ErrInvalidToken, w.TTL)
	}
	t := &Token{
		Version:        w.V,
		Issued:         time.Unix(w.T, 0),
		TTL:            w.TTL,
		AuthorizedUUID: w.UUID,
		Meta:           w.Meta,
		Signature:      w.Sig,
	}
	var err error
	if t.Resources, err = w.Res.resources(); err != nil {
		return nil, err
	}
	if t.Patterns, err = w.Pat.resources(); err != nil {
		return nil, err
	}
	return t, nil
}

// verified is a token whose signature verified, with its patterns compiled
// and its revocation id; it is what the cache holds. It is never changed
// after verify returns it.
type verified struct {
	tok      *Token
	patterns compiled
	expires  time.Time
	id       string // the revocation id: the signature, base64url
}

// verify decodes s and checks its signature against the keyset: the check
// every token passes before anything it says is used. It does not look at
// expiry or revocation.
func verify(secret, subKey, s string) (*verified, error) {
	b, err := decodeBytes(s)
	if err != nil {
		return nil, err
	}
	var raw map[bs]cbor.RawMessage
	if err := decMode.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	sigRaw, ok := raw["sig"]
	if !ok {
		return nil, fmt.Errorf("%w: no signature", ErrInvalidToken)
	}
	var sig []byte
	if err := decMode.Unmarshal(sigRaw, &sig); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrInvalidToken, err)
	}
	want, err := sign(secret, subKey, raw)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(sig, want) {
		return nil, fmt.Errorf("%w: signature does not verify (another keyset's token, or altered)", ErrInvalidToken)
	}
	tok, err := decodeToken(b)
	if err != nil {
		return nil, err
	}
	if tok.Version != tokenVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrInvalidToken, tok.Version, tokenVersion)
	}
	pats, err := compilePatterns(tok.Patterns)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return &verified{
		tok:      tok,
		patterns: pats,
		expires:  tok.Expires(),
		id:       base64.RawURLEncoding.EncodeToString(sig),
	}, nil
}

// pattern is a compiled pattern and the permissions it grants.
type pattern struct {
	re   *regexp.Regexp
	perm Permission
}

// compiled holds a token's patterns by kind, in a fixed order.
type compiled struct {
	channels, groups, uuids []pattern
}

func compilePatterns(r Resources) (compiled, error) {
	conv := func(kind string, m map[string]Permission) ([]pattern, error) {
		var out []pattern
		for _, src := range slices.Sorted(maps.Keys(m)) {
			// Anchored: a pattern grants a name it matches whole, so
			// "room-.*" does not reach "x-room-1".
			re, err := regexp.Compile(`^(?:` + src + `)$`)
			if err != nil {
				return nil, fmt.Errorf("%s pattern %q: not a regular expression: %v", kind, src, err)
			}
			out = append(out, pattern{re, m[src]})
		}
		return out, nil
	}
	var c compiled
	var err error
	if c.channels, err = conv("channel", r.Channels); err != nil {
		return c, err
	}
	if c.groups, err = conv("group", r.Groups); err != nil {
		return c, err
	}
	c.uuids, err = conv("uuid", r.UUIDs)
	return c, err
}

// allows reports whether v grants every bit of want on name: the union of
// its resource entry and of every pattern matching name.
func (v *verified) allows(res map[string]Permission, pats []pattern, name string, want Permission) bool {
	have := res[name]
	if have&want == want {
		return true
	}
	for _, p := range pats {
		if p.re.MatchString(name) {
			have |= p.perm
			if have&want == want {
				return true
			}
		}
	}
	return false
}
