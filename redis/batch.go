// batch.go holds the heartbeat batcher: concurrent Heartbeat and
// Heartbeats calls share round trips. A call validates its requests and
// expands its groups itself (so bad input is its own error and changes
// nothing), then queues them and waits, as do waits, no longer than its
// context (or CallTimeout) allows. batchers goroutines each take what is
// queued, up to maxBatchBeats channel heartbeats, and run it as one script
// per partition at the clock's time then: one round trip and one script for
// many callers, as Heartbeats does for one. Every caller of a batch gets
// the batch's outcome. A call that sets a state runs in a batch of its own,
// so a batch replayed by go-redis's retries repeats state changes only as
// the same call repeated alone would (a heartbeat without state is
// idempotent). Nothing else changes: each batch is the same atomic script
// that appends its own events, so each join, refresh and state change
// happens once, exactly as when the calls run one by one in some order.

package presenceredis

import (
	"context"
	"sync"
	"time"

	"github.com/presencekit/presence"
)

const (
	// batchers is the number of batches in flight at once: one is built and
	// sent while the other is in Redis.
	batchers = 1
	// maxBatchBeats bounds the channel heartbeats one batch takes from the
	// queue (one call's may be more: it is never split), so a script holds
	// Redis for tens of microseconds, not milliseconds.
	maxBatchBeats = 256
)

// beat is one validated heartbeat: its uuid, timeout (clamped), channels
// after group expansion, and the state to set on each (nil: none).
type beat struct {
	uuid     string
	timeout  time.Duration
	channels []string
	states   []stateArg
}

// beatCall is one Heartbeat or Heartbeats call waiting for its batch.
// Calls are pooled with their buffers and timer; one whose caller stopped
// waiting is left to the garbage collector, as its batch may still use it.
type beatCall struct {
	ctx   context.Context
	beats []beat
	n     int  // channel heartbeats
	alone bool // sets a state: runs in a batch of its own
	done  chan error
	timer *time.Timer // CallTimeout, when ctx has no deadline
}

var beatCallPool = sync.Pool{New: func() any { return &beatCall{done: make(chan error, 1)} }}

// beatQueue is the calls waiting for a batcher.
type beatQueue struct {
	mu      sync.Mutex
	calls   []*beatCall
	stopped bool          // the batchers are gone: Close
	wake    chan struct{} // capacity 1: something was queued
}

// heartbeats validates reqs, expands their groups, queues them as one call
// and waits for its batch's outcome.
func (b *Backend) heartbeats(ctx context.Context, reqs []presence.HeartbeatRequest) error {
	c := beatCallPool.Get().(*beatCall)
	c.beats, c.n, c.alone = c.beats[:0], 0, false
	for _, req := range reqs {
		bt, err := b.prepareBeat(ctx, req)
		if err != nil {
			c.release()
			return err
		}
		if len(bt.channels) > 0 {
			c.beats = append(c.beats, bt)
			c.n += len(bt.channels)
			c.alone = c.alone || bt.states != nil
		}
	}
	if len(c.beats) == 0 {
		c.release()
		return nil
	}
	if err := ctx.Err(); err != nil {
		c.release()
		return unavailableError("heartbeat", err)
	}
	c.ctx = ctx
	q := &b.beatQ
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		c.release()
		return presence.ErrClosed
	}
	q.calls = append(q.calls, c)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	var timeout <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		if c.timer == nil {
			c.timer = time.NewTimer(b.cfg.CallTimeout)
		} else {
			c.timer.Reset(b.cfg.CallTimeout)
		}
		timeout = c.timer.C
	}
	select {
	case err := <-c.done:
		if timeout != nil {
			c.timer.Stop()
		}
		c.release() // its batch is done with it
		return err
	case <-ctx.Done():
		return unavailableError("heartbeat", ctx.Err())
	case <-timeout:
		return unavailableError("heartbeat", context.DeadlineExceeded)
	}
}

