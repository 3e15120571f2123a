#!/usr/bin/env bash
# The core's benchmarks at 1M memberships as BENCHMARKS.md quotes them:
# -count 5 of each, outputs in this directory, medians with benchstat.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
uptime > "$here/load.txt"
go test -run '^$' -bench 'Heartbeat$|HeartbeatParallel|Join$|Leave$|Churn$|SetState|WhereNow' -benchtime 300000x -count 5 . > "$here/ops.txt"
go test -run '^$' -bench 'HereNow|AppendOccupants' -benchtime 20000x -count 5 . > "$here/herenow.txt"
go test -run '^$' -bench 'Occupancy|Mixed' -benchtime 2000000x -cpu 1,2 -count 5 . > "$here/scale.txt"
go test -run '^$' -bench 'Fill|ExpiryBurst' -benchtime 1x -count 5 . > "$here/whole.txt"
go test -run '^$' -bench 'Fanout' -benchtime 300000x -count 5 . > "$here/fanout.txt"
uptime >> "$here/load.txt"
for f in ops herenow scale whole fanout; do
  go run golang.org/x/perf/cmd/benchstat@latest "$here/$f.txt"
done
