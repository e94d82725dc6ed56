package checks

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// gathered is the network evidence for one port on one address.
type gathered struct {
	out tcpOutcome
	svc *Service
	loc *located // the path questions asked (a silent port, or --trace)
	// hostLimited: the host had spent its ICMP error budget on this
	// process moments before, so its silence may be a suppressed reject.
	hostLimited bool
	syns        int  // SYNs the connect sent: the first and the kernel's retransmissions
	forwards    bool // the target forwarded a port moments ago (path cache): a NAT gateway
	// lastHopLimited: the farthest router that answered was out of ICMP
	// tokens in the budget's model when the window closed, so its silence
	// about the host (no host-unreachable) says nothing.
	lastHopLimited bool
}

// gather runs the connect, the banner when it is open, and for a silent
// port the path questions that say where its SYNs stop.
//
// Timing: a connect that stays silent is given the kernel's first SYN
// retransmission (at 1 s) and a few round trips after it, because a host or
// router out of ICMP tokens for the first SYN has one again for the second:
// a reject is not mistaken for a drop. Meanwhile, as soon as the first SYN
// has had a few round trips (ping gave the RTT and the host's distance),
// the deciding path question starts (locator.locate), so its answer is in
// by then. Without any answer from the host it listens for late ICMP until
// ReaskWindow (a router's host-unreachable comes after its ARP gives up,
// ~3 s) and discovers how far the path answers from half of SilentWait.
//
// A silent check waits here for seconds, and a worker holds a thousand of
// them: the wait's state is one heap-allocated gatherRun and the frames
// on the waiting stack are small (the loop, then one method per event),
// which keeps a held check's goroutine, worker frames included, within a
// 4 KB stack; it was 16 KB (BenchmarkWorkerHolding1000Filtered).
func (p *Prober) gather(ctx context.Context, req *Request, addr netip.Addr, pr *pingRun, hs *hostState, mode traceMode, start time.Time, pre *preConnect) *gathered {
	r := p.newGatherRun(ctx, req, addr, pr, hs, mode, start, pre)
	defer r.watch.Close()
	r.wait()
	r.conclude()
	return &r.g
}

// gatherRun is one gather's state while its connect is in flight.
type gatherRun struct {
	p     *Prober
	ctx   context.Context
	req   Request
	addr  netip.Addr
	pr    *pingRun
	hs    *hostState
	mode  traceMode
	start time.Time
	pre   *preConnect

	listenEnd, reaskEnd, lateEnd time.Time

	g      gathered
	rtt    time.Duration
	hasRTT bool
	hops   int
	hopsBy string

	resCh  chan tcpOutcome
	a      *tcpAttempt
	aStart time.Time
	cur    atomic.Pointer[connAttempt] // the connect the path questions follow
	watch  *ttlWatch
	// localPort is the connect's own port, for the ttlWatch.
	localPort int

	ctxDone         <-chan struct{} // nil once seen: a cancelled check ends with its connect
	replied         <-chan struct{}
	silentAt, locAt time.Time
	pause           bool
	locStarted      time.Time
	// One timer for the four moments the loop waits for (zero: not
	// armed): when the path questions start, when the port counts as
	// silent, when a connect nothing answered pauses, when it reopens.
	// One, not four: each timer and each select case a held check parks
	// on is memory a worker holds a thousand times.
	tick                *time.Timer
	locDue, silentDue   time.Time
	pauseDue, reopenDue time.Time
	job                 *locateJob
	jobDone             <-chan struct{}
	silentPassed        bool
	extended, paused    bool
}

