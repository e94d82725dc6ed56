package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestVersionCommands(t *testing.T) {
	var outs []string
	for _, arg := range []string{"version", "--version"} {
		var out, errb strings.Builder
		if code := run(t.Context(), []string{arg}, stdio{strings.NewReader(""), &out, &errb}); code != 0 {
			t.Fatalf("%s: exit %d: %s", arg, code, errb.String())
		}
		if !regexp.MustCompile(`^portcheck \S+ \(commit \S+.*\) go1\.\d+`).MatchString(out.String()) {
			t.Errorf("%s printed %q", arg, out.String())
		}
		outs = append(outs, out.String())
	}
	if outs[0] != outs[1] {
		t.Errorf("version and --version differ: %q vs %q", outs[0], outs[1])
	}
}

// The Dockerfile's build flags stamp the version: build the binary the same
// way (static, trimmed, stripped, -X) and ask it.
func TestVersionFromLinkerFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH")
	}
	bin := filepath.Join(t.TempDir(), "portcheck")
	ld := "-s -w -X main.buildVersion=v9.8.7 -X main.buildCommit=0123abc -X main.buildDate=2026-01-02T03:04:05Z"
	build := exec.Command(goTool, "build", "-trimpath", "-buildvcs=false", "-ldflags="+ld, "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "portcheck v9.8.7 (commit 0123abc, 2026-01-02T03:04:05Z) go"
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("--version = %q, want prefix %q", out, want)
	}
	if fi, err := os.Stat(bin); err == nil {
		t.Logf("static binary: %.1f MiB", float64(fi.Size())/(1<<20))
	}
}
