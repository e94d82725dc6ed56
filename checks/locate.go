package checks

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"
)

// synRetry is when Linux sends a connect's first SYN retransmission (the
// initial RTO); with net.ipv4.tcp_syn_linear_timeouts (default 4) the next
// ones follow a second apart. Every retransmission asks the host and every
// router on the way again, for free: a host or router that was out of ICMP
// tokens for the first SYN has one again a second later.
const synRetry = time.Second

// hopAnswer is what the probes established about one TTL of a silent
// port's path: does a SYN to the port get as far as that hop?
type hopAnswer struct {
	ttl    int
	reach  Reach
	port   hopResult  // the port probe's answer, when one came
	ctl    hopResult  // the control probe's answer, when one came
	router netip.Addr // who is at this TTL: an answer's sender, else the path cache's
	seenAt time.Time  // when the path cache last heard router (zero: never)

	portAsks, ctlAsks int
	rateLimited       bool // answered before (this check or the path cache), silent to every probe now
}

// locator asks TTL-limited questions about one port of one destination,
// spending each router's ICMP budget (icmpBudget) only where the answer
// decides the verdict, and re-asking only once the budget has refilled.
type locator struct {
	p       *Prober
	dst     netip.Addr
	port    int
	portBy  func(ttl int) pendingHop // a TTL-limited SYN to the port
	ctlBy   func(ttl int) pendingHop // the control: ICMP echo, or a SYN to another port; nil when none
	ctlName string                   // the control in words: "ICMP echo", "TCP/443"
	// start is when the connect sent its first SYN: its retransmissions
	// come at start + k*synRetry, and re-asks are timed to follow them, so
	// a router that rejects the port spends a refilled token on the
	// connect's SYN (the answer that decides) rather than on a re-ask.
	start time.Time
	until time.Time     // no probe is sent, nor listened to, past this
	wait  time.Duration // how long an answer may take: a few round trips
}

type askEvent struct {
	ctl bool
	r   hopResult
	key string
	at  time.Time
}

// maxAsks bounds the probes one question sends.
const maxAsks = 8

