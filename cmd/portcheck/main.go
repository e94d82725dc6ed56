// Command portcheck answers "why can't I reach this port?" from a terminal
// (check, shell) or a chat (serve), with workers at many vantage points
// (worker). This package is the command line only: flags, help and exit
// codes. internal/app wires the parts together.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// stdio is the process's standard streams, passed down so commands are
// testable without touching os.Std*.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr})
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and returns the process exit code:
// 0 success (and help asked for), 1 a finding (a port not open) or
// failure, 2 usage errors.
func run(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 {
		fmt.Fprint(io.err, topUsage())
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "--help", "-help":
		fmt.Fprint(io.out, topUsage())
		return 0
	case "-v", "--version", "-version":
		name = "version"
	}
	c := lookup(name)
	if c == nil {
		what := fmt.Sprintf("unknown command %q", name)
		if strings.HasPrefix(name, "-") {
			what = fmt.Sprintf("unknown flag %s (portcheck itself takes only --help and --version)", name)
		} else if s := suggest(name, commandNames()); s != "" {
			what += fmt.Sprintf(" (did you mean %s?)", s)
		}
		fmt.Fprintf(io.err, "portcheck: %s\nUsage: portcheck COMMAND [flags]  (portcheck --help lists the commands)\n", what)
		return 2
	}
	if wantsHelp(c, rest) {
		fmt.Fprint(io.out, helpText(c))
		return 0
	}
	switch c.Name {
	case "check":
		return runCheck(ctx, rest, io)
	case "shell":
		return runShell(ctx, rest, io)
	case "serve":
		return runServe(ctx, rest, io)
	case "worker":
		return runWorker(ctx, rest, io)
	case "audit":
		return runAudit(ctx, rest, io)
	case "config":
		return runConfig(ctx, rest, io)
	case "agent":
		return runAgent(ctx, rest, io)
	case "version":
		return runVersion(c, rest, io)
	case "completion":
		return runCompletion(c, rest, io)
	case "man":
		return runMan(c, rest, io)
	case "help":
		return runHelp(c, rest, io)
	}
	panic("portcheck: command " + c.Name + " is in the table but not dispatched")
}

// runHelp is `portcheck help [COMMAND]`.
func runHelp(c *commandDoc, args []string, io stdio) int {
	switch len(args) {
	case 0:
		fmt.Fprint(io.out, topUsage())
		return 0
	case 1:
		if sub := lookup(args[0]); sub != nil {
			fmt.Fprint(io.out, helpText(sub))
			return 0
		}
		what := fmt.Sprintf("unknown command %q", args[0])
		if s := suggest(args[0], commandNames()); s != "" {
			what += fmt.Sprintf(" (did you mean %s?)", s)
		}
		return c.fail(io, "", "%s", what)
	}
	return c.fail(io, "", "unexpected argument %q", args[1])
}
