package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/config"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/worker"
)

// localChecker is the prober a worker runs at its vantage, with the egress
// self-check when a control target is configured (control_target /
// PORTCHECK_CONTROL_TARGET): a filtered port is then re-tried against a host
// known to be open, so the differential can tell "this vantage's own network
// blocks outbound PORT" from "the target filters it".
func localChecker(cfg config.Config, timeout time.Duration) worker.Checker {
	var c worker.Checker = checks.NewProber(checks.Config{Timeout: timeout, Vantage: cfg.Vantage})
	if cfg.ControlTarget != "" {
		c = worker.EgressChecker{Checker: c, Control: cfg.ControlTarget}
	}
	return c
}

// localWorkerOn is worker.local_worker / PORTCHECK_LOCAL_WORKER (default on).
func localWorkerOn(cfg config.Config) bool {
	return cfg.Worker.LocalWorker == nil || *cfg.Worker.LocalWorker
}

// useRedis moves a bot's queue, results, dedupe and vantage list to the
// Redis at REDIS_URL (shared with `portcheck serve` processes and
// `portcheck worker`s elsewhere) and, when p has a local worker, registers
// it under cfg.Vantage so /portcheck vantages lists it. An unreachable
// Redis is not fatal: commands get "the job queue is unavailable" until it
// is back; a wrong password is.
func useRedis(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger, p *bot.Params, local bool) (cleanup func(), err error) {
	st, err := rstore.Open(ctx, cfg.Redis.URL, workerStoreOptions(cfg, getenv, log))
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err = st.Ping(pctx)
	cancel()
	switch {
	case err != nil && !rstore.Unavailable(err):
		_ = st.Close()
		return nil, fmt.Errorf("redis: %w", err)
	case err != nil:
		log.Warn("redis unreachable at start; commands are refused until it answers", "err", err)
	}
	p.Queue, p.Results, p.Claims, p.Others, p.Workers = st.Queue(), st.Results(), st, st, st
	p.Instance = st.Results().Instance() // results of this process's runs come back to it
	p.Agents = redisAgents{st}           // host agents (portcheck agent --serve), found by their heartbeats
	closers := []func(){func() { _ = st.Close() }}
	if local {
		closers = append(closers, startHeartbeat(ctx, st, cfg.Vantage, log))
	}
	return func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}, nil
}

// quietGoRedis routes go-redis's own process-wide log (dial failures) to
// log at debug level: the store already logs each outage, once.
func quietGoRedis(log *slog.Logger) { goredis.SetLogger(rstore.GoRedisLogger{L: log}) }

// startHeartbeat registers this process's local worker as a vantage until
// the returned stop is called. It outlives ctx's cancellation on purpose:
// during a drain the vantage must stay listed while its jobs finish.
func startHeartbeat(ctx context.Context, st *rstore.Store, vantage string, log *slog.Logger) (stop func()) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := st.Heartbeat(hctx, rstore.VantageInfo{Name: vantage, Version: workerVersion()}); err != nil && hctx.Err() == nil {
			log.Error("vantage heartbeat stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }
}

// addLocalWorker gives the bot its own worker pool on p's queue and
// results, serving p's vantage. The policy re-checks every address a job
// carries before it is probed (defence in depth, as in portcheck worker).
// A durable queue (KeepPendingOnShutdown) gets the jobs cut short by a
// shutdown back; grace is how long SIGTERM lets jobs in flight finish.
func addLocalWorker(p *bot.Params, c worker.Checker, vet worker.AddrChecker, concurrency int, grace time.Duration, obs worker.Observer) error {
	wp := worker.Params{
		Queue: p.Queue, Results: p.Results, Checker: c, Vantage: p.Limits.Vantage, Concurrency: concurrency,
		Vet: vet, Log: p.Log, Observe: obs, KeepInterrupted: p.KeepPendingOnShutdown, DrainGrace: grace,
	}
	w, err := worker.New(wp)
	if err != nil {
		return err
	}
	p.Local = w
	return nil
}
