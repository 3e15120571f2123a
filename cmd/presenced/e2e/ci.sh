#!/usr/bin/env bash
# ci.sh checks and runs the browser test of presenced's dashboard (this
# test-only module): gofmt, go vet, staticcheck, and the test with the race
# detector. The test needs Chromium (Debian's chromium package, which
# .ci/run installs); with CI set it fails rather than skips without it.
# presenced's own checks and tests run in pubnubhttp/ci.sh. The
# repository's scripts/test.sh calls this.
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
