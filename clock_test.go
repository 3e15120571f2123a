package presence

import (
	"time"

	"github.com/benbjohnson/clock"
)

// clockNowOnly embeds a nil clock.Clock: tests override Now and configure
// no sweeper, so the timer methods are never called.
type clockNowOnly struct{ clock.Clock }

func (m *manual) Now() time.Time { return m.now }
