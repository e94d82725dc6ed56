package checks

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// hopResult is what the probe sent with one TTL saw.
type hopResult struct {
	addr     netip.Addr
	kind     string // time-exceeded, syn-ack, reset, echo-reply, port-unreachable, ...
	rtt      time.Duration
	answered bool
	terminal bool  // the probe got past the path: destination answered or a router refused it
	fatal    error // nothing can leave (no route): stop the whole trace
}

// pendingHop is one TTL in flight.
type pendingHop interface {
	wait() hopResult
	setDeadline(time.Time)
}

// runTrace sends one probe per TTL 1..maxTTL all at once and collects the
// answers until the path is complete (a terminal answer at TTL d and every
// TTL below d answered), the deadline passes or ctx ends. The result is
// indexed by TTL-1.
func runTrace(ctx context.Context, maxTTL int, deadline time.Time, start func(ttl int) pendingHop) []hopResult {
	return runProbes(ctx, ttlsUpTo(maxTTL), deadline, start, traceComplete)
}

// ttlsUpTo is 1..n.
func ttlsUpTo(n int) []int {
	ttls := make([]int, n)
	for i := range ttls {
		ttls[i] = i + 1
	}
	return ttls
}

// runProbes sends one probe per listed TTL all at once and collects the
// answers (indexed like ttls) until complete says nothing more is worth
// waiting for, the deadline passes or ctx ends.
func runProbes(ctx context.Context, ttls []int, deadline time.Time, start func(ttl int) pendingHop, complete func([]hopResult) bool) []hopResult {
	type msg struct {
		i int
		r hopResult
	}
	results := make([]hopResult, len(ttls))
	pend := make([]pendingHop, len(ttls))
	ch := make(chan msg, len(ttls))
	for i, ttl := range ttls {
		pend[i] = start(ttl)
		pend[i].setDeadline(deadline)
		go func(i int) {
			defer catch(func(err error) { ch <- msg{i, hopResult{fatal: err}} })
			ch <- msg{i, pend[i].wait()}
		}(i)
	}
	stopAll := func() {
		for _, p := range pend {
			p.setDeadline(time.Unix(1, 0))
		}
	}
	stopped := false
	for remaining := len(ttls); remaining > 0; {
		select {
		case m := <-ch:
			remaining--
			results[m.i] = m.r
			if !stopped && complete(results) {
				stopAll()
				stopped = true
			}
		case <-ctx.Done():
			if !stopped {
				stopAll()
				stopped = true
			}
		}
	}
	return results
}

// traceComplete reports whether nothing more is worth waiting for.
func traceComplete(rs []hopResult) bool {
	for _, r := range rs {
		if r.fatal != nil {
			return true
		}
		if r.terminal {
			return true
		}
		if !r.answered {
			return false
		}
	}
	return false
}

// buildTrace trims the per-TTL results into hops: up to the first terminal
// answer, or one silent hop past the farthest answer (where it stopped).
func buildTrace(proto string, port int, target netip.Addr, rs []hopResult) *Trace {
	t := &Trace{Proto: proto, Port: port, Hops: []Hop{}}
	limit, last, ended := len(rs), -1, false
	for i, r := range rs {
		if r.terminal {
			limit, ended = i+1, true
			break
		}
		if r.answered {
			last = i
		}
	}
	if !ended && last+2 < limit {
		limit = last + 2
	}
	for i := 0; i < limit; i++ {
		r := rs[i]
		h := Hop{TTL: i + 1}
		if r.answered {
			h.Address, h.RTTMS, h.ICMP = addrString(r.addr), ms(r.rtt), r.kind
			if r.terminal && r.addr == target {
				t.Reached = true
			}
		}
		t.Hops = append(t.Hops, h)
	}
	return t
}

// tcpHop adapts a TTL-limited connect to pendingHop.
type tcpHop struct{ a *tcpAttempt }

func (h tcpHop) setDeadline(t time.Time) { h.a.setDeadline(t) }

func (h tcpHop) wait() hopResult {
	o := h.a.wait(false)
	r := hopResult{addr: o.From, kind: o.Kind, rtt: o.RTT, answered: o.answered()}
	switch {
	case o.Reason == ReasonNoRoute:
		r.fatal = o.Err
		if r.fatal == nil {
			r.fatal = errors.New("no route")
		}
	case r.answered && o.Reason != ReasonICMPTimeExceeded:
		r.terminal = true
	}
	return r
}

