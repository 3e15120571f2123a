package presenceredis

import (
	"strings"
	"testing"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
	"pgregory.net/rapid"
)

// TestBehaviour runs the core's behaviour suite against the backend on a
// real redis-server, with one partition (the default on a single server).
func TestBehaviour(t *testing.T) {
	c := newClient(t, sharedRedis(t))
	presencetest.Run(t, func(t *testing.T, cfg presence.Config) presence.Backend {
		return newBackend(t, c, Config{Config: cfg, Prefix: uniquePrefix(t)})
	})
}

// crossChannelOrder are the suite tests that expect the events of several
// channels, or their timetokens, in one global order. With several
// partitions that order holds per partition only (see Config.Partitions).
var crossChannelOrder = []string{"/JoinRefreshLeave", "/State", "/HeartbeatState", "/PendingState", "/GroupSubscriptions", "/Validation", "/Timetokens", "/ReadsAtDeadline"}

// TestBehaviourPartitioned runs the suite with four partitions, as on
// Redis Cluster, leaving out only the checks of a global cross-channel
// order.
func TestBehaviourPartitioned(t *testing.T) {
	c := newClient(t, sharedRedis(t))
	presencetest.Run(t, func(t *testing.T, cfg presence.Config) presence.Backend {
		for _, s := range crossChannelOrder {
			if strings.HasSuffix(t.Name(), s) {
				t.Skip("checks a global order across channels: with several partitions order is per partition")
			}
		}
		return newBackend(t, c, Config{Config: cfg, Prefix: uniquePrefix(t), Partitions: 4})
	})
}

// TestModel checks random operation sequences against the core's plain
// model and against the memberships rebuilt from the event stream, with one
// and with four partitions (the model compares events per channel).
func TestModel(t *testing.T) {
	c := newClient(t, sharedRedis(t))
	for _, parts := range []int{1, 4} {
		t.Run(map[int]string{1: "OnePartition", 4: "FourPartitions"}[parts], func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				presencetest.Check(rt, func(cfg presence.Config) (presence.Backend, error) {
					return New(c, mockStalls(Config{Config: cfg, Prefix: uniquePrefix(t), Partitions: parts}))
				})
			})
		})
	}
}
