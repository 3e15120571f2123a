// Command targets reads the raw `go test -bench` outputs of run.sh and
// checks the performance targets against them: for each target it
// prints the medians it compares, their ratio, the limit and PASS or FAIL.
//
//	go run ./cmd/targets results/*.txt
//	go run ./cmd/targets -peers results/*.txt   # the side-by-side table instead
//
// Medians are taken over the -count repetitions of each benchmark, as
// benchstat does. A target whose benchmarks are missing is printed as
// MISSING.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// key names one metric of one benchmark at one GOMAXPROCS.
type key struct {
	name  string // without the -N suffix
	procs int
	unit  string
}

func main() {
	peers := flag.Bool("peers", false, "print the side-by-side table of every backend instead of the targets")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: targets [-peers] FILE...")
		os.Exit(2)
	}
	vals := map[key][]float64{}
	for _, f := range flag.Args() {
		if err := parse(f, vals); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	med := func(name string, procs int, unit string) (float64, bool) {
		v := vals[key{name, procs, unit}]
		if len(v) == 0 {
			return 0, false
		}
		v = slices.Clone(v)
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2], true
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
	}
	const (
		eng = "/impl=engine"
		cp  = "/impl=centrifuge-presence"
	)
	if *peers {
		printPeers(med)
		return
	}
	var ratioUnits func(what, an string, ap int, aunit, bn string, bp int, bunit string, limit float64, atLeast bool)
	fmt.Printf("| target | measured (medians) | ratio or value | limit | result |\n|---|---|---|---|---|\n")
	// ratio: a/b <= limit (or >= limit when atLeast).
	ratio := func(what, an string, ap int, bn string, bp int, unit string, limit float64, atLeast bool) {
		ratioUnits(what, an, ap, unit, bn, bp, unit, limit, atLeast)
	}
	ratioUnits = func(what, an string, ap int, aunit, bn string, bp int, bunit string, limit float64, atLeast bool) {
		a, okA := med(an, ap, aunit)
		b, okB := med(bn, bp, bunit)
		if !okA || !okB || b == 0 {
			fmt.Printf("| %s | | | %s %.2f | MISSING |\n", what, cmp(atLeast), limit)
			return
		}
		r := a / b
		pass := r <= limit
		if atLeast {
			pass = r >= limit
		}
		fmt.Printf("| %s | %s %s vs %s %s | %.3fx | %s %.2fx | %s |\n",
			what, num(a), aunit, num(b), bunit, r, cmp(atLeast), limit, verdict(pass))
	}
	// info prints a ratio that has no limit: a cost the issue asks to state.
	info := func(what, an string, ap int, bn string, bp int, unit string) {
		a, okA := med(an, ap, unit)
		b, okB := med(bn, bp, unit)
		if !okA || !okB || b == 0 {
			fmt.Printf("| %s | | | (reported) | MISSING |\n", what)
			return
		}
		fmt.Printf("| %s | %s %s vs %s %s | %.3fx | (reported) | INFO |\n", what, num(a), unit, num(b), unit, a/b)
	}
	value := func(what, n string, p int, unit string, limit float64) {
		a, ok := med(n, p, unit)
		if !ok {
			fmt.Printf("| %s | | | <= %s | MISSING |\n", what, num(limit))
			return
		}
		fmt.Printf("| %s | %s %s | %s | <= %s | %s |\n", what, num(a), unit, num(a), num(limit), verdict(a <= limit))
	}

	// the second performance issue's restated engine targets (the calls
	// build a fresh one-channel slice each)
	ratio("heartbeat of a present member vs centrifuge-presence", "BenchmarkHeartbeat"+eng, 2, "BenchmarkHeartbeat"+cp, 2, "ns/op", 1.0, false)
	ratio("heartbeat of a present member vs the two-map floor", "BenchmarkHeartbeat"+eng, 2, "BenchmarkHeartbeat/impl=floor", 2, "ns/op", 1.15, false)
	value("heartbeat allocs/op (fresh one-channel slice)", "BenchmarkHeartbeat"+eng, 2, "allocs/op", 0)
	info("heartbeat through presence.Backend vs the *Engine call", "BenchmarkHeartbeat/impl=engine-iface", 2, "BenchmarkHeartbeat"+eng, 2, "ns/op")
	value("heartbeat through presence.Backend: allocs/op (stated, no limit)", "BenchmarkHeartbeat/impl=engine-iface", 2, "allocs/op", 1)
	ratio("join into 1M vs centrifuge-presence", "BenchmarkJoin"+eng, 2, "BenchmarkJoin"+cp, 2, "ns/op", 1.0, false)
	ratio("leave+join churn vs centrifuge-presence", "BenchmarkChurn"+eng, 2, "BenchmarkChurn"+cp, 2, "ns/op", 1.25, false)
	ratio("here_now 10,000 members vs centrifuge-presence", "BenchmarkHereNow/members=hot"+eng, 2, "BenchmarkHereNow/members=hot"+cp, 2, "ns/op", 0.3, false)
	value("here_now 100 members (ns)", "BenchmarkHereNow/members=100"+eng, 2, "ns/op", 2500)
	ratio("here_now 10,000 members, AppendOccupants, vs centrifuge-presence", "BenchmarkHereNow/members=hot/impl=engine-append", 2, "BenchmarkHereNow/members=hot"+cp, 2, "ns/op", 0.3, false)
	value("here_now 100 members, AppendOccupants (ns)", "BenchmarkHereNow/members=100/impl=engine-append", 2, "ns/op", 2500)
	value("occupancy 10,000 members allocs/op", "BenchmarkOccupancy"+eng, 1, "allocs/op", 0)
	ratio("occupancy, 2 cores vs 1 (ns/op, parallel)", "BenchmarkOccupancy"+eng, 2, "BenchmarkOccupancy"+eng, 1, "ns/op", 1.0, false)
	value("heap per membership at 1M (B)", "BenchmarkHeap"+eng, 2, "heap-B/membership", 100)
	ratio("mixed load, 2 cores vs 1 (ops/s)", "BenchmarkMixed"+eng, 2, "BenchmarkMixed"+eng, 1, "ops/s", 1.7, true)
	ratio("mixed load on 2 cores vs centrifuge-presence (ops/s)", "BenchmarkMixed"+eng, 2, "BenchmarkMixed"+cp, 2, "ops/s", 4, true)
	value("1M expiring, mock clock + Sweep: CPU per expired (us)", "BenchmarkExpire"+eng, 2, "cpu-us/expired", 1)
	value("1M expiring, mock clock + Sweep: last timeout after Sweep (ms)", "BenchmarkExpire"+eng, 2, "delay-ms", 1000)
	value("1M expiring, real clock + sweeper: CPU per expired (us)", "BenchmarkExpire/impl=engine-realclock", 2, "cpu-us/expired", 1)
	value("1M expiring, real clock + sweeper: last timeout after deadline (ms)", "BenchmarkExpire/impl=engine-realclock", 2, "delay-ms", 1000)
	ratioUnits("heap after all expired vs empty engine", "BenchmarkExpire"+eng, 2, "heap-left-B", "BenchmarkExpire"+eng, 2, "heap-empty-B", 1.05, false)
	ratioUnits("heap after all left vs empty engine", "BenchmarkHeap"+eng, 2, "heap-left-B", "BenchmarkHeap"+eng, 2, "heap-empty-B", 1.05, false)
	ratio("all-subscription cost on heartbeat", "BenchmarkEvents/op=heartbeat/sub=all", 2, "BenchmarkEvents/op=heartbeat/sub=none", 2, "ns/op", 1.3, false)
	ratio("all-subscription cost on join (default config)", "BenchmarkEvents/op=join/sub=all", 2, "BenchmarkEvents/op=join/sub=none", 2, "ns/op", 1.3, false)
	ratio("all-subscription cost on join (every join announced)", "BenchmarkEvents/op=join-announced/sub=all", 2, "BenchmarkEvents/op=join-announced/sub=none", 2, "ns/op", 1.3, false)
	// --- server heartbeats per second (issue 13, branch rps) ---
	const (
		srvP = "BenchmarkServerHeartbeat/impl=presenced"
		srvN = "BenchmarkServerHeartbeat/impl=nethttp"
	)
	ratio("server heartbeats per second at 1M vs a bare net/http handler (req/s)", srvP, 2, srvN, 2, "req/s", 0.9, true)
	// Reported next to the target, not targets themselves: the latencies,
	// CPU and allocations of the two sides, and the same handler over an
	// engine of 16 members (its cost without the 1M memberships').

	for _, unit := range []string{"p50-us", "p99-us", "cpu-us/req", "gc-cpu-us/req", "allocs/op"} {
		info("server heartbeat "+unit+", presenced vs net/http", srvP, 2, srvN, 2, unit)
	}
	const srvH = "BenchmarkServerHeartbeat/impl=presenced-hot"
	info("server heartbeats per second, handler over 16 members vs net/http", srvH, 2, srvN, 2, "req/s")
	info("server heartbeat cpu-us/req, handler over 16 members vs net/http", srvH, 2, srvN, 2, "cpu-us/req")
	// --- end of server heartbeats per second ---

	// --- The Redis backend against centrifuge's RedisPresenceManager (issue
	// 13, the Redis part): redis_test.go, run.sh's REDIS_ROUNDS rounds.
	const (
		pr = "/impl=presenceredis"
		cr = "/impl=centrifuge-redis"
	)
	ratio("Redis: heartbeats/s, 16 callers, vs centrifuge-redis (AddPresence)", "BenchmarkRedisHeartbeat"+pr, 2, "BenchmarkRedisHeartbeat"+cr, 2, "heartbeats/s", 1.0, true)
	ratio("Redis: here_now of 100 members vs centrifuge-redis (Presence)", "BenchmarkRedisHereNow/members=100"+pr, 2, "BenchmarkRedisHereNow/members=100"+cr, 2, "ns/op", 1.0, false)
	ratio("Redis: here_now of 1,000 members vs centrifuge-redis (Presence)", "BenchmarkRedisHereNow/members=1000"+pr, 2, "BenchmarkRedisHereNow/members=1000"+cr, 2, "ns/op", 1.0, false)
	// the expiry has no limit: its figure is reported; every round must
	// have delivered each timeout exactly once to each of the 3 instances
	if d, ok := med("BenchmarkRedisExpire"+pr, 2, "delay-ms"); ok {
		fmt.Printf("| Redis: 10,000 expiring across 3 instances: last timeout after the deadline (ms) | %s delay-ms | %s | (stated) | INFO |\n", num(d), num(d))
	} else {
		fmt.Printf("| Redis: 10,000 expiring across 3 instances: last timeout after the deadline (ms) | | | (stated) | MISSING |\n")
	}
	exact := func(what, name string, procs int, units []string, want float64) {
		n, pass := 0, true
		for _, u := range units {
			v := vals[key{name, procs, u}]
			n += len(v)
			for _, x := range v {
				pass = pass && x == want
			}
		}
		if n == 0 {
			fmt.Printf("| %s | | | = %s | MISSING |\n", what, num(want))
			return
		}
		fmt.Printf("| %s | %d samples of %s | | = %s in every sample | %s |\n", what, n, strings.Join(units, ", "), num(want), verdict(pass))
	}
	exact("Redis: 10,000 expiring across 3 instances: timeouts delivered to each instance, each exactly once", "BenchmarkRedisExpire"+pr, 2, []string{"timeouts", "distinct"}, 10000)
	// --- end of the Redis part

	// --- held subscribe long-polls (issue 13, branch poll): 10,000 held,
	// parked through pubnubhttp.Listen as cmd/presenced serves them; the
	// same server on goroutines reported beside them.
	const (
		hp = "BenchmarkHeldPolls/impl=held-parked"
		hg = "BenchmarkHeldPolls/impl=held-goroutine"
	)
	value("10,000 held long-polls: server memory per held poll (KiB)", hp, 2, "KiB/poll", 10)
	value("10,000 held long-polls: goroutines per held poll", hp, 2, "goroutines/poll", 0.01)
	value("join on a channel 100 of them watch: wake-up p99 (ms)", hp, 2, "wake-p99-ms", 50)
	exact("join on a channel 100 of them watch: spurious wake-ups of the other 9,900", hp, 2, []string{"spurious"}, 0)
	for _, unit := range []string{"KiB/poll", "rss-KiB/poll", "goroutines/poll", "wake-p50-ms", "wake-p99-ms"} {
		info("held long-polls "+unit+", parked vs on goroutines", hp, 2, hg, 2, unit)
	}
	// --- end of held subscribe long-polls
}