//go:noinline
func (p *Prober) newGatherRun(ctx context.Context, req *Request, addr netip.Addr, pr *pingRun, hs *hostState, mode traceMode, start time.Time, pre *preConnect) *gatherRun {
	deadline, _ := ctx.Deadline()
	r := &gatherRun{p: p, ctx: ctx, req: *req, addr: addr, pr: pr, hs: hs, mode: mode, start: start, pre: pre}
	r.listenEnd = deadline.Add(-p.margin)
	r.say("connecting")
	r.reaskEnd = earliest(r.listenEnd, start.Add(p.cfg.ReaskWindow))
	r.hops, r.hopsBy = p.paths.hostHops(addr)
	r.lateEnd = r.reaskEnd // how long to wait for late ICMP when nothing ever answered
	if hs != nil {
		// Ranges: an RTT any port of this host showed counts like a
		// ping reply (nmap does the same), and once one port listened
		// the whole window for a router's late ICMP, the others need
		// not all wait for it: their verdict would be the same.
		if rtt, ok := hs.learnedRTT(); ok {
			r.rtt, r.hasRTT = rtt, true
		} else if !hs.claimFullListen() {
			r.lateEnd = earliest(r.reaskEnd, start.Add(2*p.cfg.SilentWait))
		}
	}
	r.resCh = make(chan tcpOutcome, 1)
	// With CAP_NET_RAW, one check of one port also reads the TTL of the
	// answer (ttlWatch): a reset from a firewall on the way carries more
	// TTL than the host's own packets.
	if p.rawTCP && mode != traceShared {
		r.watch = openTTLWatch(addr)
	}
	r.connect()
	r.ctxDone = ctx.Done()
	if pr != nil {
		r.replied = pr.replied
	}
	r.silentAt, r.locAt = r.lateEnd, start.Add(p.cfg.SilentWait)
	// Nothing has answered yet (no ping reply): when that lasts until just
	// before the first SYN retransmission, everything toward the address
	// pauses and the connect is asked again with a fresh SYN after ~2 s.
	// A router with no route to it answers through ip_error, which takes
	// its own token from the same per-peer bucket as the ICMP it sends: a
	// drained router needs two seconds of quiet to say net-unreachable
	// again, and a SYN retransmitted every second would starve it for
	// good. The pause is only for a first router that does not route the
	// address: the discovery of the path starts early (half of
	// SilentWait), and when its first hop answers a TTL-limited SYN with
	// time-exceeded, that router routes it, and the connect stays open for
	// a late host-unreachable from further on (a dead host's router answers
	// the first queued SYN first).
	r.pause = !r.hasRTT && mode != traceShared
	if r.pause {
		r.locAt = start.Add(p.cfg.SilentWait / 2)
	}
	r.timing()
	r.locDue, r.silentDue, r.pauseDue = r.locAt, r.silentAt, start.Add(synRetry-10*time.Millisecond)
	r.tick = time.NewTimer(time.Hour)
	r.arm()
	return r
}

func (r *gatherRun) say(step string) {
	if r.req.Progress != nil {
		r.req.Progress(step)
	}
}

// connect starts the connect (or adopts the range scanner's); its
// outcome comes on resCh, from the Prober's connPoller.
func (r *gatherRun) connect() {
	var known *tcpOutcome
	if r.pre != nil {
		// The range scanner's connect: its first SYN left at pre.start.
		r.a, r.aStart, known = r.pre.a, r.pre.start, r.pre.out
		r.pre = nil
	} else {
		r.a, r.aStart = startTCP(r.addr, r.req.Port, 0), time.Now()
	}
	if r.watch != nil {
		r.localPort = r.a.localPort()
	}
	r.cur.Store(&connAttempt{a: r.a, start: r.aStart})
	r.a.setDeadline(r.reaskEnd) // the most a silent connect listens; the loop ends it sooner
	if known != nil {
		deliver(r.resCh, r.a.adopted(*known, true))
		return
	}
	r.p.conns.watch(r.a, true, r.resCh)
}

func synsOf(from time.Time) int { return min(1+int(time.Since(from)/synRetry), 6) }

// timing sets when the path questions start and when the port counts as
// silent, once an RTT is known.
func (r *gatherRun) timing() {
	if !r.hasRTT {
		return
	}
	p := r.p
	r.silentAt = earliest(r.reaskEnd, r.start.Add(synRetry+p.quick(r.rtt)))
	// Not before the slowest answer this process saw lately had
	// time to come twice: under load (a worker's many jobs) a
	// closed port answers late, and every port wrongly taken for
	// silent spends a router's ICMP token the real ones need.
	r.locAt = r.start.Add(max(p.quick(r.rtt), 2*p.lag.recent()))
	if r.mode == traceShared {
		// A range keeps a thousand connects in flight: only a port
		// still silent just before its SYN retransmission is asked
		// about (the question goes right behind that SYN), or the
		// closed ports delayed by the load would spend the routers'
		// budget before the filtered ones get to ask.
		r.locAt = r.start.Add(synRetry - 50*time.Millisecond)
	}
}

