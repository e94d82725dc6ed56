package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/portcheck/portcheck/agent"
	"github.com/portcheck/portcheck/config"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/worker"
)

// AgentOptions are `portcheck agent --serve`'s flags.
type AgentOptions struct {
	ConfigPath string
	Vantages   []string // host:<hostname> first, then aliases
	Hostname   string   // the host label of every registration (bot: alias -> host:<hostname>)
	Options    agent.Options
	Timeout    time.Duration // bound for one gathering
}

// Agent joins Redis like a worker and answers the host-local jobs of each
// vantage name until ctx is done. It registers every name with a heartbeat
// so /portcheck vantages lists the agent.
func Agent(ctx context.Context, o AgentOptions, env Env) error {
	cfg, err := config.Load(o.ConfigPath, env.Getenv)
	if err != nil {
		return configErr(err)
	}
	if cfg.Redis.URL == "" {
		return configErr(errors.New("REDIS_URL is not set (the agent takes host-local jobs from Redis; see docs/agent.md)"))
	}
	log := newLogger(cfg.Log, env.Stderr, "agent")
	st, err := openRedis(ctx, cfg, env.Getenv, log)
	if err != nil {
		return err
	}
	defer st.Close()

	// The agent has no policy to reload, but the systemd unit's
	// ExecReload (and operators' habits) send SIGHUP: it must not kill the
	// process (the default action), so it is taken and logged.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: the agent has nothing to reload; restart it to change its flags")
			}
		}
	}()

	var wg sync.WaitGroup
	failed := make(chan error, 2*len(o.Vantages))
	for _, v := range o.Vantages {
		w, err := worker.New(worker.Params{
			Queue:           st.Queue(),
			Results:         st.Results(),
			Facts:           agent.Checker{Options: o.Options, Vantage: v},
			Vantage:         v,
			Concurrency:     1, // facts are cheap; one at a time keeps the host quiet
			Timeout:         o.Timeout,
			Log:             log.With("vantage", v),
			KeepInterrupted: true,
			DrainGrace:      cfg.Worker.DrainGrace.Std(), // SIGTERM: finish or hand back, like a worker
		})
		if err != nil {
			return configErr(err)
		}
		wg.Add(2)
		go func() { defer wg.Done(); w.Run(ctx) }()
		go func(v string) {
			defer wg.Done()
			info := rstore.VantageInfo{Name: v, Version: env.Version, Labels: map[string]string{"kind": "agent", "host": o.Hostname}}
			if err := st.Heartbeat(ctx, info); err != nil && !errors.Is(err, context.Canceled) {
				failed <- fmt.Errorf("heartbeat %s: %w", v, err)
			}
		}(v)
	}
	log.Info("agent serving", "vantages", o.Vantages, "privacy_cmdline", o.Options.Privacy.Cmdline, "privacy_logs", o.Options.Privacy.Logs)
	wg.Wait()
	close(failed)
	var errs []error
	for err := range failed {
		log.Error("agent", "err", err)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
