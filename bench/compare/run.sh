#!/usr/bin/env bash
# run.sh runs the side-by-side comparison: every (benchmark, backend) pair
# in its own `go test` process (one engine per process, so heaps never mix),
# -count 6 by default, then summarises each benchmark with benchstat
# (backends as columns, centrifuge-presence as the base) and checks the
# issue's targets with ./cmd/targets.
#
#   ./run.sh                 # everything, about 20 minutes on 2 cores
#   ONLY=Heartbeat ./run.sh  # one benchmark (a regexp on its name)
#   IMPLS=engine ./run.sh    # only these backends (space separated)
#   COUNT=3 OUT=/tmp/r ./run.sh
#   CORE_REV=HEAD ./run.sh   # measure a commit of the core, not the working tree
#   ROUNDS=6 COUNT=1 ./run.sh  # interleave: six rounds of every (benchmark, backend)
#   ONLY=ServerHeartbeat ROUNDS=6 COUNT=1 ./run.sh  # the server rows alone
#   ONLY=HeldPolls HELD_ROUNDS=6 ./run.sh  # the held long-poll rows alone
#
# On a machine shared with other work, ROUNDS=6 COUNT=1 gives paired samples:
# the backends compared by a target run minutes, not a quarter hour, apart,
# so a change of background load hits both alike.
#
# CORE_REV (a git revision) measures that commit of the core, exported to a
# temporary directory that a temporary copy of go.mod replaces the core with
# (go test -modfile); by default the core is the working tree, ../../.
#
# Raw outputs go to $OUT/<Benchmark>.txt (appended per backend), the
# commands run (with the load average before each) to $OUT/commands.txt,
# benchstat tables to $OUT/<Benchmark>.benchstat and the target check to
# $OUT/targets.txt.
set -euo pipefail
cd "$(dirname "$0")"

COUNT=${COUNT:-6}
ROUNDS=${ROUNDS:-1}
OUT=${OUT:-results}
ONLY=${ONLY:-.}
IMPLS=${IMPLS:-centrifuge-presence engine centrifuge-map floor}
BENCHSTAT=${BENCHSTAT:-go run golang.org/x/perf/cmd/benchstat@latest}

mkdir -p "$OUT"

MODFLAG=()
GOENV=()
MODDESC=""
if [[ -n ${CORE_REV:-} ]]; then
	snap=$(mktemp -d)
	trap 'rm -rf "$snap"' EXIT
	git -C ../.. archive "$(git -C ../.. rev-parse "$CORE_REV")" | tar -x -C "$snap"
	# outside the workspace (go.work would replace the core with the work
	# tree): the core from the snapshot, the project's other modules from
	# the work tree
	cp go.mod "$snap/compare.mod"
	echo "replace github.com/presencekit/presence v0.2.0 => $snap" >>"$snap/compare.mod"
	for m in pubnubhttp redis metrics; do
		echo "replace github.com/presencekit/presence/$m v0.2.0 => $(cd ../../$m && pwd)" >>"$snap/compare.mod"
	done
	cp go.sum "$snap/compare.sum"
	GOENV=(env GOWORK=off)
	MODFLAG=(-modfile "$snap/compare.mod")
	MODDESC="[core $(git -C ../.. rev-parse --short "$CORE_REV") via -modfile] "
	echo "core: $(git -C ../.. rev-parse "$CORE_REV")" | tee "$OUT/core.rev" >&2
else
	echo "core: working tree of $(git -C ../.. rev-parse HEAD)$(git -C ../.. diff --quiet HEAD -- ':!bench' ':!cmd/presencesim' || echo ' (modified)')" | tee "$OUT/core.rev" >&2
fi

# bench NAME SUBBENCH IMPL BENCHTIME CPU: one go test process.
bench() {
	local name=$1 sub=$2 impl=$3 benchtime=$4 cpu=$5
	[[ $name =~ $ONLY ]] || return 0
	case " $IMPLS " in *" $impl "*) ;; *) return 0 ;; esac
	local pattern="^Benchmark$name\$/${sub}impl=$impl\$"
	echo "== ${MODDESC}go test -run '^\$' -bench '$pattern' -count $COUNT -benchtime $benchtime -cpu $cpu   # $(uptime | sed 's/.*load/load/')" | tee -a "$OUT/commands.txt" >&2
	"${GOENV[@]}" go test "${MODFLAG[@]}" -run '^$' -bench "$pattern" -count "$COUNT" -benchtime "$benchtime" -cpu "$cpu" -timeout 60m >>"$OUT/$name.txt"
}

