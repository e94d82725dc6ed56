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
	"syscall"
)

const usage = `portcheck: why can't I reach this port?

Usage:
  portcheck check [flags] TARGET...   run the troubleshooting chain now (one-shot CLI)
  portcheck shell                     the chat bot in your terminal (embedded queue and store)
  portcheck serve                     run the configured chat adapters (Slack, Discord)
  portcheck worker --vantage NAME     serve jobs for one vantage point from Redis
  portcheck agent --port N | --serve  this host's facts for a port (run it on the target)
  portcheck audit export|verify       read the audit trail
  portcheck config check|show         validate or print the configuration
  portcheck version                   print build information

Run 'portcheck COMMAND --help' for a command's flags.
`

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
// 0 success, 1 a finding (a port not open) or failure, 2 usage errors.
func run(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 {
		fmt.Fprint(io.err, usage)
		return 2
	}
	switch args[0] {
	case "check":
		return runCheck(ctx, args[1:], io)
	case "shell":
		return runShell(ctx, args[1:], io)
	case "serve":
		return runServe(ctx, args[1:], io)
	case "worker":
		return runWorker(ctx, args[1:], io)
	case "audit":
		return runAudit(ctx, args[1:], io)
	case "config":
		return runConfig(ctx, args[1:], io)
	case "agent":
		return runAgent(ctx, args[1:], io)
	case "version", "--version":
		return runVersion(io)
	case "help", "-h", "--help":
		fmt.Fprint(io.out, usage)
		return 0
	default:
		fmt.Fprintf(io.err, "portcheck: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
