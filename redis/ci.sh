#!/usr/bin/env bash
# ci.sh: the checks of the Redis backend module. Installs Debian's
# redis-server when it is missing, then gofmt, go vet, staticcheck and the
# tests under the race detector on real redis-server processes. The Redis
# Cluster test stays opt-in: PRESENCE_REDIS_CLUSTER=1 bash ci.sh; the long
# fault tests too: PRESENCE_REDIS_SOAK=1 bash ci.sh.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v redis-server >/dev/null 2>&1; then
	echo "ci.sh: installing redis-server"
	export DEBIAN_FRONTEND=noninteractive
	SUDO=""
	if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq redis-server >/dev/null
fi
redis-server --version

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "ci.sh: not gofmt-ed:" $unformatted
	exit 1
fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go test -race -count=1 ./...
