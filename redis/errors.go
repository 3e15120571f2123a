// errors.go classifies go-redis errors: an error meaning Redis could not
// serve the call wraps presence.ErrUnavailable and the cause; input errors
// wrap the core's sentinels with the engine's message format.

package presenceredis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/presencekit/presence/internal/rules"
	"github.com/redis/go-redis/v9"
)

// newError wraps a core sentinel with its own message, so the text reads
// `presence: invalid channel "a,b": contains ','` as with the engine.
func newError(sentinel error, format string, args ...any) error {
	return rules.NewError(sentinel, format, args...)
}

// unavailable reports whether err means Redis could not be reached or could
// not serve the call right now, as opposed to an error of the call itself.
func unavailable(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range []string{"LOADING", "READONLY", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "MOVED", "ASK"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	// Anything else is the network's: refused, reset, EOF, a timeout, a
	// closed pool.
	return true
}

// shortReply is the error of a script reply of the wrong shape: another
// version of the scripts, or not our keys.
func shortReply(op string) error {
	return fmt.Errorf("presence: redis: %s: unexpected script reply", op)
}
