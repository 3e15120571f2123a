package presencetest

import (
	"sync"
	"time"

	"github.com/benbjohnson/clock"
)

// ManualClock is a clock.Clock whose time moves only when Set or Add is
// called, without the real sleep clock.Mock makes on every change: for
// property tests and fuzzing, which change the time thousands of times. Only
// Now, Since and Until are implemented; a backend using it must be
// configured with a negative SweepInterval (no timers, no tickers).
type ManualClock struct {
	clock.Clock // nil: the timer methods are not available

	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a ManualClock at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{now: t} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Since returns the time elapsed since t.
func (c *ManualClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Until returns the duration until t.
func (c *ManualClock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// Set sets the clock's time.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Add moves the clock's time by d.
func (c *ManualClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