for b in Join Heartbeat Churn HereNow Occupancy Mixed Heap Expire Events; do
	if [[ $b =~ $ONLY ]]; then rm -f "$OUT/$b.txt"; fi
done
rm -f "$OUT/commands.txt"

case " $IMPLS " in *" engine "*) IMPLS="$IMPLS engine-realclock engine-append engine-iface" ;; esac
for round in $(seq "$ROUNDS"); do
	for impl in centrifuge-presence engine centrifuge-map floor; do
		bench Join "" "$impl" 200000x 2
		bench Heartbeat "" "$impl" 1000000x 2
		if [[ $impl == engine ]]; then
			bench Heartbeat "" engine-iface 1000000x 2
		fi
		bench Churn "" "$impl" 200000x 2
		bench HereNow "^members=100\$/" "$impl" 200000x 2
		bench HereNow "^members=hot\$/" "$impl" 1000x 2
		if [[ $impl == engine ]]; then
			bench HereNow "^members=100\$/" engine-append 200000x 2
			bench HereNow "^members=hot\$/" engine-append 1000x 2
		fi
		if [[ $impl == centrifuge-presence ]]; then
			bench Occupancy "" "$impl" 300x 1,2 # O(n): milliseconds a call
		else
			bench Occupancy "" "$impl" 2000000x 1,2
		fi
		bench Mixed "" "$impl" 500000x 1,2
		bench Heap "" "$impl" 1x 2
	done
	for impl in engine engine-realclock centrifuge-map; do
		bench Expire "" "$impl" 1x 2
	done
	for op in heartbeat join join-announced; do
		for sub in none all; do
			[[ Events =~ $ONLY && " $IMPLS " == *" engine "* ]] || continue
			benchtime=200000x
			[[ $op == heartbeat ]] && benchtime=1000000x
			echo "== ${MODDESC}go test -run '^\$' -bench '^BenchmarkEvents\$/^op=$op\$/^sub=$sub\$' -count $COUNT -benchtime $benchtime   # $(uptime | sed 's/.*load/load/')" | tee -a "$OUT/commands.txt" >&2
			"${GOENV[@]}" go test "${MODFLAG[@]}" -run '^$' -bench "^BenchmarkEvents\$/^op=$op\$/^sub=$sub\$" -count "$COUNT" -benchtime "$benchtime" -timeout 60m >>"$OUT/Events.txt"
		done
	done
	# --- server heartbeats per second (issue 13, branch rps) ---
	# presenced's handler over the 1M engine, the same handler over an
	# engine of 16 members (its cost without the 1M memberships'), and the
	# bare net/http floor, each in its own process, alternating within each
	# round; SERVER_IMPLS selects the sides, SERVER_BENCHTIME the requests
	# per run.
	if [[ ServerHeartbeat =~ $ONLY ]]; then
		[[ $round == 1 ]] && rm -f "$OUT/ServerHeartbeat.txt"
		for impl in ${SERVER_IMPLS:-presenced presenced-hot nethttp}; do
			pattern="^BenchmarkServerHeartbeat\$/^impl=$impl\$"
			echo "== ${MODDESC}go test -run '^\$' -bench '$pattern' -count $COUNT -benchtime ${SERVER_BENCHTIME:-200000x} -cpu 2   # $(uptime | sed 's/.*load/load/')" | tee -a "$OUT/commands.txt" >&2
			go test "${MODFLAG[@]}" -run '^$' -bench "$pattern" -count "$COUNT" -benchtime "${SERVER_BENCHTIME:-200000x}" -cpu 2 -timeout 60m >>"$OUT/ServerHeartbeat.txt"
		done
	fi
	# --- end of server heartbeats per second ---
done

