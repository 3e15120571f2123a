package presence_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
)

// The workload of the performance issue: 250,000 uuids (36 bytes) × 4
// channels over 10,000 channels (16 bytes) = 1,000,000 memberships, 100 per
// channel, inserted in shuffled order. PRESENCE_BENCH_SCALE scales it down
// (e.g. 0.01 in CI).
type workload struct {
	uuids    []string
	channels []string
	pairs    [][2]int32 // (uuid, channel) in insertion order
	reqs     []presence.HeartbeatRequest
}

func benchScale() float64 {
	if s, err := strconv.ParseFloat(os.Getenv("PRESENCE_BENCH_SCALE"), 64); err == nil && s > 0 && s <= 1 {
		return s
	}
	return 1
}

func uuidLike(r *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff)
}

func newWorkload() *workload {
	scale := benchScale()
	nu, nc := int(250_000*scale), max(int(10_000*scale), 1)
	r := rand.New(rand.NewPCG(1, 2))
	w := &workload{uuids: make([]string, nu), channels: make([]string, nc)}
	for i := range w.uuids {
		w.uuids[i] = uuidLike(r)
	}
	for i := range w.channels {
		w.channels[i] = fmt.Sprintf("channel-%08d", i)
	}
	for u := range nu {
		for k := range 4 {
			w.pairs = append(w.pairs, [2]int32{int32(u), int32((u*4 + k) % nc)})
		}
	}
	r.Shuffle(len(w.pairs), func(i, j int) { w.pairs[i], w.pairs[j] = w.pairs[j], w.pairs[i] })
	w.reqs = make([]presence.HeartbeatRequest, len(w.pairs))
	for i, p := range w.pairs {
		w.reqs[i] = presence.HeartbeatRequest{UUID: w.uuids[p[0]], Channels: w.channels[p[1] : p[1]+1]}
	}
	return w
}

var sharedWorkload = sync1(newWorkload)

func sync1[T any](f func() T) func() T {
	var v T
	var done bool
	return func() T {
		if !done {
			v, done = f(), true
		}
		return v
	}
}

