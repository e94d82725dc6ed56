package ratelimit

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Memory is the in-process GCRA limiter for the embedded mode. GCRA keeps
// one timestamp per key (the theoretical arrival time), so memory stays
// small and there are no window-boundary bursts.
type Memory struct {
	limits Limits
	now    func() time.Time

	mu      sync.Mutex
	tat     map[string]time.Time
	sweepAt int
}

// NewMemory builds an in-memory limiter; now is the clock (time.Now in
// production, a fake in tests).
func NewMemory(l Limits, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{limits: l, now: now, tat: map[string]time.Time{}, sweepAt: 1024}
}

// Allow implements Limiter. All applicable limits are judged under one lock
// and charged only if every one passes, so a request denied by the global
// limit does not eat the user's allowance.
func (m *Memory) Allow(ctx context.Context, k Key, cost int) (Result, error) {
	if cost < 1 {
		cost = 1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)

	ls := m.limits.applicable(k)
	next := make([]time.Time, len(ls))
	worst := Result{Allowed: true}
	for i, l := range ls {
		c := min(cost, l.rate.burst()) // see Limiter: big commands need, and take, a full allowance
		emission := l.rate.Per / time.Duration(l.rate.Events)
		tat := m.tat[l.key]
		if tat.Before(now) {
			tat = now
		}
		newTAT := tat.Add(emission * time.Duration(c))
		allowAt := newTAT.Add(-emission * time.Duration(l.rate.burst()))
		if now.Before(allowAt) {
			// Report the longest wait: retrying earlier would fail again.
			if wait := allowAt.Sub(now); worst.Allowed || wait > worst.RetryAfter {
				worst = Result{Which: l.which, Limit: l.rate.String(), RetryAfter: wait}
			}
			continue
		}
		next[i] = newTAT
	}
	if !worst.Allowed {
		return worst, nil
	}
	for i, l := range ls {
		m.tat[l.key] = next[i]
	}
	return worst, nil
}

// Consume implements Limiter: each limit's TAT moves forward by cost
// emissions, but no further than debtAllowances allowances past empty
// (now + (1+debtAllowances)·burst emissions); with less than one emission
// of room it is left alone. Same arithmetic as redis_rate's AllowAtMost
// with that enlarged burst, so both implementations owe the same.
func (m *Memory) Consume(ctx context.Context, k Key, cost int) error {
	if cost < 1 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	for _, l := range m.limits.applicable(k) {
		emission := l.rate.Per / time.Duration(l.rate.Events)
		tat := m.tat[l.key]
		if tat.Before(now) {
			tat = now
		}
		ceiling := now.Add(emission * time.Duration((1+debtAllowances)*l.rate.burst()))
		room := ceiling.Sub(tat)
		if room < emission {
			continue
		}
		c := min(cost, (1+debtAllowances)*l.rate.burst()) // never more than the room anyway; keeps the product small
		m.tat[l.key] = tat.Add(min(emission*time.Duration(c), room))
	}
	return nil
}

// sweep drops keys whose allowance is full again (their TAT is past, which
// is the same as never seen), amortised over growth of the map.
func (m *Memory) sweep(now time.Time) {
	if len(m.tat) < m.sweepAt {
		return
	}
	for k, t := range m.tat {
		if !t.After(now) {
			delete(m.tat, k)
		}
	}
	m.sweepAt = max(1024, 2*len(m.tat))
}

// MemoryTargets is the in-process distinct-targets tracker: per user, the
// last time each target was asked about, over a sliding window.
type MemoryTargets struct {
	budget TargetBudget
	now    func() time.Time

	mu      sync.Mutex
	seen    map[string]map[string]time.Time
	sweepAt int
}

// NewMemoryTargets builds an in-memory tracker.
func NewMemoryTargets(b TargetBudget, now func() time.Time) *MemoryTargets {
	if now == nil {
		now = time.Now
	}
	return &MemoryTargets{budget: b, now: now, seen: map[string]map[string]time.Time{}, sweepAt: 1024}
}

// Track implements Targets.
func (m *MemoryTargets) Track(ctx context.Context, k Key, targets []string) (Result, error) {
	if m.budget.Max <= 0 {
		return Result{Allowed: true}, nil
	}
	targets = normalizeTargets(targets)
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	win := m.budget.window()
	m.sweep(now, win)
	key := targetKey(k)
	user := m.seen[key]
	if user == nil {
		user = map[string]time.Time{}
	}
	for t, at := range user {
		if !at.Add(win).After(now) {
			delete(user, t)
		}
	}
	fresh := 0
	for _, t := range targets {
		if _, ok := user[t]; !ok {
			fresh++
		}
	}
	if fresh > m.budget.Max {
		return Result{Which: WhichTargets, Limit: m.budget.String(), RetryAfter: -1}, nil
	}
	if over := len(user) + fresh - m.budget.Max; over > 0 {
		times := make([]time.Time, 0, len(user))
		for _, at := range user {
			times = append(times, at)
		}
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		// The over-th oldest target has to leave the window first.
		return Result{Which: WhichTargets, Limit: m.budget.String(), RetryAfter: times[over-1].Add(win).Sub(now)}, nil
	}
	for _, t := range targets {
		user[t] = now
	}
	if len(user) == 0 {
		delete(m.seen, key)
	} else {
		m.seen[key] = user
	}
	return Result{Allowed: true}, nil
}

// sweep forgets users none of whose targets are still in the window, so
// one-off users do not accumulate.
func (m *MemoryTargets) sweep(now time.Time, win time.Duration) {
	if len(m.seen) < m.sweepAt {
		return
	}
	for key, user := range m.seen {
		live := false
		for _, at := range user {
			if at.Add(win).After(now) {
				live = true
				break
			}
		}
		if !live {
			delete(m.seen, key)
		}
	}
	m.sweepAt = max(1024, 2*len(m.seen))
}
