// version.go answers -version from the build information the Go toolchain
// embeds: the module's version and the VCS revision it was built from.

package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// buildVersion returns presenced's module version ("(devel)" for a build
// from a checkout) and its VCS revision ("" when unknown), with
// "-modified" added when the checkout had uncommitted changes.
func buildVersion() (version, revision string) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown", ""
	}
	return versionOf(info)
}

// versionOf returns the version and revision recorded in info.
func versionOf(info *debug.BuildInfo) (version, revision string) {
	version = info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision != "" && modified {
		revision += "-modified"
	}
	return version, revision
}

// versionLine is what -version prints.
func versionLine() string {
	version, revision := buildVersion()
	var b strings.Builder
	fmt.Fprintf(&b, "presenced %s", version)
	if revision != "" {
		fmt.Fprintf(&b, " (revision %s)", revision)
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(&b, " %s", info.GoVersion)
	}
	return b.String()
}
