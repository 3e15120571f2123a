#!/usr/bin/env bash
# profile.sh profiles the engine on the comparison's heartbeat, join and
# here_now rows and prints the top of each CPU profile, leaving out the
# samples of filling the 1M workload (pprof -ignore compare.Fill).
#
#   ./profile.sh                 # the core in the working tree
#   CORE_REV=HEAD ./profile.sh   # a commit of the core (as in run.sh)
#   OUT=/tmp/prof ./profile.sh   # where the profiles go (default: a temporary directory)
set -euo pipefail
cd "$(dirname "$0")"

OUT=${OUT:-$(mktemp -d)}
NODES=${NODES:-20}
mkdir -p "$OUT"
MODFLAG=()
if [[ -n ${CORE_REV:-} ]]; then
	snap=$(mktemp -d)
	trap 'rm -rf "$snap"' EXIT
	git -C ../.. archive "$(git -C ../.. rev-parse "$CORE_REV")" | tar -x -C "$snap"
	# outside the workspace, as run.sh does
	cp go.mod "$snap/compare.mod"
	echo "replace github.com/presencekit/presence v0.2.0 => $snap" >>"$snap/compare.mod"
	for m in pubnubhttp redis metrics; do
		echo "replace github.com/presencekit/presence/$m v0.2.0 => $(cd ../../$m && pwd)" >>"$snap/compare.mod"
	done
	cp go.sum "$snap/compare.sum"
	MODFLAG=(-modfile "$snap/compare.mod")
	echo "core: $(git -C ../.. rev-parse "$CORE_REV")"
fi
GOWORK=${MODFLAG:+off} go test "${MODFLAG[@]}" -c -o "$OUT/compare.test" .

# prof NAME BENCH BENCHTIME: one profiled run and its top entries.
prof() {
	local name=$1 bench=$2 benchtime=$3
	echo
	echo "### $name: -bench '$bench' -benchtime $benchtime"
	"$OUT/compare.test" -test.run '^$' -test.bench "$bench" -test.benchtime "$benchtime" -test.cpuprofile "$OUT/$name.prof" | grep '^Benchmark'
	go tool pprof -top -cum -nodecount "$NODES" -ignore 'compare\.Fill|compare\.NewWorkload|compare\.makePairs' \
		-focus 'presence\.\(\*Engine\)' "$OUT/compare.test" "$OUT/$name.prof" 2>/dev/null | sed -n '/flat%/,$p'
	go tool pprof -top -nodecount "$NODES" -ignore 'compare\.Fill|compare\.NewWorkload|compare\.makePairs' \
		-focus 'presence\.\(\*Engine\)' "$OUT/compare.test" "$OUT/$name.prof" 2>/dev/null | sed -n '/flat%/,$p'
}

prof heartbeat '^BenchmarkHeartbeat$/^impl=engine$' 3000000x
prof join '^BenchmarkJoin$/^impl=engine$' 600000x
prof herenow-hot '^BenchmarkHereNow$/^members=hot$/^impl=engine$' 10000x
prof herenow-100 '^BenchmarkHereNow$/^members=100$/^impl=engine$' 2000000x
echo
echo "profiles in $OUT"
