// Package presencetest is the behaviour suite of the presence API: the
// tests every presence.Backend must pass (the in-memory presence.Engine, the
// Redis backend, any other). Run it from a backend's tests with a Factory
// that builds a fresh backend on the suite's mock clock.
package presencetest

import (
	"context"
	"testing"

	"github.com/presencekit/presence"
)

// Factory returns a new, empty backend configured by cfg. cfg.Clock is a
// *clock.Mock owned by the test and cfg.SweepInterval is negative: the
// suite advances the clock and calls Sweep itself. The suite closes the
// backend; a Factory may also register its own t.Cleanup.
type Factory func(t *testing.T, cfg presence.Config) presence.Backend

// ctx is the context of the suite's calls. A backend under test that waits
// on a network gets no deadline from it: a hang shows as the test's own
// timeout rather than as a false ErrUnavailable on a slow machine.
var ctx = context.Background()
