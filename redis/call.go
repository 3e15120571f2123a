// call.go holds the one way the backend talks to Redis: do runs a round
// trip in its own goroutine and waits for it no longer than the caller's
// context allows (or Config.CallTimeout when the context has no deadline),
// whatever the go-redis client's own timeouts and retries are. It also
// holds what the backend learns from its calls: a call that fails for want
// of Redis, or that succeeds only after more than Config.StallThreshold,
// means Redis was away (down, partitioned or stalled), and the next write
// first sets the outage grace (recover). Health, Ping and the ObserveCall
// hook report it.

package presenceredis

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/presencekit/presence"
	"github.com/redis/go-redis/v9"
)

// Health is what a Backend has seen of Redis, for readiness checks, logs
// and metrics. Reading it costs a few atomic loads.
type Health struct {
	// Down is true from a call that failed for want of Redis, or a round
	// trip unanswered for longer than Config.StallThreshold, until the
	// backend next reached Redis and set the outage grace. Calls are still
	// tried while it is true.
	Down bool
	// Outages counts the times Down went from false to true.
	Outages uint64
	// Recoveries counts the outage graces set after an outage.
	Recoveries uint64
	// Failures counts calls that failed for want of Redis (refused,
	// reset, no reply within their deadline, a cluster without a master).
	Failures uint64
	// Stalls counts round trips still unanswered after
	// Config.StallThreshold (each one of a stall counts).
	Stalls uint64
	// Resyncs counts the times this instance found that Redis lost events
	// and sent resync markers (see IsResync).
	Resyncs uint64
}

// health are the counters behind Health.
type health struct {
	downGen    atomic.Uint64 // incremented by every failure or stall
	heldGen    atomic.Uint64 // the downGen the last outage grace covered
	outages    atomic.Uint64
	recoveries atomic.Uint64
	failures   atomic.Uint64
	stalls     atomic.Uint64
	resyncs    atomic.Uint64
}

// Health returns what the backend has seen of Redis so far.
func (b *Backend) Health() Health {
	return Health{
		Down:       b.isDown(),
		Outages:    b.health.outages.Load(),
		Recoveries: b.health.recoveries.Load(),
		Failures:   b.health.failures.Load(),
		Stalls:     b.health.stalls.Load(),
		Resyncs:    b.health.resyncs.Load(),
	}
}

// Resyncs returns how many times this instance found that Redis lost
// events (a restart without persistence, a failover that lost writes, or a
// reader further behind than StreamMaxLen) and sent resync markers. It is
// Health().Resyncs.
func (b *Backend) Resyncs() uint64 { return b.health.resyncs.Load() }

func (b *Backend) isDown() bool { return b.health.downGen.Load() != b.health.heldGen.Load() }

// markDown notes a failure or a stall.
func (b *Backend) markDown() {
	if !b.isDown() {
		b.health.outages.Add(1)
	}
	b.health.downGen.Add(1)
}

// Ping returns nil when Redis answers a PING (every master of a cluster)
// within ctx's deadline, or Config.CallTimeout when ctx has none; else an
// error wrapping presence.ErrUnavailable. It is a readiness check: it
// changes nothing.
func (b *Backend) Ping(ctx context.Context) error {
	if err := b.isClosed(); err != nil {
		return err
	}
	return b.do(ctx, "ping", 0, func(ctx context.Context) error {
		if c, ok := b.client.(*redis.ClusterClient); ok {
			return c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
				return m.Ping(ctx).Err()
			})
		}
		return b.client.Ping(ctx).Err()
	})
}