// release returns c, whose batch (if any) is done with it, to the pool.
func (c *beatCall) release() {
	clear(c.beats)
	c.beats, c.ctx = c.beats[:0], nil
	beatCallPool.Put(c)
}

// batcher runs batches until Close, then fails what is still queued with
// presence.ErrClosed.
func (b *Backend) batcher() {
	q := &b.beatQ
	var batch []*beatCall
	for {
		select {
		case <-q.wake:
		case <-b.ctx.Done():
			q.mu.Lock()
			q.stopped = true
			rest := q.calls
			q.calls = nil
			q.mu.Unlock()
			for _, c := range rest {
				c.done <- presence.ErrClosed
			}
			return
		}
		for {
			batch = q.take(batch[:0])
			if len(batch) == 0 {
				break
			}
			err := b.runBatch(batch)
			for i, c := range batch {
				c.done <- err
				batch[i] = nil
			}
		}
	}
}

// take moves the next batch from the queue to batch: the first call, and
// the calls after it while they fit in maxBatchBeats; a call that sets a
// state only alone. When calls remain, it wakes another batcher.
func (q *beatQueue) take(batch []*beatCall) []*beatCall {
	q.mu.Lock()
	n, i := 0, 0
	for ; i < len(q.calls); i++ {
		c := q.calls[i]
		if i > 0 && (c.alone || batch[0].alone || n+c.n > maxBatchBeats) {
			break
		}
		batch = append(batch, c)
		n += c.n
	}
	rest := copy(q.calls, q.calls[i:])
	clear(q.calls[rest:])
	q.calls = q.calls[:rest]
	q.mu.Unlock()
	if rest > 0 {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return batch
}

// runBatch applies the heartbeats of batch, in order, at the clock's time
// now: one script per partition touched, one round trip. A call whose
// caller stopped waiting before the batch began is left out (it returned
// an error: it may or may not be applied). The round trip may take as long
// as the latest caller's deadline, and at least CallTimeout.
func (b *Backend) runBatch(batch []*beatCall) error {
	now := b.clock.Now()
	args := make([][]any, len(b.bases)) // per partition: every heartbeat's part
	var order []int                     // partitions in order of first use
	var latest time.Time
	for _, c := range batch {
		if c.ctx.Err() != nil {
			continue
		}
		if d, ok := c.ctx.Deadline(); ok && d.After(latest) {
			latest = d
		}
		for _, bt := range c.beats {
			b.beatArgs(bt, now, args, &order)
		}
	}
	if len(order) == 0 {
		return nil
	}
	calls := make([]call, len(order))
	for i, p := range order {
		calls[i] = call{scriptHeartbeat, p, append(b.common(now), args[p]...)}
	}
	// ends at Close too, so Close does not wait for a round trip stuck on a
	// stalled connection (it goes on in the background, as any call's)
	deadline := time.Now().Add(b.cfg.CallTimeout)
	if latest.After(deadline) {
		deadline = latest
	}
	ctx, cancel := context.WithDeadline(b.ctx, deadline)
	defer cancel()
	_, err := b.run(ctx, "heartbeat", calls)
	if err != nil && b.ctx.Err() != nil {
		return presence.ErrClosed
	}
	return err
}

// beatArgs appends bt's script arguments to args, by partition: uuid,
// deadline (µs, rounded down), its nanoseconds within the µs, the number
// of channels, then channel, state flag, state for each.
func (b *Backend) beatArgs(bt beat, now time.Time, args [][]any, order *[]int) {
	deadline, dr := splitNS(now.UnixNano() + int64(bt.timeout))
	parts, idx := b.byPartition(bt.channels)
	for j, p := range parts {
		if args[p] == nil {
			*order = append(*order, p)
		}
		args[p] = append(args[p], bt.uuid, deadline, dr, len(idx[j]))
		for _, i := range idx[j] {
			has, val := "0", ""
			if bt.states != nil && bt.states[i].Set {
				has, val = "1", bt.states[i].Val
			}
			args[p] = append(args[p], bt.channels[i], has, val)
		}
	}
}
