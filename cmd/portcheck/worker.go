package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/config"
	"github.com/portcheck/portcheck/ops"
	"github.com/portcheck/portcheck/policy"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/worker"
)

const workerUsage = `Usage: portcheck worker [--vantage NAME] [--config FILE] [--label k=v]...

Serves the jobs of one vantage point from Redis (REDIS_URL, required) and
publishes their results for the bot processes; it never talks to a chat.
It registers itself with a heartbeat so /portcheck vantages lists it.

`

// runWorker is the `portcheck worker` composition root: Redis store, prober,
// worker.Worker and the registry heartbeat, until SIGINT/SIGTERM.
func runWorker(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("portcheck worker", flag.ContinueOnError)
	fs.SetOutput(io.err)
	path := fs.String("config", os.Getenv("PORTCHECK_CONFIG"), "YAML config file (env PORTCHECK_CONFIG)")
	vantage := fs.String("vantage", "", "vantage name this worker serves (default: config vantage / env PORTCHECK_VANTAGE)")
	listen := fs.String("listen", "", "serve /healthz, /readyz and /metrics on ADDR (example :8080); default none")
	labels := map[string]string{}
	fs.Func("label", "k=v label shown in /portcheck vantages (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want k=v, got %q", s)
		}
		labels[k] = v
		return nil
	})
	fs.Usage = func() { fmt.Fprint(io.err, workerUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "portcheck worker: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*path, os.Getenv)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 2
	}
	if *vantage != "" {
		cfg.Vantage = *vantage
	}
	if cfg.Redis.URL == "" {
		fmt.Fprintln(io.err, "portcheck worker: REDIS_URL is not set (a worker serves jobs from Redis; see docs/redis.md)")
		return 2
	}
	log := newLogger(cfg.Log, io.err, "worker")
	metrics := ops.NewMetrics()
	metrics.Preset(nil, cfg.Vantage)
	st, code := openWorkerStore(ctx, cfg, "worker", log, io)
	if st == nil {
		return code
	}
	defer st.Close()

	// The worker re-checks every address a job carries against the same
	// policy as the bot (defence in depth: a job in a shared Redis is not
	// trusted just for being there), and refuses jobs without addresses.
	pol, err := targetPolicy(cfg, nil)
	if err != nil {
		fmt.Fprintf(io.err, "portcheck worker: %v\n", err)
		return 2
	}
	live := policy.NewLive(pol) // SIGHUP swaps it
	w, err := worker.New(worker.Params{
		Vet:             live,
		Queue:           st.Queue(),
		Results:         st.Results(),
		Checker:         localChecker(cfg, cfg.Worker.Timeout.Std()), // with the egress self-check (distributed.go)
		Vantage:         cfg.Vantage,
		Concurrency:     cfg.Worker.Concurrency,
		Timeout:         cfg.Worker.Timeout.Std(),
		Log:             log,
		KeepInterrupted: true, // Redis hands an interrupted job to another worker
		DrainGrace:      cfg.Worker.DrainGrace.Std(),
		Observe:         metrics,
	})
	if err != nil {
		fmt.Fprintf(io.err, "portcheck worker: %v\n", err)
		return 2
	}

	hbDone := make(chan error, 1)
	go func() {
		hbDone <- st.Heartbeat(ctx, rstore.VantageInfo{Name: cfg.Vantage, Version: workerVersion(), Labels: labels})
	}()
	// Before "worker serving": from then on SIGHUP must not kill the worker.
	hup := newBackground(ctx)
	defer hup.stop()
	reloadOnSIGHUP(hup, live, func() (config.Config, error) {
		c, err := config.Load(*path, os.Getenv)
		if *vantage != "" {
			c.Vantage = *vantage
		}
		return c, err
	}, cfg, log)
	log.Info("worker serving", "vantage", cfg.Vantage, "concurrency", cfg.Worker.Concurrency)
	stopOps := startWorkerOps(ctx, *listen, st.Ping, st.Queue(), cfg.Vantage, cfg.Worker.DrainGrace.Std(), metrics, log)
	if stopOps == nil {
		return 1
	}
	w.Run(ctx) // returns once the jobs in flight are done or handed back
	stopOps()
	log.Info("worker stopped")
	if err := <-hbDone; err != nil && !errors.Is(err, context.Canceled) {
		log.Error("heartbeat", "err", err)
		return 1
	}
	return 0
}

// workerStoreOptions maps the config onto the Redis store. ClaimIdle must
// outlast the slowest job (deadline plus the worker's grace) or a slow job
// is handed to a second worker; traces can take several per-port timeouts.
func workerStoreOptions(cfg config.Config, getenv func(string) string, log *slog.Logger) rstore.Options {
	claim := 2 * time.Minute
	if c := 4*cfg.Worker.Timeout.Std() + 30*time.Second; c > claim {
		claim = c
	}
	return rstore.Options{
		MaxDeliveries:  cfg.Redis.MaxDeliveries,
		MaxLen:         cfg.Redis.StreamMaxLen,
		SentinelMaster: cfg.Redis.SentinelMaster,
		SentinelAddrs:  cfg.Redis.SentinelAddrs,
		// The config holds no secrets: the sentinels' password comes from
		// the environment only.
		SentinelPassword: getenv("REDIS_SENTINEL_PASSWORD"),
		ClaimIdle:        claim,
		Logger:           log,
	}
}

func workerVersion() string { return readBuildInfo().Version }

// openWorkerStore opens the Redis store for a long-running process that takes
// jobs (worker, agent --serve) and pings it once. A Redis that is merely
// unreachable is not fatal: the loops reconnect with backoff, so a worker
// started before Redis still comes up. A Redis that answers with an error
// retrying cannot fix (wrong password, wrong db) ends the process. On failure
// st is nil and code is the exit code.
func openWorkerStore(ctx context.Context, cfg config.Config, name string, log *slog.Logger, io stdio) (st *rstore.Store, code int) {
	goredis.SetLogger(rstore.GoRedisLogger{L: log}) // process-wide: this is main's to decide
	st, err := rstore.Open(ctx, cfg.Redis.URL, workerStoreOptions(cfg, os.Getenv, log))
	if err != nil {
		fmt.Fprintf(io.err, "portcheck %s: %v\n", name, err)
		return nil, 2
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err = st.Ping(pctx)
	cancel()
	switch {
	case err != nil && !rstore.Unavailable(err):
		fmt.Fprintf(io.err, "portcheck %s: %v\n", name, err)
		st.Close()
		return nil, 1
	case err != nil:
		log.Warn("redis unreachable at start; retrying with backoff", "err", err)
	}
	return st, 0
}
