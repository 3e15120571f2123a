package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
)

// Config describes one simulation.
type Config struct {
	UUIDs     int           // clients, one uuid each
	Channels  int           // channels the clients are spread over
	PerUUID   int           // channels per client
	Heartbeat time.Duration // heartbeat interval of every client
	Timeout   time.Duration // presence timeout each heartbeat asks for
	Churn     float64       // fraction of clients leaving per simulated minute (they rejoin at their next heartbeat)
	State     float64       // fraction of clients setting their state per simulated minute
	Vanish    float64       // fraction of clients vanishing without leaving, at random moments of the run
	HereNow   int           // here_now calls per simulated second
	Occupancy int           // occupancy calls per simulated second
	Duration  time.Duration // simulated time
	Step      time.Duration // clock advance between sweeps
	Realtime  bool          // use the real clock and wait out every step
	Workers   int           // goroutines issuing operations
	Seed      uint64
	// AnnounceMax is passed to the engine's Config (zero means its default).
	AnnounceMax int
	// Sample is the interval of the occupancy-over-time samples.
	Sample time.Duration
	// Watch is how many channels the chart follows besides the total.
	Watch int
}

// Op is an operation the simulator measures.
type Op int

// The measured operations.
const (
	OpHeartbeat Op = iota
	OpJoin
	OpLeave
	OpSetState
	OpHereNow
	OpOccupancy
	numOps
)

var opNames = [numOps]string{"heartbeat", "join", "leave", "set_state", "here_now", "occupancy"}

// String returns the operation's name as the report prints it.
func (o Op) String() string { return opNames[o] }

// Sample is one point of the occupancy-over-time series.
type Sample struct {
	At          time.Duration // simulated time since the start
	Memberships int           // Stats().Memberships
	Channels    []int         // occupancy of each watched channel
	HeapAlloc   uint64        // runtime HeapAlloc (live and not yet collected)
}

// OpStats are the figures of one operation.
type OpStats struct {
	Count         uint64
	PerSecond     float64 // Count over the wall time of the run
	P50, P90, P99 time.Duration
	Max           time.Duration
}

// Report is the outcome of a simulation.
type Report struct {
	Config            Config
	Wall              time.Duration // real time of the run (setup excluded)
	Simulated         time.Duration
	PeakMemberships   int
	FinalMemberships  int
	FinalUUIDs        int
	FinalChannels     int
	Vanished          int // clients that vanished without leaving
	Ops               [numOps]OpStats
	TotalOps          uint64
	Events            map[string]uint64 // events received by the all-subscription, by action
	EventsReceived    uint64
	EngineEvents      uint64 // Stats().Events at the end
	SlowSubscribers   uint64 // Stats().SlowSubscriptions at the end
	SubscriptionErr   error  // why the all-subscription ended early, if it did
	Samples           []Sample
	WatchedChannels   []string
	PeakHeap          uint64 // largest HeapAlloc sampled
	EngineHeapFull    uint64 // live heap of the engine after the initial join (after GC)
	HeapPerMember     float64
	MembershipsAtJoin int
}

// client is one simulated uuid.
type client struct {
	uuid     string
	channels []string
	phase    int32 // second of the heartbeat interval at which it heartbeats
	vanishAt int32 // step from which it sends nothing, -1 never
	joined   bool  // present (as far as the client knows)
	gone     bool  // vanished
}

// task is one operation for a worker.
type task struct {
	op Op
	c  int32 // client, or channel for reads
}

