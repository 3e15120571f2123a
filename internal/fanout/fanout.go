// Package fanout delivers presence events to subscriptions with the rules
// every backend of the presence API shares: a bounded buffer per
// subscription, a publisher that never blocks, and a subscriber whose buffer
// is full closed as slow and counted. The in-memory engine and the Redis
// backend each hold Hubs of it; package presence names its Subscription as
// fanout.Sub[presence.Event], so the type is public while the Hub is not.
package fanout

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Options selects what a subscription receives: the events of Channels, of
// every channel of Groups (followed at the moment of each event), or with
// All every event. Buffer is its capacity; below 1 means the Hub's default.
type Options struct {
	Channels []string
	Groups   []string
	All      bool
	Buffer   int
}

// Ops is what a Hub needs to know of the events it carries: the channel an
// event is about, a deep copy of it for every receiver after the first (so
// no two receivers share a mutable slice), and the event marked with the
// group through which a receiver matched it.
type Ops[E any] struct {
	Channel func(*E) string
	Clone   func(E) E
	Mark    func(*E, string)
}

// Sub is a subscription: it receives events through a bounded buffer.
//
// Receive from Events until it is closed, then read Err: nil after Close,
// the Hub's slow error when its buffer was full as an event was produced
// (the events already buffered are still received first), the Hub's closed
// error when the Hub was closed. A Sub is safe for concurrent use.
type Sub[E any] struct {
	hub      *Hub[E]
	ch       chan E
	channels map[string]struct{}
	groups   []string // in the order given: the first that matches marks the event
	all      bool

	mu     sync.Mutex // guards closed, err and sends on ch
	closed bool
	err    error
}

// Events returns the channel the subscription's events arrive on. It is
// closed when the subscription ends.
func (s *Sub[E]) Events() <-chan E { return s.ch }

// Err returns why the subscription ended: nil while it is open or after
// Close, ErrSlowConsumer when it was closed as a slow consumer, ErrClosed
// when its backend was closed.
func (s *Sub[E]) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription. Events already buffered can still be
// received. Close is idempotent.
func (s *Sub[E]) Close() {
	s.hub.remove(s)
	s.end(nil)
}

// end closes the subscription with err unless it is already closed, and
// reports whether this call closed it.
func (s *Sub[E]) end(err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	s.err = err
	close(s.ch)
	return true
}

// deliver hands ev to the subscription without blocking. It reports false
// when the buffer was full and the subscription has been closed as slow,
// and counted: the count is taken with the close, so it is exact however a
// Close of the subscription races it, and whoever sees Events closed with
// the slow error sees the count.
func (s *Sub[E]) deliver(ev E) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return true
	}
	select {
	case s.ch <- ev:
		return true
	default:
		s.closed = true
		s.err = s.hub.errSlow
		s.hub.slow.Add(1)
		close(s.ch)
		return false
	}
}

// Hub fans events out to subscriptions. Publish must be called in the order
// the events of one channel happened; events of different channels may be
// published concurrently. Create one with New.
type Hub[E any] struct {
	mu        sync.RWMutex // guards the fields below; taken after the publisher's own locks, before Sub.mu
	subs      map[*Sub[E]]struct{}
	all       []*Sub[E]
	byChannel map[string][]*Sub[E]
	byGroup   map[string][]*Sub[E]
	closed    bool
	buffer    int

	errClosed, errSlow error
	ops                Ops[E]

	count   atomic.Int64  // open subscriptions, readable without the lock
	grouped atomic.Int64  // open subscriptions naming a group
	slow    atomic.Uint64 // subscriptions closed as slow consumers

	onSlow func(buffer int) // set before use by OnSlow; nil: nobody is told
}

// OnSlow sets f to be called with the buffer size of every subscription the
// Hub closes as slow, on the publisher's goroutine, after the Hub's lock is
// released (a publisher that holds locks of its own while it publishes
// must make f cheap and not wait on them). Call it before the Hub is
// used.
func (h *Hub[E]) OnSlow(f func(buffer int)) { h.onSlow = f }

// noteSlow tells OnSlow's function of s, closed as slow.
func (h *Hub[E]) noteSlow(s *Sub[E]) {
	if h.onSlow != nil {
		h.onSlow(cap(s.ch))
	}
}

// New returns a Hub whose subscriptions buffer defaultBuffer events unless
// Options.Buffer says otherwise (defaultBuffer < 1 means 1024). errClosed
// ends the subscriptions of a closed Hub, errSlow those closed as slow.
func New[E any](defaultBuffer int, ops Ops[E], errClosed, errSlow error) *Hub[E] {
	if defaultBuffer < 1 {
		defaultBuffer = 1024
	}
	return &Hub[E]{
		subs:      make(map[*Sub[E]]struct{}),
		byChannel: make(map[string][]*Sub[E]),
		byGroup:   make(map[string][]*Sub[E]),
		buffer:    defaultBuffer,
		errClosed: errClosed,
		errSlow:   errSlow,
		ops:       ops,
	}
}

