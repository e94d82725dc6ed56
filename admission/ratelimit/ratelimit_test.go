package ratelimit

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a manual clock; safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness lets one behavioural suite run against every implementation:
// memory with a fake clock (exact waits), Redis with real time (Redis's
// clock runs the GCRA, so waits are checked with a tolerance).
type harness struct {
	limiter func(t *testing.T, l Limits) Limiter
	targets func(t *testing.T, b TargetBudget) Targets
	sleep   func(d time.Duration) // let rate-limit time pass
	advance func(d time.Duration) // move the targets tracker's clock
	tol     time.Duration
	unit    time.Duration // the period used for rate tests
}

func memoryHarness(*testing.T) harness {
	clk := newFakeClock()
	return harness{
		limiter: func(t *testing.T, l Limits) Limiter { return NewMemory(l, clk.Now) },
		targets: func(t *testing.T, b TargetBudget) Targets { return NewMemoryTargets(b, clk.Now) },
		sleep:   clk.Advance,
		advance: clk.Advance,
		unit:    time.Minute,
	}
}

func TestMemory(t *testing.T) { runSuite(t, memoryHarness) }

func runSuite(t *testing.T, mk func(*testing.T) harness) {
	ctx := context.Background()
	u1 := Key{Chat: "slack", Team: "T1", Channel: "C1", User: "U1"}
	u2 := Key{Chat: "slack", Team: "T1", Channel: "C1", User: "U2"}
	u3 := Key{Chat: "slack", Team: "T1", Channel: "C2", User: "U3"}

	allow := func(t *testing.T, l Limiter, k Key, cost int) Result {
		t.Helper()
		r, err := l.Allow(ctx, k, cost)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	near := func(t *testing.T, h harness, got, want time.Duration) {
		t.Helper()
		if got > want+h.tol || got < want-h.tol {
			t.Fatalf("RetryAfter %v, want %v ± %v", got, want, h.tol)
		}
	}

	t.Run("user limit then retry", func(t *testing.T) {
		h := mk(t)
		l := h.limiter(t, Limits{User: Rate{Events: 3, Per: h.unit}})
		for i := 0; i < 3; i++ {
			if r := allow(t, l, u1, CostConnect); !r.Allowed {
				t.Fatalf("request %d denied: %+v", i, r)
			}
		}
		r := allow(t, l, u1, CostConnect)
		if r.Allowed || r.Which != WhichUser {
			t.Fatalf("4th: %+v", r)
		}
		near(t, h, r.RetryAfter, h.unit/3)
		if !allow(t, l, u2, CostConnect).Allowed {
			t.Fatal("another user must not be limited by U1")
		}
		h.sleep(h.unit/3 + h.tol)
		if r := allow(t, l, u1, CostConnect); !r.Allowed {
			t.Fatalf("after RetryAfter: %+v", r)
		}
	})

	t.Run("trace costs more", func(t *testing.T) {
		h := mk(t)
		l := h.limiter(t, Limits{User: Rate{Events: 10, Per: h.unit}})
		if !allow(t, l, u1, CostTrace).Allowed || !allow(t, l, u1, CostTrace).Allowed {
			t.Fatal("two traces fit in 10")
		}
		r := allow(t, l, u1, CostTrace)
		if r.Allowed {
			t.Fatal("third trace must be denied")
		}
		near(t, h, r.RetryAfter, h.unit/2)
	})

	t.Run("channel and global", func(t *testing.T) {
		h := mk(t)
		l := h.limiter(t, Limits{Channel: Rate{Events: 2, Per: h.unit}, Global: Rate{Events: 3, Per: h.unit}})
		allow(t, l, u1, 1)
		allow(t, l, u2, 1)
		if r := allow(t, l, u1, 1); r.Allowed || r.Which != WhichChannel {
			t.Fatalf("channel: %+v", r)
		}
		if r := allow(t, l, u3, 1); !r.Allowed {
			t.Fatalf("other channel: %+v", r)
		}
		if r := allow(t, l, Key{Chat: "discord", Channel: "X", User: "Y"}, 1); r.Allowed || r.Which != WhichGlobal {
			t.Fatalf("global: %+v", r)
		}
	})

	t.Run("denied request consumes nothing", func(t *testing.T) {
		h := mk(t)
		// U2 has one request per 100 units; the global limit refills fast.
		l := h.limiter(t, Limits{User: Rate{Events: 1, Per: 100 * h.unit}, Global: Rate{Events: 1, Per: h.unit}})
		allow(t, l, u1, 1)
		if r := allow(t, l, u2, 1); r.Allowed || r.Which != WhichGlobal {
			t.Fatalf("want global denial: %+v", r)
		}
		h.sleep(h.unit + h.tol)
		if r := allow(t, l, u2, 1); !r.Allowed {
			t.Fatalf("U2's own allowance was charged by a denied request: %+v", r)
		}
	})

	t.Run("longest wait reported", func(t *testing.T) {
		h := mk(t)
		l := h.limiter(t, Limits{User: Rate{Events: 1, Per: h.unit}, Global: Rate{Events: 1, Per: 4 * h.unit}})
		allow(t, l, u1, 1)
		r := allow(t, l, u1, 1)
		if r.Allowed || r.Which != WhichGlobal {
			t.Fatalf("%+v", r)
		}
		near(t, h, r.RetryAfter, 4*h.unit)
	})

	t.Run("cost above burst takes a full allowance", func(t *testing.T) {
		h := mk(t)
		l := h.limiter(t, Limits{User: Rate{Events: 3, Per: h.unit}})
		allow(t, l, u1, 1)
		r := allow(t, l, u1, 10)
		if r.Allowed || r.Which != WhichUser {
			t.Fatalf("a big command needs a full allowance: %+v", r)
		}
		near(t, h, r.RetryAfter, h.unit/3)
		h.sleep(h.unit/3 + h.tol)
		if r := allow(t, l, u1, 10); !r.Allowed {
			t.Fatalf("with a full allowance: %+v", r)
		}
		if r := allow(t, l, u1, 1); r.Allowed {
			t.Fatalf("the big command must have emptied the allowance: %+v", r)
		}
	})

	t.Run("burst", func(t *testing.T) {
		h := mk(t)
		l := h.limiter(t, Limits{User: Rate{Events: 1, Per: h.unit, Burst: 5}})
		for i := 0; i < 5; i++ {
			if !allow(t, l, u1, 1).Allowed {
				t.Fatalf("burst request %d denied", i)
			}
		}
		if allow(t, l, u1, 1).Allowed {
			t.Fatal("beyond burst")
		}
	})

	t.Run("ids cannot collide", func(t *testing.T) {
		h := mk(t)
		l := h.limiter(t, Limits{User: Rate{Events: 1, Per: h.unit}})
		allow(t, l, Key{Chat: "slack", Team: "a:b", User: "c"}, 1)
		if !allow(t, l, Key{Chat: "slack", Team: "a", User: "b:c"}, 1).Allowed {
			t.Fatal("distinct team/user pairs share a key")
		}
	})

	t.Run("no limits", func(t *testing.T) {
		h := mk(t)
		l := h.limiter(t, Limits{})
		for i := 0; i < 100; i++ {
			if !allow(t, l, u1, CostTrace).Allowed {
				t.Fatal("zero Limits must not limit")
			}
		}
	})

	t.Run("concurrent callers never over-admit", func(t *testing.T) {
		h := mk(t)
		l := h.limiter(t, Limits{User: Rate{Events: 10, Per: 100 * h.unit}})
		var ok atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 30; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r, err := l.Allow(ctx, u1, 1); err == nil && r.Allowed {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := ok.Load(); n > 10 || n < 9 {
			// Redis may deny one racer after a peek (errs towards denying).
			t.Fatalf("%d admitted, want 10 (at most)", n)
		}
	})

	// Consume: debt after the fact. Limits are 6 per unit for the user and
	// 12 for the channel, so one user emission e is unit/6; waits are in e.
	type step struct {
		op   string // "allow", "consume", "sleep"
		k    Key
		cost int
		e    float64 // sleep: how many emissions
	}
	consumeCases := []struct {
		name      string
		steps     []step
		probe     Key
		cost      int
		allowed   bool
		which     string
		retryInE  float64
		limitsFor func(unit time.Duration) Limits
	}{
		{name: "within the allowance is an ordinary charge",
			steps: []step{{op: "consume", k: u1, cost: 4}},
			probe: u1, cost: 2, allowed: true},
		{name: "beyond empty is debt",
			steps: []step{{op: "allow", k: u1, cost: 6}, {op: "consume", k: u1, cost: 4}},
			probe: u1, cost: 1, which: WhichUser, retryInE: 5},
		{name: "debt stops at one whole allowance",
			steps: []step{{op: "allow", k: u1, cost: 6}, {op: "consume", k: u1, cost: 100}},
			probe: u1, cost: 1, which: WhichUser, retryInE: 7},
		{name: "at the debt ceiling more takes nothing",
			steps: []step{{op: "allow", k: u1, cost: 6}, {op: "consume", k: u1, cost: 6}, {op: "consume", k: u1, cost: 6}},
			probe: u1, cost: 1, which: WhichUser, retryInE: 7},
		{name: "under one unit of room takes nothing",
			steps: []step{{op: "allow", k: u1, cost: 6}, {op: "consume", k: u1, cost: 6}, {op: "sleep", e: 0.4}, {op: "consume", k: u1, cost: 1}},
			probe: u1, cost: 1, which: WhichUser, retryInE: 6.6},
		{name: "debt is paid off with time",
			steps: []step{{op: "allow", k: u1, cost: 6}, {op: "consume", k: u1, cost: 4}, {op: "sleep", e: 5}},
			probe: u1, cost: 1, allowed: true},
		{name: "every limit of the key is charged",
			steps: []step{{op: "allow", k: u1, cost: 6}, {op: "consume", k: u1, cost: 4}},
			probe: u2, cost: 3, which: WhichChannel, retryInE: 0.5},
		{name: "zero cost is nothing",
			steps: []step{{op: "consume", k: u1, cost: 0}},
			probe: u1, cost: 6, allowed: true},
		{name: "no limits",
			steps: []step{{op: "consume", k: u1, cost: 100}},
			probe: u1, cost: 100, allowed: true,
			limitsFor: func(time.Duration) Limits { return Limits{} }},
	}
	for _, tc := range consumeCases {
		t.Run("consume/"+tc.name, func(t *testing.T) {
			h := mk(t)
			lim := Limits{User: Rate{Events: 6, Per: h.unit}, Channel: Rate{Events: 12, Per: h.unit}}
			if tc.limitsFor != nil {
				lim = tc.limitsFor(h.unit)
			}
			l := h.limiter(t, lim)
			e := h.unit / 6
			for _, s := range tc.steps {
				switch s.op {
				case "allow":
					if r := allow(t, l, s.k, s.cost); !r.Allowed {
						t.Fatalf("setup allow %d: %+v", s.cost, r)
					}
				case "consume":
					if err := l.Consume(ctx, s.k, s.cost); err != nil {
						t.Fatalf("Consume: %v", err)
					}
				case "sleep":
					h.sleep(time.Duration(s.e * float64(e)))
				}
			}
			r := allow(t, l, tc.probe, tc.cost)
			if r.Allowed != tc.allowed || r.Which != tc.which {
				t.Fatalf("probe Allow(%d): %+v, want allowed=%v which=%q", tc.cost, r, tc.allowed, tc.which)
			}
			if !tc.allowed {
				near(t, h, r.RetryAfter, time.Duration(tc.retryInE*float64(e)))
			}
		})
	}

	trk := func(t *testing.T, tr Targets, k Key, targets ...string) Result {
		t.Helper()
		r, err := tr.Track(ctx, k, targets)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	t.Run("distinct targets budget", func(t *testing.T) {
		h := mk(t)
		tr := h.targets(t, TargetBudget{Max: 3})
		if !trk(t, tr, u1, "web01", "web02").Allowed {
			t.Fatal("2 of 3")
		}
		h.advance(10 * time.Minute)
		if !trk(t, tr, u1, "WEB01.", "db01").Allowed {
			t.Fatal("web01 again is free; db01 is the 3rd")
		}
		r := trk(t, tr, u1, "10.0.0.4")
		if r.Allowed || r.Which != WhichTargets || !strings.Contains(r.Message(), "retry in 50m") {
			t.Fatalf("sweep must be refused: %+v %q", r, r.Message())
		}
		if !trk(t, tr, u1, "db01", "web02").Allowed {
			t.Fatal("known targets stay free and all-or-nothing added none of the refused ones")
		}
		if !trk(t, tr, u2, "10.0.0.4").Allowed {
			t.Fatal("budgets are per user")
		}
		if r := trk(t, tr, u1, "a", "b", "c", "d"); r.Allowed || r.RetryAfter != -1 {
			t.Fatalf("more than the whole budget at once: %+v", r)
		}
		if r := trk(t, tr, u1, "10.0.0.4", "10.0.0.5"); r.Allowed || !strings.Contains(r.Message(), "retry in 1h0m0s") {
			t.Fatalf("two new targets wait for the second oldest: %+v %q", r, r.Message())
		}
		h.advance(61 * time.Minute) // everything was last asked at 10m: all expire at 70m
		if r := trk(t, tr, u1, "10.0.0.4", "10.0.0.5", "10.0.0.6"); !r.Allowed {
			t.Fatalf("after the window: %+v", r)
		}
	})

	t.Run("targets retry names the oldest", func(t *testing.T) {
		h := mk(t)
		tr := h.targets(t, TargetBudget{Max: 2, Window: time.Hour})
		trk(t, tr, u1, "a")
		h.advance(20 * time.Minute)
		trk(t, tr, u1, "b")
		r := trk(t, tr, u1, "c")
		if r.Allowed || r.RetryAfter != 40*time.Minute {
			t.Fatalf("%+v, want retry 40m (when a leaves)", r)
		}
		r = trk(t, tr, u1, "c", "d")
		if r.Allowed || r.RetryAfter != 60*time.Minute {
			t.Fatalf("%+v, want retry 60m (when b leaves too)", r)
		}
	})

	t.Run("targets zero budget is off", func(t *testing.T) {
		h := mk(t)
		tr := h.targets(t, TargetBudget{})
		if !trk(t, tr, u1, "a", "b", "c").Allowed {
			t.Fatal("Max 0 must not limit")
		}
	})
}

func TestCost(t *testing.T) {
	for _, c := range []struct {
		ports, vantages int
		trace           bool
		want            int
	}{
		{1, 1, false, 1}, {0, 0, false, 1}, {3, 1, false, 3}, {1, 1, true, 5}, {2, 3, true, 30},
	} {
		if got := Cost(c.ports, c.vantages, c.trace); got != c.want {
			t.Errorf("Cost(%d, %d, %v) = %d, want %d", c.ports, c.vantages, c.trace, got, c.want)
		}
	}
}

func TestMessage(t *testing.T) {
	for _, c := range []struct {
		r    Result
		want string
	}{
		{Result{Allowed: true}, ""},
		{Result{Which: WhichUser, Limit: "20 per 1m0s", RetryAfter: 2100 * time.Millisecond}, "rate limit per user reached (20 per 1m0s); retry in 3s"},
		{Result{Which: WhichTargets, Limit: "50 distinct targets per 1h0m0s", RetryAfter: 12 * time.Minute}, "distinct-target budget reached (50 distinct targets per 1h0m0s); retry in 12m0s"},
		{unavailable(), "rate limiting is unavailable right now (its Redis cannot be reached), so nothing was run; please try again shortly"},
	} {
		if got := c.r.Message(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.r, got, c.want)
		}
	}
}

func TestMemorySweepKeepsState(t *testing.T) {
	clk := newFakeClock()
	m := NewMemory(Limits{User: Rate{Events: 1, Per: time.Hour}}, clk.Now)
	ctx := context.Background()
	m.Allow(ctx, Key{User: "keep"}, 1)
	for i := 0; i < 3000; i++ {
		m.Allow(ctx, Key{User: string(rune('a'+i%26)) + strings.Repeat("x", i%50) + string(rune(i))}, 1)
		clk.Advance(time.Second)
	}
	if r, _ := m.Allow(ctx, Key{User: "keep"}, 1); r.Allowed {
		t.Fatal("sweeping dropped a key that was still limited")
	}
	m.mu.Lock()
	n := len(m.tat)
	m.mu.Unlock()
	if n > 3001 {
		t.Fatalf("%d keys kept", n)
	}
}

func TestMeter(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	k := Key{Chat: "slack", Team: "T", Channel: "C", User: "U"}
	g := Meter{
		Limiter: NewMemory(Limits{User: Rate{Events: 2, Per: time.Minute}}, clk.Now),
		Targets: NewMemoryTargets(TargetBudget{Max: 2}, clk.Now),
	}
	charge := func(cost int, targets ...string) Result {
		r, err := g.Charge(ctx, k, cost, targets)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if !charge(1, "a").Allowed || !charge(1, "b").Allowed {
		t.Fatal("first two")
	}
	if r := charge(1, "c"); r.Allowed || r.Which != WhichTargets {
		t.Fatalf("budget first: %+v", r)
	}
	if r := charge(1, "a"); r.Allowed || r.Which != WhichUser {
		t.Fatalf("then the rate: %+v", r)
	}
	if r, err := (Meter{}).Charge(ctx, k, 100, nil); err != nil || !r.Allowed {
		t.Fatalf("empty gate: %+v %v", r, err)
	}
}

func TestInflight(t *testing.T) {
	f := NewInflight(4)
	u := Key{Chat: "slack", Team: "T", User: "U"}
	rel1, r := f.Acquire(u, 3)
	if !r.Allowed {
		t.Fatal(r)
	}
	if _, r := f.Acquire(u, 2); r.Allowed || r.Which != WhichInflight || !strings.Contains(r.Message(), "wait for them to finish") {
		t.Fatalf("%+v %q", r, r.Message())
	}
	if _, r := f.Acquire(Key{Chat: "slack", Team: "T", User: "V"}, 4); !r.Allowed {
		t.Fatal("per user")
	}
	if _, r := f.Acquire(u, 5); r.Allowed || r.RetryAfter != -1 {
		t.Fatalf("more than the cap at once: %+v", r)
	}
	rel1()
	rel1() // idempotent
	rel2, r := f.Acquire(u, 4)
	if !r.Allowed {
		t.Fatalf("after release: %+v", r)
	}
	rel2()
	if len(f.used) != 1 { // only V remains
		t.Fatalf("leftover %v", f.used)
	}
	if _, r := NewInflight(0).Acquire(u, 1000); !r.Allowed {
		t.Fatal("0 = no cap")
	}
}
