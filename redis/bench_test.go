package presenceredis

import (
	"fmt"
	"testing"
	"time"

	"github.com/presencekit/presence"
)

// Every benchmark runs against the in-memory engine ("engine") and this
// backend on a local redis-server ("redis"), so the figures sit side by
// side: go test -run '^$' -bench . -count 5 ./...

type benchTarget struct {
	name string
	new  func(b *testing.B, cfg presence.Config) presence.Backend
}

var benchTargets = []benchTarget{
	{"engine", func(b *testing.B, cfg presence.Config) presence.Backend {
		e, err := presence.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { e.Close() })
		return e
	}},
	{"redis", func(b *testing.B, cfg presence.Config) presence.Backend {
		return newBackend(b, newClient(b, sharedRedis(b)), Config{Config: cfg, Prefix: uniquePrefix(b)})
	}},
}

func benchConfig() presence.Config {
	cfg := baseConfig(mockClock())
	cfg.MaxTimeout = time.Hour
	return cfg
}

// join makes n members present on channel fn(i), through batches where the
// target has them.
func join(b *testing.B, be presence.Backend, n int, uuid, channel func(int) string) {
	b.Helper()
	var batch []presence.HeartbeatRequest
	send := func() {
		if rb, ok := be.(*Backend); ok {
			if err := rb.Heartbeats(ctx, batch...); err != nil {
				b.Fatal(err)
			}
		} else {
			for _, r := range batch {
				if err := be.Heartbeat(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		}
		batch = batch[:0]
	}
	for i := range n {
		batch = append(batch, presence.HeartbeatRequest{UUID: uuid(i), Channels: []string{channel(i)}, Timeout: time.Minute})
		if len(batch) == 500 {
			send()
		}
	}
	send()
}

// BenchmarkHeartbeat: one refresh per call, from parallel callers.
func BenchmarkHeartbeat(b *testing.B) {
	for _, tg := range benchTargets {
		b.Run(tg.name, func(b *testing.B) {
			be := tg.new(b, benchConfig())
			const n = 1000
			uuid := func(i int) string { return fmt.Sprintf("u%d", i) }
			channel := func(i int) string { return fmt.Sprintf("c%d", i%100) }
			join(b, be, n, uuid, channel)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if err := be.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid(i % n), Channels: []string{channel(i % n)}, Timeout: time.Minute}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "heartbeats/s")
		})
	}
}

// BenchmarkHeartbeatPipelined: 100 refreshes per call (Backend.Heartbeats:
// one pipeline; the engine: 100 calls), from parallel callers.
func BenchmarkHeartbeatPipelined(b *testing.B) {
	const n, per = 10_000, 100
	for _, tg := range benchTargets {
		b.Run(tg.name, func(b *testing.B) {
			be := tg.new(b, benchConfig())
			uuid := func(i int) string { return fmt.Sprintf("u%d", i) }
			channel := func(i int) string { return fmt.Sprintf("c%d", i%100) }
			join(b, be, n, uuid, channel)
			reqs := make([]presence.HeartbeatRequest, n)
			for i := range reqs {
				reqs[i] = presence.HeartbeatRequest{UUID: uuid(i), Channels: []string{channel(i)}, Timeout: time.Minute}
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					lo := (i * per) % n
					i++
					batch := reqs[lo : lo+per]
					var err error
					if rb, ok := be.(*Backend); ok {
						err = rb.Heartbeats(ctx, batch...)
					} else {
						for _, r := range batch {
							if err = be.Heartbeat(ctx, r); err != nil {
								break
							}
						}
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "heartbeats/s")
		})
	}
}

// BenchmarkHereNow: one channel of 200 or 2,000 members, the first page
// (up to 1,000 occupants) with their states.
func BenchmarkHereNow(b *testing.B) {
	for _, size := range []int{200, 2000} {
		for _, tg := range benchTargets {
			b.Run(fmt.Sprintf("%d/%s", size, tg.name), func(b *testing.B) {
				be := tg.new(b, benchConfig())
				join(b, be, size, func(i int) string { return fmt.Sprintf("user-%06d", i) }, func(int) string { return "room" })
				q := presence.HereNowQuery{Channels: []string{"room"}, IncludeState: true}
				b.ReportAllocs()
				for b.Loop() {
					r, err := be.HereNow(ctx, q)
					if err != nil {
						b.Fatal(err)
					}
					if r.Channels[0].Occupancy != size {
						b.Fatalf("occupancy %d, want %d", r.Channels[0].Occupancy, size)
					}
				}
			})
		}
	}
}

// BenchmarkSweep10k: 10,000 memberships on 100 channels expire at once and
// one Sweep removes them (with a timeout event each).
func BenchmarkSweep10k(b *testing.B) {
	const n = 10_000
	for _, tg := range benchTargets {
		b.Run(tg.name, func(b *testing.B) {
			cfg := benchConfig()
			clk := cfg.Clock.(interface{ Add(time.Duration) })
			be := tg.new(b, cfg)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				join(b, be, n, func(i int) string { return fmt.Sprintf("u%d", i) }, func(i int) string { return fmt.Sprintf("c%d", i%100) })
				clk.Add(time.Minute)
				b.StartTimer()
				if err := be.Sweep(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if st, err := be.Stats(ctx); err != nil || st.Memberships != 0 {
				b.Fatalf("after sweeping: %+v, %v", st, err)
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "expiries/s")
		})
	}
}
