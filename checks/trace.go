package checks

import (
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

// tcpProbe starts TTL-limited SYNs toward addr:port.
func tcpProbe(addr netip.Addr, port int) func(ttl int) pendingHop {
	return func(ttl int) pendingHop { return tcpHop{startTCP(addr, port, ttl)} }
}

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

// icmpProbe starts TTL-limited echo requests toward addr.
func icmpProbe(addr netip.Addr) func(ttl int) pendingHop {
	return func(ttl int) pendingHop { return startICMPHop(addr, ttl) }
}
