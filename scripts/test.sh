#!/usr/bin/env bash
# The project's whole test run, on a fresh machine with Go (and, for the
# server's conformance tests, node and npm): the core with the race
# detector, then every other module's own ci.sh, then the install check
# (the published modules installed from outside the repository through a
# file-system module proxy). `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== core: gofmt, go vet, staticcheck"
unformatted=$(gofmt -l . | grep -v node_modules || true)
if [ -n "$unformatted" ]; then
  echo "gofmt: not formatted:"; echo "$unformatted"; exit 1
fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== core: tests with the race detector (fuzz seed corpora included)"
go test -race -count=1 ./...

echo "== core: every benchmark once, at 1% of the workload"
PRESENCE_BENCH_SCALE=0.01 go test -run '^$' -bench . -benchtime 1x . > /dev/null

for module in pubnubhttp cmd/presenced redis metrics bench/compare; do
  if [ -f "$module/ci.sh" ]; then
    echo "== $module"
    bash "$module/ci.sh"
  fi
done
echo "== install check"
bash scripts/install-check.sh

echo "== all green"
