// log.go holds what the engine tells Config.Logger: a subscription closed
// as a slow consumer, and a sweep that ran longer than SweepInterval. The
// engine never logs while it holds a lock (a Handler is the caller's code):
// a slow close, noticed while an event is published under a shard lock, is
// queued and logged by the call that produced the event once it has
// released its locks. Without a Logger none of this costs anything.

package presence

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// logQueue holds the slow closes not yet logged.
type logQueue struct {
	pending atomic.Int32 // len(slow), readable without mu
	mu      sync.Mutex
	slow    []int // buffer sizes
}

// noteSlow queues a slow close of a subscription with the given buffer. It
// is the hub's OnSlow, called while the publisher may hold shard locks.
func (e *Engine) noteSlow(buffer int) {
	q := &e.logq
	q.mu.Lock()
	q.slow = append(q.slow, buffer)
	q.pending.Store(int32(len(q.slow)))
	q.mu.Unlock()
}

// flushLog logs the queued slow closes. Callers hold no lock.
func (e *Engine) flushLog() {
	if e.log == nil || e.logq.pending.Load() == 0 {
		return
	}
	q := &e.logq
	q.mu.Lock()
	slow := q.slow
	q.slow = nil
	q.pending.Store(0)
	q.mu.Unlock()
	for _, buffer := range slow {
		e.log.Warn("presence: subscription closed as a slow consumer: its buffer was full when an event was produced",
			slog.Int("buffer", buffer))
	}
}

// logSweep logs a sweep at t that ran longer than the sweeper's interval
// (DefaultSweepInterval when the engine has no sweeper), with what it did.
// Callers hold no lock.
func (e *Engine) logSweep(t nowTick, shards int, expired, ticks int64) {
	limit := e.cfg.SweepInterval
	if limit <= 0 {
		limit = DefaultSweepInterval
	}
	if took := time.Duration(e.now().ns - t.ns); took > limit {
		e.log.Warn("presence: sweep ran long",
			slog.Duration("duration", took), slog.Duration("limit", limit),
			slog.Int("shards", shards), slog.Int64("expired", expired), slog.Int64("intervals", ticks))
	}
	e.flushLog()
}
