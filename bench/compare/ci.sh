#!/usr/bin/env bash
# ci.sh checks the comparison module: formatting, vet, staticcheck, and a
# smoke run that compiles and runs every benchmark once on the small
# workload (10,000 memberships), so CI stays within a couple of minutes.
# The Redis rows (redis_test.go) run in it too, on a redis-server each test
# process starts (1,000 memberships; they skip when redis-server is not on
# PATH: CI installs it). The real comparison is run.sh.
set -euo pipefail
cd "$(dirname "$0")"

unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
PRESENCE_BENCH_SCALE=small go test -run . -bench . -benchtime 1x -cpu 1,2 ./...
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
PRESENCE_BENCH_SCALE=small go test -run '^$' -bench 'Heartbeat|Mixed' -benchtime 100x -cpu 1,2 >"$out/smoke.txt"
PRESENCE_BENCH_SCALE=small go test -run '^$' -bench HeldPolls -benchtime 1x -cpu 2 >>"$out/smoke.txt" # 500 held polls
go run ./cmd/targets "$out/smoke.txt" >/dev/null
