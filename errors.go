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
)

// Errors of input validation (SPEC §5). A call that returns one of these has
// changed nothing and emitted no event.
var (
	// ErrInvalidName: a channel, group or uuid breaks the naming rules
	// (empty, not UTF-8, too long, a control character, ',', a reserved
	// "-pnpres" suffix, or a character refused by Config.StrictNames).
	ErrInvalidName = errors.New("presence: invalid name")

	// ErrTooManyNames: a call names more distinct channels and groups than
	// Config.MaxNamesPerCall.
	ErrTooManyNames = errors.New("presence: too many names in one call")

	// ErrInvalidState: a state is not a JSON object (invalid JSON, null, an
	// array or a scalar).
	ErrInvalidState = errors.New("presence: invalid state")

	// ErrStateTooLarge: a state's canonical JSON is longer than
	// Config.MaxStateBytes.
	ErrStateTooLarge = errors.New("presence: state too large")

	// ErrInvalidTimeout: a heartbeat timeout is negative.
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
