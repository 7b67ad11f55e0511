package main

import (
	"runtime/debug"
	"strings"
)

// version is what `sessiond version` prints: the module version when
// built with `go install ...@vX.Y.Z`, else the VCS revision the go command
// stamped from the git checkout (with its date, and "+dirty" for
// uncommitted changes), else "(devel)".
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	v := bi.Main.Version
	if v != "" && v != "(devel)" {
		return v
	}
	rev := settings["vcs.revision"]
	if rev == "" {
		return "(devel)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	var b strings.Builder
	b.WriteString("devel-" + rev)
	if t := settings["vcs.time"]; t != "" {
		b.WriteString(" (" + t + ")")
	}
	if settings["vcs.modified"] == "true" {
		b.WriteString(" +dirty")
	}
	return b.String()
}
