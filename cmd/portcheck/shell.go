package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/portcheck/portcheck/internal/app"
)

const shellHelp = `Usage: portcheck shell [flags]

The chat bot in your terminal: type what you would type after /portcheck in
Slack or Discord (web01:443, watch web01:443 every 30s, history, help). Answers
print as threads: #N is a thread, "└" its replies, "↻ updated" an edit of its
first line. "#N again" re-checks thread N. Loopback and private targets are
allowed (it is your machine); cloud metadata and
other never-useful addresses are refused. PORTCHECK_ALLOW / PORTCHECK_DENY
(comma-separated) adjust it.

With stdin not a terminal it reads commands until EOF, waits for every check
to finish, prints, and exits 0:

  printf '/portcheck 127.0.0.1:22\n' | portcheck shell

Flags:
  --db PATH             audit trail (default $XDG_STATE_HOME/portcheck/audit.db,
                        or ~/.local/state/portcheck/audit.db)
  --timeout DURATION    deadline for each port (default 5s)
  --concurrency N       ports checked at once (default 8)
`

// shellConfig is the parsed command line of `portcheck shell`.
type shellConfig struct {
	db          string
	timeout     time.Duration
	concurrency int
}

func parseShellFlags(args []string, getenv func(string) string) (shellConfig, error) {
	c := shellConfig{}
	fs := flag.NewFlagSet("portcheck shell", flag.ContinueOnError)
	fs.SetOutput(discard{})
	fs.Usage = func() {}
	fs.StringVar(&c.db, "db", "", "audit database path")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "deadline for each port")
	fs.IntVar(&c.concurrency, "concurrency", 8, "ports checked at once")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (commands are read from stdin)", fs.Arg(0))
	}
	if c.timeout <= 0 {
		return c, fmt.Errorf("--timeout must be positive, got %s", c.timeout)
	}
	if c.concurrency < 1 || c.concurrency > 1024 {
		return c, fmt.Errorf("--concurrency must be 1-1024, got %d", c.concurrency)
	}
	if c.db == "" {
		p, err := app.DefaultAuditPath(getenv)
		if err != nil {
			return c, err
		}
		c.db = p
	}
	return c, nil
}

// stdinIsTerminal reports whether r is an interactive terminal.
func stdinIsTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func runShell(ctx context.Context, args []string, io stdio) int {
	return shellCmd(ctx, args, io, os.Getenv)
}

// shellCmd is runShell with its environment passed in (tests).
func shellCmd(ctx context.Context, args []string, io stdio, getenv func(string) string) int {
	if wantsHelp(args) {
		fmt.Fprint(io.out, shellHelp)
		return 0
	}
	cfg, err := parseShellFlags(args, getenv)
	if err != nil {
		fmt.Fprintf(io.err, "portcheck shell: %v\n(see portcheck shell --help)\n", err)
		return 2
	}
	err = app.Shell(ctx, app.ShellOptions{DB: cfg.db, Timeout: cfg.timeout, Concurrency: cfg.concurrency,
		In: io.in, Out: io.out, Interactive: stdinIsTerminal(io.in)}, appEnv(getenv, io.err))
	return exitCode(io, "shell", err)
}