func mustNew(b *testing.B, cfg presence.Config) *presence.Engine {
	e, err := presence.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

// fill joins every membership of w into e.
func fill(b *testing.B, e *presence.Engine, w *workload) {
	for i := range w.reqs {
		if err := e.Heartbeat(ctx, w.reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

func loaded(b *testing.B, cfg presence.Config) (*presence.Engine, *workload) {
	w := sharedWorkload()
	e := mustNew(b, cfg)
	fill(b, e, w)
	return e, w
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHeartbeat refreshes present members of a 1M engine, in random
// order; p99-ns samples one call in 16.
func BenchmarkHeartbeat(b *testing.B) {
	e, w := loaded(b, presence.Config{})
	b.ReportAllocs()
	var samples []time.Duration
	i := 0
	for b.Loop() {
		req := &w.reqs[i%len(w.reqs)]
		if i%16 == 0 {
			t0 := time.Now()
			e.Heartbeat(ctx, *req)
			samples = append(samples, time.Since(t0))
		} else {
			e.Heartbeat(ctx, *req)
		}
		i++
	}
	reportP99(b, samples)
}

func reportP99(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkHeartbeatParallel is BenchmarkHeartbeat from every core.
func BenchmarkHeartbeatParallel(b *testing.B) {
	e, w := loaded(b, presence.Config{})
	b.ReportAllocs()
	b.ResetTimer()
	presencetest.Parallel(b, func(g, n int) {
		src := rand.NewPCG(uint64(g)+1, 7) // on this goroutine's stack
		for range n {
			e.Heartbeat(ctx, w.reqs[intN(src, len(w.reqs))])
		}
	})
}

// intN returns a number in [0, n) from src (Lemire's multiply-shift; the
// bias is far below anything a benchmark can see).
func intN(src *rand.PCG, n int) int {
	return int((src.Uint64() >> 32) * uint64(n) >> 32)
}

// joinPool is a set of uuids that are not in the workload.
var joinPool = sync1(func() []string {
	r := rand.New(rand.NewPCG(3, 4))
	out := make([]string, int(1_000_000*benchScale()))
	for i := range out {
		out[i] = uuidLike(r)
	}
	return out
})

// joinRequests are heartbeats that join the uuids of joinPool, which are
// not in the workload, each to one of w's channels.
func joinRequests(w *workload) []presence.HeartbeatRequest {
	pool := joinPool()
	reqs := make([]presence.HeartbeatRequest, len(pool))
	for i, u := range pool {
		reqs[i] = presence.HeartbeatRequest{UUID: u, Channels: w.channels[i%len(w.channels) : i%len(w.channels)+1]}
	}
	return reqs
}

// heartbeats sends reqs in turn, one per b.Loop iteration; when they run
// out, all of them leave off the clock and they start over, so a join
// benchmark only ever measures joins.
func heartbeats(b *testing.B, e *presence.Engine, reqs []presence.HeartbeatRequest) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(reqs) {
			b.StopTimer()
			for _, r := range reqs {
				e.Leave(ctx, presence.LeaveRequest{UUID: r.UUID, Channels: r.Channels})
			}
			i = 0
			b.StartTimer()
		}
		e.Heartbeat(ctx, reqs[i])
		i++
	}
}

// BenchmarkJoin joins new uuids into a 1M engine, each on one of its
// channels.
func BenchmarkJoin(b *testing.B) {
	e, w := loaded(b, presence.Config{})
	heartbeats(b, e, joinRequests(w))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "memberships/s")
}

// BenchmarkLeave removes members of a 1M engine; when all have left they
// rejoin off the clock.
func BenchmarkLeave(b *testing.B) {
	e, w := loaded(b, presence.Config{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(w.reqs) {
			b.StopTimer()
			fill(b, e, w)
			i = 0
			b.StartTimer()
		}
		r := &w.reqs[i]
		e.Leave(ctx, presence.LeaveRequest{UUID: r.UUID, Channels: r.Channels})
		i++
	}
}

// BenchmarkChurn is a leave and a join of the same membership in a 1M
// engine: one op is both.
func BenchmarkChurn(b *testing.B) {
	e, w := loaded(b, presence.Config{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := &w.reqs[i%len(w.reqs)]
		e.Leave(ctx, presence.LeaveRequest{UUID: r.UUID, Channels: r.Channels})
		e.Heartbeat(ctx, *r)
		i++
	}
}

// BenchmarkSetState replaces the state of present members.
func BenchmarkSetState(b *testing.B) {
	e, w := loaded(b, presence.Config{})
	state := json.RawMessage(`{"mood":"playing","level":12}`)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := &w.reqs[i%len(w.reqs)]
		e.SetState(ctx, presence.SetStateRequest{UUID: r.UUID, Channels: r.Channels, State: state})
		i++
	}
}

// bigChannel adds a channel of n members (the workload's first uuids, with
// state) to e.
func bigChannel(b *testing.B, e *presence.Engine, w *workload, n int) string {
	name := fmt.Sprintf("big-%d", n)
	for _, u := range w.uuids[:min(n, len(w.uuids))] {
		if err := e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: u, Channels: []string{name}, State: map[string]any{name: json.RawMessage(`{"level":3}`)}}); err != nil {
			b.Fatal(err)
		}
	}
	return name
}

// BenchmarkHereNow lists the members of a 100- and a 10,000-member channel
// of a 1M engine, with and without state.
func BenchmarkHereNow(b *testing.B) {
	e, w := loaded(b, presence.Config{})
	for _, n := range []int{100, 10_000} {
		name := bigChannel(b, e, w, n)
		for _, state := range []bool{false, true} {
			b.Run(fmt.Sprintf("members=%d/state=%v", n, state), func(b *testing.B) {
				q := presence.HereNowQuery{Channels: []string{name}, IncludeState: state}
				b.ReportAllocs()
				for b.Loop() {
					e.HereNow(ctx, q)
				}
			})
		}
	}
}

// BenchmarkAppendOccupants lists the members of a 100- and a 10,000-member
// channel of a 1M engine into a reused slice.
func BenchmarkAppendOccupants(b *testing.B) {
	e, w := loaded(b, presence.Config{})
	for _, n := range []int{100, 10_000} {
		name := bigChannel(b, e, w, n)
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			var dst []string
			b.ReportAllocs()
			for b.Loop() {
				dst, _ = e.AppendOccupants(ctx, dst[:0], name)
			}
		})
	}
}

// BenchmarkOccupancy reads the occupancy of a 10,000-member channel of a 1M
// engine from every core: run with -cpu 1,2.
func BenchmarkOccupancy(b *testing.B) {
	e, w := loaded(b, presence.Config{})
	name := bigChannel(b, e, w, 10_000)
	b.ReportAllocs()
	b.ResetTimer()
	presencetest.Parallel(b, func(_, n int) {
		for range n {
			if occ, _ := e.Occupancy(ctx, name); occ == 0 {
				panic("empty")
			}
		}
	})
}

