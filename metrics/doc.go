// Package presencemetrics exports the metrics of a presence backend (the
// in-memory presence.Engine, the Redis backend, any presence.Backend) as a
// prometheus.Collector that you register in your own registry: the package
// registers nothing globally. It lives in its own module, so that the core
// does not depend on the Prometheus client.
//
//	m, err := presencemetrics.New(presencemetrics.Options{})
//	cfg := presence.Config{OnSweep: m.ObserveSweep}
//	eng, err := presence.New(cfg)
//	m.Watch(eng)
//	defer m.Close()
//	registry.MustRegister(m)
//
// # Metrics
//
// With the default namespace "presence":
//
//	presence_memberships                      gauge      present (channel, uuid) pairs
//	presence_channels                         gauge      occupied channels
//	presence_uuids                            gauge      uuids present somewhere
//	presence_groups                           gauge      channel groups
//	presence_subscriptions                    gauge      open event subscriptions
//	presence_slow_subscriptions_total         counter    subscriptions closed as slow consumers
//	presence_backend_up                       gauge      1 when this scrape's Stats call answered
//	presence_channel_occupancy{channel}       gauge      occupancy of the Options.TopChannels busiest channels
//	presence_events_total{action}             counter    events by action: join, leave, timeout, state-change, interval
//	presence_collector_resubscriptions_total{reason}
//	                                          counter    the collector's subscription renewed: slow_consumer, error
//	presence_timeout_lateness_seconds         histogram  time from a timeout's deadline to its event
//	presence_sweep_duration_seconds           histogram  sweeps that found something due (ObserveSweep)
//	presence_sweep_expired_total              counter    memberships expired by sweeps (ObserveSweep)
//	presence_backend_call_duration_seconds{op,result}
//	                                          histogram  a backend's calls to its store (ObserveCall)
//	presence_backend_down                     gauge      1 while the store is unreachable (WatchHealth)
//	presence_backend_outages_total            counter    store outages (WatchHealth)
//	presence_backend_recoveries_total         counter    outages that ended (WatchHealth)
//	presence_backend_resyncs_total            counter    resynchronisations after lost events (WatchHealth)
//	presence_backend_failures_total           counter    calls failed for want of the store (WatchHealth)
//	presence_backend_stalls_total             counter    round trips unanswered too long (WatchHealth)
//
// The gauges and the slow-subscription counter come from one Stats call per
// scrape, bounded by Options.StatsTimeout; when it fails, backend_up is 0
// and they are left out while the rest is still served. The event counts,
// the lateness and the busiest channels come from one subscription to all
// events: if it is closed as a slow consumer (or ends on a backend error)
// the collector subscribes again, takes a fresh here_now of the channels'
// occupancy, and counts the renewal in collector_resubscriptions_total, so a
// gap in the event counts is always visible. Label cardinality is bounded:
// actions and reasons are fixed sets, channel labels are at most
// Options.TopChannels (at most MaxTopChannels), and op labels are the
// backend's fixed operation names. The collector keeps one map entry per
// occupied channel to find the busiest (none with a negative TopChannels);
// a channel in interval mode is updated at its interval events.
//
// The sweep histogram needs presence.Config.OnSweep set to ObserveSweep;
// the call histogram needs the backend's call hook (the Redis backend's
// Config.ObserveCall) set to ObserveCall. The store metrics need
// WatchHealth with a function that converts the backend's own health
// report (the Redis backend's Health) into a Health.
package presencemetrics
