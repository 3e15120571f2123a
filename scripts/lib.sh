# shellcheck shell=bash
# lib.sh: shared by tidy.sh and install-check.sh (sourced, not run). It
# finds the repository's modules and the published versions, builds the
# file-system module proxy and sets up an environment in which the go
# command resolves the project's modules from that proxy and everything
# else as usual.

# root: the repository's top directory.
root=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)

# module_dirs prints the directory of every module of the repository,
# relative to the root ("." for the root module): every go.mod git tracks or
# would track, outside testdata.
module_dirs() {
	git -C "$root" ls-files --cached --others --exclude-standard -- '*go.mod' \
		| grep -E '(^|/)go\.mod$' | grep -vE '(^|/)testdata/' \
		| while read -r f; do [ -f "$root/$f" ] && dirname "$f"; done | sort -u
}

# module_path DIR prints the module path declared by DIR/go.mod.
module_path() {
	sed -n 's/^module[[:space:]]*//p' "$root/$1/go.mod" | tr -d '"' | awk '{ print $1 }'
}

# published prints "module-path version" for each line of the versions file.
published() {
	sed -e 's/#.*//' "$root/versions" | awk 'NF == 2 { print $1, $2 }'
}

# project_paths prints the module path of every module of the repository.
project_paths() {
	local d
	for d in $(module_dirs); do
		module_path "$d"
	done
}

# build_proxy DIR [REV] writes the module proxy of the project to DIR, from
# the work tree, or from the committed tree of REV.
build_proxy() {
	local out=$1 rev=${2:-}
	(cd "$root/scripts/modproxy" && GOWORK=off GOFLAGS=-mod=readonly go run . -out "$out" ${rev:+-rev "$rev"}) >/dev/null
}

# use_proxy DIR MODCACHE exports the environment of a build outside the
# workspace: the project's modules from the proxy in DIR, every other module
# from the local module cache's downloads (no network for what is there)
# and then the public proxy; no checksum database for the project's paths,
# which are not published yet; a module cache of its own in MODCACHE, so
# that the project's modules are never taken from a stale copy (-trimpath
# keeps the build cache valid across module caches).
use_proxy() {
	local proxy=$1 cache=$2 local_cache
	local_cache=$(go env GOMODCACHE)/cache/download
	export GOWORK=off
	export GOPROXY="file://$proxy,file://$local_cache,https://proxy.golang.org"
	export GONOSUMDB='github.com/presencekit/*'
	export GOFLAGS='-mod=mod -modcacherw -trimpath -buildvcs=false'
	export GOMODCACHE=$cache
}

# forget_project_modules MODCACHE removes the project's modules from a
# module cache, so the next build fetches them from the proxy again.
forget_project_modules() {
	rm -rf "$1/github.com/presencekit" "$1/cache/download/github.com/presencekit"
}

# write_go_work prints the go.work of the repository: every module, the
# highest go line of theirs, and each published module replaced, at its
# version, by its directory, so that a requirement of it never sends the go
# command to a proxy for a version not tagged yet.
write_go_work() {
	local dirs d p v gover
	dirs=$(module_dirs)
	gover=$(for d in $dirs; do sed -n 's/^go[[:space:]]\+//p' "$root/$d/go.mod"; done | sort -V | tail -1)
	echo "// The development workspace: every module of the repository, each"
	echo "// published one also at its next version (the versions file). Written"
	echo "// by scripts/tidy.sh; builds outside the repository never read it."
	echo
	echo "go $gover"
	echo
	echo "use ("
	for d in $dirs; do
		if [ "$d" = . ]; then echo "	."; else echo "	./$d"; fi
	done
	echo ")"
	echo
	echo "replace ("
	while read -r p v; do
		for d in $dirs; do
			if [ "$(module_path "$d")" = "$p" ]; then
				if [ "$d" = . ]; then echo "	$p $v => ./"; else echo "	$p $v => ./$d"; fi
			fi
		done
	done < <(published | LC_ALL=C sort)
	echo ")"
}

# version_of PATH prints the version the versions file gives PATH, or
# nothing.
version_of() {
	published | awk -v p="$1" '$1 == p { print $2 }'
}
