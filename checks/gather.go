package checks

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// gathered is the network evidence for one port on one address.
type gathered struct {
	out        tcpOutcome
	svc        *Service
	trace, ctl *Trace
}

// gather runs the connect with adaptive waits, the banner when it is open,
// and the traces when the outcome needs them.
//
// Timing, nmap-style: once ping gives an RTT, a silent connect is given
// max(MinWait, 4*RTT). Without a ping reply it keeps listening until the
// deadline (a router's host-unreachable comes only after its ARP gives up,
// ~3 s), and after SilentWait the traces start alongside it so they are
// ready when the verdict is.
func (p *Prober) gather(ctx context.Context, req Request, addr netip.Addr, pr *pingRun, hs *hostState, mode traceMode, start time.Time) gathered {
	deadline, _ := ctx.Deadline()
	listenEnd := deadline.Add(-p.margin)
	a := startTCP(addr, req.Port, 0)
	a.setDeadline(listenEnd)
	resCh := make(chan tcpOutcome, 1)
	go func() {
		defer catch(func(err error) {
			resCh <- tcpOutcome{Reason: ReasonLocalError, Err: err}
		})
		resCh <- a.wait(true)
	}()

	var replied <-chan struct{}
	if pr != nil {
		replied = pr.replied
	}
	silent := time.NewTimer(p.cfg.SilentWait)
	defer silent.Stop()
	var (
		g      gathered
		job    *traceJob
		rtt    time.Duration
		hasRTT bool
	)
	if hs != nil {
		// Ranges: an RTT any port of this host already showed counts like
		// a ping reply (nmap does the same), and once one port listened
		// the full deadline, the others need not all wait for a router's
		// ARP timeout: their verdict would be the same.
		if r, ok := hs.learnedRTT(); ok {
			rtt, hasRTT = r, true
			a.setDeadline(earliest(listenEnd, start.Add(p.adaptive(rtt))))
		} else if !hs.claimFullListen() {
			a.setDeadline(earliest(listenEnd, start.Add(2*p.cfg.SilentWait)))
		}
		defer func() {
			if g.out.answered() && g.out.RTT < time.Second {
				hs.noteRTT(g.out.RTT)
			}
		}()
	}
	for done := false; !done; {
		select {
		case g.out = <-resCh:
			done = true
		case <-replied:
			replied = nil
			rtt, hasRTT = pr.rtt(), true
			a.setDeadline(earliest(listenEnd, start.Add(p.adaptive(rtt))))
		case <-silent.C:
			if !hasRTT && mode != traceShared && job == nil {
				job = p.startTraces(ctx, addr, req.Port, listenEnd, true, p.maxTTL(pr))
			}
		}
	}
	if g.out.ResetAfterAccept {
		g.svc = &Service{Refused: true, Detail: "accepted the connection then reset it at once (tcp wrappers / application ACL?)"}
	}
	if g.out.Conn != nil {
		// Greeting protocols talk at once; a silent service costs this
		// much on top of the verdict, so keep it a few round trips.
		wait := min(max(p.cfg.MinWait/5, 4*g.out.RTT), time.Second)
		g.svc = grabService(ctx, g.out.Conn, req.Host, req.Scheme, req.Port, wait)
		g.out.Conn = nil
	}
	need := mode == traceAlways || needsTrace(g.out.Reason)
	// The control trace only matters where the port's own trace can die
	// early: silence (and --trace, to spot middleboxes).
	control := mode == traceAlways || g.out.Reason == ReasonNoResponse
	// After an answer, a few round trips are enough for the traces: the
	// ping's RTT, else the connect's own (unless it is an ARP timeout).
	est := rtt
	if !hasRTT && g.out.answered() && g.out.RTT < time.Second {
		est = g.out.RTT
	}
	traceWait := p.adaptive(est)
	if mode == traceShared {
		// A range keeps hundreds of sockets busy: a few traces get more
		// time so a starved reader does not pass for a silent hop.
		traceWait = max(traceWait, 4*p.cfg.MinWait)
	}
	traceEnd := earliest(listenEnd, time.Now().Add(traceWait))
	switch {
	case !need && job != nil:
		job.abort()
		job.wait()
		job = nil
	case need && mode == traceShared && hs != nil:
		g.trace, g.ctl = hs.traceFor(g.out, func() (*Trace, *Trace) {
			return p.startTraces(ctx, addr, req.Port, traceEnd, control, p.maxTTL(pr)).wait()
		})
	case need && job == nil:
		job = p.startTraces(ctx, addr, req.Port, traceEnd, control, p.maxTTL(pr))
	case need:
		// Started early, alongside a silent connect: the connect has
		// ended, so the traces get a few more round trips at most.
		job.limit(traceEnd)
	}
	if job != nil {
		g.trace, g.ctl = job.wait()
	}
	return g
}