// ask settles whether a SYN to the port reaches hop ttl:
//
//   - a time-exceeded from that hop to the port's SYN: reached;
//   - silence to the port's SYN, then a control probe expiring at the same
//     hop answered, then the port's SYN silent again once that answer's
//     token has been refilled: not reached (the port is dropped before it,
//     and the hop answers, so the silence is not its rate limit);
//   - silence to both, asked again after a refill until the window closes:
//     unknown (a router that sends no ICMP, or one rate-limiting it).
//
// Without a control (rounds > 0) the port is asked up to rounds times, a
// refill apart, and silence stays unknown.
func (l *locator) ask(ctx context.Context, ttl int, withControl bool, rounds int) hopAnswer {
	a := hopAnswer{ttl: ttl, reach: ReachUnknown}
	if r, ok := l.p.paths.router(l.dst, ttl); ok {
		a.router, a.seenAt = r.addr, r.at
	}
	withControl = withControl && l.ctlBy != nil
	ev := make(chan askEvent, maxAsks)
	var open []pendingHop
	defer func() {
		for _, h := range open {
			h.setDeadline(time.Unix(1, 0))
		}
	}()
	key := func() string { return budgetKey(a.router, l.dst, ttl) }
	sent := 0
	send := func(ctl bool) bool {
		if sent >= maxAsks || ctx.Err() != nil {
			return false
		}
		k := key()
		if d := l.p.budget.reserve(k); d > 0 {
			if dbg {
				fmt.Fprintf(os.Stderr, "DBG %s:%d ttl=%d pace %v\n", l.dst, l.port, ttl, d)
			}
			if time.Now().Add(d+l.wait).After(l.until) || !sleepCtx(ctx, d) {
				l.p.budget.refund(k)
				return false
			}
		}
		by := l.portBy
		if ctl {
			by = l.ctlBy
			a.ctlAsks++
		} else {
			a.portAsks++
		}
		if dbg {
			fmt.Fprintf(os.Stderr, "DBG %s:%d ttl=%d ctl=%v send key=%s at=%v\n", l.dst, l.port, ttl, ctl, k, time.Since(l.start))
		}
		h := by(ttl)
		// Closed before the kernel would retransmit it: a re-ask is this
		// loop's decision, paced by the budget, never an accident.
		h.setDeadline(earliest(l.until, time.Now().Add(synRetry-10*time.Millisecond)))
		open = append(open, h)
		sent++
		go func() {
			var r hopResult
			func() {
				defer catch(func(err error) { r = hopResult{fatal: err} })
				r = h.wait()
			}()
			ev <- askEvent{ctl: ctl, r: r, key: k, at: time.Now()}
		}()
		return true
	}
	var (
		nextPort  = time.Now() // when to send the port's SYN next (zero: not planned)
		nextCtl   time.Time    // when to send the control next
		windowEnd time.Time    // when this round's probes have had their time
		// lifeAt is when the hop last answered anything (this question's
		// control, or another probe the path cache remembers): a port ask
		// sent a refill after it that stays silent shows the port does not
		// get there, not that the hop is out of tokens.
		lifeAt    = a.seenAt
		ctlAt     time.Time // when this question's control was answered
		confirmBy time.Time // such a port ask's window: silence until then means not reached
		portAsked = 0
	)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		if !nextPort.IsZero() && !now.Before(nextPort) {
			nextPort = time.Time{}
			if !send(false) {
				break
			}
			portAsked++
			windowEnd = now.Add(l.wait)
			if !lifeAt.IsZero() && now.Sub(lifeAt) >= l.p.budget.interval(key()) {
				confirmBy = windowEnd
			}
			if withControl && ctlAt.IsZero() && confirmBy.IsZero() {
				nextCtl = windowEnd // after the port's own window: its token first
			}
		}
		if !nextCtl.IsZero() && !now.Before(nextCtl) {
			nextCtl = time.Time{}
			if send(true) {
				windowEnd = time.Now().Add(l.wait)
			}
		}
		wake := l.until
		for _, t := range []time.Time{nextPort, nextCtl, windowEnd, confirmBy} {
			if !t.IsZero() && t.Before(wake) {
				wake = t
			}
		}
		timer.Reset(max(time.Until(wake), 0))
		select {
		case e := <-ev:
			if dbg {
				fmt.Fprintf(os.Stderr, "DBG %s:%d ttl=%d ctl=%v got %+v at=%v\n", l.dst, l.port, ttl, e.ctl, e.r, time.Since(l.start))
			}
			if !e.r.answered {
				// Unanswered: the probe may never have reached the
				// hop, so its token is not known to be spent.
				l.p.budget.refund(e.key)
				if e.r.fatal != nil {
					return a
				}
				continue
			}
			if k := budgetKey(e.r.addr, l.dst, ttl); k != e.key {
				l.p.budget.refund(e.key)
				l.p.budget.spent(k)
			}
			if !e.ctl {
				a.port, a.reach = e.r, ReachYes
				if !e.r.terminal {
					a.router = e.r.addr
					l.p.paths.noteRouter(l.dst, ttl, e.r.addr)
				}
				return a
			}
			a.ctl = e.r
			if e.r.terminal {
				// The control got to the end here (the host's echo
				// reply, or a refusal): nothing more to ask at this TTL.
				return a
			}
			a.router = e.r.addr
			l.p.paths.noteRouter(l.dst, ttl, e.r.addr)
			if ctlAt.IsZero() {
				ctlAt, lifeAt = e.at, e.at
				nextCtl, windowEnd = time.Time{}, time.Time{}
				nextPort = l.afterRetransmit(ctlAt.Add(l.p.budget.interval(key())))
				if nextPort.Add(l.wait).After(l.until) {
					nextPort = time.Time{} // no time left to confirm
				}
			}
		case <-timer.C:
			now = time.Now()
			if !confirmBy.IsZero() && !now.Before(confirmBy) {
				a.reach = ReachNo
				return a
			}
			if !windowEnd.IsZero() && !now.Before(windowEnd) && nextPort.IsZero() && nextCtl.IsZero() && ctlAt.IsZero() {
				// Silence to everything this round: ask again once
				// the hop has a token again.
				windowEnd = time.Time{}
				if portAsked >= max(rounds, 1) && !withControl {
					return a.silent()
				}
				next := l.afterRetransmit(now.Add(max(l.p.budget.refill(key()), l.p.budget.interval(key())-l.wait)))
				if next.Add(l.wait).Before(l.until) {
					nextPort = next
				}
			}
			if !now.Before(l.until) || (nextPort.IsZero() && nextCtl.IsZero() && windowEnd.IsZero() && confirmBy.IsZero()) {
				return l.giveUp(a)
			}
		case <-ctx.Done():
			return l.giveUp(a)
		}
	}
	return l.giveUp(a)
}

