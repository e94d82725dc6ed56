package checks

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"time"
)

// Request is one port to check. Addrs, when set, are probed literally and no
// DNS lookup happens (the policy layer resolved and vetted them already, so
// DNS rebinding cannot slip a different address in).
type Request struct {
	Target string // as typed, for the report
	Host   string // name or literal address, no brackets
	Port   int
	Scheme string       // "https", "ssh", ... when known from the input: picks the protocol probe
	Addrs  []netip.Addr // optional pre-resolved addresses
	Trace  bool         // always trace, not only when the verdict needs it
	// Progress, when set, hears what the check is doing while a port is
	// silent, in words ("no answer yet: asking the path…"): a terminal's
	// live line or a chat's "still listening". It may be called from any
	// goroutine and must not block.
	Progress func(step string) `json:"-"`
}

// Config tunes a Prober. Zero values mean sensible defaults.
type Config struct {
	Timeout time.Duration // overall deadline per port; default 5s
	Vantage string        // name stamped on reports

	Resolver Resolver // default net.DefaultResolver
	// MinWait is the floor of every RTT-derived wait (nmap's
	// min-rtt-timeout idea): a silent port is called filtered after
	// max(MinWait, 4*RTT) once the host answered ping. Default 250ms.
	MinWait time.Duration
	// SilentWait is how long a silent connect waits for a first ping reply
	// before a discovery of the path starts alongside it. Default 1s.
	SilentWait time.Duration
	// ReaskWindow is the longest a silent port is listened to, and its
	// path re-asked, before its verdict: long enough for a router's late
	// host-unreachable (its ARP gives up after ~3 s) and for rate-limited
	// routers to refill an ICMP token for a second and third ask.
	// Default 3.5s (never past Timeout).
	ReaskWindow time.Duration
	MaxTTL      int  // traces go this far; default 30
	PingCount   int  // echo requests per host; default 3
	NoPing      bool // skip ICMP echo entirely
	// PingUnprivileged uses an unprivileged ICMP socket even when raw
	// sockets are allowed (needs net.ipv4.ping_group_range).
	PingUnprivileged bool
	// PingPrivileged uses raw ICMP sockets even when ping sockets are
	// allowed. By default a ping socket is preferred whenever
	// net.ipv4.ping_group_range admits us: the kernel hands each ping socket
	// only its own replies, while every raw ICMP socket receives a copy of
	// every ICMP packet, so N concurrent checks cost N² wake-ups (1,000
	// checks of a filtered port took 17 s with raw sockets, 6.6 s with ping
	// sockets). Raw sockets stay the fallback where ping sockets are refused.
	PingPrivileged bool
	// Concurrency bounds the ports CheckMany probes at once; default 1000
	// (capped by the open-files limit).
	Concurrency int
	// ManyThreshold: CheckMany with more requests than this traces only one
	// representative port per host and outcome. Default 16.
	ManyThreshold int
	// CoalesceWithin: a Check identical to one that started less than
	// this long ago (same host, addresses, port, scheme, trace) waits for
	// that one's report instead of probing again (flights). 0: never; a
	// worker sets it, so a thousand users asking about one port at once
	// cost one probe.
	CoalesceWithin time.Duration
}

// Prober runs the troubleshooting chain: resolve, connect (with ICMP
// detail), ping, trace and banner, then Diagnose.
type Prober struct {
	cfg     Config
	rawOK   bool // may open raw ICMP sockets (pro-bing privileged mode)
	icmpCtl bool // may send TTL-limited ICMP echo as the control probe (ping sockets)
	rawTCP  bool // may read answers' TTLs on a raw TCP socket (CAP_NET_RAW)
	margin  time.Duration
	// budget and paths are shared by every check this Prober runs (a
	// CLI run's ports, a worker's concurrent jobs): what one check spent
	// of a router's ICMP budget, or learned of a path, the next one knows.
	budget  *icmpBudget
	paths   *pathCache
	pings   *pingPool
	flights *flights
	lag     answerLag
	conns   *connPoller // the checks' connects wait here, not in a goroutine each
}

// NewProber builds a Prober.
func NewProber(cfg Config) *Prober {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.MinWait <= 0 {
		cfg.MinWait = 250 * time.Millisecond
	}
	if cfg.SilentWait <= 0 {
		cfg.SilentWait = time.Second
	}
	if cfg.ReaskWindow <= 0 {
		cfg.ReaskWindow = 3500 * time.Millisecond
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = 30
	}
	if cfg.PingCount <= 0 {
		cfg.PingCount = 3
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1000
	}
	if cfg.ManyThreshold <= 0 {
		cfg.ManyThreshold = 16
	}
	// Keep a slice of the deadline to diagnose and talk to the service.
	margin := min(cfg.Timeout/20, 150*time.Millisecond)
	rawOK := canRawICMP() && !cfg.PingUnprivileged && (cfg.PingPrivileged || !canPingSocket())
	return &Prober{cfg: cfg, rawOK: rawOK, icmpCtl: canPingSocket(), rawTCP: canRawICMP(), margin: margin,
		budget: newICMPBudget(nil), paths: newPathCache(nil), pings: newPingPool(), flights: newFlights(), conns: &connPoller{}}
}

