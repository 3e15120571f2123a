// Package presence is an embeddable, in-memory presence engine with PubNub
// Presence semantics: who is on which channel right now (HereNow), where a
// user is (WhereNow), per-user state on each channel, heartbeats that expire
// on timeout, channel groups, and a stream of join, leave, timeout,
// state-change and interval events, all in-process.
//
// The behaviour every call promises, with every point PubNub leaves open
// decided, is written down in [docs/behaviour.md] of the repository.
//
// # The presence API
//
// [Backend] is the one presence API: [*Engine] implements it in memory, the
// Redis backend (module github.com/presencekit/presence/redis) implements
// it for several servers sharing one presence view, and the PubNub REST
// facade (github.com/presencekit/presence/pubnubhttp) and the behaviour
// suite (presencetest) are written against it. Every call takes a
// context.Context first; the Engine never waits and does not consult it.
// Calls that name channels take a request struct (HeartbeatRequest,
// LeaveRequest, SetStateRequest, GetStateRequest, HereNowQuery) and must
// name at least one channel or group (ErrNoTargets).
//
// # Model
//
// A membership is a (channel, uuid) pair that is present, with a deadline
// and a state. Heartbeat makes a uuid present on channels (and on every
// channel of the groups it names) until now + timeout; the first heartbeat is
// a join, the next ones refresh the deadline silently. Leave removes it with
// a leave event; a deadline that passes removes it with a timeout event.
// SetState replaces a member's JSON object state (state-change event); state
// set where the uuid is not present is kept as pending state for one default
// timeout and becomes its state if it joins.
//
// # Events
//
// Subscribe returns a Subscription that receives the events of chosen
// channels, groups, or all of them, through a bounded buffer. For one
// channel, events arrive in the order the changes happened, each carrying
// the occupancy after its change, so replaying them rebuilds the engine's
// memberships. Delivery never blocks the engine: a subscription whose buffer
// is full is closed with ErrSlowConsumer. Above Config.AnnounceMax members a
// channel switches to interval mode, as PubNub does.
//
// # Time
//
// All time comes from Config.Clock (github.com/benbjohnson/clock). A
// sweeper goroutine expires memberships when they fall due, at most
// Config.SweepInterval late; with a mock clock, advance it and call
// Engine.Sweep, which performs every due expiry and delivers its events
// before returning. A membership is present while now < deadline.
//
// # Errors
//
// Bad input changes nothing and returns an error naming the value and the
// rule, wrapping one of the sentinels of errors.go for errors.Is: a name
// error wraps ErrInvalidName and ErrInvalidChannel, ErrInvalidGroup or
// ErrInvalidUUID; a state that is not a JSON object (a Go string included:
// pass raw JSON as json.RawMessage) is ErrInvalidState.
//
// # Concurrency
//
// Every method is safe for concurrent use. The engine is split into lock
// shards by channel and by uuid; heartbeats, leaves, state changes and
// here_now of one channel on different shards run in parallel, and no hot
// path takes a global lock.
//
// [docs/behaviour.md]: https://github.com/presencekit/presence/blob/main/docs/behaviour.md
package presence