// silent ends a question without a control: the port's SYNs went unanswered.
func (a hopAnswer) silent() hopAnswer {
	a.reach = ReachUnknown
	return a
}

// giveUp ends a question without a settled answer. A hop heard from before
// (by this question's control or by the path cache) that is silent now is
// rate-limiting its ICMP: its bucket is empty, and the budget learns that.
func (l *locator) giveUp(a hopAnswer) hopAnswer {
	a.reach = ReachUnknown
	if a.ctl.answered {
		return a // the control answered; the confirming re-ask never came
	}
	if a.router.IsValid() && a.portAsks+a.ctlAsks > 0 {
		a.rateLimited = true
		l.p.budget.exhausted(budgetKey(a.router, l.dst, a.ttl))
	}
	return a
}

// afterRetransmit moves t to just after one of the connect's SYN
// retransmissions when it would fall in the half second before one, so
// the connect's SYN, which decides, meets a refilled token first.
func (l *locator) afterRetransmit(t time.Time) time.Time {
	const slack = 5 * time.Millisecond
	off := t.Sub(l.start) % synRetry
	if off < 0 {
		return t
	}
	if off > synRetry/2 {
		return t.Add(synRetry - off + slack)
	}
	if off < slack {
		return t.Add(slack - off)
	}
	return t
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// touch sends one control probe expiring at ttl so the path cache learns
// that the router there answers, and when: a range asks it once per host
// as soon as the host's distance is known, so a filtered port's silence a
// refill later is settled by one SYN instead of a control and a re-ask.
func (l *locator) touch(ctx context.Context, ttl int) {
	if l.ctlBy == nil || ttl < 1 {
		return
	}
	if _, ok := l.p.paths.router(l.dst, ttl); ok {
		return
	}
	k := budgetKey(netip.Addr{}, l.dst, ttl)
	if d := l.p.budget.reserve(k); d > 0 {
		l.p.budget.refund(k)
		return // not worth a wait: it only saves time
	}
	h := l.ctlBy(ttl)
	h.setDeadline(earliest(l.until, time.Now().Add(max(l.wait, 100*time.Millisecond))))
	var r hopResult
	func() {
		defer catch(func(err error) { r = hopResult{fatal: err} })
		r = h.wait()
	}()
	if !r.answered || r.terminal || ctx.Err() != nil {
		l.p.budget.refund(k)
		return
	}
	if rk := budgetKey(r.addr, l.dst, ttl); rk != k {
		l.p.budget.refund(k)
		l.p.budget.spent(rk)
	}
	l.p.paths.noteRouter(l.dst, ttl, r.addr)
}

// located is what a locate established about a silent port's path.
type located struct {
	hostHops   int
	hostHopsBy string
	hops       []hopAnswer // by TTL, ascending; only the TTLs asked
	ctlName    string
}

// shared asks through the path cache: concurrent checks of the same port
// and TTL share one question.
func (l *locator) shared(ctx context.Context, ttl int, withControl bool, rounds int) hopAnswer {
	return l.p.paths.share(ctx, hopKey{dst: l.dst, port: l.port, ttl: ttl}, l.start, func() hopAnswer {
		return l.ask(ctx, ttl, withControl, rounds)
	})
}

// locate places where a silent port's SYNs stop, given the host's
// distance (hostHops > 0). It asks first the question that decides: do
// they reach the router before the host (TTL hostHops-1)? When the first
// SYN there goes unanswered it also asks the lower TTLs, once each (and
// once more a refill later), to say how far they get.
func (l *locator) locate(ctx context.Context, hostHops int, by string) located {
	out := located{hostHops: hostHops, hostHopsBy: by, ctlName: l.ctlName}
	deciding := hostHops - 1
	if deciding < 1 {
		return out // the host is on this network: no router to ask
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	decided := make(chan hopAnswer, 1)
	go func() {
		defer catch(func(error) { decided <- hopAnswer{ttl: deciding, reach: ReachUnknown} })
		decided <- l.shared(ctx, deciding, true, 0)
	}()
	var (
		dec   hopAnswer
		got   bool
		lower = make([]hopAnswer, deciding-1)
		wg    sync.WaitGroup
	)
	select {
	case dec = <-decided:
		got = true
	case <-time.After(l.wait):
	case <-ctx.Done():
	}
	if !(got && dec.reach == ReachYes) && deciding > 1 {
		for ttl := 1; ttl < deciding; ttl++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer catch(func(error) { lower[ttl-1] = hopAnswer{ttl: ttl, reach: ReachUnknown} })
				lower[ttl-1] = l.shared(lctx, ttl, false, 2)
			}()
		}
	} else {
		lower = nil
	}
	if !got {
		dec = <-decided
	}
	if dec.reach == ReachYes {
		cancel() // the lower hops no longer matter
	}
	wg.Wait()
	if dec.ctl.answered && dec.ctl.terminal && dec.ctl.addr == l.dst.Unmap() && dec.reach != ReachYes {
		// The control reached the host at the TTL thought to be the
		// router before it: the host is nearer than its reply TTL said.
		// Ask again one hop nearer, once.
		if hostHops > 1 {
			again := l.locate(ctx, deciding, "ICMP echo reply at TTL "+strconv.Itoa(deciding))
			again.hops = append(again.hops, dec)
			return again
		}
	}
	for _, h := range lower {
		if h.ttl > 0 && h.portAsks > 0 {
			out.hops = append(out.hops, h)
		}
	}
	out.hops = append(out.hops, dec)
	return out
}

