// Package presencetest is the behaviour suite of the presence API: the
// tests every backend of it must pass (the in-memory presence.Engine, the
// Redis backend, any other). Run it from a backend's tests with a Factory
// that builds a fresh backend on the suite's mock clock.
package presencetest

import (
	"encoding/json"
	"testing"

	"github.com/presencekit/presence"
)

// Backend is the presence API as *presence.Engine offers it.
type Backend interface {
	Heartbeat(req presence.HeartbeatRequest) error
	Leave(uuid string, channels, groups []string) error
	SetState(uuid string, channels, groups []string, state any) (json.RawMessage, error)
	GetState(uuid string, channels, groups []string) (map[string]json.RawMessage, error)
	HereNow(q presence.HereNowQuery) (presence.HereNowResult, error)
	Occupancy(channel string) (int, error)
	WhereNow(uuid string) ([]string, error)
	AddChannels(group string, channels []string) error
	RemoveChannels(group string, channels []string) error
	GroupChannels(group string) ([]string, error)
	Groups() ([]string, error)
	DeleteGroup(group string) error
	Subscribe(opts presence.SubscribeOptions) (*presence.Subscription, error)
	Sweep() error
	Stats() (presence.Stats, error)
	Close() error
}

// Flusher is implemented by backends that deliver events asynchronously:
// Flush returns once every event of the calls that returned before it was
// called is in the local subscriptions' buffers. The suite calls it before
// it checks which events arrived. *presence.Engine delivers synchronously
// and needs no Flush.
type Flusher interface {
	Flush() error
}

// Factory returns a new, empty backend configured by cfg. cfg.Clock is a
// *clock.Mock owned by the test and cfg.SweepInterval is negative: the
// suite advances the clock and calls Sweep itself. The suite closes the
// backend; a Factory may also register its own t.Cleanup.
type Factory func(t *testing.T, cfg presence.Config) Backend

var _ Backend = (*presence.Engine)(nil)