// Run runs the simulation cfg describes, reporting progress to bar (nil for
// none), and returns its report.
func Run(ctx context.Context, cfg Config, bar *progress) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	chans := make([]string, cfg.Channels)
	for i := range chans {
		chans[i] = fmt.Sprintf("channel-%06d", i)
	}
	steps := int(cfg.Duration / cfg.Step)
	hbSteps := max(1, int(cfg.Heartbeat/cfg.Step))
	clients := make([]client, cfg.UUIDs)
	vanished := 0
	for i := range clients {
		c := &clients[i]
		c.uuid = fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff)
		c.channels = pickChannels(r, chans, cfg.PerUUID)
		c.phase = int32(r.IntN(hbSteps))
		c.vanishAt = -1
		if r.Float64() < cfg.Vanish {
			c.vanishAt = int32(1 + r.IntN(max(1, steps)))
			vanished++
		}
	}
	watched := chans[:min(cfg.Watch, len(chans))]
	byPhase := make([][]int32, hbSteps)
	for i := range clients {
		byPhase[clients[i].phase] = append(byPhase[clients[i].phase], int32(i))
	}

	var clk clock.Clock
	var mock *clock.Mock
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if cfg.Realtime {
		clk = clock.New()
	} else {
		mock = clock.NewMock()
		mock.Set(start)
		clk = mock
	}
	minTimeout := min(presence.DefaultMinTimeout, cfg.Timeout)
	ecfg := presence.Config{
		Clock:         clk,
		SweepInterval: -1,
		MinTimeout:    minTimeout,
		AnnounceMax:   cfg.AnnounceMax,
	}
	if cfg.Timeout > presence.DefaultMaxTimeout {
		ecfg.MaxTimeout = cfg.Timeout
	}

	h0 := liveHeap()
	eng, err := presence.New(ecfg)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	sub, err := eng.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: 1 << 16})
	if err != nil {
		return nil, err
	}
	var counts [8]atomic.Uint64
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for ev := range sub.Events() {
			counts[int(ev.Action)%len(counts)].Add(1)
		}
	}()
	hEmpty := liveHeap()

	rep := &Report{Config: cfg, Vanished: vanished, WatchedChannels: watched}
	workers := make([]*worker, cfg.Workers)
	for i := range workers {
		workers[i] = &worker{eng: eng, clients: clients, chans: chans, timeout: cfg.Timeout,
			rand: rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1))}
	}
	perWorker := make([][]task, cfg.Workers)
	dispatch := func() error {
		var wg sync.WaitGroup
		errs := make([]error, len(workers))
		for i, w := range workers {
			if len(perWorker[i]) == 0 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = w.run(perWorker[i])
			}()
		}
		wg.Wait()
		for i := range perWorker {
			perWorker[i] = perWorker[i][:0]
		}
		return errors.Join(errs...)
	}
	byClient := func(i int) int { return i % cfg.Workers }

	sample := func(step int) error {
		st, err := eng.Stats(ctx)
		if err != nil {
			return err
		}
		s := Sample{At: time.Duration(step) * cfg.Step, Memberships: st.Memberships}
		for _, ch := range watched {
			n, err := eng.Occupancy(ctx, ch)
			if err != nil {
				return err
			}
			s.Channels = append(s.Channels, n)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s.HeapAlloc = ms.HeapAlloc
		rep.PeakHeap = max(rep.PeakHeap, ms.HeapAlloc)
		rep.PeakMemberships = max(rep.PeakMemberships, st.Memberships)
		rep.Samples = append(rep.Samples, s)
		return nil
	}

	wallStart := time.Now()
	// Step 0: every client joins.
	for i := range clients {
		perWorker[byClient(i)] = append(perWorker[byClient(i)], task{op: OpJoin, c: int32(i)})
	}
	if err := dispatch(); err != nil {
		return nil, err
	}
	st, err := eng.Stats(ctx)
	if err != nil {
		return nil, err
	}
	rep.MembershipsAtJoin = st.Memberships
	full := liveHeap()
	rep.EngineHeapFull = full - min(full, hEmpty)
	if st.Memberships > 0 {
		rep.HeapPerMember = float64(rep.EngineHeapFull) / float64(st.Memberships)
	}
	_ = h0
	sampleEvery := max(1, int(cfg.Sample/cfg.Step))
	if err := sample(0); err != nil {
		return nil, err
	}

	stepSec := cfg.Step.Seconds()
	churnPerStep := cfg.Churn * float64(cfg.UUIDs) * stepSec / 60
	statePerStep := cfg.State * float64(cfg.UUIDs) * stepSec / 60
	hereNowPerStep := float64(cfg.HereNow) * stepSec
	occPerStep := float64(cfg.Occupancy) * stepSec
	var churnAcc, stateAcc, hnAcc, occAcc float64
	bar.begin(steps, cfg.Step)
	realStart := time.Now()

	for step := 1; step <= steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if cfg.Realtime {
			time.Sleep(time.Until(realStart.Add(time.Duration(step) * cfg.Step)))
		} else {
			mock.Set(start.Add(time.Duration(step) * cfg.Step))
		}
		if err := eng.Sweep(ctx); err != nil {
			return nil, err
		}
		// The clients' side, decided here so that workers share nothing:
		// who vanishes, who heartbeats (or rejoins), who leaves, who sets
		// state, and the reads.
		// A vanished client is noticed at its first heartbeat due after
		// vanishAt: that heartbeat and every later one is not sent.
		for _, i := range byPhase[step%hbSteps] {
			c := &clients[i]
			if c.gone {
				continue
			}
			if c.vanishAt >= 0 && c.vanishAt <= int32(step) {
				c.gone = true
				continue
			}
			op := OpHeartbeat
			if !c.joined {
				op = OpJoin
			}
			perWorker[byClient(int(i))] = append(perWorker[byClient(int(i))], task{op: op, c: i})
		}
		for churnAcc += churnPerStep; churnAcc >= 1; churnAcc-- {
			i := r.IntN(len(clients))
			if c := &clients[i]; !c.gone && c.joined && (c.vanishAt < 0 || c.vanishAt > int32(step)) {
				perWorker[byClient(i)] = append(perWorker[byClient(i)], task{op: OpLeave, c: int32(i)})
			}
		}
		for stateAcc += statePerStep; stateAcc >= 1; stateAcc-- {
			i := r.IntN(len(clients))
			if c := &clients[i]; !c.gone && (c.vanishAt < 0 || c.vanishAt > int32(step)) {
				perWorker[byClient(i)] = append(perWorker[byClient(i)], task{op: OpSetState, c: int32(i)})
			}
		}
		for hnAcc += hereNowPerStep; hnAcc >= 1; hnAcc-- {
			w := r.IntN(cfg.Workers)
			perWorker[w] = append(perWorker[w], task{op: OpHereNow, c: int32(r.IntN(len(chans)))})
		}
		for occAcc += occPerStep; occAcc >= 1; occAcc-- {
			w := r.IntN(cfg.Workers)
			perWorker[w] = append(perWorker[w], task{op: OpOccupancy, c: int32(r.IntN(len(chans)))})
		}
		if err := dispatch(); err != nil {
			return nil, err
		}
		if step%sampleEvery == 0 || step == steps {
			if err := sample(step); err != nil {
				return nil, err
			}
		}
		bar.update(step, rep.Samples[len(rep.Samples)-1].Memberships)
	}
	bar.done()
	rep.Wall = time.Since(wallStart)
	rep.Simulated = time.Duration(steps) * cfg.Step

	st, err = eng.Stats(ctx)
	if err != nil {
		return nil, err
	}
	rep.FinalMemberships, rep.FinalUUIDs, rep.FinalChannels = st.Memberships, st.UUIDs, st.Channels
	rep.EngineEvents, rep.SlowSubscribers = st.Events, st.SlowSubscriptions
	sub.Close()
	<-drained
	rep.SubscriptionErr = sub.Err()
	rep.Events = map[string]uint64{}
	for a := presence.Join; a <= presence.Interval; a++ {
		n := counts[int(a)%len(counts)].Load()
		rep.Events[a.String()] = n
		rep.EventsReceived += n
	}

	var hists [numOps]hist
	for _, w := range workers {
		for o := range hists {
			hists[o].merge(&w.hist[o])
		}
	}
	for o := range hists {
		h := &hists[o]
		rep.Ops[o] = OpStats{
			Count:     h.n,
			PerSecond: float64(h.n) / rep.Wall.Seconds(),
			P50:       h.quantile(0.50),
			P90:       h.quantile(0.90),
			P99:       h.quantile(0.99),
			Max:       time.Duration(h.max),
		}
		rep.TotalOps += h.n
	}
	return rep, nil
}

