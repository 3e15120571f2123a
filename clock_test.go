package presence

import (
	"context"
	"time"

	"github.com/benbjohnson/clock"
)

// clockNowOnly embeds a nil clock.Clock: tests override Now and configure
// no sweeper, so the timer methods are never called.
type clockNowOnly struct{ clock.Clock }

func (m *manual) Now() time.Time { return m.now }

// ctx is the context of the tests' calls: the engine does not consult it.
var ctx = context.Background()
