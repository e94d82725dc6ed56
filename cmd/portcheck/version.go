package main

import (
	"fmt"
	"runtime/debug"
)

// runVersion prints the module version and VCS stamp Go embeds at build time.
func runVersion(io stdio) int {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintln(io.out, "portcheck (unknown build)")
		return 0
	}
	rev, modified, at := "unknown", "", ""
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		case "vcs.time":
			at = s.Value
		}
	}
	fmt.Fprintf(io.out, "portcheck %s (%s%s %s) %s\n", bi.Main.Version, rev, modified, at, bi.GoVersion)
	return 0
}
