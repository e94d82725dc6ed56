package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/portcheck/portcheck/adapters/cli"
	"github.com/portcheck/portcheck/checks"
)

// checkExample follows a usage error so the fix is on screen.
const checkExample = "example: portcheck check web01:443 web01:22,80 web01:8000-8100 https://web01/ [2001:db8::1]:443 (see --help)"

// checkFlags are the parsed command line of `portcheck check`.
type checkFlags struct {
	timeout  time.Duration
	json     bool
	trace    bool
	maxPorts int
	color    string // auto, always, never
	targets  []string
}

// newCheckFlags defines check's flags on a new FlagSet (the table's
// check row says what they mean).
func newCheckFlags(f *checkFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("portcheck check", flag.ContinueOnError)
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "")
	fs.BoolVar(&f.json, "json", false, "")
	fs.BoolVar(&f.trace, "trace", false, "")
	fs.IntVar(&f.maxPorts, "max-ports", checks.DefaultMaxPorts, "")
	fs.StringVar(&f.color, "color", "auto", "")
	return fs
}

// parseCheckFlags accepts flags before, between and after targets (people
// add --json at the end), with "--" ending the flags. Errors are returned,
// not printed, so every usage error reads the same way.
func parseCheckFlags(args []string) (checkFlags, error) {
	f := checkFlags{}
	targets, err := lookup("check").parse(newCheckFlags(&f), args)
	if err != nil {
		return f, err
	}
	f.targets = targets
	switch {
	case f.timeout <= 0:
		return f, fmt.Errorf("--timeout must be positive, got %s", f.timeout)
	case f.maxPorts < 1 || f.maxPorts > 65535:
		return f, fmt.Errorf("--max-ports must be 1-65535, got %d", f.maxPorts)
	case f.color != "auto" && f.color != "always" && f.color != "never":
		return f, fmt.Errorf("--color %s: want auto, always or never", f.color)
	}
	return f, nil
}

// runCheck is `portcheck check`: parse, probe, print, exit code.
func runCheck(ctx context.Context, args []string, io stdio) int {
	c := lookup("check")
	f, err := parseCheckFlags(args)
	switch {
	case err != nil:
		return c.fail(io, "", "%v", err)
	case len(f.targets) == 0:
		fmt.Fprintln(io.err, "portcheck check: no target given")
		fmt.Fprintln(io.err, checkExample)
		return 2
	}
	targets, err := checks.ParseTargets(f.targets, checks.ParseOptions{MaxPorts: f.maxPorts})
	if err != nil {
		fmt.Fprintf(io.err, "portcheck check: %v\n", err)
		fmt.Fprintln(io.err, checkExample)
		return 2
	}
	n := 0
	for _, t := range targets {
		n += len(t.Ports)
	}
	// Sized once: a range is 65535 of them, one 6 MB object. No collection
	// while it is filled: one started by its allocation would mark it
	// while every element is written (tens of ms at start-up for nothing;
	// the heap is all live).
	gc := debug.SetGCPercent(-1)
	reqs := make([]checks.Request, 0, n)
	for _, t := range targets {
		for _, p := range t.Ports {
			reqs = append(reqs, checks.Request{Target: t.Input, Host: t.Host, Port: p, Scheme: t.Scheme, Trace: f.trace})
		}
	}
	debug.SetGCPercent(gc)
	p := checks.NewProber(checks.Config{Timeout: f.timeout})
	sum := cli.Run{
		Prober: p, JSON: f.json, Out: io.out, Err: io.err, Timeout: f.timeout,
		Progress: isTerminal(io.err), Width: termWidth(io.err),
		Color: wantColor(f.color, isTerminal(io.out), os.Getenv),
	}.Execute(ctx, reqs)
	if !sum.AllOpen() {
		return 1 // a finding (a port not open), or interrupted
	}
	return 0
}

// wantColor decides --color: always and never say it; auto colours a
// terminal unless NO_COLOR is set to anything (no-color.org) or the
// terminal is dumb.
func wantColor(mode string, terminal bool, getenv func(string) string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	return terminal && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}
