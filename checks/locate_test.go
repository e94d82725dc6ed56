package checks

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// simRouter is one hop modelled the way Linux limits its ICMP errors: a
// bucket of burst tokens refilled at one per interval, spent by every
// error it sends. Time is scaled down (a "second" is scale) so a question
// runs in a fraction of a real second.
type simRouter struct {
	addr       netip.Addr
	portPasses bool // the port's SYNs get to this hop (else a filter before it drops them)
	silent     bool // sends no ICMP at all

	mu       sync.Mutex
	tokens   float64
	burst    float64
	interval time.Duration
	at       time.Time
	sent     int // errors sent
}

func newSimRouter(addr string, tokens, burst float64, interval time.Duration, portPasses bool) *simRouter {
	return &simRouter{addr: netip.MustParseAddr(addr), tokens: tokens, burst: burst, interval: interval, at: time.Now(), portPasses: portPasses}
}

// hit says whether a probe arriving now draws a time-exceeded; port: a SYN
// to the port (a control probe always gets to the hop).
func (r *simRouter) hit(port bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	r.tokens = min(r.burst, r.tokens+float64(now.Sub(r.at))/float64(r.interval))
	r.at = now
	if r.silent || (port && !r.portPasses) || r.tokens < 1 {
		return false
	}
	r.tokens--
	r.sent++
	return true
}

// simHop is a probe in flight: answered at once, or silent until its
// deadline.
type simHop struct {
	r        hopResult
	deadline chan time.Time
}

func (r *simRouter) probe(port bool) pendingHop {
	h := &simHop{deadline: make(chan time.Time, 8)}
	if r.hit(port) {
		h.r = hopResult{addr: r.addr, kind: "time-exceeded", rtt: 100 * time.Microsecond, answered: true}
	}
	return h
}

func (h *simHop) setDeadline(t time.Time) { h.deadline <- t }

func (h *simHop) wait() hopResult {
	if h.r.answered {
		return h.r
	}
	dl := <-h.deadline
	for {
		select {
		case dl = <-h.deadline:
		case <-time.After(time.Until(dl)):
			return hopResult{}
		}
	}
}

// TestAskRateLimited runs one path question against a simulated router in
// each state the issue describes: it must never say "not reached" for a
// port that gets there (that sends the on-call to a path firewall that
// does not exist), and must re-ask after a refill before concluding.
func TestAskRateLimited(t *testing.T) {
	const scale = 60 * time.Millisecond // one "second"
	dst := netip.MustParseAddr("198.18.3.10")
	tests := []struct {
		name     string
		router   *simRouter
		seenAt   bool // the path cache heard the router a moment ago
		want     Reach
		limited  bool
		maxPorts int // at most this many port asks (0: no bound)
	}{
		{name: "full bucket, port passes: one SYN", router: newSimRouter("198.18.2.2", 6, 6, scale, true), want: ReachYes, maxPorts: 1},
		{name: "full bucket, port dropped before: control, then a re-ask a refill later", router: newSimRouter("198.18.2.2", 6, 6, scale, false), want: ReachNo},
		{name: "empty bucket, port passes: re-asked after the refill", router: newSimRouter("198.18.2.2", 0, 6, scale, true), want: ReachYes},
		{name: "bucket refills between the port's SYN and the control", router: newSimRouter("198.18.2.2", 0.9, 6, scale, true), want: ReachYes},
		{name: "strict router with a token, port dropped before: not reached at once", router: newSimRouter("198.18.2.2", 1, 1, 10*scale, false), want: ReachNo, maxPorts: 2},
		{name: "strict router, empty, port passes: never 'not reached'", router: newSimRouter("198.18.2.2", 0, 1, 10*scale, true), seenAt: true, want: ReachUnknown, limited: true},
		{name: "strict router, empty, port dropped: unknown, not a guess", router: newSimRouter("198.18.2.2", 0, 1, 10*scale, false), seenAt: true, want: ReachUnknown, limited: true},
	}
	silentRouter := newSimRouter("198.18.2.2", 6, 6, scale, true)
	silentRouter.silent = true
	tests = append(tests, struct {
		name     string
		router   *simRouter
		seenAt   bool
		want     Reach
		limited  bool
		maxPorts int
	}{name: "router that sends no ICMP: unknown, not rate-limited", router: silentRouter, want: ReachUnknown})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := NewProber(Config{NoPing: true})
			p.budget = newICMPBudget(nil)
			p.budget.defInterval = scale
			if tt.seenAt {
				p.paths.noteRouter(dst, 2, tt.router.addr)
			}
			start := time.Now()
			l := &locator{p: p, dst: dst, port: 7003, start: start, until: start.Add(35 * scale / 10),
				wait: scale / 6, retry: scale, ctlName: "ICMP echo",
				portBy: func(int) pendingHop { return tt.router.probe(true) },
				ctlBy:  func(int) pendingHop { return tt.router.probe(false) }}
			a := l.ask(context.Background(), 2, true, 0, askEvents{})
			t.Logf("reach %s after %d port and %d control asks in %v (router sent %d errors)", a.reach, a.portAsks, a.ctlAsks, time.Since(start).Round(time.Millisecond), tt.router.sent)
			if a.reach != tt.want {
				t.Fatalf("reach %s, want %s", a.reach, tt.want)
			}
			if a.rateLimited != tt.limited {
				t.Errorf("rate-limited %v, want %v", a.rateLimited, tt.limited)
			}
			if tt.maxPorts > 0 && a.portAsks > tt.maxPorts {
				t.Errorf("%d port asks, want at most %d", a.portAsks, tt.maxPorts)
			}
			if a.reach == ReachNo && a.ctlAsks == 0 && !tt.seenAt {
				t.Error("not reached without any control answer")
			}
		})
	}
}

// TestBudget pins the model: a burst, then one token per interval; a
// responder caught silent while it had tokens in the model is slower.
func TestBudget(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newICMPBudget(func() time.Time { return now })
	for i := range 6 {
		if d := b.reserve("r"); d != 0 {
			t.Fatalf("reserve %d: wait %v, want none within the burst", i, d)
		}
	}
	if d := b.reserve("r"); d != time.Second {
		t.Fatalf("7th reserve waits %v, want 1s", d)
	}
	b.refund("r")
	now = now.Add(2 * time.Second)
	if got := b.available("r"); got < 1.99 || got > 2.01 {
		t.Fatalf("after 2s: %.2f tokens, want 2", got)
	}
	b.exhausted("r") // had 2 in the model: stricter than assumed
	if got := b.interval("r"); got != 2*time.Second {
		t.Fatalf("interval %v after exhaustion with tokens left, want 2s", got)
	}
	if got := b.refill("r"); got != 2*time.Second {
		t.Fatalf("refill %v, want 2s", got)
	}
	b.spent("h")
	if got := b.available("h"); got != 5 {
		t.Fatalf("after one unplanned error: %.1f, want 5", got)
	}
	for range 20 {
		b.exhausted("s")
		now = now.Add(10 * time.Second)
	}
	if got := b.interval("s"); got != maxInterval {
		t.Fatalf("interval grows to %v, want capped at %v", got, maxInterval)
	}
}
