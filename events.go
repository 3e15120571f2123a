// events.go holds presence events and their delivery: the Event type, the
// Hub that fans events out to subscriptions, and Subscription with its bounded
// buffer and slow-consumer rule. Delivery never blocks the producer: a
// subscription whose buffer is full is closed with ErrSlowConsumer.

package presence

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/presencekit/presence/internal/fanout"
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
// Occupancy is the channel's occupancy after the change, as the stream
// tells it: a member past its deadline counts until its timeout event, so
// replaying a channel's events gives every occupancy they carry. State is
// the member's state for a join (nil when it has none) and the new state
// for a state-change ("{}" when the state was cleared). State and Deltas
// belong to the receiver: every subscription gets its own copy. For an
// interval event, Deltas lists, in the order they happened, the joins,
// leaves and timeouts since the previous interval event of the channel
// (only with Config.Deltas), and HereNowRefresh replaces them when their
// JSON encoding would exceed 30,000 bytes.
//
// Time comes from the engine's clock; Timetoken is PubNub's 17-digit time
// (100 ns units since the Unix epoch), strictly increasing within one engine.
// Group is set on delivery: the group through which the receiving
// subscription matched the channel, or "" when it named the channel itself or
// subscribed to all events.
//
// Deadline is set on Timeout events only: the deadline that passed, so that
// Time minus Deadline is how late the timeout came (at most about
// Config.SweepInterval with the sweeper running). It is zero on other events,
// and interval events carry no deadlines for their Timeout deltas.
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
	Deadline       time.Time
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
// the moment of each event), or with All every event of the backend. A
// subscription must name at least one channel or group, or set All.
// Buffer is the subscription's capacity in events; zero means
// Config.SubscriptionBuffer.
type SubscribeOptions = fanout.Options

// Subscription receives presence events through a bounded buffer. Its
// methods are:
//
//	Events() <-chan Event  the events, in order per channel; closed when the subscription ends
//	Err() error            why it ended: nil while open or after Close, ErrSlowConsumer, ErrClosed
//	Close()                ends it; events already buffered can still be received; idempotent
//
// A subscription whose buffer is full when an event is produced is closed
// with ErrSlowConsumer: the events already in its buffer are still received,
// then Events is closed and Err returns ErrSlowConsumer. A Subscription is
// safe for concurrent use.
type Subscription = fanout.Sub[Event]

// hub is the fan-out of a backend's events to its subscriptions.
type hub = fanout.Hub[Event]

// newHub returns a hub whose subscriptions buffer defaultBuffer events
// unless SubscribeOptions.Buffer says otherwise.
func newHub(defaultBuffer int) *hub {
	return fanout.New(defaultBuffer, eventOps, ErrClosed, ErrSlowConsumer)
}

// eventOps tells the hub how to route, copy and mark an Event.
var eventOps = fanout.Ops[Event]{
	Channel: func(ev *Event) string { return ev.Channel },
	Clone: func(ev Event) Event {
		ev.State = slices.Clone(ev.State)
		ev.Deltas = slices.Clone(ev.Deltas)
		return ev
	},
	Mark: func(ev *Event, group string) { ev.Group = group },
}
