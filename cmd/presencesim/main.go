// Command presencesim is a load simulator for the presence engine:
// benchmarking occupancy at scale, and a picture of what the engine does.
// Its clients arrive over a ramp-up, follow a wave of online population,
// heartbeat, set state, and end their sessions by leaving or by vanishing
// without leaving (the engine times them out), on channels whose sizes
// follow Zipf's law: a few big lobbies, many small rooms. Other callers
// read here_now and occupancy. It runs a simulated hour on a mock clock as
// fast as the machine allows (or, with -realtime, on the real clock), and
// ends with a report: sessions, memberships, operations per second,
// latency percentiles per operation, events per action with the deltas
// interval events carried, heap, and a chart written as SVG.
//
//	go run ./cmd/presencesim          # 320k clients, up to 1M memberships, one simulated hour
//	go run ./cmd/presencesim -uuids 1000 -channels 50 -duration 10m -churn 0.05 -vanish 0.5
//
// The clock advances by -step (1 s) at a time; after each step the engine's
// Sweep removes what timed out and emits due interval events, then the
// step's operations run on -workers goroutines. Latencies are wall-clock
// times of the engine calls; with the mock clock they are the engine's CPU
// cost, not including any waiting.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"text/tabwriter"
	"time"

	"github.com/presencekit/presence"
)

