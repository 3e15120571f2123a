// Package presenceredis is the presence API of
// github.com/presencekit/presence on Redis, for several server instances
// that share one presence view: a user who heartbeats through instance A and
// leaves through instance B is one member, joins once and times out once,
// whichever instances are alive. It works on a single Redis server, behind
// Sentinel, or on Redis Cluster, through any go-redis
// redis.UniversalClient.
//
// # Model
//
// Redis holds the truth. Every transition (join, refresh, leave, state
// change, expiry, interval tick) is one Lua script that changes the state
// and, in the same atomic step, appends the event to a Redis Stream. So a
// join, leave or timeout happens exactly once per presence episode
// cluster-wide, however many instances race; removal by expiry is a
// compare-and-delete, so any number of instances may sweep. Deadlines come
// from the injected clock (Config.Clock), passed to the scripts: instances
// sharing a mock clock in a test are deterministic.
//
// Channels are spread over Config.Partitions partitions; each partition's
// keys share one hash tag (one Cluster slot) and have their own stream.
//
// # Events
//
// Each instance reads the streams (one goroutine per partition, resuming
// from its last entry after a reconnect) and delivers every event once, in
// per-channel order, to its local subscriptions, with the core's
// fan-out (bounded buffers, slow consumers closed with
// presence.ErrSlowConsumer). Delivery is asynchronous: Backend.Flush waits
// until the events of earlier calls are in the subscriptions' buffers. When
// Redis lost events (a restart without persistence, detected by a per
// partition epoch; a failover that lost writes or a reader too far behind,
// detected because each event names its predecessor), subscriptions receive
// a resync marker (IsResync) instead of a silent gap.
//
// # Failures
//
// Every call takes a context: it returns by the context's deadline (or
// after Config.CallTimeout, 5 s, when it has none), whatever the go-redis
// client's own timeouts and retries are. A call that cannot reach Redis in
// time returns an error wrapping presence.ErrUnavailable and the cause, and
// no event is made up for it. A round trip that fails, or stays unanswered
// longer than Config.StallThreshold (a stalled Redis), is an outage: the
// instance's next write first sets a grace hold (Config.OutageGrace) during
// which no membership is timed out, so members whose heartbeats failed or
// were held up are not timed out en masse. Ping, Health and
// Config.ObserveCall report what the instance sees of Redis. The README
// states what holds under each fault (restart with or without data, stall,
// a killed instance, a partition, a failover) and the bounds.
package presenceredis
