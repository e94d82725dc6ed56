package ratelimit

import (
	"fmt"
	"sync"
)

// Inflight caps the jobs one user has running at once (issue 7: "concurrent
// jobs per user"), so one person cannot fill the worker pool with a slow
// filtered range while everyone else waits. It counts in this process: the
// bot side that enqueues a run holds the slots until the run's results are
// in, which is where a user's runs are visible.
type Inflight struct {
	max int

	mu   sync.Mutex
	used map[string]int
}

// NewInflight allows max concurrent jobs per user; max <= 0 means no cap.
func NewInflight(max int) *Inflight {
	return &Inflight{max: max, used: map[string]int{}}
}

// Acquire takes n slots for k's user, all or none. On success the returned
// release gives them back (call it exactly once; extra calls are no-ops).
func (f *Inflight) Acquire(k Key, n int) (release func(), r Result) {
	if n < 1 {
		n = 1
	}
	if f.max <= 0 {
		return func() {}, Result{Allowed: true}
	}
	key := join(k.Chat, k.Team, k.User)
	limit := fmt.Sprintf("%d jobs at once", f.max)
	f.mu.Lock()
	defer f.mu.Unlock()
	if n > f.max {
		return nil, Result{Which: WhichUser, Limit: limit, RetryAfter: -1}
	}
	if f.used[key]+n > f.max {
		// No time-based retry: slots free up when running jobs finish.
		return nil, Result{Which: WhichInflight, Limit: limit}
	}
	f.used[key] += n
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.used[key] -= n; f.used[key] <= 0 {
				delete(f.used, key)
			}
		})
	}, Result{Allowed: true}
}