// BenchmarkWhereNow lists the 4 channels of a uuid in a 1M engine.
func BenchmarkWhereNow(b *testing.B) {
	e, w := loaded(b, presence.Config{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.WhereNow(ctx, w.uuids[i%len(w.uuids)])
		i++
	}
}

// BenchmarkExpiryBurst makes 1M memberships expire at the same instant and
// sweeps them, with an all-subscription drained by another goroutine.
// It reports the CPU time per expired membership, the time from the
// deadline to the delivery of the last event, and the heap left afterwards
// relative to the empty engine's.
func BenchmarkExpiryBurst(b *testing.B) {
	w := sharedWorkload()
	var cpu, wall time.Duration
	var leftPct float64
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		clk := presencetest.NewManualClock(presencetest.Epoch)
		e := mustNew(b, presence.Config{Clock: clk, SweepInterval: -1, SubscriptionBuffer: 1 << 16})
		empty := heapAlloc()
		fill(b, e, w)
		sub, _ := e.Subscribe(ctx, presence.SubscribeOptions{All: true})
		st0, _ := e.Stats(ctx)
		done := make(chan struct{})
		go func() {
			for range sub.Events() {
			}
			close(done)
		}()
		clk.Add(presence.DefaultTimeout)
		runtime.GC() // no collection debt from the set-up on the clock
		b.StartTimer()
		t0, c0 := time.Now(), cpuTime()
		e.Sweep(ctx)
		st1, _ := e.Stats(ctx)
		sub.Close()
		<-done
		wall += time.Since(t0)
		cpu += cpuTime() - c0
		b.StopTimer()
		if st1.Memberships != 0 || st1.Events == st0.Events || sub.Err() != nil {
			b.Fatalf("after the sweep: %+v, subscription %v", st1, sub.Err())
		}
		leftPct = 100 * (float64(heapAlloc()) - float64(empty)) / float64(empty)
		e.Close()
		b.StartTimer()
	}
	n := float64(b.N * len(w.reqs))
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/expired")
	b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "delivered-ms")
	b.ReportMetric(leftPct, "heap-left-%")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkFanout measures heartbeats and joins with no subscriber and
// with an active all-subscription drained by another goroutine. With the
// default AnnounceMax the joins land in channels in interval mode (100
// members): join-announced turns interval mode off, so every join is an
// event.
func BenchmarkFanout(b *testing.B) {
	for _, subscribed := range []bool{false, true} {
		for _, op := range []string{"heartbeat", "join", "join-announced"} {
			b.Run(fmt.Sprintf("%s/subscribed=%v", op, subscribed), func(b *testing.B) {
				cfg := presence.Config{SubscriptionBuffer: 1 << 16}
				if op == "join-announced" {
					cfg.AnnounceMax = -1 // every join is an event, no interval mode
				}
				e, w := loaded(b, cfg)
				if subscribed {
					sub, _ := e.Subscribe(ctx, presence.SubscribeOptions{All: true})
					go func() {
						for range sub.Events() {
						}
					}()
					b.Cleanup(func() {
						if sub.Err() != nil {
							b.Errorf("subscription: %v", sub.Err())
						}
						sub.Close()
					})
				}
				reqs := w.reqs
				if op != "heartbeat" {
					reqs = joinRequests(w)
				}
				heartbeats(b, e, reqs)
			})
		}
	}
}

// BenchmarkFill builds the 1M engine from empty and reports its heap per
// membership (both indexes, deadlines and the expiry structure; no state).
func BenchmarkFill(b *testing.B) {
	w := sharedWorkload()
	var perMembership float64
	for b.Loop() {
		b.StopTimer()
		e := mustNew(b, presence.Config{})
		before := heapAlloc()
		b.StartTimer()
		fill(b, e, w)
		b.StopTimer()
		perMembership = (float64(heapAlloc()) - float64(before)) / float64(len(w.reqs))
		e.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*len(w.reqs))/b.Elapsed().Seconds(), "memberships/s")
	b.ReportMetric(perMembership, "heap-B/membership")
}

