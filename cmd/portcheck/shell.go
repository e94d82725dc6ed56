package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/portcheck/portcheck/adapters/shell"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/config"
	"github.com/portcheck/portcheck/policy"
	"github.com/portcheck/portcheck/store/memory"
	"github.com/portcheck/portcheck/store/sqlite"
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
		p, err := defaultAuditPath(getenv)
		if err != nil {
			return c, err
		}
		c.db = p
	}
	return c, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// defaultAuditPath follows the XDG base directory spec for state.
func defaultAuditPath(getenv func(string) string) (string, error) {
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "portcheck", "audit.db"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no --db given and no home directory to keep the audit trail in: %w", err)
		}
		home = h
	}
	return filepath.Join(home, ".local", "state", "portcheck", "audit.db"), nil
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
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprint(io.out, shellHelp)
			return 0
		}
	}
	cfg, err := parseShellFlags(args, os.Getenv)
	if err != nil {
		fmt.Fprintf(io.err, "portcheck shell: %v\n(see portcheck shell --help)\n", err)
		return 2
	}
	trail, err := sqlite.Open(ctx, cfg.db)
	if err != nil {
		fmt.Fprintf(io.err, "portcheck shell: %v\n(choose another place with --db PATH)\n", err)
		return 1
	}
	defer trail.Close()

	// The terminal is the chat here: only problems go to stderr.
	log := newLogger(config.Log{Format: "text", Level: "warn"}, io.err, "shell")
	// The chat bot's policy with the shell preset: your own machine, so
	// loopback and private ranges are allowed; cloud metadata and the other
	// default denies still hold. PORTCHECK_ALLOW/PORTCHECK_DENY apply.
	no := false
	pol, err := policy.New(policy.FromEnv(policy.Config{
		Allow: []string{"127.0.0.0/8", "::1/128"}, AllowPrivate: true, RedactHops: &no, MaxPorts: checks.DefaultMaxPorts,
	}, os.Getenv), nil)
	if err != nil {
		fmt.Fprintf(io.err, "portcheck shell: target policy: %v\n", err)
		return 2
	}
	// REDIS_URL, the vantage name, the local worker switch and the control
	// target come from the same config as serve (file and environment).
	conf, err := config.Load(os.Getenv("PORTCHECK_CONFIG"), os.Getenv)
	if err != nil {
		fmt.Fprintf(io.err, "portcheck shell: %v\n", err)
		return 2
	}
	p := bot.Params{
		Queue: memory.NewQueue(), Results: memory.NewResults(), Audit: trail, Claims: memory.NewClaims(),
		Policy: policyAdapter{pol},
		Redact: pol,
		Limits: bot.Limits{
			Vantage: conf.Vantage,
			// The engine keeps its own per-port deadline; the job's is a
			// backstop with room for the trace after it.
			JobTimeout: 2*cfg.timeout + 5*time.Second,
		},
		Log:       log,
		HostFacts: agentMerger{}, // host agents' findings; without one, the commands to run on the host
	}
	gate := shellGate(log)
	p.Gate, p.AuditAccess, p.ChargeTrace = gate, gate, gate
	local := localWorkerOn(conf)
	if queueKind(conf) == "redis" {
		quietGoRedis(log)
		cleanup, err := useRedis(ctx, conf, os.Getenv, log, &p, local)
		if err != nil {
			fmt.Fprintf(io.err, "portcheck shell: %v\n", err)
			return 1
		}
		defer cleanup()
	} else if !local {
		fmt.Fprintln(io.err, "portcheck shell: the local worker is off (PORTCHECK_LOCAL_WORKER=false) and there is no REDIS_URL: nobody would run the checks")
		return 2
	}
	if local {
		if err := addLocalWorker(&p, localChecker(conf, cfg.timeout), pol, cfg.concurrency, 0, nil); err != nil {
			fmt.Fprintf(io.err, "portcheck shell: %v\n", err)
			return 1
		}
	}
	b, err := bot.New(p)
	if err != nil {
		fmt.Fprintf(io.err, "portcheck shell: %v\n", err)
		return 1
	}
	interactive := stdinIsTerminal(io.in)
	user := os.Getenv("USER")
	opts := shell.Options{Out: io.out, User: user, Handler: b}
	if interactive {
		opts.Prompt = "portcheck> "
		fmt.Fprintf(io.out, "portcheck shell: type a target (web01:443) or help; Ctrl-D to quit. Audit trail: %s\n", cfg.db)
	}
	sh := shell.New(opts)
	b.AddChat("shell", sh.Chat())

	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(runCtx) }()
	shutdown := func() { stop(); <-done }

	if err := sh.Run(ctx, io.in); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(io.err, "portcheck shell: %v\n", err)
		shutdown()
		return 1
	}
	// EOF: wait for every check started (Ctrl-C cuts it short, and the
	// threads still running say they were interrupted).
	if err := b.Wait(ctx); err != nil {
		shutdown()
		return 1
	}
	shutdown()
	if interactive {
		fmt.Fprintln(io.out)
	}
	return 0
}