// maxTTL bounds a trace: every TTL past the host sends it one more SYN
// (a connection its service sees), so when ping told the path length only
// a couple of TTLs beyond it are probed.
func (p *Prober) maxTTL(pr *pingRun) int {
	if pr != nil {
		if h := pr.pathHops(); h > 0 {
			return min(p.cfg.MaxTTL, h+2)
		}
	}
	return p.cfg.MaxTTL
}

// needsTrace: the verdicts that localize a problem on the path.
func needsTrace(r Reason) bool {
	switch r {
	case ReasonSynAck, ReasonReset, ReasonNoRoute, ReasonLocalError, ReasonDNSError:
		return false
	}
	return true
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

// traceJob is a port trace plus a control trace running together.
type traceJob struct {
	cancel     context.CancelFunc // ends the traces' first round
	abortAll   context.CancelFunc // ends the retry too
	done       chan struct{}
	trace, ctl *Trace
}

// startTraces traces toward the port and, as a control, with ICMP echo
// (or TCP to another port when ICMP sockets are not allowed). When the
// port's trace dies before the control's ends, the TTLs in between are asked
// once more (see retryGap) before the traces are final.
func (p *Prober) startTraces(ctx context.Context, addr netip.Addr, port int, deadline time.Time, control bool, maxTTL int) *traceJob {
	jctx, abortAll := context.WithCancel(ctx)
	tctx, cancel := context.WithDeadline(jctx, deadline)
	j := &traceJob{cancel: cancel, abortAll: abortAll, done: make(chan struct{})}
	var (
		wg      sync.WaitGroup
		portRS  []hopResult
		portLog hopLog // portRS so far, for the retry to start early
		ctlRS   []hopResult
		ctlKind = "icmp"
		ctlPort = 0
		retry   gapRetry
	)
	portBy := tcpProbe(addr, port)
	portDone := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(portDone)
		defer catch(func(error) { portRS = nil })
		portRS = runProbes(tctx, ttlsUpTo(maxTTL), deadline, portBy, portLog.watch(traceComplete))
	}()
	go func() {
		defer wg.Done()
		defer catch(func(error) { ctlRS, retry = nil, gapRetry{} })
		if !control {
			return
		}
		ctlBy := icmpProbe(addr)
		rs, err := traceICMP(tctx, addr, maxTTL, deadline)
		if err != nil {
			ctlKind, ctlPort = "tcp", controlPort(port)
			ctlBy = tcpProbe(addr, ctlPort)
			rs = traceTCP(tctx, addr, ctlPort, maxTTL, deadline)
		}
		ctlRS = rs
		retry = p.retryGap(jctx, tctx, portDone, addr.Unmap(), portBy, ctlBy, &portLog, ctlRS)
	}()
	go func() {
		defer close(j.done)
		defer abortAll()
		defer catch(func(error) { j.trace, j.ctl = nil, nil })
		wg.Wait()
		cancel()
		target := addr.Unmap()
		if portRS != nil {
			mergeRetry(portRS, retry.portTTLs, retry.port)
			j.trace = buildTrace("tcp", port, target, portRS)
		}
		if ctlRS != nil {
			mergeRetry(ctlRS, retry.ctlTTLs, retry.ctl)
			j.ctl = buildTrace(ctlKind, ctlPort, target, ctlRS)
		}
	}()
	return j
}

