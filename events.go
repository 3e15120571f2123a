// events.go holds presence events and their delivery: the Event type, the
// Hub that fans events out to subscriptions, and Subscription with its bounded
// buffer and slow-consumer rule. Delivery never blocks the producer: a
// subscription whose buffer is full is closed with ErrSlowConsumer.

package presence

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presencekit/presence/internal/rules"
)

// Action is the kind of a presence event.
type Action uint8

// The presence actions, as PubNub names them in String.
const (
	Join        Action = iota + 1 // a uuid went from absent to present on a channel
	Leave                         // a present uuid left explicitly
	Timeout                       // a present uuid's deadline passed
	StateChange                   // a present uuid's state changed
	Interval                      // periodic occupancy of a channel in interval mode
)

// String returns PubNub's name of the action: "join", "leave", "timeout",
// "state-change" or "interval".
func (a Action) String() string {
	switch a {
	case Join:
		return "join"
	case Leave:
		return "leave"
	case Timeout:
		return "timeout"
	case StateChange:
		return "state-change"
	case Interval:
		return "interval"
	}
	return "Action(" + itoa(int(a)) + ")"
}

// Delta is one membership change carried by an interval event: Action is
// Join, Leave or Timeout.
type Delta struct {
	Action Action
	UUID   string
}

// Event is one presence event.
//
// Occupancy is the channel's occupancy after the change. State is the
// member's state for a join (nil when it has none) and the new state for a
// state-change ("{}" when the state was cleared); it is a copy the receiver
// owns. For an interval event, Deltas lists, in the order they happened, the
// joins, leaves and timeouts since the previous interval event of the channel
// (only with Config.Deltas), and HereNowRefresh replaces them when their JSON
// encoding would exceed 30,000 bytes.
//
// Time comes from the engine's clock; Timetoken is PubNub's 17-digit time
// (100 ns units since the Unix epoch), strictly increasing within one engine.
// Group is set on delivery: the group through which the receiving
// subscription matched the channel, or "" when it named the channel itself or
// subscribed to all events.
type Event struct {
	Action         Action
	Channel        string
	Group          string
	UUID           string
	Occupancy      int
	State          json.RawMessage
	Deltas         []Delta
	HereNowRefresh bool
	Time           time.Time
	Timetoken      int64
}

// Joined returns the uuids of the interval event's Join deltas, in order.
func (ev Event) Joined() []string { return ev.deltas(Join) }

// Left returns the uuids of the interval event's Leave deltas, in order.
func (ev Event) Left() []string { return ev.deltas(Leave) }

// TimedOut returns the uuids of the interval event's Timeout deltas, in order.
func (ev Event) TimedOut() []string { return ev.deltas(Timeout) }

func (ev Event) deltas(a Action) []string {
	var out []string
	for _, d := range ev.Deltas {
		if d.Action == a {
			out = append(out, d.UUID)
		}
	}
	return out
}

// SubscribeOptions selects the events a subscription receives: those of the
// named channels, those of every channel of the named groups (followed at
// the moment of each event), or with All every event of the engine.
// Buffer is the subscription's capacity in events; zero means
// Config.SubscriptionBuffer.
type SubscribeOptions struct {
	Channels []string
	Groups   []string
	All      bool
	Buffer   int
}

// Subscription receives presence events through a bounded buffer.
//
// Receive from Events until it is closed, then read Err: nil after Close,
// ErrSlowConsumer when the buffer was full as an event was produced (the
// events already buffered are still received first), ErrClosed when the
// engine was closed. A Subscription is safe for concurrent use.
type Subscription struct {
	hub      *Hub
	ch       chan Event
	channels map[string]struct{}
	groups   []string // in the order given: the first that matches marks the event
	all      bool

	mu     sync.Mutex // guards closed, err and sends on ch
	closed bool
	err    error
}

// Events returns the channel the subscription's events arrive on. It is
// closed when the subscription ends.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Err returns why the subscription ended: nil while it is open or after
// Close, ErrSlowConsumer or ErrClosed otherwise.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription. Events already buffered can still be
// received. Close is idempotent.
func (s *Subscription) Close() {
	s.hub.remove(s)
	s.end(nil)
}

// end closes the subscription with err unless it is already closed, and
// reports whether this call closed it.
func (s *Subscription) end(err error) bool {
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
// when the buffer was full and the subscription has been closed as slow.
func (s *Subscription) deliver(ev *Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return true
	}
	select {
	case s.ch <- *ev:
		return true
	default:
		s.closed = true
		s.err = ErrSlowConsumer
		close(s.ch)
		return false
	}
}