func parse(file string, vals map[key][]float64) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name, procs := fields[0], 1
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if p, err := strconv.Atoi(name[i+1:]); err == nil {
				name, procs = name[:i], p
			}
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return fmt.Errorf("%s: %q: %v", file, sc.Text(), err)
			}
			vals[key{name, procs, fields[i+1]}] = append(vals[key{name, procs, fields[i+1]}], v)
		}
	}
	return sc.Err()
}

func cmp(atLeast bool) string {
	if atLeast {
		return ">="
	}
	return "<="
}

func verdict(pass bool) string {
	if pass {
		return "PASS"
	}
	return "FAIL"
}

// num formats v with three significant digits, or as an integer when large.
func num(v float64) string {
	if v >= 1000 || v == float64(int64(v)) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// printPeers prints one row per measurement and one column per backend.
func printPeers(med func(name string, procs int, unit string) (float64, bool)) {
	impls := []string{"centrifuge-presence", "engine", "centrifuge-map", "floor"}
	fmt.Printf("| row |")
	for _, im := range impls {
		fmt.Printf(" %s |", im)
	}
	fmt.Printf("\n|---|")
	for range impls {
		fmt.Printf("---|")
	}
	fmt.Println()
	row := func(label, bench string, procs int, unit string, scale float64, suffix string) {
		fmt.Printf("| %s |", label)
		for _, im := range impls {
			v, ok := med(bench+"/impl="+im, procs, unit)
			if !ok {
				fmt.Printf(" n/a |")
				continue
			}
			fmt.Printf(" %s%s |", num(v*scale), suffix)
		}
		fmt.Println()
	}
	row("join into 1M (ns/op)", "BenchmarkJoin", 2, "ns/op", 1, "")
	row("join allocs/op", "BenchmarkJoin", 2, "allocs/op", 1, "")
	row("heartbeat of a present member (ns/op)", "BenchmarkHeartbeat", 2, "ns/op", 1, "")
	row("heartbeat allocs/op", "BenchmarkHeartbeat", 2, "allocs/op", 1, "")
	row("leave + join churn (ns/op)", "BenchmarkChurn", 2, "ns/op", 1, "")
	row("here_now, 10,000 members (us/op)", "BenchmarkHereNow/members=hot", 2, "ns/op", 1e-3, "")
	row("here_now, 100 members (ns/op)", "BenchmarkHereNow/members=100", 2, "ns/op", 1, "")
	fmt.Printf("| engine's AppendOccupants, 10,000 / 100 members (ns/op) |")
	a, okA := med("BenchmarkHereNow/members=hot/impl=engine-append", 2, "ns/op")
	b, okB := med("BenchmarkHereNow/members=100/impl=engine-append", 2, "ns/op")
	for _, im := range impls {
		if im != "engine" || !okA || !okB {
			fmt.Printf(" |")
			continue
		}
		fmt.Printf(" %s / %s |", num(a), num(b))
	}
	fmt.Println()
	row("occupancy, 10,000 members, 1 goroutine (ns/op)", "BenchmarkOccupancy", 1, "ns/op", 1, "")
	row("occupancy, 10,000 members, 2 goroutines (ns/op)", "BenchmarkOccupancy", 2, "ns/op", 1, "")
	row("occupancy allocs/op", "BenchmarkOccupancy", 1, "allocs/op", 1, "")
	row("heap per membership at 1M (B)", "BenchmarkHeap", 2, "heap-B/membership", 1, "")
	row("heap of the empty backend (KiB)", "BenchmarkHeap", 2, "heap-empty-B", 1.0/1024, "")
	row("heap left after all leave (KiB)", "BenchmarkHeap", 2, "heap-left-B", 1.0/1024, "")
	row("mixed load, 1 core (ops/s)", "BenchmarkMixed", 1, "ops/s", 1, "")
	row("mixed load, 2 cores (ops/s)", "BenchmarkMixed", 2, "ops/s", 1, "")
	fmt.Printf("| mixed load, 2 cores / 1 core |")
	for _, im := range impls {
		a, okA := med("BenchmarkMixed/impl="+im, 2, "ops/s")
		b, okB := med("BenchmarkMixed/impl="+im, 1, "ops/s")
		if !okA || !okB || b == 0 {
			fmt.Printf(" n/a |")
			continue
		}
		fmt.Printf(" %.2fx |", a/b)
	}
	fmt.Println()
	impls = []string{"engine", "engine-realclock", "centrifuge-map"}
	fmt.Printf("\n| 1M expiring at once |")
	for _, im := range impls {
		fmt.Printf(" %s |", im)
	}
	fmt.Printf("\n|---|---|---|---|\n")
	row("CPU per expired membership (us)", "BenchmarkExpire", 2, "cpu-us/expired", 1, "")
	row("last timeout after the deadline (ms)", "BenchmarkExpire", 2, "delay-ms", 1, "")
	row("heap of the empty backend (KiB)", "BenchmarkExpire", 2, "heap-empty-B", 1.0/1024, "")
	row("heap left after all expired (KiB)", "BenchmarkExpire", 2, "heap-left-B", 1.0/1024, "")
}
