#!/usr/bin/env bash
# tidy.sh: makes every go.mod and go.sum of the repository ready to
# publish, in one command:
#   - go.work at the root lists every module (it serves development);
#   - every requirement of one of the project's modules names the version
#     of the versions file, and no go.mod replaces a project module;
#   - go mod tidy runs in every module outside the workspace, with the
#     project's modules served by the file-system proxy of scripts/modproxy
#     (built from the work tree), so the go.sum lines of the project's own
#     modules are those of the zips the tags will publish.
# A module's zip holds its go.sum, so a dependent's go.sum changes when its
# dependency's does: it repeats until nothing changes (the project's go.sum
# lines are dropped and re-made on each pass). Run it after
# changing a go.mod, merging a branch that does, or changing the versions
# file; commit what it changes. Needs the Go module proxy for modules not
# in the local module cache yet.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"

dirs=$(module_dirs)
paths=$(project_paths)

echo "== go.work"
write_go_work >go.work
go work edit -fmt
sed -n '/^use/,$p' go.work

echo "== requirements of the project's modules: the versions file, no replace"
for d in $dirs; do
	for p in $paths; do
		(cd "$d" && GOWORK=off go mod edit -dropreplace="$p")
	done
	while read -r p v; do
		if grep -qE "^[[:space:]]*(require[[:space:]]+)?${p}[[:space:]]" "$d/go.mod"; then
			(cd "$d" && GOWORK=off go mod edit -require="$p@$v")
		fi
	done < <(published)
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
use_proxy "$tmp/proxy" "$tmp/modcache"

snapshot() { for d in $dirs; do cat "$d/go.mod" "$d/go.sum" 2>/dev/null; done | sha256sum; }
for pass in 1 2 3 4 5 6; do
	before=$(snapshot)
	rm -rf "$tmp/proxy"
	forget_project_modules "$tmp/modcache"
	build_proxy "$tmp/proxy"
	for d in $dirs; do
		# the project's lines are re-made from the proxy: an old one would be
		# a checksum mismatch, not an update
		if [ -f "$d/go.sum" ]; then
			for p in $paths; do
				grep -vF "$p " "$d/go.sum" >"$tmp/go.sum" || true
				cat "$tmp/go.sum" >"$d/go.sum"
			done
		fi
		(cd "$d" && go mod tidy)
	done
	if [ "$(snapshot)" = "$before" ]; then
		echo "== tidy: settled after $pass passes"
		break
	fi
done
if [ "$(snapshot)" != "$before" ]; then
	echo "tidy.sh: go.mod and go.sum files still change after $pass passes" >&2
	exit 1
fi

echo "== go.work.sum"
# the checksums the workspace's combined module graph needs beyond the
# modules' own go.sum files, in the ordinary environment: every module's
# packages and tests, so a go vet or go test in any of them adds nothing
(
	unset GOWORK GOPROXY GONOSUMDB GOFLAGS GOMODCACHE
	rm -f go.work.sum
	go list -m all >/dev/null
	go list -deps -test ./... >/dev/null
	for d in $dirs; do
		(cd "$d" && go list -deps -test ./... >/dev/null)
	done
)
files=(go.work go.work.sum)
for d in $dirs; do files+=("$d/go.mod" "$d/go.sum"); done
git status --short -- "${files[@]}"