// traceTCP is a TCP SYN traceroute toward addr:port using connect sockets
// with increasing IP_TTL: every TTL in flight at once, time-exceeded read
// from each socket's error queue. No raw socket is needed. The results are
// indexed by TTL-1, for buildTrace.
func traceTCP(ctx context.Context, addr netip.Addr, port, maxTTL int, deadline time.Time) []hopResult {
	return runTrace(ctx, maxTTL, deadline, tcpProbe(addr, port))
}

// tcpProbe starts TTL-limited SYNs toward addr:port.
func tcpProbe(addr netip.Addr, port int) func(ttl int) pendingHop {
	return func(ttl int) pendingHop { return tcpHop{startTCP(addr, port, ttl)} }
}

// errPingSocketDenied says unprivileged ICMP sockets are not allowed here
// (net.ipv4.ping_group_range excludes our group).
var errPingSocketDenied = errors.New("ICMP datagram sockets not permitted (net.ipv4.ping_group_range)")

// icmpHop is one TTL-limited echo request on an unprivileged ICMP datagram
// socket; time-exceeded lands in its error queue, the reply in its data.
type icmpHop struct {
	sock   *probeSock
	target netip.Addr
	ttl    int // also the echo sequence number, to recognise the reply
	start  time.Time
	early  *hopResult
}

func startICMPHop(addr netip.Addr, ttl int) *icmpHop {
	h := &icmpHop{target: addr.Unmap(), ttl: ttl, start: time.Now()}
	proto, echo := unix.IPPROTO_ICMP, byte(8)
	if h.target.Is6() {
		proto, echo = unix.IPPROTO_ICMPV6, 128
	}
	s, err := openProbeSock(h.target, unix.SOCK_DGRAM, proto, ttl, 0)
	if err != nil {
		h.early = &hopResult{fatal: err}
		return h
	}
	h.sock = s
	// The kernel fills in the identifier and checksum of ping sockets.
	pkt := append([]byte{echo, 0, 0, 0, 0, 0, 0, byte(ttl)}, icmpHopPayload...)
	if _, err := unix.Write(s.fd, pkt); err != nil {
		h.early = &hopResult{fatal: err}
	}
	return h
}

func (h *icmpHop) setDeadline(t time.Time) {
	if h.sock != nil {
		h.sock.setDeadline(t)
	}
}

func (h *icmpHop) wait() hopResult {
	if h.sock != nil {
		defer h.sock.Close()
	}
	if h.early != nil {
		return *h.early
	}
	var r hopResult
	buf := make([]byte, 512)
	look := func(fd uintptr) bool {
		for {
			if q := drainErrQueue(int(fd)); len(q) > 0 {
				e := pickICMP(q)
				kind := classifyICMP(h.sock.v6, e.Type, e.Code)
				r = hopResult{addr: e.From, kind: string(kind), rtt: time.Since(h.start), answered: true}
				r.terminal = kind != icmpTimeExceeded
				return true
			}
			n, from, err := unix.Recvfrom(int(fd), buf, 0)
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false // nothing yet
			case isICMPErrno(err):
				continue // the errno of an error-queue entry: read the entry
			case err != nil:
				r = hopResult{fatal: err}
				return true
			}
			if !h.ours(buf[:n]) {
				continue // not the reply to this probe: keep draining
			}
			r = hopResult{addr: sockaddrAddr(from, h.target), kind: string(icmpEchoReply), rtt: time.Since(h.start), answered: true, terminal: true}
			return true
		}
	}
	if err := h.sock.rc.Read(look); err != nil && !r.answered && r.fatal == nil {
		// Deadline passed, possibly before this goroutine first ran (the
		// netpoller then never calls look): under load the answer is
		// often sitting in the socket already. One last look, as
		// tcpAttempt.wait does, or a busy process reads its own
		// scheduling delay as a silent hop.
		_ = h.sock.rc.Control(func(fd uintptr) { look(fd) })
	}
	return r
}

// ours tells this probe's echo reply from a stray one: the kernel routes
// echo replies to a ping socket by identifier alone, so a raw-socket pinger
// (pro-bing, privileged) whose random identifier matches ours delivers its
// replies here too. Taking one for ours would place the target at the wrong
// TTL.
func (h *icmpHop) ours(pkt []byte) bool {
	if len(pkt) < 8+len(icmpHopPayload) || classifyICMP(h.target.Is6(), pkt[0], 0) != icmpEchoReply {
		return false
	}
	return pkt[6] == 0 && pkt[7] == byte(h.ttl) && string(pkt[8:8+len(icmpHopPayload)]) == icmpHopPayload
}

