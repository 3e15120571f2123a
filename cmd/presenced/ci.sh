#!/usr/bin/env bash
# ci.sh checks and tests presenced (cmd/presenced) and the browser test of
# its dashboard (cmd/presenced/e2e, a test-only module): gofmt, go vet,
# staticcheck, and the tests with the race detector. The e2e test needs
# Chromium (Debian's chromium package, which .ci/run installs); with CI set
# it fails rather than skips without it. The repository's scripts/test.sh
# calls this.
set -euo pipefail
cd "$(dirname "$0")"

staticcheck=honnef.co/go/tools/cmd/staticcheck@v0.8.2
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt: these files are not formatted:" >&2
	echo "$unformatted" >&2
	exit 1
fi
for mod in . e2e; do
	echo "== go vet, staticcheck and go test -race: cmd/presenced/$mod"
	(cd "$mod" && go vet ./... && go run "$staticcheck" ./... && go test -race -count=1 ./...)
done
