// health.go holds Health: what a backend that depends on a store (the
// Redis backend) has seen of it, which the function given to WatchHealth
// hands to the collector for the backend_* metrics.

package presencemetrics

import "github.com/prometheus/client_golang/prometheus"

// Health is what a backend has seen of its store. The Redis backend's
// presenceredis.Health has these fields; convert it field by field (this
// module does not import the Redis module):
//
//	m, _ := presencemetrics.New(presencemetrics.Options{})
//	rb, _ := presenceredis.New(client, presenceredis.Config{ObserveCall: m.ObserveCall})
//	m.Watch(rb)
//	m.WatchHealth(func() presencemetrics.Health {
//		h := rb.Health()
//		return presencemetrics.Health{Down: h.Down, Outages: h.Outages, Recoveries: h.Recoveries,
//			Resyncs: h.Resyncs, Failures: h.Failures, Stalls: h.Stalls}
//	})
type Health struct {
	Down       bool   // the store is unreachable now
	Outages    uint64 // times the store became unreachable
	Recoveries uint64 // outages that ended
	Resyncs    uint64 // times the backend found its store lost events and resynchronised
	Failures   uint64 // calls that failed for want of the store
	Stalls     uint64 // round trips unanswered for longer than the backend's stall threshold
}

func (c *Collector) collectHealth(h Health, gauge func(*prometheus.Desc, float64), counter func(*prometheus.Desc, uint64)) {
	down := 0.0
	if h.Down {
		down = 1
	}
	gauge(c.down, down)
	counter(c.outages, h.Outages)
	counter(c.recoveries, h.Recoveries)
	counter(c.resyncs, h.Resyncs)
	counter(c.failures, h.Failures)
	counter(c.stalls, h.Stalls)
}