func (cfg *Config) check() error {
	switch {
	case cfg.UUIDs < 1 || cfg.Channels < 1 || cfg.PerUUID < 1:
		return errors.New("-uuids, -channels and -per-uuid must be at least 1")
	case cfg.PerUUID > cfg.Channels:
		return errors.New("-per-uuid must not exceed -channels")
	case cfg.PerUUID > presence.DefaultMaxNamesPerCall:
		return fmt.Errorf("-per-uuid must not exceed %d, the engine's names per call", presence.DefaultMaxNamesPerCall)
	case cfg.Step <= 0 || cfg.Heartbeat < cfg.Step || cfg.Duration < cfg.Step:
		return errors.New("-step must be positive and not exceed -heartbeat and -duration")
	case cfg.Timeout < time.Second:
		return errors.New("-timeout must be at least 1s")
	case cfg.Churn < 0 || cfg.State < 0 || cfg.Vanish < 0 || cfg.Vanish > 1:
		return errors.New("-churn and -state must not be negative and -vanish must be in [0, 1]")
	case cfg.HereNow < 0 || cfg.Occupancy < 0:
		return errors.New("-herenow and -occupancy must not be negative")
	case cfg.Workers < 1:
		return errors.New("-workers must be at least 1")
	case cfg.Sample < cfg.Step:
		cfg.Sample = cfg.Step
	}
	return nil
}

