package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/portcheck/portcheck/internal/app"
)

// shellConfig is the parsed command line of `portcheck shell`.
type shellConfig struct {
	db          string
	timeout     time.Duration
	concurrency int
}

// newShellFlags defines shell's flags on a new FlagSet.
func newShellFlags(c *shellConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("portcheck shell", flag.ContinueOnError)
	fs.StringVar(&c.db, "db", "", "")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "")
	fs.IntVar(&c.concurrency, "concurrency", 8, "")
	return fs
}

func parseShellFlags(args []string, getenv func(string) string) (shellConfig, error) {
	c := shellConfig{}
	rest, err := lookup("shell").parse(newShellFlags(&c), args)
	if err != nil {
		return c, err
	}
	if len(rest) > 0 {
		return c, fmt.Errorf("unexpected argument %q (commands are read from stdin)", rest[0])
	}
	if c.timeout <= 0 {
		return c, fmt.Errorf("--timeout must be positive, got %s", c.timeout)
	}
	if c.concurrency < 1 || c.concurrency > 1024 {
		return c, fmt.Errorf("--concurrency must be 1-1024, got %d", c.concurrency)
	}
	if c.db == "" {
		c.db = getenv("PORTCHECK_AUDIT_DB") // as serve and audit export read it
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
	cfg, err := parseShellFlags(args, getenv)
	if err != nil {
		return lookup("shell").fail(io, "", "%v", err)
	}
	err = app.Shell(ctx, app.ShellOptions{DB: cfg.db, Timeout: cfg.timeout, Concurrency: cfg.concurrency,
		In: io.in, Out: io.out, Interactive: stdinIsTerminal(io.in)}, appEnv(getenv, io.err))
	return exitCode(io, "shell", err)
}
