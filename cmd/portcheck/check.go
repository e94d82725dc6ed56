package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/portcheck/portcheck/adapters/cli"
	"github.com/portcheck/portcheck/checks"
)

const checkHelp = `Usage: portcheck check [flags] TARGET...

Runs the troubleshooting chain on every port (resolve, TCP connect, ping,
traceroute toward the port, banner) and says why it is or is not reachable,
with the commands to fix it.

Targets:
  web01:443            one port            web01:22,80,443     a list
  web01:8000-8100      a range             web01:ssh           a service name
  https://web01/path   port from scheme    [2001:db8::1]:443   IPv6

Flags:
  --timeout DURATION   deadline for each port (default 5s: long enough to hear a
                       router's host-unreachable after its ARP gives up)
  --json               one JSON object per port, one per line (docs/json.md)
  --trace              always run the traceroute, not only when the verdict needs it
  --max-ports N        refuse runs of more than N ports (default 1024)

Exit status: 0 every port open, 1 a port not open (or interrupted), 2 usage error.
`

// checkExample follows a usage error so the fix is on screen.
const checkExample = "example: portcheck check web01:443 web01:22,80 web01:8000-8100 https://web01/ [2001:db8::1]:443 (see --help)"

// checkFlags are the parsed command line of `portcheck check`.
type checkFlags struct {
	timeout  time.Duration
	json     bool
	trace    bool
	maxPorts int
	targets  []string
}

// parseCheckFlags accepts flags before, between and after targets (people
// add --json at the end), with "--" ending the flags. Errors are returned,
// not printed, so every usage error reads the same way.
func parseCheckFlags(args []string) (checkFlags, error) {
	f := checkFlags{}
	fs := flag.NewFlagSet("portcheck check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "deadline for each port")
	fs.BoolVar(&f.json, "json", false, "one JSON object per port per line")
	fs.BoolVar(&f.trace, "trace", false, "always traceroute")
	fs.IntVar(&f.maxPorts, "max-ports", checks.DefaultMaxPorts, "most ports in one run")
	rest := args
	for len(rest) > 0 {
		before := rest
		if err := fs.Parse(rest); err != nil {
			return f, err
		}
		rest = fs.Args()
		if endedWithDashes(before, rest) {
			f.targets = append(f.targets, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		f.targets = append(f.targets, rest[0])
		rest = rest[1:]
	}
	switch {
	case f.timeout <= 0:
		return f, fmt.Errorf("--timeout must be positive, got %s", f.timeout)
	case f.maxPorts < 1 || f.maxPorts > 65535:
		return f, fmt.Errorf("--max-ports must be 1-65535, got %d", f.maxPorts)
	}
	return f, nil
}

// endedWithDashes reports whether the flag parse of args that left rest
// stopped at a "--" (which flag consumes): everything after it is a target.
func endedWithDashes(args, rest []string) bool {
	i := len(args) - len(rest) - 1
	return i >= 0 && args[i] == "--"
}

// runCheck is `portcheck check`: parse, probe, print, exit code.
func runCheck(ctx context.Context, args []string, io stdio) int {
	f, err := parseCheckFlags(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(io.out, checkHelp)
		return 0
	case err != nil:
		fmt.Fprintf(io.err, "portcheck check: %v\n", err)
		fmt.Fprintln(io.err, "Run 'portcheck check --help' for usage.")
		return 2
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
	var reqs []checks.Request
	for _, t := range targets {
		for _, r := range t.Requests() {
			r.Trace = f.trace
			reqs = append(reqs, r)
		}
	}
	p := checks.NewProber(checks.Config{Timeout: f.timeout})
	sum := cli.Run{Prober: p, JSON: f.json, Progress: isTerminal(io.err) && len(reqs) > 1, Out: io.out, Err: io.err}.Execute(ctx, reqs)
	if !sum.AllOpen() {
		return 1 // a finding (a port not open), or interrupted
	}
	return 0
}
