package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/portcheck/portcheck/internal/app"
)

// Release builds set these with the linker (see the Dockerfile):
//
//	-ldflags "-X main.buildVersion=v1.2.0 -X main.buildCommit=abc123 -X main.buildDate=2026-11-24T10:00:00Z"
//
// They are package variables only because -X can set nothing else; nothing
// assigns them at run time. Empty: Go's own stamp (module version and VCS
// revision from `go build` in a git checkout) is used instead.
var buildVersion, buildCommit, buildDate string

// buildInfo is what `portcheck version` prints and what workers register.
type buildInfo struct {
	Version  string // v1.2.0, a pseudo-version, or "(devel)"
	Commit   string // VCS revision, "unknown" when not stamped
	Date     string // commit or build time, may be empty
	Modified bool   // built from a tree with uncommitted changes
	Go       string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Commit: "unknown"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		b.Go = bi.GoVersion
		if bi.Main.Version != "" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			case "vcs.time":
				b.Date = s.Value
			}
		}
	}
	// The linker's values win: a Docker build has no .git to stamp from.
	if buildVersion != "" {
		b.Version = buildVersion
	}
	if buildCommit != "" {
		b.Commit, b.Modified = buildCommit, false
	}
	if buildDate != "" {
		b.Date = buildDate
	}
	return b
}

func (b buildInfo) String() string {
	dirty := ""
	if b.Modified {
		dirty = "+dirty"
	}
	s := fmt.Sprintf("portcheck %s (commit %s%s", b.Version, b.Commit, dirty)
	if b.Date != "" {
		s += ", " + b.Date
	}
	return s + ") " + b.Go
}

// appEnv is what internal/app takes from the process: the environment,
// where logs go, and this build.
func appEnv(getenv func(string) string, stderr io.Writer) app.Env {
	b := readBuildInfo()
	return app.Env{Getenv: getenv, Stderr: stderr, Version: b.Version, Revision: b.Commit, GoVersion: b.Go}
}

// runVersion prints the build information (`portcheck version`, `-v`,
// `--version`).
func runVersion(c *commandDoc, args []string, io stdio) int {
	if len(args) > 0 {
		return c.fail(io, "", "unexpected argument %q", args[0])
	}
	fmt.Fprintln(io.out, readBuildInfo())
	return 0
}