// wait is the loop a silent check spends its seconds in. Each event is a
// method of its own so that this frame, on the stack the whole time, holds
// only the select.
func (r *gatherRun) wait() {
	for done := false; !done; {
		select {
		case out := <-r.resCh:
			done = r.onOutcome(out)
		case <-r.tick.C:
			r.onTick()
		case <-r.ctxDone:
			if r.paused {
				r.g.out = tcpOutcome{Reason: ReasonNoResponse}
				done = true
				break
			}
			// Cancelled or out of time: the connect gives its outcome now
			// (the loop would otherwise spin on a closed Done until it did).
			r.ctxDone = nil
			r.a.cancel()
		case <-r.replied:
			r.onReplied()
		case <-r.jobDone:
			r.onJobDone()
		}
		if !done {
			r.arm() // the event may have moved a moment
		}
	}
	r.tick.Stop()
}

// onTick handles the moments that are due, then arms the timer for the
// next.
//
//go:noinline
func (r *gatherRun) onTick() {
	now := time.Now()
	if isDue(&r.pauseDue, now) {
		r.onPause()
	}
	if isDue(&r.reopenDue, now) && r.paused {
		r.paused = false
		r.connect()
	}
	if isDue(&r.locDue, now) {
		r.onLocate()
	}
	if isDue(&r.silentDue, now) {
		r.onSilent()
	}
}

// isDue says whether the moment *t is armed and has come, and disarms it
// then.
func isDue(t *time.Time, now time.Time) bool {
	if t.IsZero() || now.Before(*t) {
		return false
	}
	*t = time.Time{}
	return true
}

