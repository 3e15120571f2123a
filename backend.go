// backend.go holds Backend, the presence API that every backend implements
// (the in-memory Engine, the Redis backend, any other), and the requests and
// results its calls take and return. Servers, the behaviour suite and users'
// code are written against it, so they run on any backend.

package presence

import (
	"context"
	"encoding/json"
	"time"
)

// Backend is the presence API. *Engine implements it in memory; the Redis
// backend (module github.com/presencekit/presence/redis) implements it for
// several servers sharing one presence view.
//
// Every call takes a context first. A backend that waits on a network
// honours its deadline and cancellation and then returns an error wrapping
// ErrUnavailable and the context's error; the in-memory Engine never waits
// and does not consult it. All methods are safe for concurrent use; after
// Close every call returns ErrClosed. Bad input returns an error naming the
// value and the rule, wrapping one of the package's sentinels, and changes
// nothing.
type Backend interface {
	// Heartbeat makes req.UUID present on its targets: absent → present with
	// a join event, present → deadline refreshed without an event (a
	// different state gives a state-change).
	Heartbeat(ctx context.Context, req HeartbeatRequest) error
	// Leave removes req.UUID from its targets, each present one with a leave
	// event; an absent one only drops pending state there.
	Leave(ctx context.Context, req LeaveRequest) error
	// SetState replaces req.UUID's state on its targets and returns it as
	// stored (canonical JSON); state-change events on present targets,
	// pending state on absent ones.
	SetState(ctx context.Context, req SetStateRequest) (json.RawMessage, error)
	// GetState returns req.UUID's state on each target where it has one
	// (present or pending), keyed by channel.
	GetState(ctx context.Context, req GetStateRequest) (map[string]json.RawMessage, error)
	// HereNow returns who is present on the query's channels, or on every
	// occupied channel when it names none.
	HereNow(ctx context.Context, q HereNowQuery) (HereNowResult, error)
	// Occupancy returns the number of uuids present on channel.
	Occupancy(ctx context.Context, channel string) (int, error)
	// WhereNow returns the channels where uuid is present, sorted.
	WhereNow(ctx context.Context, uuid string) ([]string, error)

	// AddChannels adds channels to a channel group, creating it.
	AddChannels(ctx context.Context, group string, channels []string) error
	// RemoveChannels removes channels from a group; an emptied group is gone.
	RemoveChannels(ctx context.Context, group string, channels []string) error
	// GroupChannels returns a group's channels, sorted.
	GroupChannels(ctx context.Context, group string) ([]string, error)
	// Groups returns every group's name, sorted.
	Groups(ctx context.Context) ([]string, error)
	// DeleteGroup removes a group.
	DeleteGroup(ctx context.Context, group string) error

	// Subscribe returns a subscription to the events of opts' channels and
	// groups, or of every channel with opts.All.
	Subscribe(ctx context.Context, opts SubscribeOptions) (*Subscription, error)
	// Flush returns once the events of every call that returned before it
	// are in the local subscriptions' buffers. A backend that delivers
	// synchronously, as Engine does, returns at once.
	Flush(ctx context.Context) error
	// Sweep makes every expiry and interval tick that is due at the clock's
	// current time happen now, and returns when their events are delivered.
	// A backend's sweeper calls it on its own; tests on a mock clock call it
	// after advancing the clock.
	Sweep(ctx context.Context) error
	// Stats returns the backend's counters.
	Stats(ctx context.Context) (Stats, error)
	// Config returns the presence settings the backend runs with, every
	// zero field filled with its default: a server reads its timeouts and
	// its Clock from here. It works after Close too.
	Config() Config
	// Close stops the backend's goroutines, ends every subscription with
	// ErrClosed and makes every later call return ErrClosed. It is
	// idempotent.
	Close() error
}

var _ Backend = (*Engine)(nil)

// HeartbeatRequest is one heartbeat: UUID is present on every channel named
// and every channel of every group named, for Timeout from now. It must name
// at least one channel or group (ErrNoTargets).
type HeartbeatRequest struct {
	UUID     string
	Channels []string
	Groups   []string
	// Timeout is the presence timeout; zero means Config.DefaultTimeout.
	// A positive value is clamped to [Config.MinTimeout, Config.MaxTimeout],
	// as PubNub clamps it; negative is ErrInvalidTimeout.
	Timeout time.Duration
	// State, keyed by channel or group name, sets the member's state on that
	// channel (a group's entry on each of its channels; a channel's own entry
	// wins, then the group named first). A value is json.RawMessage or
	// []byte holding a JSON object, or a map or struct json.Marshal turns
	// into one. Keys that name no target of the call are ignored.
	State map[string]any
}

// LeaveRequest names the channels and groups a uuid leaves. It must name at
// least one (ErrNoTargets).
type LeaveRequest struct {
	UUID     string
	Channels []string
	Groups   []string
}

// SetStateRequest sets a uuid's state on channels and groups. It must name
// at least one (ErrNoTargets).
type SetStateRequest struct {
	UUID     string
	Channels []string
	Groups   []string
	// State is the new state: json.RawMessage or []byte holding a JSON
	// object, or a map or struct json.Marshal turns into one. "{}" clears
	// the state. A Go string is refused: it is a JSON string, not an object.
	State any
}

// GetStateRequest reads a uuid's state on channels and groups. It must name
// at least one (ErrNoTargets).
type GetStateRequest struct {
	UUID     string
	Channels []string
	Groups   []string
}

// HereNowQuery selects a here_now. No channels and no groups means global:
// every channel with occupancy > 0. The zero value of the other fields is
// PubNub's default: occupants listed, without state, the first 1000.
type HereNowQuery struct {
	Channels []string
	Groups   []string
	// OccupancyOnly leaves the occupants out (PubNub's disable_uuids).
	OccupancyOnly bool
	// IncludeState adds each occupant's state.
	IncludeState bool
	// Limit is the page size of each channel's occupants, 0..1000; zero means
	// 1000. Offset (≥ 0) skips occupants. Paging never changes occupancies
	// or totals, and the occupant order of an unchanged channel is stable.
	Limit  int
	Offset int
}

// HereNowResult is the answer of HereNow. Channels lists the named (and
// group-expanded) channels in the order first named, or for a global query
// every occupied channel sorted by name.
type HereNowResult struct {
	Channels       []ChannelPresence
	TotalChannels  int
	TotalOccupancy int
}

// Channel returns the presence of channel in the result, if it is there.
func (r HereNowResult) Channel(channel string) (ChannelPresence, bool) {
	for _, c := range r.Channels {
		if c.Channel == channel {
			return c, true
		}
	}
	return ChannelPresence{}, false
}

// ChannelPresence is one channel of a here_now: its occupancy and, unless
// the query asked for occupancy only, one page of its occupants.
type ChannelPresence struct {
	Channel   string
	Occupancy int
	Occupants []Occupant
}

// Occupant is a present uuid and, when asked for, its state (nil if none).
type Occupant struct {
	UUID  string
	State json.RawMessage
}

// Stats are a backend's counters. Figures summed over shards or partitions
// one at a time are not a snapshot under concurrent changes.
type Stats struct {
	Channels          int    // channels with at least one member
	Memberships       int    // present (channel, uuid) pairs
	UUIDs             int    // uuids present on at least one channel
	Groups            int    // channel groups with at least one channel
	Events            uint64 // events produced since New, before fan-out (by this instance)
	Subscriptions     int    // open subscriptions (of this instance)
	SlowSubscriptions uint64 // subscriptions closed as slow consumers since New (of this instance)
}