// do runs f, one round trip to Redis named op, in its own goroutine, and
// returns its error, or, when ctx ends first (or Config.CallTimeout passes
// and ctx has no deadline), an error wrapping presence.ErrUnavailable and
// the context's error. block is how long the command itself may wait in
// Redis (a blocking XREAD), added to both limits.
//
// f gets a context of its own that ends at the later of ctx's deadline and
// CallTimeout from now, or at Close: a caller that gives up early does not
// cut the command short, so a tight deadline on a healthy Redis is not
// taken for an outage, and what f writes is only read after it returned.
func (b *Backend) do(ctx context.Context, op string, block time.Duration, f func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return unavailableError(op, err)
	}
	limit := b.cfg.CallTimeout + block
	wait := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	done := make(chan error, 1)
	go func() { done <- b.roundTrip(ctx, op, block, limit, f) }()
	select {
	case err := <-done:
		return err
	case <-wait.Done():
		return unavailableError(op, wait.Err())
	}
}

// roundTrip runs f and classifies its outcome.
func (b *Backend) roundTrip(ctx context.Context, op string, block, limit time.Duration, f func(context.Context) error) error {
	deadline := time.Now().Add(limit)
	if d, ok := ctx.Deadline(); ok && d.After(deadline) {
		deadline = d
	}
	fctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	stop := context.AfterFunc(b.ctx, cancel)
	// A round trip still out after StallThreshold marks the backend down at
	// once, not when it ends: the writes this instance makes once Redis
	// answers again then find the outage and set the grace first.
	var stall *time.Timer
	if b.cfg.StallThreshold > 0 {
		stall = time.AfterFunc(b.cfg.StallThreshold+block, func() {
			b.health.stalls.Add(1)
			b.markDown()
		})
	}
	start := time.Now()
	err := f(fctx)
	took := time.Since(start)
	if stall != nil {
		stall.Stop()
	}
	stop()
	cancel()
	if b.cfg.ObserveCall != nil {
		b.cfg.ObserveCall(op, took, err)
	}
	switch {
	case err == nil:
		return nil
	case b.ctx.Err() != nil && errors.Is(err, context.Canceled):
		return presence.ErrClosed
	case unavailable(err):
		b.health.failures.Add(1)
		b.markDown()
		return fmt.Errorf("%w: %s: %w", presence.ErrUnavailable, op, err)
	}
	return fmt.Errorf("presence: redis: %s: %w", op, err)
}

// unavailableError is the error of a call whose context ended first.
func unavailableError(op string, err error) error {
	return fmt.Errorf("%w: %s: no reply in time: %w", presence.ErrUnavailable, op, err)
}

// recover ends an outage this instance saw, before its next write: every
// partition holds timeouts for OutageGrace from now, so the members whose
// heartbeats failed or were held up during the outage are not timed out en
// masse by the next sweep or heartbeat. Each instance sets the hold itself
// before its own first write after an outage, so no write of an instance
// that saw the outage judges a deadline before a hold is in place. A hold
// that was itself held up (sent while Redis was stalled: its time is
// stale) is set again. It returns the error of Redis still unavailable.
func (b *Backend) recover(ctx context.Context) error {
	if !b.isDown() {
		return nil
	}
	// one hold at a time: the calls that queue behind it find the outage
	// over when it is done
	select {
	case b.holding <- struct{}{}:
		defer func() { <-b.holding }()
	case <-ctx.Done():
		return unavailableError("hold", ctx.Err())
	}
	for range 3 {
		gen := b.health.downGen.Load()
		if gen == b.health.heldGen.Load() {
			return nil
		}
		if b.cfg.OutageGrace > 0 {
			now := b.clock.Now()
			until := ceilDiv(now.Add(b.cfg.OutageGrace).UnixNano(), 1000)
			calls := make([]call, len(b.bases))
			for p := range b.bases {
				calls[p] = call{scriptHold, p, append(b.common(now), until)}
			}
			out := make([]any, len(calls))
			if err := b.do(ctx, "hold", 0, func(ctx context.Context) error { return b.runScripts(ctx, calls, out) }); err != nil {
				return err
			}
		}
		if b.health.downGen.Load() != gen {
			continue // held up or failed meanwhile: hold again, from a fresh now
		}
		b.health.heldGen.Store(gen) // only recover, under holding, moves it
		b.health.recoveries.Add(1)
		return nil
	}
	return nil
}
