package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/admission"
	"github.com/portcheck/portcheck/admission/policy"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/config"
	"github.com/portcheck/portcheck/ops"
	"github.com/portcheck/portcheck/store/sqlite"
)

// ErrNoChat is Serve's answer when no chat is configured: there is nobody
// to answer.
var ErrNoChat = errors.New("no chat is configured")

// ServeOptions are serve's flags.
type ServeOptions struct {
	ConfigPath string            // YAML file, read again on SIGHUP
	DB, Listen string            // override audit.path and listen when set
	Frontends  []FrontendFactory // the chats it knows; nil: Frontends()
}

// load reads the configuration with the flags' overrides.
func (o ServeOptions) load(getenv func(string) string) (config.Config, error) {
	c, err := config.Load(o.ConfigPath, getenv)
	if o.DB != "" {
		c.Audit.Path = o.DB
	}
	if o.Listen != "" {
		c.Listen = o.Listen
	}
	return c, err
}

// Serve runs `portcheck serve` until ctx is done: the configured chat
// adapters, the bot, its stores and local workers, the HTTP endpoints
// (chat webhooks, /healthz, /readyz, /metrics), audit checkpoints and the
// policy reload on SIGHUP. On shutdown it stops taking commands and lets
// the jobs in flight finish within worker.drain_grace.
func Serve(ctx context.Context, o ServeOptions, env Env) error {
	cfg, err := o.load(env.Getenv)
	if err != nil {
		return configErr(err)
	}
	log := newLogger(cfg.Log, env.Stderr, "serve")
	metrics := newMetrics(env)

	factories := o.Frontends
	if factories == nil {
		factories = Frontends()
	}
	fwd := &forwardHandler{}
	var fronts []Frontend
	for _, build := range factories {
		var f Frontend
		var ok bool
		f, ok, err = build(FrontendDeps{Getenv: env.Getenv, Handler: fwd, Log: log, OnRetry: metrics.ChatRetry})
		if err != nil {
			return err
		}
		if ok {
			fronts = append(fronts, f)
		}
	}
	if len(fronts) == 0 {
		return ErrNoChat
	}
	names := make([]string, 0, len(fronts))
	for _, f := range fronts {
		names = append(names, f.Name())
	}
	metrics.Preset(names, cfg.Vantage, verdictNames())

	if cfg.Audit.Path == "" {
		if cfg.Audit.Path, err = DefaultAuditPath(env.Getenv); err != nil {
			return err
		}
	}
	trail, err := sqlite.Open(ctx, cfg.Audit.Path)
	if err != nil {
		return err
	}
	defer trail.Close()
	pol, err := admission.TargetPolicy(cfg, nil)
	if err != nil {
		return err
	}
	live := policy.NewLive(pol) // SIGHUP swaps it
	parts, err := newBot(ctx, botSpec{
		cfg: cfg, getenv: env.Getenv, log: log, trail: countedTrail{trail, metrics.AuditWriteError}, policy: live,
		// Authorization and rate limits, checked for every command.
		gate: func(rdb goredis.UniversalClient) (*admission.Gate, error) {
			return admission.New(cfg, rdb, time.Now, log)
		},
		perPort: cfg.Worker.Timeout.Std(), workers: cfg.Worker.Concurrency, grace: cfg.Worker.DrainGrace.Std(),
		limits:  botLimits(cfg),
		observe: metrics, version: env.Version,
	})
	if err != nil {
		return err
	}
	defer parts.close()
	parts.gate.Limited = metrics.RateLimited
	b, err := bot.New(parts.params)
	if err != nil {
		return err
	}
	fwd.h = b
	metrics.Watches(b.Watches)

	mux := http.NewServeMux()
	// /healthz: the process answers; /readyz: the stores answer too (a
	// load balancer stops sending webhooks to a process whose audit trail
	// or Redis is gone, and during shutdown); /metrics: Prometheus.
	health := ops.NewHealth(2 * time.Second)
	for name, check := range parts.readiness {
		health.Add(name, check)
	}
	health.Routes(mux)
	mux.Handle("GET /metrics", metrics.Handler())
	for _, f := range fronts {
		b.AddChat(f.Name(), f.Chat())
		f.Routes(mux)
		// A chat whose connection is down (Socket Mode, gateway) takes no
		// commands: readiness says so, by the chat's name.
		health.Add(f.Name(), f.Ready)
		metrics.ChatLink(f.Name(), f.Ready)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (set PORTCHECK_LISTEN)", cfg.Listen, err)
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
		go func(f Frontend) {
			defer wg.Done()
			if err := f.Run(runCtx); err != nil && runCtx.Err() == nil {
				stop(fmt.Errorf("%s: %w", f.Name(), err))
			}
		}(f)
	}
	bg := newBackground(runCtx)
	startCheckpoints(bg, cfg, trail, fronts, log) // audit.checkpoint_channel: the head, posted on a schedule
	bg.start(func(ctx context.Context) { sampleQueue(ctx, parts.stats, metrics, 5*time.Second, log) })
	reloadOnSIGHUP(bg, live, func() (config.Config, error) { return o.load(env.Getenv) }, cfg, log)
	// Logged once SIGHUP is handled: from here a reload never kills serve.
	queue := "memory"
	if parts.store != nil {
		queue = "redis"
	}
	log.Info("portcheck serving", "chats", names, "listen", ln.Addr().String(), "audit", cfg.Audit.Path,
		"queue", queue, "vantage", cfg.Vantage)

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
		return cause
	}
	return nil
}