// sweep probes TTLs from..to with the port's SYN, a window of a few at a
// time (every TTL past a router that refuses or loses the packet would ask
// that same router again), each asked up to rounds times, and stops at the
// first answer that ends the path. It serves the discovery of a path whose
// length is unknown (the host answered nothing) and --trace.
// TTLs in have are taken as asked already.
func (l *locator) sweep(ctx context.Context, from, to, rounds int, have map[int]hopAnswer) []hopAnswer {
	const window = 4
	var out []hopAnswer
	for lo := from; lo <= to; lo += window {
		hi := min(lo+window-1, to)
		res := make([]hopAnswer, hi-lo+1)
		var wg sync.WaitGroup
		for ttl := lo; ttl <= hi; ttl++ {
			if h, ok := have[ttl]; ok {
				res[ttl-lo] = h
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer catch(func(error) { res[ttl-lo] = hopAnswer{ttl: ttl, reach: ReachUnknown} })
				res[ttl-lo] = l.shared(ctx, ttl, false, rounds)
			}()
		}
		wg.Wait()
		more := true
		for _, h := range res {
			out = append(out, h)
			switch {
			case h.port.fatal != nil || h.port.terminal:
				return trimAfterEnd(out)
			case h.reach != ReachYes:
				more = false
			}
		}
		if !more || ctx.Err() != nil || time.Now().Add(l.wait).After(l.until) {
			break
		}
	}
	return trimAfterEnd(out)
}

// trimAfterEnd drops what follows the first hop that ended the path.
func trimAfterEnd(hs []hopAnswer) []hopAnswer {
	for i, h := range hs {
		if h.port.terminal || h.port.fatal != nil {
			return hs[:i+1]
		}
	}
	return hs
}

var dbg = os.Getenv("PORTCHECK_DEBUG") != ""