// traceMode says when the traces run.
type traceMode int

const (
	traceAuto   traceMode = iota // path questions for a silent port only
	traceAlways                  // Request.Trace: a paced trace to the host too
	traceShared                  // CheckMany ranges: the first silent ports ask, the rest share
)

// Check runs the chain for one port and always returns a Report.
func (p *Prober) Check(ctx context.Context, req Request) Report {
	var rep Report
	p.CheckInto(ctx, &req, &rep)
	return rep
}

// CheckInto is Check writing the Report into rep. A caller that holds
// many silent checks at once (a worker) calls it rather than Check: a
// Report returned by value takes 352 bytes in the frame of every caller
// on the waiting stack.
func (p *Prober) CheckInto(ctx context.Context, req *Request, rep *Report) {
	mode := traceAuto
	if req.Trace {
		mode = traceAlways
	}
	if p.cfg.CoalesceWithin > 0 {
		p.coalesced(ctx, req, mode, rep)
	} else {
		p.checkTo(ctx, req, nil, mode, nil, rep)
	}
}

// preConnect is a connect the range scanner started and hands on with its
// socket: one that looked silent past a few round trips, or answered with
// a handshake (out: the service still has to be talked to). The check
// goes on as if it had opened it: the same start, the same SYN
// retransmissions to time the path questions behind.
type preConnect struct {
	a     *tcpAttempt
	start time.Time   // when its first SYN left
	out   *tcpOutcome // classified already, or nil while it is silent
}

// check is Check with optional per-host sharing (CheckMany) and a connect
// the range scanner started (pre).
func (p *Prober) check(ctx context.Context, req Request, hs *hostState, mode traceMode, pre *preConnect) Report {
	var rep Report
	p.checkTo(ctx, &req, hs, mode, pre, &rep)
	return rep
}

// checkTo is check writing into rep. A silent check waits in its gather,
// below this frame and its callers', for seconds: the report is the
// caller's, not a copy in every frame on the way, and what the check
// holds meanwhile is one heap-allocated checkRun (a worker holding a
// thousand silent checks holds a thousand such stacks; with the evidence
// held by value in this frame each of them grew to 16 KB).
func (p *Prober) checkTo(ctx context.Context, req *Request, hs *hostState, mode traceMode, pre *preConnect, rep *Report) {
	start := time.Now()
	if pre != nil {
		start = pre.start
	}
	p.openReport(req, rep)
	defer func() {
		if v := recover(); v != nil {
			panicked(rep, v)
		}
		rep.ElapsedMS = time.Since(start).Milliseconds()
	}()
	parent := ctx
	ctx, cancel := context.WithDeadline(ctx, start.Add(p.cfg.Timeout))
	defer cancel()
	c := p.prepare(ctx, req, hs, mode, pre, rep)
	if c == nil {
		return // nothing to connect to: rep says why
	}
	defer c.leave()
	c.g = p.gather(ctx, req, c.addr, c.pr, hs, mode, start, c.pre)
	p.report(ctx, parent, req, c, start, rep)
}

// checkRun is what a check holds while its connect is in flight.
type checkRun struct {
	addrs   []netip.Addr
	addr    netip.Addr
	ev      Evidence
	pr      *pingRun
	leave   func()
	ownPing bool
	others  []*tcpAttempt
	pre     *preConnect
	g       *gathered
}

// openReport fills what a report says before anything is probed.
//
//go:noinline
func (p *Prober) openReport(req *Request, rep *Report) {
	*rep = Report{}
	rep.Target, rep.Host, rep.Port, rep.Vantage = req.Target, req.Host, req.Port, p.cfg.Vantage
	rep.Addresses, rep.Trace, rep.Hints = []string{}, []Hop{}, []Hint{}
}

//go:noinline
func panicked(rep *Report, v any) {
	rep.Error = fmt.Sprintf("probe panicked: %v\n%s", v, debug.Stack())
	if rep.Verdict == "" {
		rep.Verdict, rep.Reason = VerdictHostUnreachable, ReasonLocalError
		rep.Summary = "The check failed internally; no verdict could be reached."
	}
}

