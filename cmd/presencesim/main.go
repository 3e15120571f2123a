// Command presencesim is a load simulator for the presence engine:
// benchmarking occupancy at scale. It puts N uuids on M channels, lets them
// heartbeat, churn (leave and rejoin), set state and vanish without leaving,
// while other callers read here_now and occupancy, and runs a simulated hour
// on a mock clock as fast as the machine allows (or, with -realtime, on the
// real clock). It ends with a report: memberships, operations per second,
// latency percentiles per operation, events per action, heap, and an
// occupancy-over-time chart written as SVG.
//
//	go run ./cmd/presencesim                      # 1M memberships, one simulated hour
//	go run ./cmd/presencesim -uuids 1000 -channels 50 -duration 10m -churn 0.05 -vanish 0.1
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
	"sort"
	"text/tabwriter"
	"time"
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
	fs.IntVar(&cfg.UUIDs, "uuids", 250_000, "number of clients (uuids)")
	fs.IntVar(&cfg.Channels, "channels", 10_000, "number of channels")
	fs.IntVar(&cfg.PerUUID, "per-uuid", 4, "channels per uuid (memberships = uuids x per-uuid)")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", 60*time.Second, "heartbeat interval of each client")
	fs.DurationVar(&cfg.Timeout, "timeout", 120*time.Second, "presence timeout each heartbeat asks for")
	fs.Float64Var(&cfg.Churn, "churn", 0.01, "fraction of uuids leaving per simulated minute (they rejoin at their next heartbeat)")
	fs.Float64Var(&cfg.State, "state", 0.01, "fraction of uuids setting their state per simulated minute")
	fs.Float64Var(&cfg.Vanish, "vanish", 0.05, "fraction of uuids vanishing without leaving, at random moments of the run")
	fs.IntVar(&cfg.HereNow, "herenow", 20, "here_now calls per simulated second")
	fs.IntVar(&cfg.Occupancy, "occupancy", 200, "occupancy calls per simulated second")
	fs.DurationVar(&cfg.Duration, "duration", time.Hour, "simulated time")
	fs.DurationVar(&cfg.Step, "step", time.Second, "clock advance between sweeps")
	fs.BoolVar(&cfg.Realtime, "realtime", false, "run on the real clock, one step per -step of real time")
	fs.IntVar(&cfg.Workers, "workers", runtime.GOMAXPROCS(0), "goroutines issuing operations")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	fs.IntVar(&cfg.AnnounceMax, "announce-max", 0, "engine AnnounceMax (0: engine default 20; negative: announce every change)")
	fs.DurationVar(&cfg.Sample, "sample", 10*time.Second, "interval of the occupancy-over-time samples")
	fs.IntVar(&cfg.Watch, "watch", 3, "channels the chart follows besides the total")
	fs.StringVar(&svgPath, "svg", "occupancy.svg", "where to write the occupancy-over-time chart (empty: none)")
	fs.BoolVar(&showProgress, "progress", true, "report progress on stderr (a bar on a terminal, a line every 5% otherwise)")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	_ = fs.Parse(args)
	return cfg, svgPath, showProgress, cpuProfile
}

func printReport(out io.Writer, rep *Report) {
	c := rep.Config
	clk := "mock clock"
	if c.Realtime {
		clk = "real clock"
	}
	fmt.Fprintf(out, "presencesim: %d uuids x %d channels over %d channels, heartbeat %v, timeout %v\n",
		c.UUIDs, c.PerUUID, c.Channels, c.Heartbeat, c.Timeout)
	fmt.Fprintf(out, "churn %g/min, state %g/min, vanish %g, here_now %d/s, occupancy %d/s, %d workers, seed %d\n",
		c.Churn, c.State, c.Vanish, c.HereNow, c.Occupancy, c.Workers, c.Seed)
	fmt.Fprintf(out, "simulated %v on the %s in %v (%.0fx real time), GOMAXPROCS %d\n\n",
		rep.Simulated, clk, rep.Wall.Round(time.Millisecond), rep.Simulated.Seconds()/rep.Wall.Seconds(), runtime.GOMAXPROCS(0))

	fmt.Fprintf(out, "memberships: %d after the initial join, peak %d, final %d (%d uuids on %d channels); %d uuids vanished without leaving\n\n",
		rep.MembershipsAtJoin, rep.PeakMemberships, rep.FinalMemberships, rep.FinalUUIDs, rep.FinalChannels, rep.Vanished)

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tcount\tops/s\tp50\tp90\tp99\tmax\t")
	for o, s := range rep.Ops {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%v\t%v\t%v\t%v\t\n", Op(o), s.Count, s.PerSecond, s.P50, s.P90, s.P99, s.Max)
	}
	fmt.Fprintf(tw, "all\t%d\t%.0f\t\t\t\t\t\n", rep.TotalOps, float64(rep.TotalOps)/rep.Wall.Seconds())
	tw.Flush()
	fmt.Fprintln(out, "(latency of one engine call; a heartbeat, join, leave or set_state names all of the uuid's channels)")

	fmt.Fprintf(out, "\nevents received by an all-subscription: %d (engine produced %d)\n", rep.EventsReceived, rep.EngineEvents)
	actions := make([]string, 0, len(rep.Events))
	for a := range rep.Events {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "action\tevents\tper simulated minute\t")
	for _, a := range actions {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t\n", a, rep.Events[a], float64(rep.Events[a])/rep.Simulated.Minutes())
	}
	tw.Flush()
	if rep.Events["interval"] > 0 {
		fmt.Fprintln(out, "(a channel above AnnounceMax members announces its joins, leaves and timeouts in its interval events, not one by one)")
	}
	if rep.SlowSubscribers > 0 || rep.SubscriptionErr != nil {
		fmt.Fprintf(out, "WARNING: %d subscription(s) closed as slow consumers (%v): event counts are incomplete\n", rep.SlowSubscribers, rep.SubscriptionErr)
	} else {
		fmt.Fprintln(out, "slow subscriptions: 0")
	}

	fmt.Fprintf(out, "\nheap: engine %.1f MiB live after the initial join = %.1f B per membership; peak HeapAlloc of the process %.1f MiB\n",
		float64(rep.EngineHeapFull)/(1<<20), rep.HeapPerMember, float64(rep.PeakHeap)/(1<<20))
}
