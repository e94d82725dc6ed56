package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/config"
	"github.com/portcheck/portcheck/ops"
	"github.com/portcheck/portcheck/policy"
	"github.com/portcheck/portcheck/store/memory"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/store/sqlite"
	"github.com/portcheck/portcheck/worker"
)

const serveHelp = `Usage: portcheck serve [--config FILE] [--db PATH] [--listen ADDR]

Runs the configured chat adapters, the job queue, the local workers and the
audit trail in one process. Configure at least one chat:

  Slack    SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode: no public URL)
           or SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP /slack/commands)
  Discord  DISCORD_BOT_TOKEN and DISCORD_APP_ID (gateway), plus
           DISCORD_PUBLIC_KEY for the HTTP interactions endpoint

HTTP endpoints (chat webhooks, /healthz, /readyz, /metrics) listen on PORTCHECK_LISTEN (:8080).
REDIS_URL switches the queue to Redis (workers elsewhere: portcheck worker).
The audit trail is SQLite at PORTCHECK_AUDIT_DB (default
$XDG_STATE_HOME/portcheck/audit.db). Other settings: docs/bot.md.
`

const noChatConfigured = `portcheck serve: no chat is configured, so there is nobody to answer.
  Slack:   set SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode),
           or SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP request URLs)
  Discord: set DISCORD_BOT_TOKEN and DISCORD_APP_ID
Meanwhile the same bot runs in your terminal now: portcheck shell
`

func runServe(ctx context.Context, args []string, io stdio) int {
	return serve(ctx, args, io, os.Getenv, frontendFactories())
}

// forwardHandler lets the frontends be built (and the no-chat case caught)
// before the bot and its stores exist.
type forwardHandler struct {
	h   bot.Handler
	obs chatRetryObserver // the metrics, once built: see onChatRetry
}

func (f *forwardHandler) Handle(ctx context.Context, c bot.Chat, cmd bot.Command) error {
	if f.h == nil {
		return errors.New("portcheck serve: not ready yet")
	}
	return f.h.Handle(ctx, c, cmd)
}

