package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/portcheck/portcheck/admission"
	"github.com/portcheck/portcheck/admission/policy"
	"github.com/portcheck/portcheck/config"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/worker"
)

// WorkerOptions are `portcheck worker`'s flags.
type WorkerOptions struct {
	ConfigPath string            // YAML file, read again on SIGHUP
	Vantage    string            // overrides the configured vantage when set
	Listen     string            // serve /healthz, /readyz and /metrics there; empty: none
	Labels     map[string]string // shown in /portcheck vantages
}

func (o WorkerOptions) load(getenv func(string) string) (config.Config, error) {
	c, err := config.Load(o.ConfigPath, getenv)
	if o.Vantage != "" {
		c.Vantage = o.Vantage
	}
	return c, err
}

// Worker runs `portcheck worker` until ctx is done: the jobs of one
// vantage from Redis, the prober, the registry heartbeat, and the policy
// every job's addresses are checked against again (reloaded on SIGHUP).
// It never talks to a chat.
func Worker(ctx context.Context, o WorkerOptions, env Env) error {
	cfg, err := o.load(env.Getenv)
	if err != nil {
		return configErr(err)
	}
	if cfg.Redis.URL == "" {
		return configErr(errors.New("REDIS_URL is not set (a worker serves jobs from Redis; see docs/redis.md)"))
	}
	log := newLogger(cfg.Log, env.Stderr, "worker")
	metrics := newMetrics(env)
	metrics.Preset(nil, cfg.Vantage, verdictNames())
	st, err := openRedis(ctx, cfg, env.Getenv, log)
	if err != nil {
		return err
	}
	defer st.Close()

	// The worker re-checks every address a job carries against the same
	// policy as the bot (defence in depth: a job in a shared Redis is not
	// trusted just for being there), and refuses jobs without addresses.
	pol, err := admission.TargetPolicy(cfg, nil)
	if err != nil {
		return configErr(err)
	}
	live := policy.NewLive(pol) // SIGHUP swaps it
	w, err := worker.New(worker.Params{
		Vet:             live,
		Queue:           st.Queue(),
		Results:         st.Results(),
		Checker:         prober(cfg, cfg.Worker.Timeout.Std()),
		Vantage:         cfg.Vantage,
		Concurrency:     cfg.Worker.Concurrency,
		Timeout:         cfg.Worker.Timeout.Std(),
		Log:             log,
		KeepInterrupted: true, // Redis hands an interrupted job to another worker
		DrainGrace:      cfg.Worker.DrainGrace.Std(),
		Observe:         metrics,
	})
	if err != nil {
		return configErr(err)
	}

	hbDone := make(chan error, 1)
	go func() {
		hbDone <- st.Heartbeat(ctx, rstore.VantageInfo{Name: cfg.Vantage, Version: env.Version, Labels: o.Labels})
	}()
	// Before "worker serving": from then on SIGHUP must not kill the worker.
	hup := newBackground(ctx)
	defer hup.stop()
	reloadOnSIGHUP(hup, live, func() (config.Config, error) { return o.load(env.Getenv) }, cfg, log)
	log.Info("worker serving", "vantage", cfg.Vantage, "concurrency", cfg.Worker.Concurrency)
	stopOps, err := startWorkerOps(ctx, o.Listen, st.Ping, st.Queue(), cfg.Vantage, cfg.Worker.DrainGrace.Std(), metrics, log)
	if err != nil {
		return err
	}
	w.Run(ctx) // returns once the jobs in flight are done or handed back
	stopOps()
	log.Info("worker stopped")
	if err := <-hbDone; err != nil && !errors.Is(err, context.Canceled) {
		log.Error("heartbeat", "err", err)
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}
