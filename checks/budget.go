package checks

import (
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// icmpBudget models the ICMP error budget of every router and host this
// process probes, the way Linux keeps it for each peer it sends errors to:
// a bucket of burst tokens refilled at one per interval (the defaults,
// net.ipv4.icmp_ratelimit=1000 and XRLIM_BURST_FACTOR 6, are what every
// Linux router ships with; many hardware routers are stricter). Every
// time-exceeded, unreachable or admin-prohibited we hope to hear spends one
// of the responder's tokens, and a token spent on a probe that decides
// nothing is missing from the one that decides the verdict.
//
// The model is shared by every check of a Prober (a CLI run, or a worker's
// concurrent jobs), so probes of one check do not starve another's. It
// paces: a probe that would overdraw a responder waits for a token. It
// learns: a responder caught silent while the model gave it tokens is
// stricter than the default, and its interval grows.
type icmpBudget struct {
	now         func() time.Time
	burst       float64
	defInterval time.Duration // the default refill interval

	mu    sync.Mutex
	peers map[string]*peerBucket
}

type peerBucket struct {
	tokens   float64 // may go negative: reservations queued behind a refill
	at       time.Time
	interval time.Duration
}

func newICMPBudget(now func() time.Time) *icmpBudget {
	if now == nil {
		now = time.Now
	}
	return &icmpBudget{now: now, burst: 6, defInterval: time.Second, peers: map[string]*peerBucket{}}
}

// maxInterval bounds what the model learns: a responder silent for longer
// than this is silent, not slow.
const maxInterval = 8 * time.Second

// budgetKey names a responder: its address when known, else the probe's
// destination and TTL (the router there, whoever it is).
func budgetKey(router netip.Addr, dst netip.Addr, ttl int) string {
	if router.IsValid() {
		return router.Unmap().String()
	}
	return dst.Unmap().String() + "/" + strconv.Itoa(ttl)
}

func (b *icmpBudget) peer(key string, now time.Time) *peerBucket {
	p := b.peers[key]
	if p == nil {
		p = &peerBucket{tokens: b.burst, at: now, interval: b.defInterval}
		b.peers[key] = p
		b.gc(now)
		return p
	}
	if el := now.Sub(p.at); el > 0 {
		p.tokens = min(b.burst, p.tokens+float64(el)/float64(p.interval))
		p.at = now
	}
	return p
}

// gc drops buckets that are full again: they carry no information.
func (b *icmpBudget) gc(now time.Time) {
	if len(b.peers) < 4096 {
		return
	}
	for k, p := range b.peers {
		if now.Sub(p.at) > time.Duration(b.burst)*p.interval {
			delete(b.peers, k)
		}
	}
}

// reserve takes a token for a probe that may draw an error from key and
// says how long to wait before sending it so the responder has one.
func (b *icmpBudget) reserve(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	p := b.peer(key, now)
	p.tokens--
	if p.tokens >= 0 {
		return 0
	}
	return time.Duration(-p.tokens * float64(p.interval))
}

// refund returns a reservation whose probe was never sent.
func (b *icmpBudget) refund(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.peer(key, b.now())
	p.tokens = min(b.burst, p.tokens+1)
}

// spent records an error that arrived without a reservation (the connect's
// own reject, a router's late host-unreachable).
func (b *icmpBudget) spent(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.peer(key, b.now())
	p.tokens = max(p.tokens-1, -b.burst)
}

// spentRouteError records the extra cost of a router's net-unreachable:
// ip_error caps the peer's bucket at 5 tokens and takes one of its own.
func (b *icmpBudget) spentRouteError(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.peer(key, b.now())
	p.tokens = max(min(p.tokens, 5)-1, -b.burst)
}

// available is the modelled token count now.
func (b *icmpBudget) available(key string) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peer(key, b.now()).tokens
}

// exhausted records that key was caught rate-limiting: silent to every
// probe while it answered moments before. Its bucket is empty now, and if
// the model believed it had tokens the responder is stricter than assumed.
func (b *icmpBudget) exhausted(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.peer(key, b.now())
	if p.tokens >= 1 {
		p.interval = min(2*p.interval, maxInterval)
	}
	p.tokens = min(p.tokens, 0)
}

// interval is how often key is modelled to earn a token.
func (b *icmpBudget) interval(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peer(key, b.now()).interval
}

// refill is how long until key has a token again.
func (b *icmpBudget) refill(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.peer(key, b.now())
	if p.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - p.tokens) * float64(p.interval))
}

// answerLag remembers how long connects took to be answered lately (the
// slowest answer under a second within the last few seconds): on a loaded
// prober answers come well past a round trip, and silence must be judged
// against that.
type answerLag struct {
	mu      sync.Mutex
	slowest time.Duration
	at      time.Time
}

const lagMemory = 5 * time.Second

func (l *answerLag) note(d time.Duration) {
	if d <= 0 || d >= time.Second {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if d >= l.slowest || time.Since(l.at) > lagMemory {
		l.slowest, l.at = d, time.Now()
	}
}

func (l *answerLag) recent() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.at) > lagMemory {
		return 0
	}
	return l.slowest
}
