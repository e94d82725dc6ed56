package checks

import (
	"context"
	"net/netip"
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
	// at is when the port's answer came; late: only a re-ask got it, the
	// hop was silent (out of tokens) for the SYN before.
	at   time.Time
	late bool
	// coupled: the answered SYN went out right behind one of the
	// connect's SYNs (locator.afterSYN), so the router had a token when
	// the connect's SYN passed it, and drew no reject with it.
	coupled     bool
	confirmable bool // the question could follow the connect's SYNs (afterSYN set)
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
	retry time.Duration // the connect's SYN retransmission period (synRetry; tests shrink it)
	// afterSYN, when set, blocks until the connect has sent its next SYN
	// retransmission after t (false: the connect is gone, or ctx ended).
	// A re-ask sent right behind one of the connect's SYNs meets the same
	// ICMP budget at the router before the host: if that router rejects
	// the port and has a token, the connect's SYN takes it first and the
	// reject decides; a re-ask on its own could take a freshly refilled
	// token and pass a reject off as a drop.
	afterSYN func(ctx context.Context, t time.Time) bool
	// firstWaited: startLocate waited for the connect's next SYN before
	// the deciding question began (firstBehind: the question's first SYN
	// follows one right away), so its first round is not to wait again.
	firstWaited, firstBehind bool
}

// askEvents are optional callbacks from a question to whoever asked it.
type askEvents struct {
	reached     func() // a SYN to the port got there (maybe still to be confirmed)
	firstSilent func() // the first SYN's window ended without an answer
	// waited: the wait for the connect's next SYN was done before the
	// question began, and behind says whether one was just resent.
	waited, behind bool
}

type askEvent struct {
	ctl   bool
	round int
	r     hopResult
	key   string
	at    time.Time
}

// maxAsks bounds the probes one question sends.
const maxAsks = 12

