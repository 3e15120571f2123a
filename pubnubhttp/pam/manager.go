// manager.go holds Manager, its Keyset and Options, New, and the token life
// cycle: Grant issues, Verify checks (signature, expiry, revocation) through
// the cache of verified tokens, Revoke revokes.

package pam

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/benbjohnson/clock"
	lru "github.com/hashicorp/golang-lru/v2"
)

// Keyset is a PubNub keyset. SubscribeKey is the one sub key requests may
// name. With SecretKey set (PublishKey is then needed too: it is part of
// every request signature), tokens are issued and checked; without it only
// the sub key is checked.
type Keyset struct {
	SubscribeKey string
	PublishKey   string
	SecretKey    string
}

// Defaults of Options' zero fields.
const (
	DefaultSkew      = 60 * time.Second
	DefaultCacheSize = 10000
)

// Options tunes a Manager. The zero value is ready to use.
type Options struct {
	// Clock times token expiry, revocations and signature timestamps. Nil
	// means the real clock; pass the backend's (presence.Config.Clock) so
	// that tokens expire on the time presence runs on.
	Clock clock.Clock
	// Revocations stores revoked tokens. Nil means a MemoryRevocations of
	// this process: pass a shared store when several servers share a
	// backend.
	Revocations Revocations
	// Skew is how far a signed request's timestamp may be from Clock.
	// Zero means 60 s.
	Skew time.Duration
	// CacheSize bounds the verified tokens kept, so that a heartbeat does
	// not decode and verify its token again. Zero means 10000.
	CacheSize int
}

// ErrInvalidConfig is wrapped by New's errors.
var ErrInvalidConfig = errors.New("pam: invalid config")

// Errors of a token that verified but may not be used.
var (
	ErrExpired = errors.New("pam: token expired")
	ErrRevoked = errors.New("pam: token revoked")
)

// ErrNoSecretKey is returned by Grant, Revoke and Verify of a Manager
// without a secret key.
var ErrNoSecretKey = errors.New("pam: no secret key: Access Manager is off")

// Manager is PubNub's Access Manager for one keyset: it issues and revokes
// tokens (Grant, Revoke, and the REST endpoints in ServeHTTP), and as a
// pubnubhttp.Authorizer it checks every presence request against them.
//
// A Manager is safe for concurrent use.
type Manager struct {
	keys  Keyset
	clock clock.Clock
	rev   Revocations
	skew  time.Duration
	cache *lru.Cache[string, *verified]
}

// New returns a Manager for keys. It returns an error wrapping
// ErrInvalidConfig when the sub key is empty, a secret key comes without a
// publish key, or an option is negative.
func New(keys Keyset, opt Options) (*Manager, error) {
	switch {
	case keys.SubscribeKey == "":
		return nil, fmt.Errorf("%w: empty subscribe key", ErrInvalidConfig)
	case keys.SecretKey != "" && keys.PublishKey == "":
		return nil, fmt.Errorf("%w: a secret key needs a publish key (request signatures cover it)", ErrInvalidConfig)
	case opt.Skew < 0:
		return nil, fmt.Errorf("%w: skew %v: negative", ErrInvalidConfig, opt.Skew)
	case opt.CacheSize < 0:
		return nil, fmt.Errorf("%w: cache size %d: negative", ErrInvalidConfig, opt.CacheSize)
	}
	if opt.Clock == nil {
		opt.Clock = clock.New()
	}
	if opt.Revocations == nil {
		opt.Revocations = NewMemoryRevocations(opt.Clock)
	}
	if opt.Skew == 0 {
		opt.Skew = DefaultSkew
	}
	if opt.CacheSize == 0 {
		opt.CacheSize = DefaultCacheSize
	}
	cache, err := lru.New[string, *verified](opt.CacheSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return &Manager{keys: keys, clock: opt.Clock, rev: opt.Revocations, skew: opt.Skew, cache: cache}, nil
}

// Grant issues a token for g, timed by the Manager's clock. It returns an
// error wrapping ErrInvalidGrant for a grant PubNub would refuse (TTL out of
// 1..43200 minutes, nothing granted, a pattern that does not compile, a
// meta value that is not a scalar), or ErrNoSecretKey.
func (m *Manager) Grant(_ context.Context, g Grant) (string, error) {
	if m.keys.SecretKey == "" {
		return "", ErrNoSecretKey
	}
	if err := g.check(); err != nil {
		return "", err
	}
	return issue(m.keys.SecretKey, m.keys.SubscribeKey, g, m.clock.Now())
}

// Revoke makes token useless from now on, wherever the Revocations store is
// shared. It returns an error wrapping ErrInvalidToken for a token this
// keyset did not issue, the store's error, or ErrNoSecretKey. Revoking an
// expired or revoked token succeeds.
func (m *Manager) Revoke(ctx context.Context, token string) error {
	if m.keys.SecretKey == "" {
		return ErrNoSecretKey
	}
	v, err := m.verified(token)
	if err != nil {
		return err
	}
	if !m.clock.Now().Before(v.expires) {
		return nil
	}
	if err := m.rev.Revoke(ctx, v.id, v.expires); err != nil {
		return fmt.Errorf("pam: revoke: %w", err)
	}
	m.cache.Remove(token)
	return nil
}

// Verify checks token: issued by this keyset (its signature verifies), not
// expired, not revoked. It returns the decoded token, which the caller owns,
// or an error wrapping ErrInvalidToken, ErrExpired, ErrRevoked, the store's
// error, or ErrNoSecretKey.
func (m *Manager) Verify(ctx context.Context, token string) (*Token, error) {
	v, err := m.check(ctx, token)
	if err != nil {
		return nil, err
	}
	t := *v.tok
	for _, r := range []*Resources{&t.Resources, &t.Patterns} {
		r.Channels, r.Groups, r.UUIDs = maps.Clone(r.Channels), maps.Clone(r.Groups), maps.Clone(r.UUIDs)
	}
	t.Meta = maps.Clone(t.Meta)
	t.Signature = append([]byte(nil), t.Signature...)
	return &t, nil
}

// verified returns token verified, from the cache or verified now (and then
// cached). Only tokens whose signature verified are cached.
func (m *Manager) verified(token string) (*verified, error) {
	if m.keys.SecretKey == "" {
		return nil, ErrNoSecretKey
	}
	if v, ok := m.cache.Get(token); ok {
		return v, nil
	}
	v, err := verify(m.keys.SecretKey, m.keys.SubscribeKey, token)
	if err != nil {
		return nil, err
	}
	m.cache.Add(token, v)
	return v, nil
}

// check returns token verified, unexpired and not revoked.
func (m *Manager) check(ctx context.Context, token string) (*verified, error) {
	v, err := m.verified(token)
	if err != nil {
		return nil, err
	}
	if now := m.clock.Now(); !now.Before(v.expires) {
		return nil, fmt.Errorf("%w at %s", ErrExpired, v.expires.UTC().Format(time.RFC3339))
	}
	revoked, err := m.rev.Revoked(ctx, v.id)
	if err != nil {
		return nil, fmt.Errorf("pam: revocations: %w", err)
	}
	if revoked {
		return nil, ErrRevoked
	}
	return v, nil
}