// icmpHopPayload marks the control trace's echo requests.
const icmpHopPayload = "portcheck"

// isICMPErrno: a ping socket also reports the ICMP error as a read errno;
// the error queue is the real source, so those are not failures.
func isICMPErrno(err error) bool {
	return err != nil && (errors.Is(err, unix.EHOSTUNREACH) || errors.Is(err, unix.ENETUNREACH) ||
		errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.EACCES))
}

func sockaddrAddr(sa unix.Sockaddr, fallback netip.Addr) netip.Addr {
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(s.Addr)
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(s.Addr).Unmap()
	}
	return fallback
}

// traceICMP is the control trace: ICMP echo with increasing TTL. It tells a
// port-specific filter at hop k from a path that is dead for everything.
// The results are indexed by TTL-1, for buildTrace.
func traceICMP(ctx context.Context, addr netip.Addr, maxTTL int, deadline time.Time) ([]hopResult, error) {
	// One socket first: a denied ping socket fails at socket(2).
	probe := startICMPHop(addr, 1)
	if probe.early != nil && errors.Is(probe.early.fatal, unix.EACCES) {
		probe.wait()
		return nil, errPingSocketDenied
	}
	return runTrace(ctx, maxTTL, deadline, func(ttl int) pendingHop {
		if ttl == 1 {
			return probe
		}
		return startICMPHop(addr, ttl)
	}), nil
}

// icmpProbe starts TTL-limited echo requests toward addr.
func icmpProbe(addr netip.Addr) func(ttl int) pendingHop {
	return func(ttl int) pendingHop { return startICMPHop(addr, ttl) }
}

// gapTTLs says which TTLs to ask again before silence is read as a filter
// in the path: the port trace (port, indexed by TTL-1) died without an end
// before the control trace (ctl) did, and both are per-TTL answers that can
// be lost (a busy router or prober, ICMP rate limits). It returns the port's
// TTLs from just past its last answer to the hop before where the control
// ends (the target, or its farthest answer when it never got there), and
// the control's silent TTLs in that same stretch, whose answers could move
// the target nearer or show a router there. Nothing when the port trace
// ended on its own (an answer from the target or a router's refusal) or
// went at least as far as the control.
func gapTTLs(port, ctl []hopResult, target netip.Addr) (portTTLs, ctlTTLs []int) {
	last := 0 // the port trace's last answering TTL
	for i, r := range port {
		if r.terminal || r.fatal != nil {
			return nil, nil
		}
		if r.answered {
			last = i + 1
		}
	}
	end := 0 // the farthest TTL the control says the port could answer at
	for i, r := range ctl {
		if r.fatal != nil {
			break
		}
		if r.terminal && r.addr == target {
			end = i // the target itself: the port's last router is the hop before
			break
		}
		if r.answered {
			end = i + 1
		}
		if r.terminal {
			break
		}
	}
	for ttl := last + 1; ttl <= end; ttl++ {
		portTTLs = append(portTTLs, ttl)
		if !ctl[ttl-1].answered {
			ctlTTLs = append(ctlTTLs, ttl)
		}
	}
	return portTTLs, ctlTTLs
}

// mergeRetry fills the unanswered TTLs of rs with what a second probe at
// those TTLs (ttls, answers indexed alike) heard.
func mergeRetry(rs []hopResult, ttls []int, again []hopResult) {
	if len(again) != len(ttls) {
		return // the retry did not run, or failed
	}
	for i, ttl := range ttls {
		if ttl >= 1 && ttl <= len(rs) && !rs[ttl-1].answered && again[i].answered {
			rs[ttl-1] = again[i]
		}
	}
}

// allAnswered: a retry is over once every probe it sent heard something.
func allAnswered(rs []hopResult) bool {
	for _, r := range rs {
		if !r.answered && r.fatal == nil {
			return false
		}
	}
	return true
}

// slowestAnswer is the longest round trip among answered probes.
func slowestAnswer(sets ...[]hopResult) time.Duration {
	var d time.Duration
	for _, rs := range sets {
		for _, r := range rs {
			if r.answered {
				d = max(d, r.rtt)
			}
		}
	}
	return d
}