// ask settles whether a SYN to the port reaches hop ttl:
//
//   - a time-exceeded from that hop to a SYN to the port: reached;
//   - a SYN to the port and, right behind it on the same path, a control
//     probe expiring at the same hop: when the control is answered and the
//     SYN is not, the SYN never got there (had it, the hop would have spent
//     its token on it first, a few microseconds earlier): not reached;
//   - both silent: the hop has no token (or sends no ICMP at all), so ask
//     again once the budget says it has one, right after one of the
//     connect's SYN retransmissions; when the window closes: unknown.
//
// The first round sends the SYN alone: when it is answered (the common
// case: the port's packets reach the hop) the hop spends one token, not
// two. Without a control the SYN is asked up to rounds times.
func (l *locator) ask(ctx context.Context, ttl int, withControl bool, rounds int, cb askEvents) hopAnswer {
	a := hopAnswer{ttl: ttl, reach: ReachUnknown, confirmable: withControl && l.afterSYN != nil}
	if r, ok := l.p.paths.router(l.dst, ttl); ok {
		a.router, a.seenAt = r.addr, r.at
	}
	withControl = withControl && l.ctlBy != nil
	// Room for every probe's answer, so a probe's goroutine never blocks
	// on a question that has returned; by pointer, because most questions
	// of a held check send nothing (the router has no token to spare),
	// and a buffer of twelve askEvent values was 1.8 KB for each of them.
	ev := make(chan *askEvent, maxAsks)
	var open []pendingHop
	defer func() {
		for _, h := range open {
			h.setDeadline(time.Unix(1, 0))
		}
	}()
	key := func() string {
		if a.router.IsValid() {
			return budgetKey(a.router, l.dst, ttl)
		}
		return budgetKey(l.p.paths.guessRouter(l.dst, ttl), l.dst, ttl)
	}
	sent := 0
	// reserve takes n of the hop's tokens in the budget's model, waiting
	// until the last of them is due; false when that is past the window
	// (or ctx ends), with the tokens given back.
	reserve := func(n int) (string, bool) {
		if sent+n > maxAsks || ctx.Err() != nil {
			return "", false
		}
		k := key()
		var d time.Duration
		for range n {
			d = l.p.budget.reserve(k) // cumulative: the last one waits longest
		}
		if d > 0 {
			if time.Now().Add(d+l.wait).After(l.until) || !sleepCtx(ctx, d) {
				for range n {
					l.p.budget.refund(k)
				}
				return "", false
			}
		}
		return k, true
	}
	fire := func(ctl bool, round int, k string) {
		by := l.portBy
		if ctl {
			by = l.ctlBy
			a.ctlAsks++
		} else {
			a.portAsks++
		}
		h := by(ttl)
		// Closed before the kernel would retransmit it: a re-ask is this
		// loop's decision, paced by the budget, never an accident.
		h.setDeadline(earliest(l.until, time.Now().Add(l.retry-l.retry/100)))
		open = append(open, h)
		sent++
		go func() {
			var r hopResult
			func() {
				defer catch(func(err error) { r = hopResult{fatal: err} })
				r = h.wait()
			}()
			ev <- &askEvent{ctl: ctl, round: round, r: r, key: k, at: time.Now()}
		}()
	}
	send := func(ctl bool, round int) bool {
		k, ok := reserve(1)
		if ok {
			fire(ctl, round, k)
		}
		return ok
	}
	// sendPair sends the SYN and, right behind it, the control, once the
	// model has a token for each. Reserved one at a time, a control whose
	// token was a second away went out a second after its SYN: when the
	// hop's real bucket was drained by someone else (another process
	// asking it, a traceroute), the SYN went unanswered and the control,
	// a refill later, was answered, and the hop was wrongly "not reached"
	// (filtered_in_path for a host that drops).
	sendPair := func(round int) bool {
		k, ok := reserve(2)
		if ok {
			fire(false, round, k)
			fire(true, round, k)
		}
		return ok
	}
	// listen takes answers until t: a port answer settles the question;
	// a control answer to this round's pair says the SYN before it did
	// not get there.
	var listenCh func(wake <-chan time.Time, woke <-chan bool, round int) bool
	coupled := map[int]bool{} // rounds sent right behind a SYN of the connect
	confirming := false       // reached, waiting to be confirmed behind one
	listen := func(t time.Time, round int) (done bool) {
		timer := time.NewTimer(max(time.Until(t), 0))
		defer timer.Stop()
		return listenCh(timer.C, nil, round)
	}
	var behind bool // the last afterSYN wait ended right after a SYN of the connect
	listenUntil := func(woke <-chan bool) (bool, bool) {
		behind = false
		done := listenCh(nil, woke, -1)
		return done, behind
	}
	listenCh = func(wake <-chan time.Time, woke <-chan bool, round int) (done bool) {
		for {
			select {
			case ok := <-woke:
				behind = ok
				return false
			case e := <-ev:
				if !e.r.answered {
					// Unanswered: the probe may never have reached the
					// hop, so its token is not known to be spent.
					l.p.budget.refund(e.key)
					if e.r.fatal != nil {
						a.port = e.r
						return true
					}
					continue
				}
				switch k := budgetKey(e.r.addr, l.dst, ttl); {
				case !isICMPKind(e.r.kind):
					// A SYN-ACK, a reset or an echo reply costs nobody an
					// ICMP error token.
					l.p.budget.refund(e.key)
				case k != e.key:
					l.p.budget.refund(e.key)
					l.p.budget.spent(k)
				}
				if !e.ctl && withControl && (e.r.kind == "syn-ack" || e.r.kind == "reset") {
					// A handshake answer to a SYN too short to reach the
					// host, while the connect's own SYNs get none, is not
					// evidence of anything the deciding question asks
					// (seen once under load, never reproduced): ignore it.
					continue
				}
				if !e.ctl {
					a.port, a.reach, a.at, a.late = e.r, ReachYes, e.at, e.round > 0
					a.coupled = coupled[e.round]
					if cb.reached != nil {
						cb.reached()
					}
					if !e.r.terminal {
						a.router = e.r.addr
						l.p.paths.noteRouter(l.dst, ttl, e.r.addr)
					}
					if withControl && !a.coupled && !e.r.terminal && l.afterSYN != nil {
						// Reached, but not right behind a SYN of the
						// connect: confirm behind the next one, or a
						// reject the connect's SYN could not draw goes
						// unseen.
						confirming = true
						continue
					}
					return true
				}
				a.ctl = e.r
				if e.r.terminal {
					// The control got to the end here (the host's echo
					// reply, or a refusal): nothing more to ask at this TTL.
					return true
				}
				a.router, a.seenAt = e.r.addr, e.at
				l.p.paths.noteRouter(l.dst, ttl, e.r.addr)
				if e.round == round {
					a.reach = ReachNo
					return true
				}
			case <-wake:
				return false
			case <-ctx.Done():
				return true
			}
		}
	}
	if withControl && l.afterSYN != nil {
		// The first SYN too goes right behind one of the connect's: the
		// connect waits for its first retransmission anyway (a host or
		// router out of tokens for the first SYN answers that one), and a
		// router that rejects the port spends its token on the connect's
		// SYN, not on this one.
		if cb.waited {
			coupled[0] = cb.behind
		} else {
			sctx, cancel := context.WithDeadline(ctx, l.until.Add(-l.wait))
			coupled[0] = l.afterSYN(sctx, time.Now())
			cancel()
		}
		if ctx.Err() != nil {
			return l.giveUp(a)
		}
	}
	for round := 0; ; round++ {
		if withControl && round > 0 && !confirming {
			if !sendPair(round) {
				break
			}
		} else if !send(false, round) {
			break
		}
		if listen(time.Now().Add(l.wait), round) {
			if ctx.Err() != nil || (a.reach == ReachUnknown && !a.ctl.terminal && a.port.fatal == nil) {
				return l.giveUp(a)
			}
			return a
		}
		if round == 0 && cb.firstSilent != nil && a.reach != ReachYes {
			cb.firstSilent()
		}
		if !withControl && round+1 >= max(rounds, 1) {
			return a.silent()
		}
		next := time.Now()
		if (round > 0 || !withControl) && !confirming {
			// Silence to everything: the hop is out of tokens (or sends
			// none). Ask again once it has one.
			next = l.afterRetransmit(next.Add(max(l.p.budget.refill(key()), l.p.budget.interval(key())-2*l.wait)))
		}
		if next.Add(l.wait).After(l.until) {
			break
		}
		if l.afterSYN != nil && (round > 0 || !withControl || confirming) {
			// Wait, listening for late answers, for the connect's next
			// SYN after next; the re-ask follows it at once.
			woke := make(chan bool, 1)
			sctx, cancel := context.WithDeadline(ctx, l.until.Add(-l.wait))
			go func() { woke <- l.afterSYN(sctx, next) }()
			settled, behind := listenUntil(woke)
			cancel()
			coupled[round+1] = behind
			if settled {
				if ctx.Err() != nil {
					return l.giveUp(a)
				}
				return a
			}
			if time.Now().Add(l.wait).After(l.until) {
				break
			}
			continue
		}
		if listen(next, -1) {
			if ctx.Err() != nil {
				return l.giveUp(a)
			}
			return a // a late answer settled it
		}
	}
	return l.giveUp(a)
}

