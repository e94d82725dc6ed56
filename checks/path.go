package checks

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// pathCache is what recent probes told this process about the paths to
// each destination: how many hops away the host is and which router
// answered at each TTL. A port's verdict needs only one or two TTL-limited
// probes when the path is known, so every router's ICMP budget is spent on
// the probes that decide, and a router that answered a minute ago but is
// silent now is recognisably rate-limiting, not a filter.
//
// Questions about a port's path ("does a SYN to port P reach hop t?") that
// several checks ask at once (a worker holding many checks of one target)
// are asked once and the answer handed to each: to a check that was
// already running when the answer came, since it describes the network
// during that check. A check started later asks the network again (a
// re-check after a firewall change must not hear an old answer).
type pathCache struct {
	now    func() time.Time
	maxAge time.Duration

	mu       sync.Mutex
	paths    map[netip.Addr]*pathFacts
	inflight map[hopKey]*hopCall
	answers  map[hopKey]*hopCall // recent answers, for checks running when they came (the settled calls: a map of 8-byte pointers, not of 330-byte answers)
	// firstHop is the router last seen at TTL 1, per family (index 0 for
	// IPv4): the gateway every destination's path starts with, so a probe
	// of a new destination is charged to its budget, not to a stranger's.
	firstHop [2]routerSeen
}

type pathFacts struct {
	forwards   time.Time // when the address last forwarded a port on (a NAT gateway)
	hostHops   int       // TTL at which the host answers; 0 unknown
	hostHopsBy string    // how that is known, in words
	hopsAt     time.Time
	routers    map[int]routerSeen
}

// routerSeen is the router that answered at one TTL.
type routerSeen struct {
	addr netip.Addr
	at   time.Time
}

type hopKey struct {
	dst       netip.Addr
	port, ttl int
}

type hopCall struct {
	done chan struct{}
	ans  hopAnswer
	at   time.Time // when the answer came
	ok   bool      // false: the asker gave up (its own check no longer needed it)
}

func newPathCache(now func() time.Time) *pathCache {
	if now == nil {
		now = time.Now
	}
	return &pathCache{now: now, maxAge: time.Minute, paths: map[netip.Addr]*pathFacts{}, inflight: map[hopKey]*hopCall{}, answers: map[hopKey]*hopCall{}}
}

func (c *pathCache) facts(dst netip.Addr) *pathFacts {
	f := c.paths[dst]
	if f == nil {
		if len(c.paths) >= 4096 {
			c.expire()
		}
		f = &pathFacts{routers: map[int]routerSeen{}}
		c.paths[dst] = f
	}
	return f
}

func (c *pathCache) expire() {
	now := c.now()
	for dst, f := range c.paths {
		if now.Sub(f.hopsAt) > c.maxAge {
			delete(c.paths, dst)
		}
	}
}

// hostHops is the host's distance if a recent probe established it.
func (c *pathCache) hostHops(dst netip.Addr) (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.paths[dst.Unmap()]
	if f == nil || f.hostHops == 0 || c.now().Sub(f.hopsAt) > c.maxAge {
		return 0, ""
	}
	return f.hostHops, f.hostHopsBy
}

func (c *pathCache) noteHostHops(dst netip.Addr, hops int, by string) {
	if hops <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.facts(dst.Unmap())
	f.hostHops, f.hostHopsBy, f.hopsAt = hops, by, c.now()
}

// router is who answered at ttl on the way to dst, and when, if that was
// within maxAge.
func (c *pathCache) router(dst netip.Addr, ttl int) (routerSeen, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.paths[dst.Unmap()]
	if f == nil {
		return routerSeen{}, false
	}
	r, ok := f.routers[ttl]
	if !ok || c.now().Sub(r.at) > c.maxAge {
		return routerSeen{}, false
	}
	return r, true
}

func (c *pathCache) noteRouter(dst netip.Addr, ttl int, addr netip.Addr) {
	if ttl <= 0 || !addr.IsValid() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ttl == 1 {
		c.firstHop[family(dst)] = routerSeen{addr: addr.Unmap(), at: c.now()}
	}
	f := c.facts(dst.Unmap())
	f.routers[ttl] = routerSeen{addr: addr.Unmap(), at: c.now()}
	if f.hopsAt.IsZero() {
		f.hopsAt = c.now()
	}
}

// answerAge bounds how long an answer is kept for concurrent checks: no
// check listens longer than this.
const answerAge = 10 * time.Second

// noteForwarder records that dst forwarded a port on (a NAT gateway).
func (c *pathCache) noteForwarder(dst netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.facts(dst.Unmap())
	f.forwards = c.now()
	if f.hopsAt.IsZero() {
		f.hopsAt = c.now()
	}
}

// forwarder reports whether dst forwarded a port on within maxAge.
func (c *pathCache) forwarder(dst netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.paths[dst.Unmap()]
	return f != nil && !f.forwards.IsZero() && c.now().Sub(f.forwards) <= c.maxAge
}

// guessRouter is who probably answers at ttl on the way to dst: the one
// that did, else for TTL 1 the gateway other destinations' probes met.
func (c *pathCache) guessRouter(dst netip.Addr, ttl int) netip.Addr {
	if r, ok := c.router(dst, ttl); ok {
		return r.addr
	}
	if ttl != 1 {
		return netip.Addr{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.firstHop[family(dst)]; c.now().Sub(f.at) <= c.maxAge {
		return f.addr
	}
	return netip.Addr{}
}

func family(a netip.Addr) int {
	if a.Unmap().Is4() {
		return 0
	}
	return 1
}

// join and settle share one question among concurrent checks: join hands
// the first caller of a key a call to ask for and settle, and every caller
// that arrives while it runs, or whose check started (since) before its
// answer came, that answer (call nil). Two halves, not one function
// around a closure: the question then runs in its caller's frame, and a
// silent check's locate goroutine waits at the bottom of that question
// (a function and a closure more grew each past 8 KB of stack).
func (c *pathCache) join(ctx context.Context, k hopKey, since time.Time) (hopAnswer, *hopCall) {
	c.mu.Lock()
	for {
		call, ok := c.inflight[k]
		if !ok {
			break
		}
		c.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			return hopAnswer{ttl: k.ttl, reach: ReachUnknown}, nil
		}
		if call.ok {
			return call.ans, nil
		}
		c.mu.Lock() // the asker gave up: ask ourselves
	}
	if old, ok := c.answers[k]; ok && !old.at.Before(since) {
		c.mu.Unlock()
		return old.ans, nil
	}
	call := &hopCall{done: make(chan struct{})}
	c.inflight[k] = call
	c.mu.Unlock()
	return hopAnswer{}, call
}

// settle records call.ans (unless ctx ended: the asker gave up and a
// waiter asks again) and wakes the waiters. It must run, also when the
// question panics.
func (c *pathCache) settle(ctx context.Context, k hopKey, call *hopCall) {
	c.mu.Lock()
	delete(c.inflight, k)
	call.at, call.ok = c.now(), ctx.Err() == nil
	if !call.ok {
		c.mu.Unlock()
		close(call.done)
		return
	}
	if len(c.answers) >= 4096 {
		for ok, a := range c.answers {
			if call.at.Sub(a.at) > answerAge {
				delete(c.answers, ok)
			}
		}
	}
	c.answers[k] = call
	c.mu.Unlock()
	close(call.done)
}
