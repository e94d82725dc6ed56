package checks

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// CheckMany checks many ports (ranges, several targets) like CheckEach and
// returns the reports in request order. onReport, when set, is called with
// each report in that order too, as soon as it is ready. On ctx
// cancellation it returns what finished so far.
func (p *Prober) CheckMany(ctx context.Context, reqs []Request, onReport func(Report)) []Report {
	out := make([]Report, 0, len(reqs))
	p.CheckEach(ctx, reqs, Hooks{Report: func(_ int, r Report) {
		out = append(out, r)
		if onReport != nil {
			onReport(r)
		}
	}})
	return out
}

// CheckEach checks many ports (ranges, several targets) with bounded
// concurrency, sharing per-host work (resolution, ping) between ports, and
// hands each report to h.Report in request order as soon as it and every
// one before it are done: a caller prints it and forgets it, and nothing
// here holds the reports of a whole range either.
//
// Big batches (more than ManyThreshold requests) skip the per-port extras
// that make a range slow: no other-address connects, no reset probes, and
// the path questions of silent ports shared per host (hostState.locateFor).
// They also go through the range scanner (scanner): one goroutine and a
// window of sockets settle every port that answers at once, and only the
// ports that need more (a service to talk to, a silent port to place) get
// a full check of their own.
func (p *Prober) CheckEach(ctx context.Context, reqs []Request, h Hooks) {
	o := newOrdered(p, reqs, h)
	defer o.finish()
	conc := min(p.cfg.Concurrency, fdBudget(), max(len(reqs), 1))
	if len(reqs) > p.cfg.ManyThreshold {
		if s, err := newScanner(ctx, p, reqs, o, conc); err == nil {
			s.run()
			s.stopPings()
			return
		}
		// No epoll set (out of descriptors?): the goroutine per port below.
	}
	mode := traceAuto
	if len(reqs) > p.cfg.ManyThreshold {
		mode = traceShared
	}
	sem := make(chan struct{}, conc)
	hosts := map[string]*hostState{}
	var wg sync.WaitGroup
	for i, r := range reqs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			for ; i < len(reqs); i++ {
				o.setGone(i)
			}
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
			rep := p.check(ctx, r, hs, m, nil)
			if ctx.Err() != nil && !conclusive(&rep) {
				o.setGone(i) // cut short by the cancellation: not a finding
				return
			}
			o.setFull(i, rep)
		}(i, r)
	}
	wg.Wait()
	for _, hs := range hosts {
		hs.stopPing()
	}
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
// mean we stopped listening. By pointer: a Report by value is a 352-byte
// temporary in the frame of a caller that waits (coalesced).
func conclusive(r *Report) bool {
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

	// The range scanner's: set up once the host resolved (the scanner's
	// goroutine only), and the ping results its ports saw.
	scanReady bool
	addrText  string       // addrs[0] in words, for every report
	raw       rawAddr      // addrs[0] for connect(2)
	pings     []PingResult // distinct snapshots of the ping run, by quickResult.ping-1
	senders   []netip.Addr // who answered its ports, by quickResult.from-1
	errs      []error      // local errors its ports met, by quickResult.err-1
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

// notePing is what a port settled now shows of the host's ping run: 0
// when it had not sent yet (check leaves ping out then), else 1 + the
// index of that snapshot. A run has only a few distinct ones (sent 1..n,
// received 0..n), so 65535 ports share them.
func (h *hostState) notePing() uint8 {
	if h.ping == nil {
		return 0
	}
	snap := h.ping.snapshot()
	if snap.Sent == 0 && snap.Error == "" {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.pings); n > 0 && h.pings[n-1] == snap {
		return uint8(n)
	}
	for i := range h.pings {
		if h.pings[i] == snap {
			return uint8(i + 1)
		}
	}
	if len(h.pings) == 255 {
		return 0 // cannot happen with a bounded ping count; say nothing rather than something wrong
	}
	h.pings = append(h.pings, snap)
	return uint8(len(h.pings))
}

// intern gives from and err their quickResult codes (0: none); false
// when a table is full (255 distinct senders or errors).
func (h *hostState) intern(from netip.Addr, err error) (fromCode, errCode uint8, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if from.IsValid() {
		if fromCode = indexOf(h.senders, from); fromCode == 0 {
			if len(h.senders) == 255 {
				return 0, 0, false
			}
			h.senders = append(h.senders, from)
			fromCode = uint8(len(h.senders))
		}
	}
	if err != nil {
		for i, e := range h.errs {
			if e.Error() == err.Error() {
				errCode = uint8(i + 1)
				break
			}
		}
		if errCode == 0 {
			if len(h.errs) == 255 {
				return 0, 0, false
			}
			h.errs = append(h.errs, err)
			errCode = uint8(len(h.errs))
		}
	}
	return fromCode, errCode, true
}

func indexOf(as []netip.Addr, a netip.Addr) uint8 {
	for i := len(as) - 1; i >= 0; i-- {
		if as[i] == a {
			return uint8(i + 1)
		}
	}
	return 0
}

// interned is what intern's codes stand for.
func (h *hostState) interned(fromCode, errCode uint8) (netip.Addr, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var from netip.Addr
	var err error
	if fromCode > 0 {
		from = h.senders[fromCode-1]
	}
	if errCode > 0 {
		err = h.errs[errCode-1]
	}
	return from, err
}

func (h *hostState) pingSnapshot(i uint8) PingResult {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pings[i-1]
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
