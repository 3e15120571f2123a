// revocations.go holds the Revocations store, where revoked tokens are kept
// until they would have expired anyway, and MemoryRevocations, the store of
// one process. Servers that share a backend share their store too (for
// example one in Redis), so that a revoke made on one is seen by all.

package pam

import (
	"context"
	"sync"
	"time"

	"github.com/benbjohnson/clock"
)

// Revocations stores revoked tokens by id. A Manager asks it about a token on
// every request that uses one, so a revoke takes effect at once, and tells
// it each revoke with the token's expiry, after which the store may forget
// the id (the token is refused as expired from then on).
//
// Implementations must be safe for concurrent use. A network store wraps
// its failures with presence.ErrUnavailable, so that the request is answered
// 503 rather than allowed.
type Revocations interface {
	// Revoke records id as revoked until until.
	Revoke(ctx context.Context, id string, until time.Time) error
	// Revoked reports whether id was revoked (and until has not passed).
	Revoked(ctx context.Context, id string) (bool, error)
}

// MemoryRevocations is the Revocations of one process: a map from id to
// expiry, pruned of expired ids as revokes are added, so it holds about the
// tokens revoked within one TTL. It is safe for concurrent use; the zero
// value is not: use NewMemoryRevocations.
type MemoryRevocations struct {
	clock clock.Clock

	mu    sync.RWMutex
	until map[string]time.Time
	prune int // size at which Revoke next prunes
}

// NewMemoryRevocations returns an empty store timed by clk (nil: the real
// clock).
func NewMemoryRevocations(clk clock.Clock) *MemoryRevocations {
	if clk == nil {
		clk = clock.New()
	}
	return &MemoryRevocations{clock: clk, until: make(map[string]time.Time), prune: 64}
}

// Revoke records id until until. Amortized O(1): when the map has doubled
// since the last pruning, expired ids are dropped.
func (m *MemoryRevocations) Revoke(_ context.Context, id string, until time.Time) error {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if until.After(m.until[id]) {
		m.until[id] = until
	}
	if len(m.until) >= m.prune {
		for k, u := range m.until {
			if !now.Before(u) {
				delete(m.until, k)
			}
		}
		m.prune = max(64, 2*len(m.until))
	}
	return nil
}

// Revoked reports whether id is revoked and its expiry has not passed. O(1).
func (m *MemoryRevocations) Revoked(_ context.Context, id string) (bool, error) {
	m.mu.RLock()
	u, ok := m.until[id]
	m.mu.RUnlock()
	return ok && m.clock.Now().Before(u), nil
}

// Len returns the number of ids held, expired ones not yet pruned included.
func (m *MemoryRevocations) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.until)
}
