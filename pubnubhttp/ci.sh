#!/usr/bin/env bash
# ci.sh checks and tests the PubNub REST facade and its server: the
# pubnubhttp module (with the seed corpus of FuzzRequest), the server
# program ../cmd/presenced (its own module), the Go conformance module (the
# real PubNub Go SDK v7.3.2) and the JS conformance tests (the real PubNub
# JS SDK 12.x under node --test), each on one server and, in the
# multi-instance mode, on three presenced sharing one redis-server. The
# repository's scripts/test.sh calls it. Needs Go, node and npm (the Go
# module proxy and the npm registry); with CI=true it installs Debian's
# redis-server when it is missing, since the multi-instance tests must run
# there (elsewhere they are skipped with a message without it).
set -euo pipefail
cd "$(dirname "$0")"

staticcheck=honnef.co/go/tools/cmd/staticcheck@v0.8.2

if [ "${CI:-}" = true ] && ! command -v redis-server >/dev/null 2>&1; then
	echo "ci.sh: installing redis-server for the multi-instance tests"
	export DEBIAN_FRONTEND=noninteractive
	SUDO=""
	if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq redis-server >/dev/null
fi

echo "== gofmt"
files=$( (git ls-files -- '*.go' '../cmd/presenced/*.go' 2>/dev/null) || find . ../cmd/presenced -name '*.go' -not -path '*/node_modules/*')
unformatted=$(gofmt -l $files)
if [ -n "$unformatted" ]; then
	echo "gofmt: these files are not formatted:" >&2
	echo "$unformatted" >&2
	exit 1
fi

for mod in . conformance ../cmd/presenced; do
	echo "== go vet and staticcheck: $mod"
	(cd "$mod" && go vet ./... && go run "$staticcheck" ./...)
done

echo "== go test -race: pubnubhttp (runs the FuzzRequest seed corpus too)"
go test -race -count=1 ./...

echo "== go test -race: cmd/presenced"
(cd ../cmd/presenced && go test -race -count=1 ./...)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd ../cmd/presenced && go build -o "$tmp/presenced" .)
export PRESENCED="$tmp/presenced"

echo "== Go SDK conformance (one server; three on redis-server)"
(cd conformance && go test -race -count=1 ./...)

echo "== JS SDK conformance (one server; three on redis-server)"
(cd conformance/js && npm ci --no-audit --no-fund && node --test)
