// Package watch follows a presence backend for the observers outside the
// core (the metrics collector, the dashboard): one subscription to all of
// its events, renewed whenever it ends for any reason but the backend's or
// the watcher's own Close, and the occupancy of every occupied channel,
// rebuilt from a here_now each time the subscription is (re)made and kept
// current from the events.
//
// Events carry the channel's occupancy after the change, so the watcher
// keeps an absolute value per channel rather than adding deltas: events that
// arrive after the snapshot they are already part of set the value it
// already has, and the last event of a channel wins. A channel in interval
// mode is updated at its interval events.
package watch

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presencekit/presence"
)

// Options configure a Watcher.
type Options struct {
	// Buffer is the subscription's buffer in events; zero means the
	// backend's default.
	Buffer int
	// Occupancy keeps the occupancy of every occupied channel (one map entry
	// each) for Top and Occupancy. Zero (false) keeps none.
	Occupancy bool
	// Retry is the wait after a failed Subscribe or here_now before the next
	// try. Zero means 1 s.
	Retry time.Duration
	// OnEvent, when set, is called with each event, on the watcher's
	// goroutine, in the order received. It must not block for long: the
	// subscription's buffer fills meanwhile.
	OnEvent func(presence.Event)
	// OnRenew, when set, is called on the watcher's goroutine each time the
	// subscription ended with err (presence.ErrSlowConsumer, or a backend
	// error) and is about to be renewed: the events of the gap are lost.
	OnRenew func(err error)
	// OnResync, when set, is called on the watcher's goroutine with each
	// resync marker's channel ("" for every channel): the backend lost
	// events, and the watcher reloads that channel's occupancy (or takes a
	// new snapshot). Markers are not passed to OnEvent.
	OnResync func(channel string)
}

// IsResync reports whether ev is a backend's resync marker rather than a
// presence event: an Interval event with HereNowRefresh and a negative
// Occupancy, which the Redis backend sends when Redis lost events (its
// presenceredis.IsResync). Channel names the channel to reload, or is ""
// for every channel.
func IsResync(ev presence.Event) bool {
	return ev.Action == presence.Interval && ev.HereNowRefresh && ev.Occupancy < 0
}

// Channel is a channel and its occupancy.
type Channel struct {
	Name      string
	Occupancy int
}

// Watcher follows one backend; its methods are safe for concurrent use.
type Watcher struct {
	b    presence.Backend
	opts Options

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	occ    map[string]int
	synced bool // occ holds a snapshot and the events since
	sub    *presence.Subscription

	renewals atomic.Uint64
}

