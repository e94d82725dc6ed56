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
	type msg struct {
		i int
		r hopResult
	}
	results := make([]hopResult, maxTTL)
	pend := make([]pendingHop, maxTTL)
	ch := make(chan msg, maxTTL)
	for i := range pend {
		pend[i] = start(i + 1)
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
	for remaining := maxTTL; remaining > 0; {
		select {
		case m := <-ch:
			remaining--
			results[m.i] = m.r
			if !stopped && traceComplete(results) {
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
// from each socket's error queue. No raw socket is needed.
func traceTCP(ctx context.Context, addr netip.Addr, port, maxTTL int, deadline time.Time) *Trace {
	rs := runTrace(ctx, maxTTL, deadline, func(ttl int) pendingHop {
		return tcpHop{startTCP(addr, port, ttl)}
	})
	return buildTrace("tcp", port, addr.Unmap(), rs)
}

// errPingSocketDenied says unprivileged ICMP sockets are not allowed here
// (net.ipv4.ping_group_range excludes our group).
var errPingSocketDenied = errors.New("ICMP datagram sockets not permitted (net.ipv4.ping_group_range)")

// icmpHop is one TTL-limited echo request on an unprivileged ICMP datagram
// socket; time-exceeded lands in its error queue, the reply in its data.
type icmpHop struct {
	sock   *probeSock
	target netip.Addr
	start  time.Time
	early  *hopResult
}

func startICMPHop(addr netip.Addr, ttl int) *icmpHop {
	h := &icmpHop{target: addr.Unmap(), start: time.Now()}
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
	pkt := []byte{echo, 0, 0, 0, 0, 0, 0, byte(ttl), 'p', 'o', 'r', 't', 'c', 'h', 'e', 'c', 'k'}
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
	_ = h.sock.rc.Read(func(fd uintptr) bool {
		if q := drainErrQueue(int(fd)); len(q) > 0 {
			e := pickICMP(q)
			kind := classifyICMP(h.sock.v6, e.Type, e.Code)
			r = hopResult{addr: e.From, kind: string(kind), rtt: time.Since(h.start), answered: true}
			r.terminal = kind != icmpTimeExceeded
			return true
		}
		n, from, err := unix.Recvfrom(int(fd), buf, 0)
		switch {
		case errors.Is(err, unix.EAGAIN), isICMPErrno(err):
			return false // nothing yet, or an errno whose queue entry comes next
		case err != nil:
			r = hopResult{fatal: err}
			return true
		}
		if n < 1 || classifyICMP(h.sock.v6, buf[0], 0) != icmpEchoReply {
			return false
		}
		r = hopResult{addr: sockaddrAddr(from, h.target), kind: string(icmpEchoReply), rtt: time.Since(h.start), answered: true, terminal: true}
		return true
	})
	return r
}

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
func traceICMP(ctx context.Context, addr netip.Addr, maxTTL int, deadline time.Time) (*Trace, error) {
	// One socket first: a denied ping socket fails at socket(2).
	probe := startICMPHop(addr, 1)
	if probe.early != nil && errors.Is(probe.early.fatal, unix.EACCES) {
		probe.wait()
		return nil, errPingSocketDenied
	}
	rs := runTrace(ctx, maxTTL, deadline, func(ttl int) pendingHop {
		if ttl == 1 {
			return probe
		}
		return startICMPHop(addr, ttl)
	})
	return buildTrace("icmp", 0, addr.Unmap(), rs), nil
}
