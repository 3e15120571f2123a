#!/usr/bin/env bash
# install-check.sh: proves that the published modules install as the README
# says, for someone outside the repository, before any tag is pushed.
#
#  1. The workspace: go.work is what scripts/tidy.sh writes, and every
#     module builds and vets with it (staticcheck too for scripts/modproxy,
#     which no ci.sh covers).
#  2. A file-system module proxy of the project's modules at the versions
#     of the versions file (scripts/modproxy), from the work tree, or from
#     the committed tree of INSTALL_CHECK_REV (e.g. HEAD).
#  3. Every module alone (GOWORK=off), in a copy of the repository, with
#     GOPROXY=file://<proxy>,...,https://proxy.golang.org: go build and
#     go vet with -mod=readonly (its committed go.mod requires all it
#     needs), the go.sum lines of the project's modules taken from the proxy
#     (they change with every change of a dependency). When go mod tidy
#     would change a go.mod or go.sum it says so; with --strict it fails
#     (run scripts/tidy.sh before tagging).
#  4. In an empty folder outside the repository: go install of
#     cmd/presenced at its version and at @latest, and a program that
#     imports the core, pubnubhttp and the Redis backend (go get @latest,
#     build, vet, run: scripts/testdata/installcheck).
# scripts/test.sh runs it. Needs the Go module proxy for third-party
# modules not in the local module cache.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"

strict=0
if [ "${1:-}" = --strict ]; then strict=1; fi
rev=${INSTALL_CHECK_REV:-}

dirs=$(module_dirs)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== install check 1/4: the workspace (go.work) builds and vets every module"
write_go_work >"$tmp/go.work"
if ! diff -u go.work "$tmp/go.work" >"$tmp/go.work.diff" 2>&1; then
	cat "$tmp/go.work.diff"
	echo "install-check: go.work is not what scripts/tidy.sh writes: run bash scripts/tidy.sh" >&2
	exit 1
fi
for d in $dirs; do
	echo "-- $d"
	(cd "$d" && go build ./... && go vet ./...)
done
(cd scripts/modproxy && go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...)

echo "== install check 2/4: the module proxy (${rev:-work tree})"
build_proxy "$tmp/proxy" "$rev"
(cd "$tmp/proxy" && find . -name list | sort | while read -r l; do
	echo "   $(dirname "$(dirname "${l#./}")") $(cat "$l")"
done)
use_proxy "$tmp/proxy" "$tmp/modcache"

echo "== install check 3/4: every module alone, GOWORK=off, from the proxy"
mkdir "$tmp/tree"
if [ -n "$rev" ]; then
	git archive --format=tar "$rev" | tar -x -C "$tmp/tree"
else
	git ls-files -z --cached --others --exclude-standard \
		| while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done \
		| tar --null -T - -cf - | tar -x -C "$tmp/tree"
fi
stale=""
readonly_flags=${GOFLAGS/-mod=mod/-mod=readonly}
for d in $dirs; do
	echo "-- $d"
	m="$tmp/tree/$d"
	touch "$m/go.sum"
	cp "$m/go.mod" "$tmp/go.mod.orig"
	cp "$m/go.sum" "$tmp/go.sum.orig"
	# what scripts/tidy.sh would write: the project's lines from the proxy
	grep -vF "github.com/presencekit/" "$tmp/go.sum.orig" >"$m/go.sum" || true
	(cd "$m" && go mod tidy)
	if ! cmp -s "$m/go.mod" "$tmp/go.mod.orig" || ! cmp -s "$m/go.sum" "$tmp/go.sum.orig"; then
		stale="$stale $d"
		diff -u "$tmp/go.mod.orig" "$m/go.mod" | sed -n '3,$p' | grep '^[-+]' || true
		diff -u "$tmp/go.sum.orig" "$m/go.sum" | sed -n '3,$p' | grep '^[-+]' || true
	fi
	# the committed go.mod, and go.sum with the project's lines as served
	grep -F "github.com/presencekit/" "$m/go.sum" >"$tmp/go.sum.project" || true
	cp "$tmp/go.mod.orig" "$m/go.mod"
	{ grep -vF "github.com/presencekit/" "$tmp/go.sum.orig" || true; cat "$tmp/go.sum.project"; } | LC_ALL=C sort >"$m/go.sum"
	(cd "$m" && GOFLAGS=$readonly_flags go build ./... && GOFLAGS=$readonly_flags go vet ./...)
done
if [ -n "$stale" ]; then
	echo "install-check: go mod tidy with the proxy changes the go.mod or go.sum of:$stale (above); run bash scripts/tidy.sh and commit before tagging" >&2
	if [ "$strict" = 1 ]; then exit 1; fi
fi

echo "== install check 4/4: outside the repository"
out="$tmp/outside"
mkdir "$out"
cd "$out"
if git rev-parse --git-dir >/dev/null 2>&1; then
	echo "install-check: $out is inside a git repository; set TMPDIR to a folder outside it" >&2
	exit 1
fi
export GOBIN="$tmp/bin"
cmdpath=github.com/presencekit/presence/cmd/presenced
cmdv=$(version_of "$cmdpath")
for want in "$cmdv" latest; do
	rm -rf "$GOBIN"
	echo "-- go install $cmdpath@$want"
	go install "$cmdpath@$want"
	got=$(go version -m "$GOBIN/presenced" | awk '$1 == "mod" { print $2, $3 }')
	if [ "$got" != "$cmdpath $cmdv" ]; then
		echo "install-check: go install $cmdpath@$want built \"$got\", want \"$cmdpath $cmdv\"" >&2
		exit 1
	fi
done

echo "-- a program importing the core, pubnubhttp and the Redis backend"
go mod init example.com/installcheck >/dev/null 2>&1
cp "$root/scripts/testdata/installcheck/main.go" .
mods="github.com/presencekit/presence github.com/presencekit/presence/pubnubhttp github.com/presencekit/presence/redis"
for p in $mods; do
	go get "$p@latest"
done
for p in $mods; do
	got=$(go list -m -f '{{.Version}}' "$p")
	if [ "$got" != "$(version_of "$p")" ]; then
		echo "install-check: go get $p@latest gave $got, want $(version_of "$p")" >&2
		exit 1
	fi
done
go vet .
go build -o "$tmp/installcheck" .
"$tmp/installcheck"
echo "== install check: ok"