// BenchmarkCollect is one full garbage collection (runtime.GC) of a
// process holding an empty engine, then the 1M engine (filled from a
// workload dropped before the loop, so only the engine is live): the
// difference is what the engine's heap costs the collector each cycle.
// gc-cpu-ms is the runtime's estimate of the collector's CPU per
// collection (its workers on every core, assists and pauses).
func BenchmarkCollect(b *testing.B) {
	for _, size := range []string{"empty", "1M"} {
		b.Run("engine="+size, func(b *testing.B) {
			e := mustNew(b, presence.Config{})
			if size == "1M" {
				fill(b, e, newWorkload())
			}
			runtime.GC()
			gc := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
			metrics.Read(gc)
			gc0 := gc[0].Value.Float64()
			for b.Loop() {
				runtime.GC()
			}
			metrics.Read(gc)
			b.ReportMetric((gc[0].Value.Float64()-gc0)*1e3/float64(b.N), "gc-cpu-ms")
			runtime.KeepAlive(e)
		})
	}
}

// BenchmarkMixed is 90% heartbeat, 5% churn (leave + join), 4% occupancy
// and 1% here_now of a 100-member channel, from every core: run with
// -cpu 1,2 and compare ns/op.
func BenchmarkMixed(b *testing.B) {
	e, w := loaded(b, presence.Config{})
	b.ReportAllocs()
	b.ResetTimer()
	presencetest.Parallel(b, func(g, n int) {
		src := rand.NewPCG(uint64(g)+1, 9) // on this goroutine's stack
		for range n {
			req := &w.reqs[intN(src, len(w.reqs))]
			switch x := intN(src, 100); {
			case x < 90:
				e.Heartbeat(ctx, *req)
			case x < 95:
				e.Leave(ctx, presence.LeaveRequest{UUID: req.UUID, Channels: req.Channels})
				e.Heartbeat(ctx, *req)
			case x < 99:
				e.Occupancy(ctx, req.Channels[0])
			default:
				e.HereNow(ctx, presence.HereNowQuery{Channels: req.Channels})
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// asBackend hides e's concrete type from the compiler, so calls through the
// result are real interface calls, as in a server written against
// presence.Backend.
//
//go:noinline
func asBackend(e *presence.Engine) presence.Backend { return e }

// BenchmarkInterface runs the hot paths on a 1M engine called directly on
// *Engine and through the presence.Backend interface, in one run: what a
// server written against any backend pays for the interface. The loops are
// written out for each, so that "direct" is a direct call. "fresh-slice"
// heartbeats build their one-channel slice on the caller's stack for every
// call, as a server parsing a request does.
func BenchmarkInterface(b *testing.B) {
	e, w := loaded(b, presence.Config{})
	be := asBackend(e)
	b.Run("heartbeat/direct", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			e.Heartbeat(ctx, w.reqs[i%len(w.reqs)])
		}
	})
	b.Run("heartbeat/backend", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			be.Heartbeat(ctx, w.reqs[i%len(w.reqs)])
		}
	})
	b.Run("heartbeat-fresh-slice/direct", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p := w.pairs[i%len(w.pairs)]
			chans := [1]string{w.channels[p[1]]}
			e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: w.uuids[p[0]], Channels: chans[:]})
		}
	})
	b.Run("heartbeat-fresh-slice/backend", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p := w.pairs[i%len(w.pairs)]
			chans := [1]string{w.channels[p[1]]}
			be.Heartbeat(ctx, presence.HeartbeatRequest{UUID: w.uuids[p[0]], Channels: chans[:]})
		}
	})
	b.Run("churn/direct", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			r := &w.reqs[i%len(w.reqs)]
			e.Leave(ctx, presence.LeaveRequest{UUID: r.UUID, Channels: r.Channels})
			e.Heartbeat(ctx, *r)
		}
	})
	b.Run("churn/backend", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			r := &w.reqs[i%len(w.reqs)]
			be.Leave(ctx, presence.LeaveRequest{UUID: r.UUID, Channels: r.Channels})
			be.Heartbeat(ctx, *r)
		}
	})
	b.Run("occupancy/direct", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			e.Occupancy(ctx, w.channels[i%len(w.channels)])
		}
	})
	b.Run("occupancy/backend", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			be.Occupancy(ctx, w.channels[i%len(w.channels)])
		}
	})
	b.Run("here_now/direct", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			c := i % len(w.channels)
			e.HereNow(ctx, presence.HereNowQuery{Channels: w.channels[c : c+1]})
		}
	})
	b.Run("here_now/backend", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			c := i % len(w.channels)
			be.HereNow(ctx, presence.HereNowQuery{Channels: w.channels[c : c+1]})
		}
	})
}