// serve is runServe with its environment and chats passed in (tests).
func serve(ctx context.Context, args []string, io stdio, getenv func(string) string, factories []frontendFactory) int {
	fs := flag.NewFlagSet("portcheck serve", flag.ContinueOnError)
	fs.SetOutput(discard{})
	fs.Usage = func() {}
	path := fs.String("config", getenv("PORTCHECK_CONFIG"), "YAML config file")
	db := fs.String("db", "", "audit database path")
	listen := fs.String("listen", "", "HTTP listen address")
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprint(io.out, serveHelp)
			return 0
		}
	}
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(io.err, "portcheck serve: %v\n(see portcheck serve --help)\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "portcheck serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*path, getenv)
	if err != nil {
		fmt.Fprintf(io.err, "portcheck serve: %v\n", err)
		return 2
	}
	if *db != "" {
		cfg.Audit.Path = *db
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	log := newLogger(cfg.Log, io.err, "serve")

	fwd := &forwardHandler{}
	var fronts []frontend
	for _, build := range factories {
		f, ok, err := build(getenv, fwd, log)
		if err != nil {
			fmt.Fprintf(io.err, "portcheck serve: %v\n", err)
			return 1
		}
		if ok {
			fronts = append(fronts, f)
		}
	}
	if len(fronts) == 0 {
		fmt.Fprint(io.err, noChatConfigured)
		return 1
	}

	metrics := ops.NewMetrics()
	p, live, readiness, cleanup, err := serveParams(ctx, cfg, getenv, log, metrics)
	if err != nil {
		fmt.Fprintf(io.err, "portcheck serve: %v\n", err)
		return 1
	}
	defer cleanup()
	p.Observe = metrics
	fwd.obs = metrics
	if g, ok := p.Gate.(*securityGate); ok {
		g.limited = metrics.RateLimited
	}
	b, err := bot.New(p)
	if err != nil {
		fmt.Fprintf(io.err, "portcheck serve: %v\n", err)
		return 1
	}
	fwd.h = b

	mux := http.NewServeMux()
	// /healthz: the process answers; /readyz: the stores answer too (a
	// load balancer stops sending webhooks to a process whose audit trail
	// or Redis is gone, and during shutdown); /metrics: Prometheus.
	health := ops.NewHealth(2 * time.Second)
	for name, check := range readiness {
		health.Add(name, check)
	}
	health.Routes(mux)
	mux.Handle("GET /metrics", metrics.Handler())
	for _, f := range fronts {
		b.AddChat(f.Name(), f.Chat())
		f.Routes(mux)
		// A chat whose connection is down (Socket Mode, gateway) takes no
		// commands: readiness says so, by the chat's name.
		if r, ok := f.(interface{ Ready(context.Context) error }); ok {
			health.Add(f.Name(), r.Ready)
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(io.err, "portcheck serve: listening on %s: %v (set PORTCHECK_LISTEN)\n", cfg.Listen, err)
		return 1
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}

	// Everything runs until ctx is done or a part fails for good.
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	botCtx, stopBot := context.WithCancel(context.WithoutCancel(ctx))
	botDone := make(chan struct{})
	go func() { defer close(botDone); _ = b.Run(botCtx) }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			stop(fmt.Errorf("http: %w", err))
		}
	}()
	for _, f := range fronts {
		wg.Add(1)
		go func(f frontend) {
			defer wg.Done()
			if err := f.Run(runCtx); err != nil && runCtx.Err() == nil {
				stop(fmt.Errorf("%s: %w", f.Name(), err))
			}
		}(f)
	}
	names := make([]string, 0, len(fronts))
	for _, f := range fronts {
		names = append(names, f.Name())
	}
	metrics.Preset(names, cfg.Vantage)
	bg := newBackground(runCtx)
	startCheckpoints(bg, cfg, p.Audit, fronts, log) // audit.checkpoint_channel: the head, posted on a schedule
	bg.start(func(ctx context.Context) { sampleQueue(ctx, p.Queue, metrics, 5*time.Second, log) })
	reloadOnSIGHUP(bg, live, func() (config.Config, error) {
		c, err := config.Load(*path, getenv)
		if *db != "" {
			c.Audit.Path = *db
		}
		if *listen != "" {
			c.Listen = *listen
		}
		return c, err
	}, cfg, log)
	// Logged once SIGHUP is handled: from here a reload never kills serve.
	log.Info("portcheck serving", "chats", names, "listen", ln.Addr().String(), "audit", cfg.Audit.Path,
		"queue", queueKind(cfg), "vantage", cfg.Vantage)

	<-runCtx.Done()
	cause := context.Cause(runCtx)
	bg.stop()
	health.Drain()
	log.Info("draining: readiness off, no new commands; jobs in flight finish within the grace", "grace", cfg.Worker.DrainGrace.Std())
	// Stop taking commands, then let the bot finish (it posts what the
	// workers still report, and says so in threads that cannot finish).
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	wg.Wait()
	stopBot()
	<-botDone
	if cause != nil && !errors.Is(cause, context.Canceled) {
		fmt.Fprintf(io.err, "portcheck serve: %v\n", cause)
		return 1
	}
	return 0
}

func queueKind(cfg config.Config) string {
	if cfg.Redis.URL != "" || len(cfg.Redis.SentinelAddrs) > 0 {
		return "redis"
	}
	return "memory"
}

