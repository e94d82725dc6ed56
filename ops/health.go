package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Check reports whether one dependency (Redis, a chat connection) is usable.
type Check func(ctx context.Context) error

// Health serves /healthz (the process answers) and /readyz (every registered
// dependency answers). Liveness deliberately ignores dependencies: restarting
// the bot does not fix Redis.
type Health struct {
	mu      sync.Mutex
	checks  map[string]Check
	timeout time.Duration
	// draining flips readiness off during graceful shutdown so load
	// balancers stop sending work before the process stops taking it.
	draining bool
}

// NewHealth returns a Health whose checks each get timeout.
func NewHealth(timeout time.Duration) *Health {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &Health{checks: map[string]Check{}, timeout: timeout}
}

// Add registers a readiness check under a name shown in /readyz.
func (h *Health) Add(name string, c Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = c
}

// Drain marks the process as shutting down: /readyz answers 503 from now on.
func (h *Health) Drain() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.draining = true
}

// Routes mounts /healthz and /readyz.
func (h *Health) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", h.ready)
}

func (h *Health) ready(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	names := make([]string, 0, len(h.checks))
	for n := range h.checks {
		names = append(names, n)
	}
	checks := make(map[string]Check, len(h.checks))
	for n, c := range h.checks {
		checks[n] = c
	}
	draining := h.draining
	h.mu.Unlock()
	sort.Strings(names)

	status := map[string]string{}
	ok := !draining
	if draining {
		status["process"] = "draining"
	}
	// Checks run concurrently so one slow dependency costs one timeout.
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, n := range names {
		wg.Add(1)
		go func(n string) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
			defer cancel()
			err := checks[n](ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ok = false
				status[n] = err.Error()
			} else {
				status[n] = "ok"
			}
		}(n)
	}
	wg.Wait()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ready": ok, "checks": status})
}
