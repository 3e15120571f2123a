// Package pam is PubNub's Access Manager (v3, tokens) for the presence
// server: a server holding the keyset's secret key grants a client a token
// naming what it may do on which channels, groups and uuids; the client
// sends it as the auth parameter (the SDKs' setToken does); every presence
// request is checked against it before it touches presence.
//
// A Manager holds one keyset. As a pubnubhttp.Authorizer (set
// pubnubhttp.Options.Authorizer) it refuses requests naming another sub key,
// allows requests signed with the secret key (a server SDK), and checks the
// others' tokens: issued by this keyset, not expired (issue time plus TTL
// against the Manager's clock), not revoked, used by their authorized uuid,
// granting the permission each operation needs on every channel and group
// it names. Wrap (or ServeHTTP) serves the grant and revoke endpoints the
// SDKs' grantToken and revokeToken call.
//
// Tokens are PubNub's encoding (CBOR, base64url, HMAC-SHA256 signature), so
// the SDKs' parseToken reads them. A verified token is cached, so a
// heartbeat costs a cache lookup and a revocation lookup, not a CBOR decode;
// revocations are looked up on every use, so a revoke takes effect at once.
//
// The signatures of tokens and of requests are compared in constant time
// (hmac.Equal).
package pam