func main() {
	cfg, svgPath, showProgress, cpuProfile := parseFlags(os.Args[1:])
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "presencesim:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var bar *progress
	if showProgress {
		bar = newProgress(os.Stderr, isTerminal(os.Stderr))
	}
	rep, err := Run(ctx, cfg, bar)
	if err != nil {
		fmt.Fprintln(os.Stderr, "presencesim:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
	printReport(os.Stdout, rep)
	if svgPath != "" {
		f, err := os.Create(svgPath)
		if err == nil {
			err = writeSVG(f, rep)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "presencesim:", err)
			os.Exit(1)
		}
		fmt.Printf("\noccupancy chart: %s\n", svgPath)
	}
}

func parseFlags(args []string) (cfg Config, svgPath string, showProgress bool, cpuProfile string) {
	fs := flag.NewFlagSet("presencesim", flag.ExitOnError)
	fs.IntVar(&cfg.UUIDs, "uuids", 320_000, "number of clients (uuids)")
	fs.Float64Var(&cfg.Online, "online", 0.8, "fraction of the clients online at the peak")
	fs.IntVar(&cfg.Channels, "channels", 10_000, "number of channels")
	fs.Float64Var(&cfg.Skew, "skew", 1, "Zipf exponent of channel popularity (0: uniform; 1: a few big lobbies, many small rooms)")
	fs.IntVar(&cfg.PerUUID, "per-uuid", 4, "channels per client")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", 60*time.Second, "heartbeat interval of each client")
	fs.DurationVar(&cfg.Timeout, "timeout", 120*time.Second, "presence timeout each heartbeat asks for")
	fs.DurationVar(&cfg.RampUp, "rampup", 5*time.Minute, "time from nobody online to the peak")
	fs.Float64Var(&cfg.Wave, "wave", 0.4, "depth of the wave of online clients after the ramp-up (0.4: down to 60% of the peak mid-period)")
	fs.DurationVar(&cfg.WavePeriod, "wave-period", 0, "period of the wave (0: the -duration)")
	fs.Float64Var(&cfg.Churn, "churn", 0.02, "fraction of online clients ending their session per simulated minute (others arrive in their place)")
	fs.Float64Var(&cfg.Vanish, "vanish", 0.3, "fraction of session ends that vanish without leaving (the engine times them out)")
	fs.Float64Var(&cfg.State, "state", 0.01, "fraction of online clients setting their state per simulated minute")
	fs.IntVar(&cfg.HereNow, "herenow", 20, "here_now calls per simulated second")
	fs.IntVar(&cfg.Occupancy, "occupancy", 200, "occupancy calls per simulated second")
	fs.DurationVar(&cfg.Duration, "duration", time.Hour, "simulated time")
	fs.DurationVar(&cfg.Step, "step", time.Second, "clock advance between sweeps")
	fs.BoolVar(&cfg.Realtime, "realtime", false, "run on the real clock, one step per -step of real time")
	fs.IntVar(&cfg.Workers, "workers", runtime.GOMAXPROCS(0), "goroutines issuing operations (1: a deterministic run)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	fs.IntVar(&cfg.AnnounceMax, "announce-max", 0, "engine AnnounceMax (0: the engine's default 20; -1: no interval mode; -2: every channel in interval mode)")
	fs.BoolVar(&cfg.Deltas, "deltas", true, "interval events carry the joins, leaves and timeouts since the previous one (engine Config.Deltas)")
	fs.DurationVar(&cfg.Sample, "sample", 10*time.Second, "interval of the occupancy-over-time samples")
	fs.IntVar(&cfg.Watch, "watch", 3, "channels the chart follows besides the total, from the most popular to the least")
	fs.StringVar(&svgPath, "svg", "occupancy.svg", "where to write the chart (empty: none)")
	fs.BoolVar(&showProgress, "progress", true, "report progress on stderr (a bar on a terminal, a line every 5% otherwise)")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	_ = fs.Parse(args)
	return cfg, svgPath, showProgress, cpuProfile
}

// announceMax returns the engine's effective AnnounceMax for cfg, or -1 when
// interval mode is off.
func announceMax(cfg Config) int {
	switch cfg.AnnounceMax {
	case 0:
		return presence.DefaultAnnounceMax
	case presence.NoIntervalMode:
		return -1
	case presence.AlwaysIntervalMode:
		return 0
	}
	return cfg.AnnounceMax
}

// describe returns the run's settings in two lines, as the report and the
// chart print them (nothing that varies between runs of the same seed).
func describe(c Config) (clients, load string) {
	clients = fmt.Sprintf("%d clients (up to %g%% online), %d channels each over %d channels (popularity skew %g), heartbeat %s, timeout %s",
		c.UUIDs, c.Online*100, c.PerUUID, c.Channels, c.Skew, durLabel(c.Heartbeat), durLabel(c.Timeout))
	period := c.WavePeriod
	if period <= 0 {
		period = c.Duration
	}
	am := "interval mode off"
	if n := announceMax(c); n >= 0 {
		deltas := "without deltas"
		if c.Deltas {
			deltas = "with deltas"
		}
		am = fmt.Sprintf("announce max %d, interval events %s", n, deltas)
	}
	load = fmt.Sprintf("ramp-up %s, wave %g%% over %s; sessions end at %g%%/min, %g%% of them by vanishing; state %g%%/min, here_now %d/s, occupancy %d/s; %s; seed %d",
		durLabel(c.RampUp), c.Wave*100, durLabel(period), c.Churn*100, c.Vanish*100, c.State*100, c.HereNow, c.Occupancy, am, c.Seed)
	return clients, load
}

func printReport(out io.Writer, rep *Report) {
	c := rep.Config
	clk := "mock clock"
	if c.Realtime {
		clk = "real clock"
	}
	clients, load := describe(c)
	fmt.Fprintf(out, "presencesim: %s\n%s\n", clients, load)
	fmt.Fprintf(out, "simulated %s on the %s in %v (%.0fx real time), %d workers, GOMAXPROCS %d\n\n",
		durLabel(rep.Simulated), clk, rep.Wall.Round(time.Millisecond), rep.Simulated.Seconds()/rep.Wall.Seconds(), c.Workers, runtime.GOMAXPROCS(0))

	fmt.Fprintf(out, "sessions: %d started, %d ended by leave, %d by vanishing without leaving\n", rep.Arrivals, rep.Leaves, rep.Vanished)
	fmt.Fprintf(out, "memberships: peak %d at %s, final %d (%d uuids on %d channels)\n\n",
		rep.PeakMemberships, durLabel(rep.PeakAt), rep.FinalMemberships, rep.FinalUUIDs, rep.FinalChannels)

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tcount\tops/s\tp50\tp90\tp99\tmax\t")
	for o, s := range rep.Ops {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%v\t%v\t%v\t%v\t\n", Op(o), s.Count, s.PerSecond, s.P50, s.P90, s.P99, s.Max)
	}
	fmt.Fprintf(tw, "all\t%d\t%.0f\t\t\t\t\t\n", rep.TotalOps, float64(rep.TotalOps)/rep.Wall.Seconds())
	tw.Flush()
	fmt.Fprintln(out, "(latency of one engine call; a heartbeat, join, leave or set_state names all of the client's channels)")

	printEvents(out, rep)
	if rep.SlowSubscribers > 0 || rep.SubscriptionErr != nil {
		fmt.Fprintf(out, "WARNING: %d subscription(s) closed as slow consumers (%v): event counts are incomplete\n", rep.SlowSubscribers, rep.SubscriptionErr)
	} else {
		fmt.Fprintln(out, "slow subscriptions: 0")
	}

	fmt.Fprintf(out, "\nheap: engine %.1f MiB live at %s (end of the ramp-up), %d memberships = %.1f B per membership; peak HeapAlloc of the process %.1f MiB\n",
		float64(rep.EngineHeap)/(1<<20), durLabel(rep.HeapAt), rep.HeapMemberships, rep.HeapPerMember, float64(rep.PeakHeap)/(1<<20))
}

// printEvents writes the events table: events by action, and the joins,
// leaves and timeouts that interval events carried as deltas.
func printEvents(out io.Writer, rep *Report) {
	ev := &rep.Events
	fmt.Fprintf(out, "\nevents received by an all-subscription: %d (engine produced %d)\n", rep.EventsReceived, rep.EngineEvents)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "action\tevents\tper simulated minute\tas interval deltas\t")
	for a := presence.Join; a <= presence.Interval; a++ {
		deltas := "-"
		if int(a) < len(ev.Deltas) && rep.Config.Deltas {
			deltas = fmt.Sprint(ev.Deltas[a])
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\t\n", a, ev.Events[a], float64(ev.Events[a])/rep.Simulated.Minutes(), deltas)
	}
	tw.Flush()
	n := announceMax(rep.Config)
	switch {
	case n < 0:
		fmt.Fprintln(out, "(interval mode is off: every join, leave and timeout is an event of its own)")
	case rep.Config.Deltas:
		fmt.Fprintf(out, "(a channel with more than %d members is in interval mode: every %s one interval event reports its occupancy\n"+
			" and carries the joins, leaves and timeouts since the previous one as deltas, instead of an event each;\n"+
			" %d interval events carried here_now_refresh instead, their deltas exceeding 30,000 bytes of JSON)\n",
			n, durLabel(presence.DefaultInterval), ev.Refresh)
	default:
		fmt.Fprintf(out, "(a channel with more than %d members is in interval mode: every %s one interval event reports its occupancy\n"+
			" instead of an event per join, leave and timeout; -deltas would list them in the interval events)\n",
			n, durLabel(presence.DefaultInterval))
	}
}
