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

	"github.com/portcheck/portcheck/ops"
	"github.com/portcheck/portcheck/wire"
)

// sampleQueue records queue depth and the oldest pending job's age every
// interval, so a backlog (workers down, a vantage nobody serves) shows on
// a dashboard before users notice.
func sampleQueue(ctx context.Context, qs wire.QueueStatser, m *ops.Metrics, every time.Duration, log *slog.Logger) {
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
// function that stops them.
func startWorkerOps(ctx context.Context, listen string, ping ops.Check, q wire.QueueStatser, vantage string, grace time.Duration, metrics *ops.Metrics, log *slog.Logger) (stop func(), err error) {
	health := ops.NewHealth(2 * time.Second)
	health.Add("redis", ping)
	var srv *opsServer
	if listen != "" {
		if srv, err = startOpsServer(listen, health, metrics, log); err != nil {
			return nil, fmt.Errorf("ops endpoints: %w", err)
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
	}, nil
}
