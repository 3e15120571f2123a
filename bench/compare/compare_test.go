package compare

import (
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
)

// Every benchmark has one sub-benchmark per backend, named impl=<backend>,
// so that `benchstat -col /impl` puts the backends side by side. run.sh runs
// each (benchmark, backend) in its own process so that heaps do not mix.

var workload = sync.OnceValue(func() *Workload { return NewWorkload(ScaleFromEnv()) })

// filled returns a backend holding the whole workload plus the hot channel.
// It is built once per process and backend and shared by the benchmarks
// that leave the set of memberships as they found it (heartbeats, churn,
// reads, the mixed load), so that -count and -cpu repetitions and
// RunParallel's first 1-iteration call do not rebuild 1M memberships.
//
// The members join with copies of the uuid strings the benchmarks then
// call with, as on a server, where every request parses its uuid afresh:
// a lookup compares the caller's uuid with the stored one byte by byte
// (reading both), where calls with the very strings stored would let Go's
// string comparison stop at the equal pointers. The engine keeps its own
// copy of each uuid (so a request does not escape), so only the peers
// could take that shortcut. PRESENCE_BENCH_SAME_STRINGS=1 fills with the
// calls' own strings instead, to measure the shortcut.
func filled(name string) Backend {
	filledMu.Lock()
	defer filledMu.Unlock()
	if be, ok := filledCache[name]; ok {
		return be
	}
	w := workload()
	be := New(name, w)
	Fill(be, w, joinStrings(w))
	FillHot(be, w)
	filledCache[name] = be
	runtime.GC()
	return be
}

var (
	filledMu    sync.Mutex
	filledCache = map[string]Backend{}
)

// forEach runs f as a sub-benchmark impl=<name> for every backend.
func forEach(b *testing.B, f func(b *testing.B, name string)) {
	for _, name := range Names {
		b.Run("impl="+name, func(b *testing.B) { f(b, name) })
	}
}

// BenchmarkJoin is a join of a new membership (an extra uuid on one of its
// channels) into a backend holding the 1M workload.
func BenchmarkJoin(b *testing.B) {
	forEach(b, func(b *testing.B, name string) {
		w := workload()
		be := New(name, w)
		defer be.Close()
		Fill(be, w, joinStrings(w))
		runtime.GC()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p := w.ExtraPairs[i%len(w.ExtraPairs)]
			be.Heartbeat(w.ExtraUUIDs[p.U], int(p.C))
			i++
		}
		if i > len(w.ExtraPairs) {
			b.Logf("%d iterations wrapped around %d extra memberships: later ones were heartbeats", i, len(w.ExtraPairs))
		}
	})
}

// BenchmarkHeartbeat is a heartbeat of a present member, members taken in
// the workload's shuffled order.
func BenchmarkHeartbeat(b *testing.B) {
	forEach(b, func(b *testing.B, name string) {
		w := workload()
		be := filled(name)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p := w.Pairs[i%len(w.Pairs)]
			be.Heartbeat(w.UUIDs[p.U], int(p.C))
			i++
		}
	})
}

// BenchmarkChurn is a leave and a join again of a present member (one op
// is both calls).
func BenchmarkChurn(b *testing.B) {
	forEach(b, func(b *testing.B, name string) {
		w := workload()
		be := filled(name)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p := w.Pairs[i%len(w.Pairs)]
			u := w.UUIDs[p.U]
			be.Leave(u, int(p.C))
			be.Heartbeat(u, int(p.C))
			i++
		}
	})
}

// BenchmarkHereNow lists every uuid of a channel of 100 members and of the
// hot channel (10,000 members at full scale; the engine pages it by 1000).
func BenchmarkHereNow(b *testing.B) {
	w := workload()
	for _, size := range []struct {
		name string
		c    int
		n    int
	}{
		{"members=100", int(w.Pairs[0].C), w.PerChannel()},
		{"members=hot", w.HotChannel, w.Hot},
	} {
		b.Run(size.name, func(b *testing.B) {
			forEach(b, func(b *testing.B, name string) {
				be := filled(name)
				b.ReportAllocs()
				for b.Loop() {
					if n := be.HereNow(size.c); n != size.n {
						b.Fatalf("here_now listed %d uuids, want %d", n, size.n)
					}
				}
			})
			// The engine's allocation-free listing, AppendOccupants, into
			// a slice reused across calls.
			b.Run("impl=engine-append", func(b *testing.B) {
				e := filled(NameEngine).(*Engine).E
				ch := w.Channels[size.c]
				var buf []string
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if buf, err = e.AppendOccupants(ctx, buf[:0], ch); err != nil || len(buf) != size.n {
						b.Fatalf("AppendOccupants listed %d uuids (%v), want %d", len(buf), err, size.n)
					}
				}
			})
		})
	}
}