// arm sets the timer for the soonest armed moment.
func (r *gatherRun) arm() {
	var next time.Time
	for _, t := range [...]time.Time{r.locDue, r.silentDue, r.pauseDue, r.reopenDue} {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if next.IsZero() {
		r.tick.Stop()
		return
	}
	r.tick.Reset(max(time.Until(next), 0))
}

//go:noinline
func (r *gatherRun) onOutcome(out tcpOutcome) (done bool) {
	r.g.out = out
	if !r.paused || out.Reason != ReasonNoResponse {
		return true
	}
	r.g.syns += synsOf(r.aStart) - 1 // cut before its retransmission
	at := r.start.Add(2 * synRetry)
	if r.pr != nil {
		at = latest(at, r.pr.lastSent().Add(2*synRetry+50*time.Millisecond))
	}
	if !r.locStarted.IsZero() {
		at = latest(at, r.locStarted.Add(2*synRetry+50*time.Millisecond))
	}
	if r.hasRTT {
		at = time.Now()
	}
	r.reopenDue = latest(at, time.Now())
	return false
}

//go:noinline
func (r *gatherRun) onPause() {
	if _, routed := r.p.paths.router(r.addr, 1); r.pause && !r.hasRTT && !routed && time.Now().Add(2*synRetry).Before(r.reaskEnd) {
		r.paused = true
		r.a.cancel()
		r.say("nothing answers yet: pausing 2 s so a router out of ICMP tokens can answer the next SYN")
	}
}

// pingReplied takes in what the ping's reply says: the RTT and, by its
// TTL, the host's distance.
func (r *gatherRun) pingReplied() {
	r.replied = nil
	r.rtt, r.hasRTT = r.pr.rtt(), true
	if h := r.pr.pathHops(); h > 0 {
		r.hops, r.hopsBy = h, "the ping reply's TTL"
		r.p.paths.noteHostHops(r.addr, h, r.hopsBy)
	}
	r.timing()
}

//go:noinline
func (r *gatherRun) onReplied() {
	r.pingReplied()
	if r.paused {
		r.reopenDue = time.Now() // the host answers ping after all
	}
	if r.job == nil {
		r.locDue = r.locAt
	}
	if !r.silentPassed {
		r.silentDue = r.silentAt
	}
}

//go:noinline
func (r *gatherRun) onLocate() {
	p := r.p
	if r.replied != nil && r.pr.hasReplied() {
		// The ping's reply is in (shared by a range's ports, it may
		// have come before this port started): use what it says.
		r.pingReplied()
		r.silentDue = r.silentAt
	}
	if r.hops == 0 {
		r.hops, r.hopsBy = p.paths.hostHops(r.addr) // another port's ping may have told it
	}
	if r.job == nil && r.hasRTT && r.hops == 0 && r.pr != nil && r.replied != nil && time.Now().Before(r.start.Add(p.cfg.SilentWait)) {
		// The RTT is known (another port of the host answered)
		// but not the host's distance: wait for the ping's reply
		// rather than sweep the path.
		r.locDue = r.start.Add(p.cfg.SilentWait)
		return
	}
	if r.job != nil {
		return
	}
	if r.hops > 0 {
		r.say("no answer yet: asking the router before the host whether the SYNs get there")
	} else {
		r.say("no answer from the host yet: finding how far the path answers")
	}
	r.locStarted = time.Now()
	r.job = p.startLocate(r.ctx, r.addr, r.req.Port, r.hops, r.hopsBy, r.start, r.reaskEnd, r.rtt, r.hs, r.mode, r.cur.Load)
	r.jobDone = r.job.done
}

//go:noinline
func (r *gatherRun) onSilent() {
	r.silentPassed = true
	if !r.extended && r.p.budget.available(budgetKey(r.addr, r.addr, 0)) < 1 && r.silentAt.Before(r.reaskEnd) {
		// This host sent us ICMP errors moments ago and has no
		// token left in the model: its silence may be a reject it
		// could not send. Give its retransmissions more time.
		r.extended, r.g.hostLimited = true, true
		r.say("still listening: the host sent ICMP errors moments ago, a reject may come late")
		r.silentDue = r.reaskEnd
		r.silentPassed = false
		return
	}
	if r.job == nil || r.job.finished() {
		r.a.cancel()
	}
}

//go:noinline
func (r *gatherRun) onJobDone() {
	r.jobDone = nil
	if r.job.res.forwarded(r.addr) && r.silentAt.Before(r.lateEnd) {
		// The target forwards the port (a NAT gateway): listen
		// the whole window for its late host-unreachable, sent
		// when its ARP for the internal host gives up.
		r.silentAt = r.lateEnd
		r.silentDue = r.silentAt
		r.silentPassed = false
		r.say(fmt.Sprintf("still listening: %s forwards the port on; a late host-unreachable would come within %.1f s", r.addr, time.Until(r.silentAt).Seconds()))
		return
	}
	if !r.silentPassed {
		r.say("path asked; waiting for the SYN retransmission (a rate-limited reject comes then)")
	} else {
		r.a.cancel()
	}
}

// conclude turns the connect's outcome into the evidence: the banner of
// an open port, the path questions' answers for a silent one, who sent a
// reset.
//
//go:noinline
func (r *gatherRun) conclude() {
	p, g, ctx, addr, req := r.p, &r.g, r.ctx, r.addr, r.req
	if g.out.answered() {
		p.lag.note(g.out.RTT)
		if g.out.Reason == ReasonReset || g.out.Reason == ReasonSynAck {
			g.out.TTL = r.watch.ttlOf(req.Port, r.localPort, 20*time.Millisecond)
		}
		if r.hs != nil && g.out.RTT < time.Second {
			r.hs.noteRTT(g.out.RTT)
		}
	}
	p.charge(addr, g.out, r.pr)
	if g.out.ResetAfterAccept {
		g.svc = &Service{Refused: true, Detail: "accepted the connection then reset it at once (tcp wrappers / application ACL?)"}
	}
	if g.out.Conn != nil {
		// Greeting protocols talk at once; a silent service costs this
		// much on top of the verdict, so keep it a few round trips.
		// On a loaded prober (a worker's many jobs, a busy CI machine)
		// the service's first words or its close come later too: the
		// slowest recent answer, twice, is the floor then.
		wait := min(max(p.cfg.MinWait/5, 4*g.out.RTT, 2*p.lag.recent()), time.Second)
		g.svc = grabService(ctx, g.out.Conn, req.Host, req.Scheme, req.Port, wait)
		g.out.Conn = nil
	}
	silent := g.out.Reason == ReasonNoResponse
	if silent {
		g.syns += synsOf(r.aStart)
	}
	if job := r.job; job != nil {
		finished := job.finished()
		if !silent {
			job.abort() // an answer decided; the path questions no longer matter
		}
		if res := job.wait(); silent || (finished && res.forwarded(addr)) {
			// Kept for an answer too when the path questions were done
			// before it and show the target forwarding the port: a late
			// host-unreachable from a NAT gateway reads by that.
			g.loc = &res
		}
	}
	if g.out.Reason == ReasonReset && r.mode != traceShared && !addr.Unmap().IsLoopback() {
		// Who sent the reset, and is the port forwarded on? (A firewall
		// in the path resets on the host's behalf; a NAT gateway forwards
		// to an internal host where nothing listens.)
		g.loc = p.resetProbes(ctx, addr, req.Port, r.pr, r.hops, r.hopsBy, r.start, r.listenEnd, r.rtt, g.out.TTL)
	}
	g.forwards = p.paths.forwarder(addr)
	if silent && g.loc != nil && g.loc.hostHops == 0 {
		var last *hopAnswer
		for i := range g.loc.hops {
			if h := &g.loc.hops[i]; h.port.answered && !h.port.terminal {
				last = h
			}
		}
		if last != nil && p.budget.available(budgetKey(last.port.addr, addr, last.ttl)) < 1 {
			g.lastHopLimited = true
		}
	}
	if r.mode == traceAlways {
		g.loc = p.traceFor(ctx, addr, req.Port, g.out, r.hops, r.hopsBy, g.loc, r.start, r.listenEnd, r.rtt)
	}
}

// charge books an ICMP error a connect drew against its sender's budget.
func (p *Prober) charge(addr netip.Addr, out tcpOutcome, pr *pingRun) {
	if out.ICMP == nil || !out.From.IsValid() {
		return
	}
	p.budget.spent(budgetKey(out.From, addr, 0))
	if unreachable := out.Reason == ReasonICMPNetUnreachable || out.Reason == ReasonICMPHostUnreachable; unreachable && out.From != addr.Unmap() {
		// The router refuses everything to this address, the echo
		// requests of the ping too, one error each (booked once, when a
		// run serves several checks).
		if pr != nil {
			for range pr.unbooked() {
				p.budget.spent(budgetKey(out.From, addr, 0))
			}
		}
		if out.Reason == ReasonICMPNetUnreachable {
			// Linux charges a forwarding failure twice to the same
			// per-peer bucket, once in ip_error (which also caps it at
			// 5) and once in icmp_send.
			p.budget.spentRouteError(budgetKey(out.From, addr, 0))
		}
	}
}

// quick is how long an answer from the path may take: a few round trips,
// never below a fifth of the floor.
func (p *Prober) quick(rtt time.Duration) time.Duration {
	return max(p.cfg.MinWait/5, 4*rtt)
}

// locator builds the path questioner for one port of one address.
func (p *Prober) locator(addr netip.Addr, port int, start, until time.Time, rtt time.Duration) *locator {
	dst := addr.Unmap()
	l := &locator{p: p, dst: dst, port: port, portBy: tcpProbe(dst, port), start: start, until: until, wait: p.quick(rtt), retry: synRetry}
	if p.icmpCtl {
		l.ctlBy, l.ctlName = icmpProbe(dst), "ICMP echo"
	} else {
		cp := controlPort(port)
		l.ctlBy, l.ctlName = tcpProbe(dst, cp), "TCP/"+strconv.Itoa(cp)
	}
	return l
}

// resetProbes asks, for a port that answered with a reset, two TTL-limited
// SYNs: one that expires at the router before the host (TTL host_hops-1)
// and one that expires at the target itself (TTL host_hops). A reset to
// the first means the reset came from nearer than the host (then the lower
// TTLs say which hop sends it); time-exceeded from the target's own
// address to the second means the target forwards the port on. Resets cost
// no ICMP budget; each time-exceeded costs its router one token. The
// host's distance comes from the ping reply (it may take the ping's delay
// and a round trip); without it, nothing is asked.
//
// With the reset's own TTL (a raw socket) the first SYN is only sent when
// that TTL says the reset came from nearer, to name the hop; without it,
// only when the router before the host has a token to spare in the
// budget's model, because every closed port of a list would otherwise
// spend that router's budget the silent ports need to be placed.
func (p *Prober) resetProbes(ctx context.Context, addr netip.Addr, port int, pr *pingRun, hops int, hopsBy string, start, until time.Time, rtt time.Duration, resetTTL int) *located {
	if hops == 0 && pr != nil {
		pr.now()
		t := time.NewTimer(time.Until(start.Add(max(p.cfg.MinWait, p.cfg.MinWait/5+4*rtt+50*time.Millisecond))))
		select {
		case <-pr.replied:
			hops, hopsBy = pr.pathHops(), "the ping reply's TTL"
			p.paths.noteHostHops(addr, hops, hopsBy)
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	if hops < 2 {
		return nil // on this network, or the distance is unknown
	}
	l := p.locator(addr, port, start, earliest(until, time.Now().Add(max(p.cfg.MinWait, 4*rtt))), rtt)
	res := located{hostHops: hops, hostHopsBy: hopsBy, ctlName: l.ctlName}
	nearTTL := hops - 1
	pingTTL := 0
	if pr != nil {
		pingTTL = pr.snapshot().TTL
	}
	switch {
	case resetTTL > 0 && pingTTL > 0:
		nearTTL = 0
		if diff := resetTTL - pingTTL; diff >= 1 && diff < hops {
			nearTTL = hops - diff // name the hop the reset came from
		}
	case p.budget.available(budgetKey(p.paths.guessRouter(addr, hops-1), addr, hops-1)) < 4:
		// Keep a reserve for the questions that decide a verdict.
		nearTTL = 0
	}
	var near, at hopAnswer
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if nearTTL > 0 {
			near = l.shared(ctx, nearTTL, false, 1, askEvents{})
		}
	}()
	go func() { defer wg.Done(); at = l.shared(ctx, hops, false, 1, askEvents{}) }()
	wg.Wait()
	if near.port.answered && near.port.kind == "reset" && resetTTL == 0 {
		// Reset before the host: find the nearest TTL that still gets it.
		lower := make([]hopAnswer, hops-2)
		for ttl := 1; ttl < hops-1; ttl++ {
			wg.Add(1)
			go func() { defer wg.Done(); lower[ttl-1] = l.shared(ctx, ttl, false, 1, askEvents{}) }()
		}
		wg.Wait()
		res.hops = append(res.hops, lower...)
	}
	if near.portAsks > 0 {
		res.hops = append(res.hops, near)
	}
	res.hops = append(res.hops, at)
	if res.forwarded(addr) {
		p.paths.noteForwarder(addr)
	}
	return &res
}

// connAttempt is the connect a silent port's path questions follow.
type connAttempt struct {
	a     *tcpAttempt
	start time.Time
}

// afterSYN blocks until the connect has resent its SYN at or after t (the
// kernel resends it every synRetry from its start), watching the
// socket's retransmission count so a re-ask goes out right behind the
// SYN, not a guess of when it left. False when the connect is gone or
// ctx ends first.
func (c *connAttempt) afterSYN(ctx context.Context, t time.Time) bool {
	if c == nil {
		return false
	}
	if !sleepCtx(ctx, time.Until(c.synAfter(t).Add(-synLead))) {
		return false
	}
	return c.sawResend(ctx)
}

// synLead is how long before a SYN retransmission is due its watch
// starts polling the retransmission count.
const synLead = 20 * time.Millisecond

// synAfter is when the connect's first SYN retransmission at or after t
// is due.
func (c *connAttempt) synAfter(t time.Time) time.Time {
	k := max((t.Sub(c.start)+synRetry-1)/synRetry, 1)
	return c.start.Add(time.Duration(k) * synRetry)
}

// sawResend watches the connect's retransmission count, from just before
// a retransmission is due, until it goes up (true) or the connect is gone
// or ctx ends (false). After 250 ms it gives up waiting and says true: a
// late timer, a loaded machine.
func (c *connAttempt) sawResend(ctx context.Context) bool {
	base, ok := c.a.retransmits()
	if !ok {
		return false
	}
	give := time.Now().Add(250 * time.Millisecond)
	// One timer for the whole watch: a new one per 2 ms poll was, after
	// the TCP_INFO reads, the next largest garbage of a held silent check.
	tick := time.NewTimer(2 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(give) {
		n, ok := c.a.retransmits()
		if !ok {
			return false
		}
		if n > base {
			return true
		}
		tick.Reset(2 * time.Millisecond)
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// locateJob is a locate running beside the connect.
type locateJob struct {
	done chan struct{}
	res  located

	mu      sync.Mutex
	cancel  context.CancelFunc // set once the locate has its context
	aborted bool
}

// startLocate asks where a silent port's SYNs stop: the deciding questions
// when the host's distance is known, else a discovery of how far the path
// answers. The setup runs in a goroutine of its own, not on the check's
// stack: the contexts, timers and closures it makes (and the allocator
// beneath them) took a held check's goroutine past 4 KB of stack, and a
// goroutine keeps the stack it grew for as long as it waits.
func (p *Prober) startLocate(ctx context.Context, addr netip.Addr, port, hops int, hopsBy string, start, until time.Time, rtt time.Duration, hs *hostState, mode traceMode, conn func() *connAttempt) *locateJob {
	j := &locateJob{done: make(chan struct{})}
	go p.runLocate(ctx, j, addr, port, hops, hopsBy, start, until, rtt, hs, mode, conn)
	return j
}

func (p *Prober) runLocate(ctx context.Context, j *locateJob, addr netip.Addr, port, hops int, hopsBy string, start, until time.Time, rtt time.Duration, hs *hostState, mode traceMode, conn func() *connAttempt) {
	jctx, cancel := context.WithCancel(ctx)
	j.mu.Lock()
	j.cancel = cancel
	if j.aborted {
		cancel()
	}
	j.mu.Unlock()
	l := p.locator(addr, port, start, until, rtt)
	l.afterSYN = func(ctx context.Context, t time.Time) bool { return conn().afterSYN(ctx, t) }
	ask := func() located {
		if hops > 0 {
			return l.locate(jctx, hops, hopsBy)
		}
		// Once each: nothing has answered this address, and a router that
		// cannot route it needs quiet to say so (see gather's pause).
		return located{hops: l.sweep(jctx, 1, p.cfg.MaxTTL, 1, nil), ctlName: l.ctlName}
	}
	run := func() {
		defer close(j.done)
		defer catch(func(error) { j.res = located{} })
		if mode == traceShared && hs != nil {
			j.res = hs.locateFor(jctx, ask)
		} else {
			j.res = ask()
		}
	}
	c := conn()
	if (mode == traceShared && hs != nil) || hops < 2 || c == nil {
		run()
		return
	}
	// The deciding question's first SYN goes right behind the connect's
	// next retransmission (locator.ask), up to a second away. That wait is
	// a timer, not this goroutine parked at the bottom of the question: a
	// worker holding a thousand silent checks held a thousand such
	// goroutines, 8 KB of stack each. The retransmission count is watched
	// from just before it is due, as afterSYN does.
	until = until.Add(-l.wait) // the question's own deadline for the wait
	due := c.synAfter(time.Now())
	var launched atomic.Bool
	// launch runs the question; its callers are AfterFunc callbacks, each
	// in a goroutine of its own.
	launch := func(watch bool) {
		if !launched.CompareAndSwap(false, true) {
			return
		}
		behind := false
		if watch && jctx.Err() == nil {
			sctx, cancel := context.WithDeadline(jctx, until)
			behind = c.sawResend(sctx)
			cancel()
		}
		l.firstWaited, l.firstBehind = true, behind
		run()
	}
	t := time.AfterFunc(time.Until(earliest(due.Add(-synLead), until)), func() { launch(!due.Add(-synLead).After(until)) })
	// Registered until jctx ends, which it does when the check returns.
	context.AfterFunc(jctx, func() {
		t.Stop()
		launch(false) // the question ends at once: ctx is done
	})
}

// abort ends the locate's questions (also one whose setup is still to run).
func (j *locateJob) abort() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.aborted = true
	if j.cancel != nil {
		j.cancel()
	}
}

func (j *locateJob) finished() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

func (j *locateJob) wait() located {
	<-j.done
	return j.res
}

// traceFor is --trace: the port's SYN at every TTL up to the host (paced
// like every probe), reusing what the path questions already asked. TTLs
// at or past the host are probed only when the host's answer costs it no
// ICMP (a SYN-ACK or reset): a rejecting host's budget stays for the
// connect.
func (p *Prober) traceFor(ctx context.Context, addr netip.Addr, port int, out tcpOutcome, hops int, hopsBy string, have *located, start, until time.Time, rtt time.Duration) *located {
	l := p.locator(addr, port, start, until, rtt)
	to := p.cfg.MaxTTL
	if hops > 0 {
		to = hops
		if out.ICMP != nil && out.From == addr.Unmap() {
			to = hops - 1
		}
	}
	res := located{hostHops: hops, hostHopsBy: hopsBy, ctlName: l.ctlName}
	known := map[int]hopAnswer{}
	if have != nil {
		res = *have
		for _, h := range have.hops {
			known[h.ttl] = h
		}
	}
	if to < 1 {
		return &res
	}
	res.hops = l.sweep(ctx, 1, to, 1, known)
	return &res
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// controlPort picks another commonly open port for a TCP control probe.
func controlPort(port int) int {
	if port == 443 {
		return 80
	}
	return 443
}

// evidence turns the path questions into the report's traces: the port's
// SYNs at each TTL asked (trace), the control probes (control_trace), and
// what frames them (path).
func (g gathered) evidence(addr netip.Addr, port int) (*Trace, *Trace, *PathEvidence) {
	if g.loc == nil {
		return nil, nil, nil
	}
	target := addr.Unmap()
	tr := &Trace{Proto: "tcp", Port: port, Hops: []Hop{}}
	var ctl *Trace
	for _, h := range g.loc.hops {
		if h.portAsks > 0 || h.port.answered {
			hop := Hop{TTL: h.ttl, Reach: h.reach, Asks: h.portAsks, RateLimited: h.rateLimited}
			if h.port.answered {
				hop.Address, hop.RTTMS, hop.ICMP = addrString(h.port.addr), ms(h.port.rtt), h.port.kind
				if h.port.terminal && h.port.addr == target {
					tr.Reached = true
				}
			} else if h.router.IsValid() {
				hop.Router = h.router.String()
			}
			tr.Hops = append(tr.Hops, hop)
		}
		if h.ctlAsks > 0 {
			if ctl == nil {
				ctl = &Trace{Proto: "icmp", Hops: []Hop{}}
				if g.loc.ctlName != "ICMP echo" {
					ctl.Proto, ctl.Port = "tcp", controlPort(port)
				}
			}
			hop := Hop{TTL: h.ttl, Asks: h.ctlAsks}
			if h.ctl.answered {
				hop.Address, hop.RTTMS, hop.ICMP = addrString(h.ctl.addr), ms(h.ctl.rtt), h.ctl.kind
				if h.ctl.terminal && h.ctl.addr == target {
					ctl.Reached = true
				}
			}
			ctl.Hops = append(ctl.Hops, hop)
		}
	}
	path := &PathEvidence{HostHops: g.loc.hostHops, HostHopsBy: g.loc.hostHopsBy, SYNs: max(g.syns, 1), Control: g.loc.ctlName,
		HostRateLimited: g.hostLimited, RouterRateLimited: g.loc.unconfirmed(), Forwards: g.forwards, LastHopRateLimited: g.lastHopLimited}
	return tr, ctl, path
}