// serveParams builds the bot's dependencies from the configuration: the
// embedded queue or Redis, the SQLite audit trail, the target policy, the
// local worker; live is the target policy SIGHUP swaps. readiness checks whether the stores answer; cleanup closes
// what was opened.
func serveParams(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger, obs worker.Observer) (p bot.Params, live *policy.Live, readiness map[string]ops.Check, cleanup func(), err error) {
	var closers []func()
	cleanup = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (bot.Params, *policy.Live, map[string]ops.Check, func(), error) {
		cleanup()
		return bot.Params{}, nil, nil, func() {}, err
	}

	auditPath := cfg.Audit.Path
	if auditPath == "" {
		p, err := defaultAuditPath(getenv)
		if err != nil {
			return fail(err)
		}
		auditPath = p
	}
	trail, err := sqlite.Open(ctx, auditPath)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { trail.Close() })

	pol, err := targetPolicy(cfg, nil)
	if err != nil {
		return fail(err)
	}

	live = policy.NewLive(pol) // SIGHUP swaps it
	timeout := cfg.Worker.Timeout.Std()
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	maxPorts := cfg.Policy.MaxPorts
	if maxPorts <= 0 {
		maxPorts = policy.DefaultMaxPorts
	}
	readiness = map[string]ops.Check{"audit": func(ctx context.Context) error {
		_, err := trail.Query(ctx, audit.Query{Limit: 1})
		return err
	}}
	p = bot.Params{
		Audit:  trail,
		Policy: policyAdapter{live},
		Redact: live, // private hops of public traces stay out of the chat
		Limits: bot.Limits{
			Vantage:           cfg.Vantage,
			JobTimeout:        2*timeout + 5*time.Second,
			WatchesPerChannel: cfg.Watch.MaxPerChannel,
			Grammar: bot.GrammarLimits{
				MaxText: cfg.Limits.MaxCommandLength, MaxTargets: cfg.Limits.MaxTargets, MaxPorts: maxPorts,
				Every: cfg.Watch.DefaultEvery.Std(), MinEvery: cfg.Watch.MinEvery.Std(), MaxFor: cfg.Watch.MaxFor.Std(),
			},
		},
		Log:       log,
		HostFacts: agentMerger{}, // merged host findings, or what could not be seen without an agent
	}
	local := localWorkerOn(cfg)
	var rdb goredis.UniversalClient // nil: rate limits in memory
	if queueKind(cfg) == "redis" {
		// go-redis's own dial-failure lines go to debug: the store logs an
		// outage once when it starts and once when it ends.
		quietGoRedis(log)
		// The same store options as `portcheck worker`, so claim-idle and
		// dead-lettering agree between the processes sharing the streams.
		st, err := rstore.Open(ctx, cfg.Redis.URL, workerStoreOptions(cfg, getenv, log))
		if err != nil {
			return fail(fmt.Errorf("redis: %w", err))
		}
		closers = append(closers, func() { st.Close() })
		readiness["redis"] = st.Ping
		p.Queue, p.Results, p.Claims, p.Others, p.Workers = st.Queue(), st.Results(), st, st, st
		p.Instance = st.Results().Instance() // results of this process's runs come back to it
		p.Agents = redisAgents{st}           // host agents (portcheck agent --serve) answer host-local jobs
		// Rate limits in Redis too, shared by every replica.
		rdb = st.Client()
		p.KeepPendingOnShutdown = true // Redis keeps them for the next process
		if local {
			closers = append(closers, startHeartbeat(ctx, st, cfg.Vantage, log))
		}
	} else {
		p.Queue, p.Results, p.Claims = memory.NewQueue(), memory.NewResults(), memory.NewClaims()
		if !local {
			return fail(errors.New("the local worker is off (PORTCHECK_LOCAL_WORKER=false) and there is no REDIS_URL: nobody would run the checks"))
		}
	}
	// Authorization and rate limits, checked for every command.
	gate, err := newSecurityGate(cfg, rdb, time.Now, log)
	if err != nil {
		return fail(err)
	}
	p.Gate, p.AuditAccess, p.ChargeTrace = gate, gate, gate
	if local {
		// SIGTERM lets the local workers finish their jobs (worker.drain_grace).
		if err := addLocalWorker(&p, localChecker(cfg, timeout), live, cfg.Worker.Concurrency, cfg.Worker.DrainGrace.Std(), obs); err != nil {
			return fail(err)
		}
	}
	return p, live, readiness, cleanup, nil
}

// The metrics registry is the bot's observer.
var _ bot.Observer = (*ops.Metrics)(nil)

// policyAdapter presents the target policy (*policy.Policy, *policy.Live)
// as the bot's Policy.
type policyAdapter struct {
	p interface {
		Decide(ctx context.Context, host string, ports []int) policy.Decision
	}
}

func (a policyAdapter) Decide(ctx context.Context, _ bot.Command, t checks.Target) bot.PolicyDecision {
	d := a.p.Decide(ctx, t.Host, t.Ports)
	out := bot.PolicyDecision{Allowed: d.Allowed, Rule: d.Rule, Reason: d.Reason, DNSError: d.DNSError, NotFound: d.NotFound}
	for _, ip := range d.Addrs {
		out.Addrs = append(out.Addrs, ip.String())
	}
	return out
}