// Subscribe registers a subscription. The names are not validated here (the
// backend validates them before calling); duplicates are harmless. After
// Close it returns the Hub's closed error.
func (h *Hub[E]) Subscribe(opts Options) (*Sub[E], error) {
	n := opts.Buffer
	if n < 1 {
		n = h.buffer
	}
	s := &Sub[E]{hub: h, ch: make(chan E, n), all: opts.All}
	if !opts.All {
		s.channels = make(map[string]struct{}, len(opts.Channels))
		for _, c := range opts.Channels {
			s.channels[c] = struct{}{}
		}
		for _, g := range opts.Groups {
			if !slices.Contains(s.groups, g) {
				s.groups = append(s.groups, g)
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, h.errClosed
	}
	h.subs[s] = struct{}{}
	if s.all {
		h.all = append(h.all, s)
	}
	for c := range s.channels {
		h.byChannel[c] = append(h.byChannel[c], s)
	}
	for _, g := range s.groups {
		h.byGroup[g] = append(h.byGroup[g], s)
	}
	if len(s.groups) > 0 {
		h.grouped.Add(1)
	}
	h.count.Add(1)
	return s, nil
}

// Active reports whether any subscription is open, so a publisher can skip
// building events nobody receives. It takes no lock.
func (h *Hub[E]) Active() bool { return h.count.Load() > 0 }

// Grouped reports whether any open subscription names a group, so a
// publisher can skip looking up the groups of a channel. It takes no lock.
func (h *Hub[E]) Grouped() bool { return h.grouped.Load() > 0 }

// Publish delivers ev to every subscription it matches, at most once each:
// all-subscriptions and subscriptions naming ev's channel receive it
// unmarked, the others marked with the first of their own groups that is in
// groups, the groups that contain the channel at this moment (nil when
// none). The first receiver gets ev itself, every other one a clone, so no
// two receivers share memory. Publish never blocks on a subscriber and does
// not keep groups.
func (h *Hub[E]) Publish(ev E, groups []string) {
	if !h.Active() {
		return
	}
	var slowBuf [4]*Sub[E]
	slow := slowBuf[:0]
	first := true
	next := func() E {
		if first {
			first = false
			return ev
		}
		return h.ops.Clone(ev)
	}
	channel := h.ops.Channel(&ev)
	h.mu.RLock()
	for _, s := range h.all {
		if !s.deliver(next()) {
			slow = append(slow, s)
		}
	}
	for _, s := range h.byChannel[channel] {
		if !s.deliver(next()) {
			slow = append(slow, s)
		}
	}
	if len(groups) > 0 && len(h.byGroup) > 0 {
		var seenBuf [8]*Sub[E]
		seen := seenBuf[:0]
		for _, g := range groups {
			for _, s := range h.byGroup[g] {
				if _, named := s.channels[channel]; named || s.all || slices.Contains(seen, s) {
					continue
				}
				seen = append(seen, s)
				mark := ""
				for _, sg := range s.groups {
					if slices.Contains(groups, sg) {
						mark = sg
						break
					}
				}
				marked := next()
				h.ops.Mark(&marked, mark)
				if !s.deliver(marked) {
					slow = append(slow, s)
				}
			}
		}
	}
	h.mu.RUnlock()
	for _, s := range slow {
		h.remove(s)
		h.noteSlow(s)
	}
}

// remove unregisters s and reports whether it was registered.
func (h *Hub[E]) remove(s *Sub[E]) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; !ok {
		return false
	}
	delete(h.subs, s)
	if s.all {
		h.all = removeSub(h.all, s)
	}
	for c := range s.channels {
		if l := removeSub(h.byChannel[c], s); len(l) > 0 {
			h.byChannel[c] = l
		} else {
			delete(h.byChannel, c)
		}
	}
	for _, g := range s.groups {
		if l := removeSub(h.byGroup[g], s); len(l) > 0 {
			h.byGroup[g] = l
		} else {
			delete(h.byGroup, g)
		}
	}
	if len(s.groups) > 0 {
		h.grouped.Add(-1)
	}
	h.count.Add(-1)
	return true
}

// Close ends every subscription with the closed error; later Subscribe
// calls return it. It is idempotent.
func (h *Hub[E]) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	subs := h.subs
	h.subs, h.all = map[*Sub[E]]struct{}{}, nil
	h.byChannel, h.byGroup = map[string][]*Sub[E]{}, map[string][]*Sub[E]{}
	h.count.Store(0)
	h.grouped.Store(0)
	h.mu.Unlock()
	for s := range subs {
		s.end(h.errClosed)
	}
}

// Subscriptions returns the number of open subscriptions.
func (h *Hub[E]) Subscriptions() int { return int(h.count.Load()) }

// SlowClosed returns how many subscriptions were closed as slow consumers.
func (h *Hub[E]) SlowClosed() uint64 { return h.slow.Load() }

func removeSub[E any](l []*Sub[E], s *Sub[E]) []*Sub[E] {
	for i, x := range l {
		if x == s {
			l[i] = l[len(l)-1]
			l[len(l)-1] = *new(*Sub[E])
			return l[:len(l)-1]
		}
	}
	return l
}
