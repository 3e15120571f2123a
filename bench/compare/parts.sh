#!/usr/bin/env bash
# parts.sh says where a heartbeat of a present member goes, part by part:
# it profiles the comparison's heartbeat row on the engine (1M memberships,
# -benchtime N heartbeats after the fill) and sums the CPU profile's flat
# time of the heartbeat's call tree by part, in ns per heartbeat.
#
#   ./parts.sh                      # 4,000,000 heartbeats
#   N=8000000 ./parts.sh
#   BENCH=Join N=600000 ./parts.sh  # the same split of a join
#
# The parts are read from function names (a function belongs to the first
# part whose pattern matches); a cache miss is charged to the instruction
# that waits for it, so "index probe" includes the misses on the member
# record and on the stored uuid's bytes, and "hashing" the miss on the
# caller's uuid bytes (the first read of them); "benchmark loop" is the
# harness's own work (picking the pair, reading the workload's arrays).
set -euo pipefail
cd "$(dirname "$0")"

N=${N:-4000000}
BENCH=${BENCH:-Heartbeat}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go test -c -o "$out/compare.test" .
"$out/compare.test" -test.run '^$' -test.bench "^Benchmark$BENCH\$/^impl=engine\$" -test.benchtime "${N}x" \
	-test.cpu 2 -test.cpuprofile "$out/cpu.prof" | grep '^Benchmark'
go tool pprof -top -nodecount 1000 -focus "Benchmark$BENCH\\.func1\$" \
	-ignore 'compare\.Fill|compare\.NewWorkload|compare\.makePairs|compare\.makeUUIDs' \
	"$out/compare.test" "$out/cpu.prof" 2>/dev/null |
	awk -v n="$N" '
	function secs(s) {
		if (s ~ /ms$/) { sub(/ms$/, "", s); return s / 1000 }
		if (s ~ /us$/) { sub(/us$/, "", s); return s / 1e6 }
		sub(/s$/, "", s); return s + 0
	}
	BEGIN {
		np = split("benchmark loop|validation|hashing|lock|channel lookup|index probe|clock read|expiry bookkeeping|join work|rest", names, "|")
		pat["benchmark loop"] = "presence/bench/compare\\."
		pat["validation"] = "internal/rules\\."
		pat["hashing"] = "maphash|memhash|aeshash|\\(\\*Engine\\)\\.hash|\\(\\*Engine\\)\\.tag|chanShard$"
		pat["lock"] = "sync\\.|Mutex|lock"
		pat["channel lookup"] = "mapaccess|internal/runtime/maps"
		pat["index probe"] = "\\(\\*channel\\)\\.find|memeqbody|presence\\.find"
		pat["clock read"] = "nanotime|runtimeNow|walltime|^time\\.|nowNS|clock\\.|\\(\\*Engine\\)\\.now"
		pat["expiry bookkeeping"] = "moveDeadline|slotOf|noteDue|bucket|satAdd"
		pat["join work"] = "\\(\\*chanShard\\)\\.join|intern|addChannel|\\(\\*channel\\)\\.(add|resize)|announce|newMember|mallocgc|memclr|memmove"
	}
	/^ +[0-9.]+(s|ms|us) / {
		fn = $6; for (i = 7; i <= NF; i++) fn = fn " " $i
		t = secs($1)
		part = "rest"
		for (i = 1; i <= np; i++) {
			k = names[i]
			if (k != "rest" && fn ~ pat[k]) { part = k; break }
		}
		sum[part] += t; total += t
	}
	END {
		printf "| part | ns per op | share |\n|---|---|---|\n"
		for (i = 1; i <= np; i++) {
			k = names[i]
			if (sum[k] > 0) printf "| %s | %.0f | %.0f%% |\n", k, sum[k] / n * 1e9, 100 * sum[k] / total
		}
		printf "| **all (CPU time of the benchmark loop)** | **%.0f** | |\n", total / n * 1e9
	}'
