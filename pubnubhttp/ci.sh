#!/usr/bin/env bash
# ci.sh checks and tests the PubNub REST facade: the pubnubhttp module (with
# cmd/presenced and the seed corpus of FuzzRequest), the Go conformance
# module (the real PubNub Go SDK v7.3.2) and the JS conformance tests (the
# real PubNub JS SDK 12.x under node --test). The repository's .ci/run calls
# it. Needs only Go, node and npm (the Go module proxy and the npm registry).
set -euo pipefail
cd "$(dirname "$0")"

staticcheck=honnef.co/go/tools/cmd/staticcheck@v0.8.2

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path '*/node_modules/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt: these files are not formatted:" >&2
	echo "$unformatted" >&2
	exit 1
fi

for mod in . conformance; do
	echo "== go vet and staticcheck: $mod"
	(cd "$mod" && go vet ./... && go run "$staticcheck" ./...)
done

echo "== go test -race: pubnubhttp (runs the FuzzRequest seed corpus too)"
go test -race -count=1 ./...

echo "== Go SDK conformance"
(cd conformance && go test -race -count=1 ./...)

echo "== JS SDK conformance"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd ../cmd/presenced && go build -o "$tmp/presenced" .)
(cd conformance/js && npm ci --no-audit --no-fund && PRESENCED="$tmp/presenced" node --test)
