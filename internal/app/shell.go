package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/adapters/shell"
	"github.com/portcheck/portcheck/admission"
	"github.com/portcheck/portcheck/admission/policy"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/config"
	"github.com/portcheck/portcheck/store/sqlite"
)

// ShellOptions are `portcheck shell`'s flags and terminal.
type ShellOptions struct {
	DB          string        // the audit trail
	Timeout     time.Duration // per port
	Concurrency int           // ports checked at once
	In          io.Reader
	Out         io.Writer
	Interactive bool // In is a terminal: prompt, and a greeting
}

// Shell runs the chat bot in a terminal (`portcheck shell`) until In ends
// and every check started has finished, or ctx is done.
func Shell(ctx context.Context, o ShellOptions, env Env) error {
	trail, err := sqlite.Open(ctx, o.DB)
	if err != nil {
		return fmt.Errorf("%w\n(choose another place with --db PATH)", err)
	}
	defer trail.Close()

	// The terminal is the chat here: only problems go to stderr.
	log := newLogger(config.Log{Format: "text", Level: "warn"}, env.Stderr, "shell")
	// REDIS_URL, the vantage name, the local worker switch, the control
	// target and the limits (watch.*, policy.max_ports) come from the same
	// config as serve (file and environment).
	cfg, err := config.Load(env.Getenv("PORTCHECK_CONFIG"), env.Getenv)
	if err != nil {
		return configErr(err)
	}
	// The chat bot's policy with the shell preset: your own machine, so
	// loopback and private ranges are allowed; cloud metadata and the other
	// default denies still hold. PORTCHECK_ALLOW/PORTCHECK_DENY apply.
	no := false
	pol, err := policy.New(policy.FromEnv(policy.Config{
		Allow: []string{"127.0.0.0/8", "::1/128"}, AllowPrivate: true, RedactHops: &no, MaxPorts: cfg.Policy.MaxPorts,
	}, env.Getenv), nil)
	if err != nil {
		return configErr(fmt.Errorf("target policy: %w", err))
	}
	parts, err := newBot(ctx, botSpec{
		cfg: cfg, getenv: env.Getenv, log: log, trail: trail, policy: pol,
		// Your own terminal: no authorization lists, no rate limits.
		gate:    func(goredis.UniversalClient) (*admission.Gate, error) { return admission.Unlimited(log), nil },
		perPort: o.Timeout, workers: o.Concurrency, version: env.Version, limits: botLimits(cfg),
	})
	if err != nil {
		return err
	}
	defer parts.close()
	b, err := bot.New(parts.params)
	if err != nil {
		return err
	}
	opts := shell.Options{Out: o.Out, User: env.Getenv("USER"), Handler: b, Control: b}
	var restore func() error
	if o.Interactive {
		opts.Prompt = "portcheck> "
		if f, ok := o.In.(interface{ Fd() uintptr }); ok {
			// Raw mode: Ctrl-C is a key the shell reads (it cancels a
			// line or a check), not a signal that ends the session.
			if restore, err = shell.MakeRaw(int(f.Fd())); err != nil {
				log.Warn("no line editing: Ctrl-C will end the session", "err", err)
				restore = nil
			} else {
				defer func() { _ = restore() }() // also when something below panics
			}
		}
		keys := "Ctrl-D to quit"
		if restore != nil {
			keys = "Ctrl-C cancels, Ctrl-D quits"
		}
		fmt.Fprintf(o.Out, "portcheck shell: type a target (web01:443) or help; %s. Audit trail: %s\n", keys, o.DB)
	}
	sh := shell.New(opts)
	b.AddChat("shell", sh.Chat())

	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(runCtx) }()
	defer func() { stop(); <-done }()

	if restore != nil {
		err = sh.RunTerminal(ctx, o.In)
		_ = restore() // before anything else is printed: the terminal as it was
	} else {
		err = sh.Run(ctx, o.In)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	// EOF: wait for every check started (Ctrl-C cuts it short, and the
	// threads still running say they were interrupted). An interactive
	// session has stopped its watches and waited already.
	if err := b.Wait(ctx); err != nil {
		return err
	}
	stop()
	<-done
	if o.Interactive {
		fmt.Fprintln(o.Out)
	}
	return nil
}