// isICMPKind: the answer was an ICMP error (time-exceeded, unreachable,
// prohibited), which its sender's rate limit paid for.
func isICMPKind(kind string) bool {
	switch kind {
	case "syn-ack", "reset", string(icmpEchoReply), "":
		return false
	}
	return true
}

// unconfirmed: the deciding hop was reached, but never by a SYN sent
// right behind one of the connect's SYNs.
func (r located) unconfirmed() bool {
	for _, h := range r.hops {
		if h.ttl == r.hostHops-1 && h.reach == ReachYes && !h.coupled && h.confirmable {
			return true
		}
	}
	return false
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
	if a.reach == ReachYes {
		return a // reached, never confirmed behind a SYN of the connect
	}
	a.reach = ReachUnknown
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
	slack := l.retry / 200
	off := t.Sub(l.start) % l.retry
	if off < 0 {
		return t
	}
	if off > l.retry/2 {
		return t.Add(l.retry - off + slack)
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

// located is what a locate established about a silent port's path.
type located struct {
	hostHops   int
	hostHopsBy string
	hops       []hopAnswer // by TTL, ascending; only the TTLs asked
	ctlName    string
}

// shared asks through the path cache: concurrent checks of the same port
// and TTL share one question.
func (l *locator) shared(ctx context.Context, ttl int, withControl bool, rounds int, cb askEvents) hopAnswer {
	k := hopKey{dst: l.dst, port: l.port, ttl: ttl}
	ans, call := l.p.paths.join(ctx, k, l.start)
	if call == nil {
		return ans
	}
	defer l.p.paths.settle(ctx, k, call) // also when the question panics
	call.ans = l.ask(ctx, ttl, withControl, rounds, cb)
	return call.ans
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
	// The deciding question runs in this goroutine; when its first SYN
	// goes unanswered (and it was not reached), the lower TTLs are asked
	// beside it, once each, to say how far the SYNs get. Not a goroutine
	// for the deciding question and this one waiting for its events: a
	// worker holding a thousand silent checks held a thousand of each.
	var (
		lower        []hopAnswer
		wg           sync.WaitGroup
		reachedEarly bool // reached; the question goes on only to confirm it behind a SYN of the connect
	)
	askLower := func() {
		if lower != nil || deciding <= 1 {
			return
		}
		lower = make([]hopAnswer, deciding-1)
		for ttl := 1; ttl < deciding; ttl++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer catch(func(error) { lower[ttl-1] = hopAnswer{ttl: ttl, reach: ReachUnknown} })
				// Three rounds: the routers nearest this machine are the
				// ones every other check spends too.
				lower[ttl-1] = l.shared(lctx, ttl, false, 3, askEvents{})
			}()
		}
	}
	cb := askEvents{
		reached: func() {
			if lower == nil { // reached before the lower TTLs were asked
				reachedEarly = true
			}
		},
		firstSilent: func() {
			if !reachedEarly {
				askLower()
			}
		},
	}
	// The wait startLocate did stands for this question only, not for a
	// nearer one asked again below.
	cb.waited, cb.behind = l.firstWaited, l.firstBehind
	l.firstWaited = false
	// A panic here ends the whole locate (startLocate's catch): nothing
	// located, as when nothing answered.
	dec := l.shared(ctx, deciding, true, 0, cb)
	if dec.reach != ReachYes && !reachedEarly {
		askLower()
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
	if dec.reach == ReachYes && ctx.Err() == nil {
		// The SYN gets to the router before the host. One more, with
		// TTL = the host's distance: an end host takes a SYN that
		// arrives with TTL 1, but a NAT gateway forwarding the port to
		// an internal host answers time-exceeded from its own address.
		// Then the silence is behind it, and its ARP for the internal
		// host may still give up (host-unreachable ~3 s later).
		if fw := l.shared(ctx, hostHops, false, 1, askEvents{}); fw.port.answered {
			out.hops = append(out.hops, fw)
			if out.forwarded(l.dst) {
				l.p.paths.noteForwarder(l.dst)
			}
		}
	}
	return out
}

// forwarded: a SYN to the port, sent to expire at the target itself, drew
// time-exceeded from the target's own address: it forwards the port on.
func (r located) forwarded(target netip.Addr) bool {
	for _, h := range r.hops {
		if h.port.answered && !h.port.terminal && h.port.addr == target.Unmap() {
			return true
		}
	}
	return false
}

// sweep probes TTLs from..to with the port's SYN, a window of a few at a
// time (every TTL past a router that refuses or loses the packet would ask
// that same router again), each asked up to rounds times, and stops at the
// first answer that ends the path. It serves the discovery of a path whose
// length is unknown (the host answered nothing) and --trace.
// TTLs in have are taken as asked already.
func (l *locator) sweep(ctx context.Context, from, to, rounds int, have map[int]hopAnswer) []hopAnswer {
	// The window starts small and doubles while every TTL in it is a
	// router passing the SYN on: past a router that refuses the packet
	// every further TTL would draw one more error from it.
	window := 2
	var out []hopAnswer
	for lo, n := from, 0; lo <= to; lo, n = lo+window, n+1 {
		if n >= 2 {
			window = min(2*window, 8)
		}
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
				res[ttl-lo] = l.shared(ctx, ttl, false, rounds, askEvents{})
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
