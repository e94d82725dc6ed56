package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portcheck/portcheck/config"
	"github.com/portcheck/portcheck/ops"
	"github.com/portcheck/portcheck/policy"
	"github.com/portcheck/portcheck/wire"
)

// policyReloader re-reads the configuration on SIGHUP and swaps the target
// policy. Only the policy is live: listeners, stores and limits need a
// restart, and a reload that changes them says so in the log.
type policyReloader struct {
	live  *policy.Live
	cfg   config.Policy                               // what the live policy was built from, to log what a reload changed
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
	changes := fieldChanges("policy", r.cfg, cfg.Policy)
	r.cfg = cfg.Policy
	if len(changes) == 0 {
		r.log.Info("config reloaded: policy unchanged")
	} else {
		r.log.Info("config reloaded: policy changed", "changes", changes)
	}
	// Everything else is read once at start: tell the operator a change
	// there is not live yet rather than let them believe it is.
	a, b := r.base, cfg
	a.Policy, b.Policy = config.Policy{}, config.Policy{}
	if rest := fieldChanges("", a, b); len(rest) > 0 {
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

// fieldChanges lists "key: old -> new" for every YAML field that differs
// between a and b (structs of the same type), recursing into nested
// structs. Reflection keeps it in step with new config keys for free.
func fieldChanges(prefix string, a, b any) []string {
	var out []string
	var walk func(prefix string, va, vb reflect.Value)
	walk = func(prefix string, va, vb reflect.Value) {
		for va.Kind() == reflect.Pointer {
			if va.IsNil() || vb.IsNil() {
				if va.IsNil() != vb.IsNil() || (!va.IsNil() && !reflect.DeepEqual(va.Interface(), vb.Interface())) {
					out = append(out, fmt.Sprintf("%s: %s -> %s", prefix, show(va), show(vb)))
				}
				return
			}
			va, vb = va.Elem(), vb.Elem()
		}
		if va.Kind() != reflect.Struct {
			if !reflect.DeepEqual(va.Interface(), vb.Interface()) {
				out = append(out, fmt.Sprintf("%s: %s -> %s", prefix, show(va), show(vb)))
			}
			return
		}
		t := va.Type()
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			if prefix != "" {
				name = prefix + "." + name
			}
			walk(name, va.Field(i), vb.Field(i))
		}
	}
	walk(prefix, reflect.ValueOf(a), reflect.ValueOf(b))
	return out
}

func show(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "(default)"
		}
		v = v.Elem()
	}
	if d, ok := v.Interface().(config.Duration); ok {
		return d.Std().String()
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	if v.Kind() == reflect.String && v.String() == "" {
		return `""`
	}
	return fmt.Sprint(v.Interface())
}

// sampleQueue records queue depth and the oldest pending job's age every
// interval, so a backlog (workers down, a vantage nobody serves) shows on
// a dashboard before users notice. Queues without QueueStats are skipped.
func sampleQueue(ctx context.Context, q wire.Queue, m *ops.Metrics, every time.Duration, log *slog.Logger) {
	qs, ok := q.(wire.QueueStatser)
	if !ok {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		sctx, cancel := context.WithTimeout(ctx, every)
		stats, err := qs.QueueStats(sctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			// Once per outage: /readyz already reports Redis down.
			log.Warn("sampling the queue failed", "err", err)
			failing = true
		case err == nil:
			failing = false
			for _, s := range stats {
				m.QueueState(s.Vantage, s.Depth, s.Oldest)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// opsServer serves /healthz, /readyz and /metrics for processes without a
// chat listener (portcheck worker --listen), so Kubernetes probes and
// Prometheus see workers too.
type opsServer struct {
	srv  *http.Server
	addr string
	done chan error
}

func startOpsServer(addr string, health *ops.Health, metrics *ops.Metrics, log *slog.Logger) (*opsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	health.Routes(mux)
	mux.Handle("GET /metrics", metrics.Handler())
	o := &opsServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
		addr: ln.Addr().String(),
		done: make(chan error, 1),
	}
	go func() {
		err := o.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		o.done <- err
	}()
	return o, nil
}

// stop shuts the server down (probes in flight get a second).
func (o *opsServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = o.srv.Shutdown(ctx)
	<-o.done
}

// background runs functions until stop is called, then waits for them:
// the samplers and signal loops a command starts beside its main work.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newBackground(parent context.Context) *background {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	return &background{ctx: ctx, cancel: cancel}
}

func (b *background) start(f func(ctx context.Context)) {
	b.wg.Add(1)
	go func() { defer b.wg.Done(); f(b.ctx) }()
}

func (b *background) stop() { b.cancel(); b.wg.Wait() }

// startWorkerOps starts what runs beside a worker's jobs: the queue
// sampler, the drain announcement and, with --listen, the ops endpoints
// (readiness: Redis answers and the worker is not draining). It returns the
// function that stops them, or nil when the listener could not start (the
// error is logged).
func startWorkerOps(ctx context.Context, listen string, ping ops.Check, q wire.Queue, vantage string, grace time.Duration, metrics *ops.Metrics, log *slog.Logger) (stop func()) {
	health := ops.NewHealth(2 * time.Second)
	health.Add("redis", ping)
	var srv *opsServer
	if listen != "" {
		var err error
		if srv, err = startOpsServer(listen, health, metrics, log); err != nil {
			log.Error("ops endpoints", "err", err)
			return nil
		}
		log.Info("ops endpoints", "listen", srv.addr)
	}
	bg := newBackground(ctx)
	bg.start(func(bctx context.Context) { sampleQueue(bctx, q, metrics, 5*time.Second, log) })
	bg.start(func(bctx context.Context) {
		select {
		case <-ctx.Done():
			// Readiness off first: a load balancer or operator watching
			// /readyz sees the drain before the jobs end.
			health.Drain()
			log.Info("draining: no new jobs; jobs in flight finish or are handed back", "vantage", vantage, "grace", grace)
		case <-bctx.Done():
		}
	})
	return func() {
		bg.stop()
		if srv != nil {
			srv.stop()
		}
	}
}

// reloadOnSIGHUP makes SIGHUP re-read the configuration and swap the target
// policy of live, for as long as bg runs.
func reloadOnSIGHUP(bg *background, live *policy.Live, load func() (config.Config, error), base config.Config, log *slog.Logger) {
	r := &policyReloader{live: live, cfg: base.Policy, load: load, build: func(c config.Config) (*policy.Policy, error) { return targetPolicy(c, nil) }, log: log, base: base}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	bg.start(func(ctx context.Context) {
		defer signal.Stop(hup)
		r.run(ctx, hup)
	})
}
