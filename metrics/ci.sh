#!/usr/bin/env bash
# ci.sh checks and tests the metrics module (the Prometheus collector of a
# presence backend): gofmt, go vet, staticcheck, and the tests with the race
# detector. The repository's scripts/test.sh calls it.
set -euo pipefail
cd "$(dirname "$0")"

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt: these files are not formatted:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go test -race -count=1 ./...