// hopLog is a copy of a running trace's answers, readable while it runs.
type hopLog struct {
	mu sync.Mutex
	rs []hopResult
}

// watch wraps a completion test so every new answer is copied here too.
func (l *hopLog) watch(complete func([]hopResult) bool) func([]hopResult) bool {
	return func(rs []hopResult) bool {
		l.mu.Lock()
		l.rs = append(l.rs[:0], rs...)
		l.mu.Unlock()
		return complete(rs)
	}
}

func (l *hopLog) snapshot() []hopResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]hopResult(nil), l.rs...)
}

// gapRetry is what the second probes heard, indexed like their TTLs.
type gapRetry struct {
	portTTLs, ctlTTLs []int
	port, ctl         []hopResult
}

// retryGap asks again, once, at the TTLs where the port's trace is silent
// but the control's trace went on (gapTTLs), port and control at once. A
// lost or late time-exceeded (a busy router or prober, ICMP rate limits on
// real routers) would otherwise read as a filter in the path and send the
// on-call to the wrong firewall; a real path filter is still silent the
// second time.
//
// It starts once the control trace is over and the port's trace has either
// ended (portDone) or had a few of the round trips the traces showed (at
// least a fifth of MinWait) to answer where the control did, and listens as
// long as the first round (primary, the port trace's context) does, or that
// long again if longer.
// So a path filter costs no extra time when the control ends early, as it
// does when the target answers ICMP; only a retry that starts after the
// first round adds its own wait.
func (p *Prober) retryGap(ctx, primary context.Context, portDone <-chan struct{}, target netip.Addr, portBy, ctlBy func(int) pendingHop, portLog *hopLog, ctlRS []hopResult) gapRetry {
	// The round trips the traces showed include this process's own
	// scheduling delay, so a loaded prober waits longer, not less.
	wait := func() time.Duration {
		return max(p.cfg.MinWait/5, 4*slowestAnswer(portLog.snapshot(), ctlRS))
	}
	pause := time.NewTimer(wait())
	select {
	case <-pause.C:
	case <-portDone:
		// The port's trace is over: its answers are all in.
		pause.Stop()
	case <-ctx.Done():
		pause.Stop()
		return gapRetry{}
	}
	g := gapRetry{}
	g.portTTLs, g.ctlTTLs = gapTTLs(portLog.snapshot(), ctlRS, target)
	if len(g.portTTLs) == 0 {
		return gapRetry{}
	}
	ownEnd := time.Now().Add(wait())
	end := ownEnd
	if d, ok := primary.Deadline(); ok && d.After(end) {
		end = d
	}
	rctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	go func() {
		// Stop with the first round (deadline, limit or abort) but
		// never before this round's own wait.
		<-primary.Done()
		t := time.NewTimer(time.Until(ownEnd))
		defer t.Stop()
		select {
		case <-t.C:
		case <-rctx.Done():
		}
		cancel()
	}()
	var wg sync.WaitGroup
	run := func(ttls []int, by func(int) pendingHop, out *[]hopResult) {
		if len(ttls) == 0 {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer catch(func(error) { *out = nil })
			*out = runProbes(rctx, ttls, end, by, allAnswered)
		}()
	}
	run(g.portTTLs, portBy, &g.port)
	run(g.ctlTTLs, ctlBy, &g.ctl)
	wg.Wait()
	return g
}

// abort stops the traces for good: the verdict does not need them.
func (j *traceJob) abort() { j.abortAll() }

// limit ends the traces at t at the latest.
func (j *traceJob) limit(t time.Time) {
	time.AfterFunc(time.Until(t), j.cancel)
}

func (j *traceJob) wait() (*Trace, *Trace) {
	<-j.done
	return j.trace, j.ctl
}

// controlPort picks another commonly open port for a TCP control trace.
func controlPort(port int) int {
	if port == 443 {
		return 80
	}
	return 443
}