// prepare resolves the target and starts the ping and the connects to a
// host's other addresses; nil when there is nothing to connect to (rep is
// finished then).
//
//go:noinline
func (p *Prober) prepare(ctx context.Context, req *Request, hs *hostState, mode traceMode, pre *preConnect, rep *Report) *checkRun {
	c := &checkRun{leave: func() {}, ownPing: hs == nil, pre: pre}
	var rr ResolveResult
	if hs != nil {
		c.addrs, rr = hs.resolve(ctx, p.cfg.Resolver, *req)
	} else {
		c.addrs, rr = resolve(ctx, p.cfg.Resolver, *req)
	}
	rep.Addresses = append(rep.Addresses, rr.Addresses...)
	c.ev = Evidence{Target: req.Target, Host: req.Host, Port: req.Port, Resolve: rr}
	if len(c.addrs) == 0 {
		p.finish(rep, c.ev)
		return nil
	}
	c.addr = c.addrs[0]
	rep.Address = c.addr.String()
	if !p.cfg.NoPing {
		o := p.pingOptions()
		o.Delay = p.cfg.MinWait / 5
		if hs != nil {
			c.pr = hs.pingFor(ctx, c.addr, o, p.cfg.Timeout)
		} else {
			// Concurrent checks of this address share one run.
			c.pr, c.leave = p.pings.join(c.addr, o, p.cfg.Timeout)
		}
	}
	if mode != traceShared {
		for _, o := range c.addrs[1:] {
			c.others = append(c.others, startTCP(o, req.Port, 0))
		}
	}
	if pre != nil && pre.a.addr != c.addr.Unmap() {
		pre.a.cancel() // not the address the scanner dialled: start afresh
		pre.a.wait(false)
		c.pre = nil
	}
	return c
}

// report diagnoses what the check gathered into rep.
//
//go:noinline
func (p *Prober) report(ctx, parent context.Context, req *Request, c *checkRun, start time.Time, rep *Report) {
	ev, g := &c.ev, c.g
	ev.Connect = connectResult(c.addr, g.out)
	ev.Service = g.svc
	ev.Trace, ev.ControlTrace, ev.Path = g.evidence(c.addr, req.Port)
	if len(c.others) > 0 {
		rep.Others = p.collectOthers(ctx, c.addrs[1:], c.others, start)
	}
	if c.pr != nil {
		var ping PingResult
		if c.ownPing {
			ping = p.stopPing(ctx, c.pr, g.out, c.leave)
		} else {
			ping = c.pr.snapshot()
		}
		if ping.Sent > 0 || ping.Error != "" {
			ev.Ping = &ping
		} // else the port answered before the ping was due: not run
	}
	p.finish(rep, *ev)
	if parent.Err() != nil && !conclusive(rep) {
		rep.Error = "interrupted before the port answered: the verdict rests on a shortened wait"
	}
}

func (p *Prober) pingOptions() pingOptions {
	return pingOptions{Count: p.cfg.PingCount, Interval: 200 * time.Millisecond, Privileged: p.rawOK}
}

// stopPing gives a check's ping run a short grace to hear its first reply
// after a fast verdict (a reply is a round trip away), then leaves it (the
// last check out stops it).
func (p *Prober) stopPing(ctx context.Context, pr *pingRun, out tcpOutcome, leave func()) PingResult {
	// Only after a fast answer: a late one (a router's ARP timeout) says
	// nothing about how soon an echo reply could come.
	grace := min(3*out.RTT+5*time.Millisecond, p.cfg.MinWait/5)
	if !out.answered() || out.RTT > p.cfg.MinWait || pr.snapshot().Sent == 0 {
		grace = 0
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-pr.replied:
	case <-t.C:
	case <-ctx.Done():
	}
	snap := pr.snapshot()
	leave()
	return snap
}

// collectOthers gives the host's other addresses until the floor wait (or
// what is left of the deadline) to answer.
func (p *Prober) collectOthers(ctx context.Context, addrs []netip.Addr, as []*tcpAttempt, start time.Time) []ConnectResult {
	dl := start.Add(p.cfg.MinWait)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	out := make([]ConnectResult, len(as))
	for i, a := range as {
		a.setDeadline(dl)
		out[i] = *connectResult(addrs[i], a.wait(false))
	}
	return out
}

// finish diagnoses and fills the report's contract fields.
func (p *Prober) finish(rep *Report, ev Evidence) {
	d := Diagnose(ev)
	rep.Verdict, rep.Reason, rep.ReportedBy, rep.LastHop = d.Verdict, d.Reason, d.ReportedBy, d.LastHop
	rep.Summary, rep.Hints, rep.Confidence, rep.Likely = d.Summary, d.Hints, d.Confidence, d.Likely
	rep.Service, rep.Ping, rep.Connect, rep.ControlTrace, rep.Path = ev.Service, ev.Ping, ev.Connect, ev.ControlTrace, ev.Path
	if ev.Trace != nil {
		rep.Trace = ev.Trace.Hops
	}
	if ev.Resolve.Error != "" && rep.Error == "" && !ev.Resolve.NotFound {
		rep.Error = ev.Resolve.Error
	}
}
