// errors.go holds every sentinel error of the package. Errors returned by the
// engine wrap one of these and name the offending value, so callers test them
// with errors.Is and show them to people as they are.

package presence

import (
	"errors"

	"github.com/presencekit/presence/internal/rules"
)

// Errors of the engine's life cycle.
var (
	// ErrClosed is returned by every method called after Close, and is the
	// error of every subscription that Close ended.
	ErrClosed = errors.New("presence: engine closed")

	// ErrInvalidConfig is wrapped by New when a Config field is out of range.
	ErrInvalidConfig = errors.New("presence: invalid config")

	// ErrUnavailable is wrapped, with the cause, by every call of a network
	// backend that could not reach its store in time: the store is down,
	// stalled, or the call's context ended first. Such a call may or may not
	// have taken effect; repeating a heartbeat, leave, set_state or group
	// edit is safe. The in-memory Engine never returns it.
	ErrUnavailable = errors.New("presence: backend unavailable")
)

// Errors of input validation (the rules are in the package documentation).
// A call that returns one of these has changed nothing and emitted no event.
var (
	// ErrInvalidName: a channel, group or uuid breaks the naming rules
	// (empty, not UTF-8, too long, a control character, ',', a reserved
	// "-pnpres" suffix, or a character refused by Config.StrictNames). Every
	// name error wraps it together with ErrInvalidChannel, ErrInvalidGroup
	// or ErrInvalidUUID, which tell which kind of name it was.
	ErrInvalidName = errors.New("presence: invalid name")

	// ErrInvalidChannel: a channel name breaks the naming rules.
	ErrInvalidChannel = errors.New("presence: invalid channel")

	// ErrInvalidGroup: a channel group name breaks the naming rules.
	ErrInvalidGroup = errors.New("presence: invalid channel group")

	// ErrInvalidUUID: a uuid breaks the naming rules.
	ErrInvalidUUID = errors.New("presence: invalid uuid")

	// ErrNoTargets: a heartbeat, leave, set_state, get_state or subscription
	// names no channel and no group (a subscription may set All instead).
	// Naming only groups that are empty or do not exist is not an error:
	// such a call does nothing.
	ErrNoTargets = errors.New("presence: no channel and no group named")

	// ErrTooManyNames: a call names more distinct channels and groups than
	// Config.MaxNamesPerCall.
	ErrTooManyNames = errors.New("presence: too many names in one call")

	// ErrInvalidState: a state is not a JSON object (invalid JSON, null, an
	// array or a scalar).
	ErrInvalidState = errors.New("presence: invalid state")

	// ErrStateTooLarge: a state's canonical JSON is longer than
	// Config.MaxStateBytes.
	ErrStateTooLarge = errors.New("presence: state too large")

	// ErrInvalidTimeout: a heartbeat timeout is negative. (A positive one
	// outside [MinTimeout, MaxTimeout] is clamped, as PubNub does.)
	ErrInvalidTimeout = errors.New("presence: invalid timeout")

	// ErrInvalidPaging: a here_now limit outside 0..1000 or a negative offset.
	ErrInvalidPaging = errors.New("presence: invalid paging")
)

// Errors of channel-group management.
var (
	// ErrTooManyChannels: one group edit names more channels than
	// Config.MaxGroupEdit.
	ErrTooManyChannels = errors.New("presence: too many channels in one group edit")

	// ErrGroupFull: an add would take a group over Config.MaxGroupChannels.
	ErrGroupFull = errors.New("presence: channel group full")
)

// Errors of event delivery.
var (
	// ErrSlowConsumer is the error of a subscription that was closed because
	// its buffer was full when an event was produced. Events already in its
	// buffer are still received.
	ErrSlowConsumer = errors.New("presence: subscription closed: slow consumer")
)

// newError returns an error wrapping sentinel with the message
// "presence: " + the formatted text.
func newError(sentinel error, format string, args ...any) error {
	return rules.NewError(sentinel, format, args...)
}