// Start follows b until Close or b's own Close. It makes the first
// subscription before it returns, so the events of every call that returns
// after Start are seen, unless that Subscribe failed (the watcher's
// goroutine then retries).
func Start(b presence.Backend, opts Options) *Watcher {
	if opts.Retry <= 0 {
		opts.Retry = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{b: b, opts: opts, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	if opts.Occupancy {
		w.occ = make(map[string]int)
	}
	sub, err := w.subscribe()
	go w.run(sub, err)
	return w
}

func (w *Watcher) subscribe() (*presence.Subscription, error) {
	return w.b.Subscribe(w.ctx, presence.SubscribeOptions{All: true, Buffer: w.opts.Buffer})
}

// Close stops following and waits for the watcher's goroutine. It does not
// close the backend. It is idempotent.
func (w *Watcher) Close() {
	w.cancel()
	w.mu.Lock()
	if w.sub != nil {
		w.sub.Close()
	}
	w.mu.Unlock()
	<-w.done
}

// Done is closed when the watcher has stopped: after Close, or once the
// backend was closed.
func (w *Watcher) Done() <-chan struct{} { return w.done }

// Renewals returns how many times the subscription ended and was renewed.
func (w *Watcher) Renewals() uint64 { return w.renewals.Load() }

// Synced reports whether the occupancies are current: a snapshot was taken
// on the current subscription. It is false before the first snapshot and
// while a subscription is being renewed.
func (w *Watcher) Synced() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.synced
}

// Occupancy returns the channel's occupancy as last seen (0 when it is not
// occupied or the watcher keeps no occupancy).
func (w *Watcher) Occupancy(channel string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.occ[channel]
}

// Top returns the n busiest channels, by occupancy and then by name, in
// O(channels · log n) time.
func (w *Watcher) Top(n int) []Channel {
	if n <= 0 {
		return nil
	}
	top := make([]Channel, 0, n+1)
	w.mu.Lock()
	for name, occ := range w.occ {
		c := Channel{name, occ}
		if len(top) == n && !busier(c, top[n-1]) {
			continue
		}
		i, _ := slices.BinarySearchFunc(top, c, func(a, b Channel) int {
			if busier(a, b) {
				return -1
			}
			return 1
		})
		top = slices.Insert(top, i, c)
		if len(top) > n {
			top = top[:n]
		}
	}
	w.mu.Unlock()
	return top
}

// busier orders channels by occupancy, highest first, then by name.
func busier(a, b Channel) bool {
	if c := cmp.Compare(a.Occupancy, b.Occupancy); c != 0 {
		return c > 0
	}
	return a.Name < b.Name
}

// run follows the backend, starting with the first Subscribe's result,
// until Close or the backend's Close.
func (w *Watcher) run(sub *presence.Subscription, err error) {
	defer close(w.done)
	for {
		switch {
		case err == nil:
			if !w.follow(sub) {
				return
			}
		case errors.Is(err, presence.ErrClosed):
			return
		default:
			w.wait()
		}
		if w.ctx.Err() != nil {
			return
		}
		sub, err = w.subscribe()
	}
}

// follow takes a snapshot and receives sub's events until it ends. It
// reports whether to subscribe again, after counting the renewal; it closes
// sub in every case.
func (w *Watcher) follow(sub *presence.Subscription) bool {
	began := time.Now()
	w.mu.Lock()
	w.sub = sub
	w.mu.Unlock()
	if w.ctx.Err() != nil { // Close ran before w.sub was set
		sub.Close()
		return false
	}
	if w.opts.Occupancy && !w.snapshot() {
		sub.Close()
		w.wait()
		return true
	}
	for ev := range sub.Events() {
		w.apply(ev)
	}
	err := sub.Err()
	w.mu.Lock()
	w.sub, w.synced = nil, false
	w.mu.Unlock()
	if w.ctx.Err() != nil || errors.Is(err, presence.ErrClosed) {
		return false
	}
	w.renewals.Add(1)
	if w.opts.OnRenew != nil {
		w.opts.OnRenew(err)
	}
	if time.Since(began) < w.opts.Retry {
		w.wait() // no tight loop of renewals when every one is slow at once
	}
	return true
}

// wait sleeps for the retry delay or until Close.
func (w *Watcher) wait() {
	t := time.NewTimer(w.opts.Retry)
	defer t.Stop()
	select {
	case <-w.ctx.Done():
	case <-t.C:
	}
}

// snapshot replaces the occupancies with a global here_now's. It reports
// whether it got one.
func (w *Watcher) snapshot() bool {
	r, err := w.b.HereNow(w.ctx, presence.HereNowQuery{OccupancyOnly: true})
	if err != nil {
		return false
	}
	occ := make(map[string]int, len(r.Channels))
	for _, c := range r.Channels {
		if c.Occupancy > 0 {
			occ[c.Channel] = c.Occupancy
		}
	}
	w.mu.Lock()
	w.occ, w.synced = occ, true
	w.mu.Unlock()
	return true
}

func (w *Watcher) apply(ev presence.Event) {
	if IsResync(ev) {
		w.resync(ev.Channel)
		if w.opts.OnResync != nil {
			w.opts.OnResync(ev.Channel)
		}
		return
	}
	if w.opts.Occupancy {
		w.mu.Lock()
		if ev.Occupancy > 0 {
			w.occ[ev.Channel] = ev.Occupancy
		} else {
			delete(w.occ, ev.Channel)
		}
		w.mu.Unlock()
	}
	if w.opts.OnEvent != nil {
		w.opts.OnEvent(ev)
	}
}

// resync reloads channel's occupancy after a resync marker, or every
// channel's when it is "". When the here_now fails it ends the
// subscription, so that the renewal takes a new snapshot.
func (w *Watcher) resync(channel string) {
	if !w.opts.Occupancy {
		return
	}
	if channel == "" {
		if !w.snapshot() {
			w.endSub()
		}
		return
	}
	r, err := w.b.HereNow(w.ctx, presence.HereNowQuery{Channels: []string{channel}, OccupancyOnly: true})
	if err != nil {
		w.endSub()
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := r.Channel(channel); ok && c.Occupancy > 0 {
		w.occ[channel] = c.Occupancy
	} else {
		delete(w.occ, channel)
	}
}

// endSub ends the current subscription and marks the occupancies stale.
func (w *Watcher) endSub() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.synced = false
	if w.sub != nil {
		w.sub.Close()
	}
}
