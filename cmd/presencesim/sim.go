// sim.go runs a simulation: the clients' side (who heartbeats, arrives,
// leaves, vanishes or sets state at each step, decided on one goroutine
// from one seeded source), the engine calls on worker goroutines, the
// sampling of occupancy and the counting of events.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
)

// Config describes one simulation.
type Config struct {
	UUIDs      int           // clients, one uuid each
	Online     float64       // fraction of the clients online at the peak, in (0, 1]
	Channels   int           // channels the clients are spread over
	Skew       float64       // Zipf exponent of channel popularity: 0 uniform, 1 a few big lobbies and many small rooms
	PerUUID    int           // channels per client
	Heartbeat  time.Duration // heartbeat interval of every client
	Timeout    time.Duration // presence timeout each heartbeat asks for
	RampUp     time.Duration // time from nobody online to the peak
	Wave       float64       // depth of the wave of online clients in [0, 1]: 0.4 goes down to 60% of the peak
	WavePeriod time.Duration // period of the wave; zero means Duration
	Churn      float64       // fraction of online clients ending their session per simulated minute (others arrive in their place)
	Vanish     float64       // fraction of session ends that vanish without leaving (their memberships time out)
	State      float64       // fraction of online clients setting their state per simulated minute
	HereNow    int           // here_now calls per simulated second
	Occupancy  int           // occupancy calls per simulated second
	Duration   time.Duration // simulated time
	Step       time.Duration // clock advance between sweeps
	Realtime   bool          // use the real clock and wait out every step
	Workers    int           // goroutines issuing operations
	Seed       uint64
	// AnnounceMax is passed to the engine's Config (zero means its default).
	AnnounceMax int
	// Deltas is passed to the engine's Config: interval events carry the
	// joins, leaves and timeouts since the previous one.
	Deltas bool
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

// EventCounts counts events: Events by action (indexed by presence.Action,
// index 0 unused), Deltas the joins, leaves and timeouts carried by
// interval events (same index), Refresh the interval events that carried
// here_now_refresh instead of their deltas.
type EventCounts struct {
	Events  [presence.Interval + 1]uint64
	Deltas  [presence.Timeout + 1]uint64
	Refresh uint64
}

func (c *EventCounts) add(ev presence.Event) {
	if int(ev.Action) < len(c.Events) {
		c.Events[ev.Action]++
	}
	for _, d := range ev.Deltas {
		if int(d.Action) < len(c.Deltas) {
			c.Deltas[d.Action]++
		}
	}
	if ev.HereNowRefresh {
		c.Refresh++
	}
}

func (c *EventCounts) merge(o *EventCounts) {
	for a := range c.Events {
		c.Events[a] += o.Events[a]
	}
	for a := range c.Deltas {
		c.Deltas[a] += o.Deltas[a]
	}
	c.Refresh += o.Refresh
}

// Sample is one point of the occupancy-over-time series.
type Sample struct {
	At          time.Duration // simulated time since the start
	Memberships int           // Stats().Memberships
	Online      int           // clients online as the simulator sees them
	Channels    []int         // occupancy of each watched channel
	HeapAlloc   uint64        // runtime HeapAlloc (live and not yet collected)
	// Events counts the events stamped after the previous sample's At, up
	// to and including this one's.
	Events EventCounts
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
	Config           Config
	Wall             time.Duration // real time of the run (setup excluded)
	Simulated        time.Duration
	PeakMemberships  int
	PeakAt           time.Duration
	FinalMemberships int
	FinalUUIDs       int
	FinalChannels    int
	Arrivals         int // sessions started
	Leaves           int // sessions ended by a leave
	Vanished         int // sessions ended by vanishing without leaving
	Ops              [numOps]OpStats
	TotalOps         uint64
	Events           EventCounts // received by the all-subscription
	EventsReceived   uint64
	EngineEvents     uint64 // Stats().Events at the end
	SlowSubscribers  uint64 // Stats().SlowSubscriptions at the end
	SubscriptionErr  error  // why the all-subscription ended early, if it did
	Samples          []Sample
	WatchedChannels  []string
	WatchedRanks     []int  // popularity rank of each watched channel, 0 the most popular
	PeakHeap         uint64 // largest HeapAlloc sampled
	// EngineHeap is the live heap of the engine at HeapAt, the end of the
	// ramp-up (after GC), when it held HeapMemberships memberships.
	EngineHeap      uint64
	HeapAt          time.Duration
	HeapMemberships int
	HeapPerMember   float64
}

// client is one simulated uuid, owned by Run's goroutine.
type client struct {
	uuid     string
	channels []string
	bucket   int32 // the heartbeat bucket listing it, -1 none
	online   bool
}

// task is one operation for a worker.
type task struct {
	op  Op
	c   int32 // client, or channel for reads
	arg int32 // the state of a set_state
}

// Run runs the simulation cfg describes, reporting progress to bar (nil for
// none), and returns its report.
//
// Each step advances the clock, sweeps, and decides on this goroutine, from
// the seeded source, what the clients do: those whose heartbeat is due
// heartbeat; sessions end (Churn, plus whatever the wave takes away), by a
// leave or, for a fraction Vanish, by falling silent until the engine times
// them out; offline clients arrive (join) to follow the online target; some
// set state; readers call here_now and occupancy. The step's calls then run
// on the workers, each client's on the same worker in order. With one
// worker the whole run, its events and samples are deterministic.
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
	picker := newChannelPicker(cfg.Channels, cfg.Skew)
	clients := make([]client, cfg.UUIDs)
	pos := make([]int32, cfg.UUIDs)
	online := pool{pos: pos}
	offline := pool{pos: pos, ids: make([]int32, 0, cfg.UUIDs)}
	for i := range clients {
		c := &clients[i]
		c.uuid = fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff)
		for _, ch := range picker.pickDistinct(r, cfg.PerUUID) {
			c.channels = append(c.channels, chans[ch])
		}
		c.bucket = -1
		offline.add(int32(i))
	}
	ranks := watchedRanks(cfg.Channels, cfg.Watch)
	watched := make([]string, len(ranks))
	for j, rk := range ranks {
		watched[j] = chans[rk]
	}
	byPhase := make([][]int32, hbSteps)

	var clk clock.Clock
	var mock *clock.Mock
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if cfg.Realtime {
		clk = clock.New()
		start = clk.Now()
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
		Deltas:        cfg.Deltas,
	}
	if cfg.Timeout > presence.DefaultMaxTimeout {
		ecfg.MaxTimeout = cfg.Timeout
	}

	eng, err := presence.New(ecfg)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	sub, err := eng.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: 1 << 16})
	if err != nil {
		return nil, err
	}
	// Events are counted by sample bin from their (clock) time: bin k holds
	// the steps after sample k-1 up to sample k.
	sampleEvery := max(1, int(cfg.Sample/cfg.Step))
	bins := make([]EventCounts, steps/sampleEvery+2)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for ev := range sub.Events() {
			s := min(max(int(ev.Time.Sub(start)/cfg.Step), 0), steps)
			bins[(s+sampleEvery-1)/sampleEvery].add(ev)
		}
	}()
	hEmpty := liveHeap()

	rep := &Report{Config: cfg, WatchedChannels: watched, WatchedRanks: ranks}
	workers := make([]*worker, cfg.Workers)
	for i := range workers {
		workers[i] = &worker{eng: eng, clients: clients, chans: chans, timeout: cfg.Timeout}
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
	give := func(op Op, i int32, arg int32) {
		w := int(i) % cfg.Workers
		perWorker[w] = append(perWorker[w], task{op: op, c: i, arg: arg})
	}

	sample := func(step int) error {
		st, err := eng.Stats(ctx)
		if err != nil {
			return err
		}
		s := Sample{At: time.Duration(step) * cfg.Step, Memberships: st.Memberships, Online: len(online.ids)}
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
		if st.Memberships > rep.PeakMemberships {
			rep.PeakMemberships, rep.PeakAt = st.Memberships, s.At
		}
		rep.Samples = append(rep.Samples, s)
		return nil
	}

	wallStart := time.Now()
	if err := sample(0); err != nil {
		return nil, err
	}
	stepSec := cfg.Step.Seconds()
	hereNowPerStep := float64(cfg.HereNow) * stepSec
	occPerStep := float64(cfg.Occupancy) * stepSec
	heapStep := min(steps, max(1, int((cfg.RampUp+cfg.Step-1)/cfg.Step)))
	var churnAcc, stateAcc, hnAcc, occAcc float64
	bar.begin(steps, cfg.Step)
	realStart := time.Now()

	for step := 1; step <= steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t := time.Duration(step) * cfg.Step
		if cfg.Realtime {
			time.Sleep(time.Until(realStart.Add(t)))
		} else {
			mock.Set(start.Add(t))
		}
		if err := eng.Sweep(ctx); err != nil {
			return nil, err
		}
		// Heartbeats of the online clients whose phase this is; clients
		// gone offline drop out of the bucket.
		b := step % hbSteps
		due := byPhase[b][:0]
		for _, i := range byPhase[b] {
			c := &clients[i]
			if !c.online {
				c.bucket = -1
				continue
			}
			due = append(due, i)
			give(OpHeartbeat, i, 0)
		}
		byPhase[b] = due
		// Sessions end: the turnover, plus whatever the target lost.
		target := int(cfg.onlineTarget(t) + 0.5)
		churnAcc += cfg.Churn * float64(len(online.ids)) * stepSec / 60
		turnover := int(churnAcc)
		churnAcc -= float64(turnover)
		for n := min(len(online.ids), turnover+max(0, len(online.ids)-target)); n > 0; n-- {
			i := online.take(r)
			offline.add(i)
			clients[i].online = false
			if r.Float64() < cfg.Vanish {
				rep.Vanished++ // silent from now on: the engine times it out
				continue
			}
			rep.Leaves++
			give(OpLeave, i, 0)
		}
		// Sessions start, up to the target: the client joins and then
		// heartbeats at its phase (a new one if it has none).
		for len(online.ids) < target && len(offline.ids) > 0 {
			i := offline.take(r)
			online.add(i)
			c := &clients[i]
			c.online = true
			if c.bucket < 0 {
				c.bucket = int32(b)
				byPhase[b] = append(byPhase[b], i)
			}
			rep.Arrivals++
			give(OpJoin, i, 0)
		}
		for stateAcc += cfg.State * float64(len(online.ids)) * stepSec / 60; stateAcc >= 1; stateAcc-- {
			give(OpSetState, online.ids[r.IntN(len(online.ids))], int32(r.IntN(len(moods)*1000)))
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
		if step == heapStep {
			st, err := eng.Stats(ctx)
			if err != nil {
				return nil, err
			}
			full := liveHeap()
			rep.EngineHeap, rep.HeapAt, rep.HeapMemberships = full-min(full, hEmpty), t, st.Memberships
			if st.Memberships > 0 {
				rep.HeapPerMember = float64(rep.EngineHeap) / float64(st.Memberships)
			}
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

	st, err := eng.Stats(ctx)
	if err != nil {
		return nil, err
	}
	rep.FinalMemberships, rep.FinalUUIDs, rep.FinalChannels = st.Memberships, st.UUIDs, st.Channels
	rep.EngineEvents, rep.SlowSubscribers = st.Events, st.SlowSubscriptions
	sub.Close()
	<-drained
	rep.SubscriptionErr = sub.Err()
	for k := range rep.Samples {
		rep.Samples[k].Events = bins[k]
		rep.Events.merge(&bins[k])
	}
	for _, n := range rep.Events.Events {
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
	case cfg.UUIDs > math.MaxInt32:
		return fmt.Errorf("-uuids %d: at most %d", cfg.UUIDs, math.MaxInt32)
	case cfg.PerUUID > cfg.Channels:
		return errors.New("-per-uuid must not exceed -channels")
	case cfg.PerUUID > presence.DefaultMaxNamesPerCall:
		return fmt.Errorf("-per-uuid must not exceed %d, the engine's names per call", presence.DefaultMaxNamesPerCall)
	case cfg.Step <= 0 || cfg.Heartbeat < cfg.Step || cfg.Duration < cfg.Step:
		return errors.New("-step must be positive and not exceed -heartbeat and -duration")
	case cfg.Timeout < time.Second:
		return errors.New("-timeout must be at least 1s")
	case !(cfg.Online > 0 && cfg.Online <= 1):
		return fmt.Errorf("-online %g: must be in (0, 1]", cfg.Online)
	case !(cfg.Skew >= 0 && cfg.Skew <= 10):
		return fmt.Errorf("-skew %g: must be in [0, 10]", cfg.Skew)
	case cfg.RampUp < 0 || cfg.WavePeriod < 0:
		return errors.New("-rampup and -wave-period must not be negative")
	case !(cfg.Wave >= 0 && cfg.Wave <= 1) || !(cfg.Vanish >= 0 && cfg.Vanish <= 1):
		return fmt.Errorf("-wave %g and -vanish %g: must be in [0, 1]", cfg.Wave, cfg.Vanish)
	case !(cfg.Churn >= 0) || !(cfg.State >= 0) || math.IsInf(cfg.Churn, 1) || math.IsInf(cfg.State, 1):
		return fmt.Errorf("-churn %g and -state %g: must be finite and not negative", cfg.Churn, cfg.State)
	case cfg.HereNow < 0 || cfg.Occupancy < 0:
		return errors.New("-herenow and -occupancy must not be negative")
	case cfg.Workers < 1:
		return errors.New("-workers must be at least 1")
	case cfg.Watch < 0:
		return errors.New("-watch must not be negative")
	case cfg.Sample < cfg.Step:
		cfg.Sample = cfg.Step
	}
	return nil
}

// worker issues operations and keeps their latency histograms.
type worker struct {
	eng     *presence.Engine
	clients []client
	chans   []string
	timeout time.Duration
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
		case OpLeave:
			c := &w.clients[t.c]
			err = w.eng.Leave(ctx, presence.LeaveRequest{UUID: c.uuid, Channels: c.channels})
		case OpSetState:
			c := &w.clients[t.c]
			w.buf = append(w.buf[:0], `{"mood":"`...)
			w.buf = append(w.buf, moods[int(t.arg)%len(moods)]...)
			w.buf = append(w.buf, `","seq":`...)
			w.buf = strconv.AppendInt(w.buf, int64(t.arg)/int64(len(moods)), 10)
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
