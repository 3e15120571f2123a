package presence_test

import (
	"testing"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
	"pgregory.net/rapid"
)

func newBackend(cfg presence.Config) (presence.Backend, error) { return presence.New(cfg) }

// TestModel is the main correctness test: random operation sequences
// checked after every step against a plain model and against the
// memberships rebuilt from the event stream.
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { presencetest.Check(t, newBackend) })
}
