package redis

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// health is one Store's view of whether Redis answers. Every loop that
// retries reports to it, so an outage is logged twice — a warning when it
// starts and an info line, with how long it lasted, when it ends — however
// many goroutines and loops notice it. The blocking readers also share one
// backoff schedule (exponential from MinBackoff to MaxBackoff, jittered):
// an idle process with 32 workers waiting on one stream makes one attempt
// per interval, not one per goroutine.
//
// Pacing uses the real clock, like the claim scans: a frozen test clock
// (Options.Now) must not stop a reconnect.
type health struct {
	log      *slog.Logger
	min, max time.Duration

	down     atomic.Bool // fast path for up, called after every successful read
	mu       sync.Mutex
	since    time.Time // when this outage was first noticed
	failures int       // attempts on the shared schedule that failed in this outage
	retryAt  time.Time // readers wait until then
}

func newHealth(log *slog.Logger, min, max time.Duration) *health {
	return &health{log: log, min: min, max: max}
}

// failed records a failed attempt of a blocking reader with an outage
// error and returns how long it should wait before the next one. Attempts
// made before the schedule said so (goroutines that were already trying)
// do not push the schedule further out.
func (h *health) failed(err error, where string) time.Duration {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.noticeLocked(now, err, where)
	if now.Before(h.retryAt) {
		return h.retryAt.Sub(now)
	}
	h.failures++
	h.retryAt = now.Add(backoff(h.min, h.max, h.failures))
	return h.retryAt.Sub(now)
}

// noticed records an outage error seen by a loop that keeps its own pace
// (heartbeats, sweeps, pruning). It reports whether err is an outage: if
// so the outage is already logged and the caller says nothing more.
func (h *health) noticed(err error, where string) bool {
	if !transient(err) {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.noticeLocked(time.Now(), err, where)
	return true
}

func (h *health) noticeLocked(now time.Time, err error, where string) {
	if h.down.Load() {
		return
	}
	h.down.Store(true)
	h.since, h.failures, h.retryAt = now, 0, time.Time{}
	h.log.Warn("redis unavailable; retrying with backoff (logged again when it is back)", "where", where, "err", err)
}

// wait is how long a reader should hold off before its next attempt.
func (h *health) wait() time.Duration {
	if !h.down.Load() {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return max(0, time.Until(h.retryAt))
}

// up records that Redis answered; it ends an outage.
func (h *health) up() {
	if !h.down.Load() {
		return
	}
	h.mu.Lock()
	if !h.down.Load() {
		h.mu.Unlock()
		return
	}
	h.down.Store(false)
	downFor, failures := time.Since(h.since), h.failures
	h.failures, h.retryAt = 0, time.Time{}
	h.mu.Unlock()
	h.log.Info("redis available again", "down_for", downFor.Round(time.Millisecond), "failed_attempts", failures)
}