// pickChannels returns n distinct channels of chans, chosen at random.
func pickChannels(r *rand.Rand, chans []string, n int) []string {
	out := make([]string, 0, n)
	for len(out) < n {
		c := chans[r.IntN(len(chans))]
		dup := false
		for _, o := range out {
			dup = dup || o == c
		}
		if !dup {
			out = append(out, c)
		}
	}
	return out
}

// worker issues operations and keeps their latency histograms.
type worker struct {
	eng     *presence.Engine
	clients []client
	chans   []string
	timeout time.Duration
	rand    *rand.Rand
	hist    [numOps]hist
	buf     []byte
	oneCh   [1]string
}

func (w *worker) run(tasks []task) error {
	ctx := context.Background() // the engine does not consult it; Run checks its own between steps
	for _, t := range tasks {
		var err error
		start := time.Now()
		switch t.op {
		case OpHeartbeat, OpJoin:
			c := &w.clients[t.c]
			err = w.eng.Heartbeat(ctx, presence.HeartbeatRequest{UUID: c.uuid, Channels: c.channels, Timeout: w.timeout})
			c.joined = true
		case OpLeave:
			c := &w.clients[t.c]
			err = w.eng.Leave(ctx, presence.LeaveRequest{UUID: c.uuid, Channels: c.channels})
			c.joined = false
		case OpSetState:
			c := &w.clients[t.c]
			w.buf = append(w.buf[:0], `{"mood":"`...)
			w.buf = append(w.buf, moods[w.rand.IntN(len(moods))]...)
			w.buf = append(w.buf, `","seq":`...)
			w.buf = strconv.AppendInt(w.buf, int64(w.rand.IntN(1000)), 10)
			w.buf = append(w.buf, '}')
			_, err = w.eng.SetState(ctx, presence.SetStateRequest{UUID: c.uuid, Channels: c.channels, State: json.RawMessage(w.buf)})
		case OpHereNow:
			w.oneCh[0] = w.chans[t.c]
			_, err = w.eng.HereNow(ctx, presence.HereNowQuery{Channels: w.oneCh[:]})
		case OpOccupancy:
			_, err = w.eng.Occupancy(ctx, w.chans[t.c])
		}
		w.hist[t.op].add(time.Since(start))
		if err != nil {
			return fmt.Errorf("%s: %w", t.op, err)
		}
	}
	return nil
}

var moods = []string{"happy", "busy", "away", "typing"}

// liveHeap returns HeapAlloc after two garbage collections.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
