package checks

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// CheckMany checks many ports (ranges, several targets) with bounded
// concurrency, sharing per-host work (resolution, ping) between ports.
// onReport, when set, is called as each port finishes (progress, streaming
// output); it must be safe for concurrent use. On ctx cancellation it returns
// what finished so far, in request order.
//
// Big batches (more than ManyThreshold requests) skip the per-port extras
// that make a range slow: no other-address connects, and one trace per host
// and outcome shared by every port with that outcome.
func (p *Prober) CheckMany(ctx context.Context, reqs []Request, onReport func(Report)) []Report {
	mode := traceAuto
	many := len(reqs) > p.cfg.ManyThreshold
	if many {
		mode = traceShared
	}
	conc := min(p.cfg.Concurrency, fdBudget(), max(len(reqs), 1))
	sem := make(chan struct{}, conc)
	results := make([]Report, len(reqs))
	finished := make([]bool, len(reqs))
	var mu sync.Mutex
	hosts := map[string]*hostState{}
	var wg sync.WaitGroup
	for i, r := range reqs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		key := hostKey(r)
		hs := hosts[key]
		if hs == nil {
			hs = &hostState{}
			hosts[key] = hs
		}
		m := mode
		if r.Trace {
			m = traceAlways
		}
		wg.Add(1)
		go func(i int, r Request) {
			defer wg.Done()
			defer func() { <-sem }()
			rep := p.check(ctx, r, hs, m)
			if ctx.Err() != nil && !conclusive(rep) {
				return // cut short by the cancellation: not a finding
			}
			mu.Lock()
			results[i], finished[i] = rep, true
			mu.Unlock()
			if onReport != nil {
				onReport(rep)
			}
		}(i, r)
	}
	wg.Wait()
	for _, hs := range hosts {
		hs.stopPing()
	}
	out := make([]Report, 0, len(reqs))
	for i, ok := range finished {
		if ok {
			out = append(out, results[i])
		}
	}
	return out
}

// fdBudget is how many probes the open-files limit allows at once, after
// raising the soft limit to the hard one (Go does this at start-up too,
// but a parent may have lowered it since).
func fdBudget() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 256
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
		_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	}
	// Each probe may hold a connect socket plus a dup for the banner; keep
	// room for the rest of the process.
	return max(int(lim.Cur/2)-64, 16)
}

// conclusive: the report rests on an answer, not on silence that may only
// mean we stopped listening.
func conclusive(r Report) bool {
	return r.Connect == nil || (r.Connect.Reason != ReasonNoResponse && r.Connect.Reason != ReasonLocalError)
}

func hostKey(r Request) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.Host))
	for _, a := range r.Addrs {
		b.WriteByte('|')
		b.WriteString(a.String())
	}
	return b.String()
}

// hostState is work shared by every port of one host in a CheckMany call.
type hostState struct {
	resolveOnce sync.Once
	addrs       []netip.Addr
	res         ResolveResult

	pingOnce sync.Once
	ping     *pingRun

	mu         sync.Mutex
	rtt        time.Duration // smallest RTT a connect to this host showed
	fullListen bool          // one silent port has claimed the full deadline
	own        int           // silent ports asking their own path questions besides the representative
	shared     *locateFuture // the representative's answer for the rest
}

// ownLocates: the first silent ports of a host ask their own path questions
// (a few filtered ports are often filtered in different places); past that
// they share the first one's, so a host that drops everything costs the
// routers a few ICMP errors, not 65535.
const ownLocates = 8

func (h *hostState) resolve(ctx context.Context, r Resolver, req Request) ([]netip.Addr, ResolveResult) {
	h.resolveOnce.Do(func() { h.addrs, h.res = resolve(ctx, r, req) })
	return h.addrs, h.res
}

// pingFor starts the host's one ping run; it outlives the first port's
// context on purpose, bounded by its own timeout.
func (h *hostState) pingFor(_ context.Context, addr netip.Addr, o pingOptions, timeout time.Duration) *pingRun {
	h.pingOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		h.ping = startPing(ctx, addr, o)
		go func() { <-h.ping.done; cancel() }()
	})
	return h.ping
}

func (h *hostState) learnedRTT() (time.Duration, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rtt, h.rtt > 0
}

func (h *hostState) noteRTT(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d > 0 && (h.rtt == 0 || d < h.rtt) {
		h.rtt = d
	}
}

// claimFullListen is true for the first caller only.
func (h *hostState) claimFullListen() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	first := !h.fullListen
	h.fullListen = true
	return first
}

func (h *hostState) stopPing() {
	if h.ping != nil {
		h.ping.stop()
	}
}

// locateFuture is the representative silent port's path answer.
type locateFuture struct {
	done chan struct{}
	res  located
	ok   bool // false: the representative was not silent after all
}

// locateFor runs run for the first silent ports of the host, then hands
// the first one's answer to the rest. A port whose connect answers after
// all (ctx cancelled) gives its place back, and if it was the
// representative the next silent port takes over.
func (h *hostState) locateFor(ctx context.Context, run func() located) located {
	for {
		h.mu.Lock()
		f := h.shared
		if f == nil {
			f = &locateFuture{done: make(chan struct{})}
			h.shared = f
			h.mu.Unlock()
			res := run()
			if ctx.Err() != nil {
				h.mu.Lock()
				if h.shared == f {
					h.shared = nil
				}
				h.mu.Unlock()
			} else {
				f.res, f.ok = res, true
			}
			close(f.done)
			return res
		}
		if h.own < ownLocates-1 {
			h.own++
			h.mu.Unlock()
			res := run()
			if ctx.Err() != nil {
				h.mu.Lock()
				h.own--
				h.mu.Unlock()
			}
			return res
		}
		h.mu.Unlock()
		select {
		case <-f.done:
			if f.ok {
				return f.res
			}
		case <-ctx.Done():
			return located{}
		}
	}
}