// BenchmarkOccupancy is the occupancy of the hot channel, from every
// GOMAXPROCS goroutine at once (run with -cpu 1,2).
func BenchmarkOccupancy(b *testing.B) {
	forEach(b, func(b *testing.B, name string) {
		w := workload()
		be := filled(name)
		b.ReportAllocs()
		b.ResetTimer()
		presencetest.Parallel(b, func(_, n int) {
			for range n {
				if got := be.Occupancy(w.HotChannel); got != w.Hot {
					panic("wrong occupancy")
				}
			}
		})
	})
}

// intN returns a number in [0, n) from src (Lemire's multiply-shift; the
// bias is far below anything a benchmark can see).
func intN(src *rand.PCG, n int) int {
	return int((src.Uint64() >> 32) * uint64(n) >> 32)
}

// BenchmarkMixed is the mixed load from every GOMAXPROCS goroutine at once
// (run with -cpu 1,2): 90% heartbeat of a present member, 5% churn (leave
// and join again), 4% occupancy and 1% here_now of a 100-member channel,
// members chosen at random. It reports operations per second.
func BenchmarkMixed(b *testing.B) {
	forEach(b, func(b *testing.B, name string) {
		w := workload()
		be := filled(name)
		b.ReportAllocs()
		b.ResetTimer()
		presencetest.Parallel(b, func(g, n int) {
			src := rand.NewPCG(Seed, uint64(g)+1) // on this goroutine's stack
			for range n {
				p := w.Pairs[intN(src, len(w.Pairs))]
				u, c := w.UUIDs[p.U], int(p.C)
				switch x := intN(src, 100); {
				case x < 90:
					be.Heartbeat(u, c)
				case x < 95:
					be.Leave(u, c)
					be.Heartbeat(u, c)
				case x < 99:
					be.Occupancy(c)
				default:
					be.HereNow(c)
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
}

// BenchmarkHeap fills an empty backend with the 1M workload and reports its
// heap per membership, then makes every member leave and reports the heap
// left. The uuids it inserts are fresh copies, so a backend that keeps them
// pays for them (the 10,000 channel names, 160 KB, are shared with the
// workload and not counted). Heap figures are HeapAlloc after runtime.GC,
// relative to the heap before the backend was created; heap per membership
// leaves out the empty backend's own heap (heap-empty-B, which for the
// centrifuge backends includes their Node).
func BenchmarkHeap(b *testing.B) {
	forEach(b, func(b *testing.B, name string) {
		w := workload()
		var perMember, emptyB, leftB float64
		for b.Loop() {
			h0 := heapAlloc()
			be := New(name, w)
			hEmpty := heapAlloc() - h0
			uuids := cloneAll(w.UUIDs)
			Fill(be, w, uuids)
			uuids = nil
			hFull := heapAlloc() - h0
			for _, p := range w.Pairs {
				be.Leave(w.UUIDs[p.U], int(p.C))
			}
			hLeft := heapAlloc() - h0
			runtime.KeepAlive(uuids)
			runtime.KeepAlive(be)
			be.Close()
			perMember = float64(hFull-hEmpty) / float64(w.Memberships())
			emptyB, leftB = float64(hEmpty), float64(hLeft)
		}
		b.ReportMetric(perMember, "heap-B/membership")
		b.ReportMetric(emptyB, "heap-empty-B")
		b.ReportMetric(leftB, "heap-left-B")
	})
}

// BenchmarkExpire makes all 1M memberships expire at the same instant and
// reports the CPU time per expired membership (process CPU, user+system,
// from the deadline until the last timeout was delivered) and the delay of
// the last timeout after the deadline. Every timeout is announced
// (AnnounceMax -1), so 1M timeout events go to an all-subscription drained
// by a goroutine.
//
// impl=engine uses a mock clock: it is set past the deadline and Sweep is
// called once, so the delay is Sweep's own latency (the sweeper goroutine
// adds up to SweepInterval, 1 s, in production). impl=engine-realclock and
// impl=centrifuge-map use the real clock and their own expiry goroutines,
// with every deadline set to the same instant a few seconds after the fill
// began. The engine also reports its heap once everything expired next to
// the empty engine's.
func BenchmarkExpire(b *testing.B) {
	b.Run("impl=engine", benchExpireEngineMock)
	b.Run("impl=engine-realclock", benchExpireEngineReal)
	b.Run("impl=centrifuge-map", benchExpireMap)
}

// expireWait is how long after the start of the fill the real-clock
// deadline falls.
func expireWait(w *Workload) time.Duration {
	if w.Scale == Small {
		return 2 * time.Second
	}
	return 15 * time.Second
}

func benchExpireEngineMock(b *testing.B) {
	w := workload()
	var cpuPer, delay, emptyB, leftB float64
	for b.Loop() {
		b.StopTimer()
		start := time.Unix(1_800_000_000, 0)
		mock := clock.NewMock()
		mock.Set(start)
		h0 := heapAlloc()
		be := NewEngine(w, presence.Config{Clock: mock, SweepInterval: -1, AnnounceMax: -1})
		hEmpty := heapAlloc() - h0
		uuids := cloneAll(w.UUIDs)
		Fill(be, w, uuids)
		uuids = nil
		d := newDrainer(b, be.E, w.Memberships())
		mock.Set(start.Add(presence.DefaultTimeout))
		b.StartTimer()
		cpu0, t0 := cpuTime(), time.Now()
		if err := be.E.Sweep(ctx); err != nil {
			b.Fatal(err)
		}
		last := d.wait(b)
		cpu1 := cpuTime()
		b.StopTimer()
		hLeft := heapAlloc() - h0
		runtime.KeepAlive(uuids)
		be.Close()
		cpuPer = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(w.Memberships())
		delay = float64(last.Sub(t0)) / float64(time.Millisecond)
		emptyB, leftB = float64(hEmpty), float64(hLeft)
		b.StartTimer()
	}
	b.ReportMetric(cpuPer, "cpu-us/expired")
	b.ReportMetric(delay, "delay-ms")
	b.ReportMetric(emptyB, "heap-empty-B")
	b.ReportMetric(leftB, "heap-left-B")
}

func benchExpireEngineReal(b *testing.B) {
	w := workload()
	var cpuPer, delay, emptyB, leftB float64
	for b.Loop() {
		b.StopTimer()
		h0 := heapAlloc()
		be := NewEngine(w, presence.Config{MinTimeout: time.Second, AnnounceMax: -1})
		hEmpty := heapAlloc() - h0
		uuids := cloneAll(w.UUIDs)
		deadline := time.Now().Add(expireWait(w))
		for _, p := range w.Pairs {
			err := be.E.Heartbeat(ctx, presence.HeartbeatRequest{
				UUID: uuids[p.U], Channels: w.ChanSlices[p.C], Timeout: time.Until(deadline),
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		uuids = nil
		if left := time.Until(deadline); left < 1100*time.Millisecond {
			b.Fatalf("fill ended %v before the deadline: the timeouts were clamped to 1 s; raise expireWait", left)
		}
		d := newDrainer(b, be.E, w.Memberships())
		time.Sleep(time.Until(deadline))
		b.StartTimer()
		cpu0 := cpuTime()
		last := d.wait(b)
		cpu1 := cpuTime()
		b.StopTimer()
		hLeft := heapAlloc() - h0
		runtime.KeepAlive(uuids)
		be.Close()
		cpuPer = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(w.Memberships())
		delay = float64(last.Sub(deadline)) / float64(time.Millisecond)
		emptyB, leftB = float64(hEmpty), float64(hLeft)
		b.StartTimer()
	}
	b.ReportMetric(cpuPer, "cpu-us/expired")
	b.ReportMetric(delay, "delay-ms")
	b.ReportMetric(emptyB, "heap-empty-B")
	b.ReportMetric(leftB, "heap-left-B")
}

func benchExpireMap(b *testing.B) {
	w := workload()
	var cpuPer, delay, emptyB, leftB float64
	for b.Loop() {
		b.StopTimer()
		h0 := heapAlloc()
		be := NewMap(w, 0)
		hEmpty := heapAlloc() - h0
		uuids := cloneAll(w.UUIDs)
		deadline := time.Now().Add(expireWait(w))
		be.ExpireAt(deadline)
		Fill(be, w, uuids)
		uuids = nil
		if time.Until(deadline) < 100*time.Millisecond {
			b.Fatalf("fill ended after the deadline; raise expireWait")
		}
		time.Sleep(time.Until(deadline))
		b.StartTimer()
		cpu0 := cpuTime()
		want := int64(w.Memberships())
		for be.Removed.Load() < want {
			time.Sleep(2 * time.Millisecond)
			if time.Since(deadline) > time.Minute {
				b.Fatalf("%d of %d keys expired a minute after the deadline", be.Removed.Load(), want)
			}
		}
		cpu1 := cpuTime()
		b.StopTimer()
		hLeft := heapAlloc() - h0
		runtime.KeepAlive(uuids)
		be.Close()
		cpuPer = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(w.Memberships())
		delay = float64(time.Unix(0, be.LastRemoved.Load()).Sub(deadline)) / float64(time.Millisecond)
		emptyB, leftB = float64(hEmpty), float64(hLeft)
		b.StartTimer()
	}
	b.ReportMetric(cpuPer, "cpu-us/expired")
	b.ReportMetric(delay, "delay-ms")
	b.ReportMetric(emptyB, "heap-empty-B")
	b.ReportMetric(leftB, "heap-left-B")
}

// drainer counts the timeout events of an all-subscription.
type drainer struct {
	sub  *presence.Subscription
	done chan time.Time
}

func newDrainer(b *testing.B, e *presence.Engine, want int) *drainer {
	sub, err := e.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	d := &drainer{sub: sub, done: make(chan time.Time, 1)}
	go func() {
		n := 0
		for ev := range sub.Events() {
			if ev.Action == presence.Timeout {
				if n++; n == want {
					d.done <- time.Now()
				}
			}
		}
	}()
	return d
}

// wait returns when the last timeout arrived, and closes the subscription.
func (d *drainer) wait(b *testing.B) time.Time {
	select {
	case t := <-d.done:
		d.sub.Close()
		return t
	case <-time.After(2 * time.Minute):
		b.Fatalf("timeouts not all delivered after 2 minutes; subscription error: %v", d.sub.Err())
	}
	return time.Time{}
}

// BenchmarkEvents measures what an active all-subscription, drained by a
// goroutine, costs the engine's heartbeat and join paths: sub=none has no
// subscription, sub=all has one. op=join uses the default config, where the
// 100-member channels are in interval mode and joins are not announced one
// by one; op=join-announced sets AnnounceMax -1 so every join is an event.
func BenchmarkEvents(b *testing.B) {
	for _, op := range []string{"heartbeat", "join", "join-announced"} {
		b.Run("op="+op, func(b *testing.B) {
			for _, sub := range []string{"none", "all"} {
				b.Run("sub="+sub, func(b *testing.B) { benchEvents(b, op, sub == "all") })
			}
		})
	}
}

func benchEvents(b *testing.B, op string, subscribe bool) {
	w := workload()
	var cfg presence.Config
	if op == "join-announced" {
		cfg.AnnounceMax = -1
	}
	be := NewEngine(w, cfg)
	defer be.Close()
	Fill(be, w, w.UUIDs)
	var sub *presence.Subscription
	var drained sync.WaitGroup
	if subscribe {
		var err error
		if sub, err = be.E.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: eventsBuffer}); err != nil {
			b.Fatal(err)
		}
		drained.Add(1)
		go func() {
			defer drained.Done()
			for range sub.Events() {
			}
		}()
	}
	runtime.GC()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if op == "heartbeat" {
			p := w.Pairs[i%len(w.Pairs)]
			be.Heartbeat(w.UUIDs[p.U], int(p.C))
		} else {
			p := w.ExtraPairs[i%len(w.ExtraPairs)]
			be.Heartbeat(w.ExtraUUIDs[p.U], int(p.C))
		}
		i++
	}
	if subscribe {
		sub.Close()
		drained.Wait()
		if err := sub.Err(); err != nil {
			b.Fatalf("the all-subscription ended with %v: the measurement is void", err)
		}
	}
}

// heapAlloc returns HeapAlloc after two garbage collections. Its first call
// starts spareThreads OS threads first.
func heapAlloc() uint64 {
	warmThreads()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// cpuTime returns the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// joinStrings returns the uuid strings a backend is filled with: copies of
// w.UUIDs, or w.UUIDs itself when PRESENCE_BENCH_SAME_STRINGS is 1 (see
// filled).
func joinStrings(w *Workload) []string {
	if os.Getenv("PRESENCE_BENCH_SAME_STRINGS") == "1" {
		return w.UUIDs
	}
	return cloneAll(w.UUIDs)
}

func cloneAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.Clone(v)
	}
	return out
}

// eventsBuffer is the all-subscription's buffer in BenchmarkEvents. With
// the default 1024, a subscriber that only counts is sometimes closed as
// slow during a burst of announced joins on 2 cores (a GC cycle can keep it
// off a CPU for longer than 1024 joins take), which would void the
// measurement; the larger buffer keeps it measuring the delivery cost.
var eventsBuffer = 1 << 16

// spareThreads is how many OS threads warmThreads makes the runtime start.
const spareThreads = 8

// warmThreads makes the runtime start spareThreads OS threads (Ms) and
// leaves them idle, once per process. The runtime allocates an M's
// structures (about 5.6 KB) on the heap and never frees them: when the
// runtime happened to start one more thread during a fill, that showed up
// as a "heap left after all leave" of 1.05x the empty engine's, in 4 of 6
// rounds (a heap profile taken at that point put the difference in
// runtime.allocm). With spare threads started before the first
// measurement, the heap figures measure the backends only.
var warmThreads = sync.OnceFunc(func() {
	var started, release sync.WaitGroup
	started.Add(spareThreads)
	release.Add(1)
	var done sync.WaitGroup
	for range spareThreads {
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread() // a thread of its own while it waits
			started.Done()
			release.Wait()
			runtime.UnlockOSThread() // the thread goes back to the idle pool
		}()
	}
	started.Wait()
	release.Done()
	done.Wait()
})
