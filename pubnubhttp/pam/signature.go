// signature.go holds PubNub's request signature v2, with which a server SDK
// configured with the secret key signs every request:
//
//	signature = "v2." + base64url(HMAC-SHA256(secret key, S)), without padding
//	S = method + "\n" + publish key + "\n" + path + "\n" + query + "\n" + body
//
// where path is the request's path as sent, query is every query parameter
// but signature, sorted by name, each value percent-encoded with uppercase
// hex for every byte but A-Z a-z 0-9 '-' '_' '.', joined as k=v with '&'
// (what the Go SDK v7's PreparePamParams and the JS SDK's RequestSignature
// both produce), and body is the request body (empty for a GET). The
// timestamp parameter (Unix seconds) must be within the skew window of the
// server's clock, so a captured request cannot be replayed later.

package pam

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/presencekit/presence/pubnubhttp/internal/reqtarget"
)

// Errors of a request signature. A request that carries no signature
// parameter is not signed; one that carries a wrong one is refused, it is
// never treated as unsigned.
var (
	ErrBadSignature = errors.New("pam: signature does not match")
	ErrBadTimestamp = errors.New("pam: invalid timestamp")
)

// signedRequest is what a signature covers, taken from one request.
type signedRequest struct {
	method, path, rawQuery string
	body                   []byte
}

// queryValue returns the decoded value of key in a raw query, the first
// occurrence, and whether it is present. '+' stays '+': the SDKs encode
// spaces as %20.
func queryValue(rawQuery, key string) (string, bool) {
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(part, "=")
		if reqtarget.Unescape(k) == key {
			return reqtarget.Unescape(v), true
		}
	}
	return "", false
}

// pamEncode percent-encodes every byte of s but A-Z a-z 0-9 - _ . with
// uppercase hex: the form both SDKs sign values in.
func pamEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// canonicalQuery returns the signed form of a raw query: every parameter but
// signature, decoded and re-encoded by pamEncode, sorted by name (and the
// values of a repeated name sorted), joined with '&'.
func canonicalQuery(rawQuery string) string {
	type kv struct{ k, v string }
	var params []kv
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k = reqtarget.Unescape(k)
		if k == "signature" {
			continue
		}
		params = append(params, kv{k, pamEncode(reqtarget.Unescape(v))})
	}
	slices.SortFunc(params, func(a, b kv) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// signatureV2 returns the v2 signature of r under the keyset.
func signatureV2(secret, publishKey string, r signedRequest) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(r.method + "\n" + publishKey + "\n" + r.path + "\n" + canonicalQuery(r.rawQuery) + "\n"))
	mac.Write(r.body)
	return "v2." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// checkSignature verifies r's signature parameter and its timestamp against
// now and skew. It returns ok=false with no error when r carries no
// signature parameter (the request is not signed).
func checkSignature(secret, publishKey string, r signedRequest, now time.Time, skew time.Duration) (ok bool, err error) {
	got, signed := queryValue(r.rawQuery, "signature")
	if !signed {
		return false, nil
	}
	ts, _ := queryValue(r.rawQuery, "timestamp")
	sec, perr := strconv.ParseInt(ts, 10, 64)
	if perr != nil {
		return false, fmt.Errorf("%w: timestamp %q: not Unix seconds", ErrBadTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > skew || d < -skew {
		return false, fmt.Errorf("%w: timestamp %d is %v from the server's clock, more than %v", ErrBadTimestamp, sec, d.Round(time.Second), skew)
	}
	want := signatureV2(secret, publishKey, r)
	if !hmac.Equal([]byte(got), []byte(want)) {
		return false, ErrBadSignature
	}
	return true, nil
}