// Hub fans events out to subscriptions with the engine's delivery rules: a
// bounded buffer per subscription, never blocking the publisher, and slow
// consumers closed with ErrSlowConsumer and counted. Engine uses one; it is
// exported so that other backends of the same API (a distributed one, a test
// double) deliver events exactly as the engine does.
//
// Publish must be called in the order the events of one channel happened;
// events of different channels may be published concurrently. The zero Hub
// is not usable: create one with NewHub.
type Hub struct {
	mu        sync.RWMutex // guards the fields below; taken after the publisher's own locks, before Subscription.mu
	subs      map[*Subscription]struct{}
	all       []*Subscription
	byChannel map[string][]*Subscription
	byGroup   map[string][]*Subscription
	closed    bool
	buffer    int

	count   atomic.Int64  // open subscriptions, readable without the lock
	grouped atomic.Int64  // open subscriptions naming a group
	slow    atomic.Uint64 // subscriptions closed as slow consumers
}

// NewHub returns a Hub whose subscriptions buffer defaultBuffer events
// unless SubscribeOptions.Buffer says otherwise (defaultBuffer < 1 means
// 1024).
func NewHub(defaultBuffer int) *Hub {
	if defaultBuffer < 1 {
		defaultBuffer = 1024
	}
	return &Hub{
		subs:      make(map[*Subscription]struct{}),
		byChannel: make(map[string][]*Subscription),
		byGroup:   make(map[string][]*Subscription),
		buffer:    defaultBuffer,
	}
}

// Subscribe registers a subscription. The names are not validated here (the
// engine validates them before calling); duplicates are harmless. After Close
// it returns ErrClosed.
func (h *Hub) Subscribe(opts SubscribeOptions) (*Subscription, error) {
	n := opts.Buffer
	if n < 1 {
		n = h.buffer
	}
	s := &Subscription{hub: h, ch: make(chan Event, n), all: opts.All}
	if !opts.All {
		s.channels = make(map[string]struct{}, len(opts.Channels))
		for _, c := range opts.Channels {
			s.channels[c] = struct{}{}
		}
		for _, g := range opts.Groups {
			if !rules.Contains(s.groups, g) {
				s.groups = append(s.groups, g)
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
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
func (h *Hub) Active() bool { return h.count.Load() > 0 }

// Publish delivers ev to every subscription it matches, at most once each:
// all-subscriptions and subscriptions naming ev.Channel receive it with
// Group "", the others with the first of their own groups that is in groups,
// the groups that contain ev.Channel at this moment (nil when none). Publish
// never blocks on a subscriber and does not keep groups.
func (h *Hub) Publish(ev Event, groups []string) {
	if !h.Active() {
		return
	}
	var slowBuf [4]*Subscription
	slow := slowBuf[:0]
	h.mu.RLock()
	ev.Group = ""
	for _, s := range h.all {
		if !s.deliver(&ev) {
			slow = append(slow, s)
		}
	}
	for _, s := range h.byChannel[ev.Channel] {
		if !s.deliver(&ev) {
			slow = append(slow, s)
		}
	}
	if len(groups) > 0 && len(h.byGroup) > 0 {
		var seenBuf [8]*Subscription
		seen := seenBuf[:0]
		for _, g := range groups {
			for _, s := range h.byGroup[g] {
				if _, named := s.channels[ev.Channel]; named || containsSub(seen, s) {
					continue
				}
				seen = append(seen, s)
				for _, sg := range s.groups {
					if rules.Contains(groups, sg) {
						ev.Group = sg
						break
					}
				}
				if !s.deliver(&ev) {
					slow = append(slow, s)
				}
			}
		}
	}
	h.mu.RUnlock()
	for _, s := range slow {
		if h.remove(s) {
			h.slow.Add(1)
		}
	}
}

// remove unregisters s and reports whether it was registered.
func (h *Hub) remove(s *Subscription) bool {
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

// Close ends every subscription with ErrClosed; later Subscribe calls return
// ErrClosed. It is idempotent.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	subs := h.subs
	h.subs, h.all = map[*Subscription]struct{}{}, nil
	h.byChannel, h.byGroup = map[string][]*Subscription{}, map[string][]*Subscription{}
	h.count.Store(0)
	h.grouped.Store(0)
	h.mu.Unlock()
	for s := range subs {
		s.end(ErrClosed)
	}
}

// Subscriptions returns the number of open subscriptions.
func (h *Hub) Subscriptions() int { return int(h.count.Load()) }

// SlowClosed returns how many subscriptions were closed as slow consumers.
func (h *Hub) SlowClosed() uint64 { return h.slow.Load() }

func removeSub(l []*Subscription, s *Subscription) []*Subscription {
	for i, x := range l {
		if x == s {
			l[i] = l[len(l)-1]
			l[len(l)-1] = nil
			return l[:len(l)-1]
		}
	}
	return l
}

func containsSub(l []*Subscription, s *Subscription) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// Grouped reports whether any open subscription names a group, so a
// publisher can skip looking up the groups of a channel. It takes no lock.
func (h *Hub) Grouped() bool { return h.grouped.Load() > 0 }