# --- held subscribe long-polls (issue 13, branch poll): BenchmarkHeldPolls
# holds 10,000 long-polls on one server in the benchmark process (clients
# in a child process), 100 of them watching one channel, then joins it:
# memory and goroutines per held poll, the join's wake-up p50/p99 and the
# spurious wake-ups. HELD_ROUNDS paired rounds (default 6), each running
# both sides once in processes of their own, parked (through
# pubnubhttp.Listen, as cmd/presenced serves) then on goroutines.
#   ONLY=HeldPolls HELD_ROUNDS=6 ./run.sh   # about a minute
HELD_ROUNDS=${HELD_ROUNDS:-6}
if [[ HeldPolls =~ $ONLY ]]; then
	rm -f "$OUT/HeldPolls.txt"
	for round in $(seq "$HELD_ROUNDS"); do
		for impl in held-parked held-goroutine; do
			pattern="^BenchmarkHeldPolls\$/^impl=$impl\$"
			echo "== ${MODDESC}go test -run '^\$' -bench '$pattern' -count 1 -benchtime 1x -cpu 2   # $(uptime | sed 's/.*load/load/')" | tee -a "$OUT/commands.txt" >&2
			"${GOENV[@]}" go test "${MODFLAG[@]}" -run '^$' -bench "$pattern" -count 1 -benchtime 1x -cpu 2 -timeout 10m >>"$OUT/HeldPolls.txt"
		done
	done
fi
# --- end of held subscribe long-polls

# --- The Redis backend against centrifuge's RedisPresenceManager (issue 13,
# the Redis part). Each go test process starts its own redis-server on a
# free loopback port (the benchmarks skip without redis-server on PATH) and
# kills it when it ends. REDIS_ROUNDS paired rounds (default 6), each
# running every (benchmark, side) once, the sides alternating, so medians
# pair runs made minutes apart at most. REDIS_IMPLS picks the sides.
#   ONLY=Redis ./run.sh      # only these rows, about 5 minutes
REDIS_ROUNDS=${REDIS_ROUNDS:-6}
REDIS_IMPLS=${REDIS_IMPLS:-presenceredis centrifuge-redis}
rbench() {
	local name=$1 sub=$2 impl=$3 benchtime=$4
	[[ $name =~ $ONLY ]] || return 0
	case " $REDIS_IMPLS " in *" $impl "*) ;; *) return 0 ;; esac
	local pattern="^Benchmark$name\$/${sub}impl=$impl\$"
	echo "== ${MODDESC}go test -run '^\$' -bench '$pattern' -count 1 -benchtime $benchtime -cpu 2   # $(uptime | sed 's/.*load/load/')" | tee -a "$OUT/commands.txt" >&2
	go test "${MODFLAG[@]}" -run '^$' -bench "$pattern" -count 1 -benchtime "$benchtime" -cpu 2 -timeout 30m >>"$OUT/$name.txt"
}
for b in RedisHeartbeat RedisHereNow RedisExpire; do
	if [[ $b =~ $ONLY ]]; then rm -f "$OUT/$b.txt"; fi
done
for round in $(seq "$REDIS_ROUNDS"); do
	for impl in presenceredis centrifuge-redis; do
		rbench RedisHeartbeat "" "$impl" 200000x
		rbench RedisHereNow "^members=100\$/" "$impl" 20000x
		rbench RedisHereNow "^members=1000\$/" "$impl" 5000x
	done
	rbench RedisExpire "" presenceredis 1x
done
# --- end of the Redis part

for f in "$OUT"/*.txt; do
	b=$(basename "$f" .txt)
	[[ $b == targets || $b == commands ]] && continue
	[[ $b =~ $ONLY ]] || continue
	if [[ $b == Events ]]; then
		$BENCHSTAT -col /sub "$f" >"$OUT/$b.benchstat"
	elif [[ $b == Occupancy || $b == Mixed ]]; then
		$BENCHSTAT -col /impl -row .name,/gomaxprocs "$f" >"$OUT/$b.benchstat"
	else
		$BENCHSTAT -col /impl "$f" >"$OUT/$b.benchstat"
	fi
done
go run ./cmd/targets "$OUT"/*.txt | tee "$OUT/targets.txt"
