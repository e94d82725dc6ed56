package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/portcheck/portcheck/admission"
	"github.com/portcheck/portcheck/admission/policy"
	"github.com/portcheck/portcheck/config"
)

// policyReloader re-reads the configuration on SIGHUP and swaps the target
// policy. Only the policy is live: listeners, stores and limits need a
// restart, and a reload that changes them says so in the log.
type policyReloader struct {
	live  *policy.Live
	cfg   policy.Config                               // what the live policy was built from, to log what a reload changed
	load  func() (config.Config, error)               // config.Load with the process's path and environment
	build func(config.Config) (*policy.Policy, error) // the same constructor serve uses at start
	log   *slog.Logger
	base  config.Config // the configuration the process started with
}

// reload applies the file once. A bad file (syntax, validation, a rule
// that does not parse) keeps the old policy: a typo must not open or close
// the bot's reach by accident.
func (r *policyReloader) reload() error {
	cfg, err := r.load()
	if err != nil {
		r.log.Error("config reload failed; keeping the current policy", "err", err)
		return fmt.Errorf("reload: %w", err)
	}
	p, err := r.build(cfg)
	if err != nil {
		r.log.Error("config reload failed; keeping the current policy", "err", err)
		return fmt.Errorf("reload: %w", err)
	}
	r.live.Store(p)
	changes := config.Changes("policy", r.cfg, cfg.Policy)
	r.cfg = cfg.Policy
	if len(changes) == 0 {
		r.log.Info("config reloaded: policy unchanged")
	} else {
		r.log.Info("config reloaded: policy changed", "changes", changes)
	}
	// Everything else is read once at start: tell the operator a change
	// there is not live yet rather than let them believe it is.
	a, b := r.base, cfg
	a.Policy, b.Policy = policy.Config{}, policy.Config{}
	if rest := config.Changes("", a, b); len(rest) > 0 {
		r.log.Warn("config reload: only the policy is reloaded; restart to apply the other changes", "changes", rest)
	}
	return nil
}

// run reloads on every signal until ctx is done.
func (r *policyReloader) run(ctx context.Context, sig <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			_ = r.reload() // logged
		}
	}
}

// reloadOnSIGHUP makes SIGHUP re-read the configuration and swap the target
// policy of live, for as long as bg runs.
func reloadOnSIGHUP(bg *background, live *policy.Live, load func() (config.Config, error), base config.Config, log *slog.Logger) {
	r := &policyReloader{live: live, cfg: base.Policy, load: load, build: func(c config.Config) (*policy.Policy, error) { return admission.TargetPolicy(c, nil) }, log: log, base: base}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	bg.start(func(ctx context.Context) {
		defer signal.Stop(hup)
		r.run(ctx, hup)
	})
}
