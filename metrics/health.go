// health.go holds the optional interfaces through which a backend that
// depends on a store (the Redis backend) reports its outages, recoveries
// and resyncs. The collector exports the counters of each one a backend
// implements, and nothing for the others.

package presencemetrics

import "github.com/prometheus/client_golang/prometheus"

// OutageCounter is implemented by a backend that counts the times it lost
// its store (the Redis backend).
type OutageCounter interface {
	// Outages returns how many times the store became unreachable.
	Outages() uint64
}

// RecoveryCounter is implemented by a backend that counts the times it got
// its store back after an outage.
type RecoveryCounter interface {
	// Recoveries returns how many outages ended.
	Recoveries() uint64
}

// ResyncCounter is implemented by a backend that rebuilds derived data from
// its store (after an outage, or when its event stream lost events).
type ResyncCounter interface {
	// Resyncs returns how many times the backend resynchronised.
	Resyncs() uint64
}

// DownReporter is implemented by a backend that knows whether its store is
// reachable right now.
type DownReporter interface {
	// Down reports whether the store is unreachable now.
	Down() bool
}

func collectHealth(b any, gauge func(*prometheus.Desc, float64, ...string), counter func(*prometheus.Desc, uint64), c *Collector) {
	if o, ok := b.(OutageCounter); ok {
		counter(c.outages, o.Outages())
	}
	if r, ok := b.(RecoveryCounter); ok {
		counter(c.recoveries, r.Recoveries())
	}
	if r, ok := b.(ResyncCounter); ok {
		counter(c.resyncs, r.Resyncs())
	}
	if d, ok := b.(DownReporter); ok {
		v := 0.0
		if d.Down() {
			v = 1
		}
		gauge(c.down, v)
	}
}
