package checks

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tcpOutcome is what one connect socket saw.
type tcpOutcome struct {
	Reason Reason
	Kind   string     // hop word: "syn-ack", "reset", "time-exceeded", "port-unreachable", ...
	ICMP   *ICMP      // the error-queue entry, when there was one
	From   netip.Addr // who answered: the target for SYN-ACK/RST, the ICMP sender otherwise
	RTT    time.Duration
	TTL    int      // the answer's IP TTL, when a raw socket could read it (ttlWatch)
	Err    error    // local failure, for ReasonLocalError
	Conn   net.Conn // the established connection, only when asked to keep it
	// ResetAfterAccept: the handshake completed, then the peer reset the
	// connection before we looked (a service refusing right after accept).
	ResetAfterAccept bool
}

// answered says whether anything came back.
func (o tcpOutcome) answered() bool {
	return o.Reason != ReasonNoResponse && o.Reason != ReasonLocalError && o.Reason != ReasonNoRoute
}

// tcpAttempt is one connect in flight.
type tcpAttempt struct {
	sock  *probeSock
	addr  netip.Addr
	start time.Time
	early *tcpOutcome // outcome known at connect(2) time

	infoMu sync.Mutex // guards info, deadline and watcher: several path questions watch one connect
	info   *infoRead
	// deadline is the wait's end (setDeadline); watcher, while the
	// Prober's connPoller waits for this connect, is that wait, which
	// then owns the deadline.
	deadline time.Time
	watcher  *connWait
}

// startTCP sends a SYN to addr:port (with the given TTL when ttl > 0)
// without raw sockets. The caller must call wait exactly once.
func startTCP(addr netip.Addr, port, ttl int) *tcpAttempt {
	a := &tcpAttempt{addr: addr.Unmap(), start: time.Now()}
	s, err := openProbeSock(a.addr, unix.SOCK_STREAM, unix.IPPROTO_TCP, ttl, port)
	if err != nil {
		o := immediateOutcome(err)
		a.early = &o
		return a
	}
	a.sock = s
	if ttl > 0 {
		// A trace probe that reaches an open port completes a handshake;
		// close it with a RST so the service sees as little as possible.
		_ = unix.SetsockoptLinger(s.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	return a
}

// immediateOutcome maps an error from socket/connect to an outcome.
func immediateOutcome(err error) tcpOutcome {
	var imm *errImmediate
	if errors.As(err, &imm) {
		switch imm.Errno {
		case unix.ENETUNREACH, unix.EHOSTUNREACH:
			return tcpOutcome{Reason: ReasonNoRoute, Kind: "no-route", Err: err}
		case unix.EACCES, unix.EPERM:
			return tcpOutcome{Reason: ReasonLocalError, Err: fmt.Errorf("blocked by this machine's own firewall or policy: %w", err)}
		}
	}
	return tcpOutcome{Reason: ReasonLocalError, Err: err}
}

// cancel wakes wait at once; the outcome is no-response unless an answer
// already arrived.
func (a *tcpAttempt) cancel() {
	a.setDeadline(time.Unix(1, 0))
}

// setDeadline moves the wait's end; it may be called while wait (or the
// connPoller's watch) waits.
func (a *tcpAttempt) setDeadline(t time.Time) {
	if a.sock == nil {
		return
	}
	a.infoMu.Lock()
	a.deadline = t
	w := a.watcher
	a.infoMu.Unlock()
	if w != nil {
		w.setDeadline(t)
		return
	}
	a.sock.setDeadline(t)
}

// retransmits is how many times the kernel has resent the SYN so far;
// ok is false once the socket is gone. It is polled every few
// milliseconds around each SYN retransmission (afterSYN), so it allocates
// nothing after the first call.
func (a *tcpAttempt) retransmits() (n uint32, ok bool) {
	if a.sock == nil {
		return 0, false
	}
	a.infoMu.Lock()
	defer a.infoMu.Unlock()
	if a.info == nil {
		w := &infoRead{}
		w.fn = func(fd uintptr) { w.err = tcpInfo(int(fd), &w.ti) }
		a.info = w
	}
	if err := a.sock.rc.Control(a.info.fn); err != nil || a.info.err != nil {
		return 0, false
	}
	return a.info.ti.Total_retrans, true
}

// infoRead is a TCP_INFO read kept for reuse: rc.Control's callback
// escapes, and one per poll was garbage.
type infoRead struct {
	ti  unix.TCPInfo
	err error
	fn  func(fd uintptr)
}

// tcpInfo reads TCP_INFO into ti. Not unix.GetsockoptTCPInfo: that
// allocates a TCPInfo per call, and a silent check polls its connect
// every few milliseconds around each SYN retransmission (afterSYN): in an
// allocation profile of a worker holding 1,000 of them those reads were
// the largest source of garbage.
func tcpInfo(fd int, ti *unix.TCPInfo) error {
	l := uint32(unsafe.Sizeof(*ti))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO, uintptr(unsafe.Pointer(ti)), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// wait blocks until the connect resolves or the deadline passes, then
// closes the socket. With keep, a SYN-ACK hands back the live connection.
func (a *tcpAttempt) wait(keep bool) tcpOutcome {
	if a.early != nil {
		return *a.early
	}
	defer a.sock.Close()
	var out tcpOutcome
	got := false
	// The first call happens before any wait and must look: the netpoller
	// forgets readiness that arrived before the wait began.
	err := a.sock.rc.Write(func(fd uintptr) bool {
		if !pollNow(int(fd)) {
			return false // still in SYN_SENT: let the netpoller wait
		}
		out, got = settledTCP(int(fd), a.addr, a.sock.v6)
		return got
	})
	if !got {
		// Deadline or cancel: one last look, an ICMP may have just landed.
		out, got = a.lookNow()
	}
	if !got {
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return tcpOutcome{Reason: ReasonLocalError, Err: fmt.Errorf("wait: %w", err), RTT: time.Since(a.start)}
		}
		return tcpOutcome{Reason: ReasonNoResponse, Kind: ""}
	}
	return a.settle(out, keep)
}

// lookNow classifies the connect if its socket has an event now. Through
// Control: the file's own reference keeps the fd from being closed (and
// its number reused) under the look.
func (a *tcpAttempt) lookNow() (out tcpOutcome, got bool) {
	_ = a.sock.rc.Control(func(fd uintptr) {
		if pollNow(int(fd)) {
			out, got = settledTCP(int(fd), a.addr, a.sock.v6)
		}
	})
	return out, got
}

// settle stamps a classified outcome with its round trip and, with keep,
// hands a SYN-ACK's live connection back.
func (a *tcpAttempt) settle(out tcpOutcome, keep bool) tcpOutcome {
	out.RTT = time.Since(a.start)
	return a.keepConn(out, keep)
}

func (a *tcpAttempt) keepConn(out tcpOutcome, keep bool) tcpOutcome {
	if keep && out.Reason == ReasonSynAck {
		c, err := net.FileConn(a.sock.f) // dups the fd; ours closes on return
		if err == nil {
			out.Conn = c
		}
	}
	return out
}

// adopted is the outcome of a connect the range scanner classified
// already (a SYN-ACK: the service still has to be talked to; its RTT is
// the scanner's); it closes the socket.
func (a *tcpAttempt) adopted(out tcpOutcome, keep bool) tcpOutcome {
	defer a.sock.Close()
	return a.keepConn(out, keep)
}

// pollNow says whether the connect on fd has an event now (poll with no
// timeout).
func pollNow(fd int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	return pollReady(func() (int, error) { return unix.Poll(pfd, 0) })
}

// pollReady runs poll until it is not interrupted and says whether it
// saw an event. A signal (the Go runtime preempts goroutines with
// SIGURG, often under load) makes poll fail with EINTR and n = -1 when
// nothing is ready: that is "not yet", never an answer. Read as an
// answer, SO_ERROR 0 and an empty error queue said syn-ack, and a
// DROPped port came out open with confidence high (1 check in 500 in
// TestLabConcurrent).
func pollReady(poll func() (int, error)) bool {
	for {
		n, err := poll()
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return n > 0
	}
}

// settledTCP classifies a connect whose socket showed an event, and says
// false when the connect is in fact still waiting for its answer: a
// socket still in SYN_SENT has had no SYN-ACK, whatever woke us (an
// error-queue entry another reader took, a spurious wake-up), so a
// "syn-ack" read from it would be a wrong, confident "open".
func settledTCP(fd int, addr netip.Addr, v6 bool) (tcpOutcome, bool) {
	out := classifyTCP(fd, addr, v6)
	if out.Reason == ReasonSynAck && !out.ResetAfterAccept && synSent(fd) {
		return tcpOutcome{}, false
	}
	return out, true
}

// tcpSynSent is TCP_SYN_SENT in the kernel's TCP states
// (include/net/tcp_states.h), as TCP_INFO reports them.
const tcpSynSent = 2

// synSent says whether the socket is still in SYN_SENT (TCP_INFO).
func synSent(fd int) bool {
	var ti unix.TCPInfo
	return tcpInfo(fd, &ti) == nil && ti.State == tcpSynSent
}

// classifyTCP reads SO_ERROR and the error queue of a finished connect.
// The queue is what tells a RST from an ICMP port-unreachable (both are
// ECONNREFUSED) and admin-prohibited from time-exceeded (both EHOSTUNREACH).
func classifyTCP(fd int, addr netip.Addr, v6 bool) tcpOutcome {
	soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return tcpOutcome{Reason: ReasonLocalError, Err: fmt.Errorf("SO_ERROR: %w", err)}
	}
	return classifyAnswer(soerr, drainErrQueue(fd), addr, v6)
}

// classifyAnswer reads a finished connect's SO_ERROR and error queue.
func classifyAnswer(soerr int, q []queuedICMP, addr netip.Addr, v6 bool) tcpOutcome {
	if len(q) > 0 {
		e := pickICMP(q)
		kind := classifyICMP(v6 || e.Origin == unix.SO_EE_ORIGIN_ICMP6, e.Type, e.Code)
		return tcpOutcome{
			Reason: kind.reason(),
			Kind:   string(kind),
			ICMP:   &ICMP{Type: e.Type, Code: e.Code, From: addrString(e.From)},
			From:   e.From,
		}
	}
	switch syscall.Errno(soerr) {
	case 0:
		return tcpOutcome{Reason: ReasonSynAck, Kind: "syn-ack", From: addr}
	case unix.ECONNREFUSED:
		return tcpOutcome{Reason: ReasonReset, Kind: "reset", From: addr}
	case unix.ECONNRESET, unix.EPIPE:
		// A RST in SYN_SENT is ECONNREFUSED; ECONNRESET means it came
		// after the handshake.
		return tcpOutcome{Reason: ReasonSynAck, Kind: "syn-ack", From: addr, ResetAfterAccept: true}
	case unix.ENETUNREACH:
		return tcpOutcome{Reason: ReasonNoRoute, Kind: "no-route", Err: syscall.Errno(soerr)}
	case unix.EHOSTUNREACH:
		// No ICMP in the queue: our own neighbour resolution gave up.
		return tcpOutcome{Reason: ReasonICMPHostUnreachable, Kind: string(icmpHostUnreach)}
	case unix.ETIMEDOUT:
		return tcpOutcome{Reason: ReasonNoResponse}
	}
	return tcpOutcome{Reason: ReasonLocalError, Err: fmt.Errorf("connect: %w", syscall.Errno(soerr))}
}

// pickICMP prefers a definitive error over a time-exceeded when a queue
// holds both (a retransmitted SYN can collect one of each).
func pickICMP(q []queuedICMP) queuedICMP {
	for _, e := range q {
		if !(e.Type == 11 && e.Origin == unix.SO_EE_ORIGIN_ICMP) && !(e.Type == 3 && e.Origin == unix.SO_EE_ORIGIN_ICMP6) {
			return e
		}
	}
	return q[0]
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// connectResult turns an outcome into the report's ConnectResult.
func connectResult(addr netip.Addr, o tcpOutcome) *ConnectResult {
	c := &ConnectResult{Address: addr.Unmap().String(), Reason: o.Reason, ICMP: o.ICMP, ReportedBy: addrString(o.From)}
	if o.answered() {
		c.RTTMS = ms(o.RTT)
	}
	c.TTL = o.TTL
	if o.Err != nil {
		c.Error = o.Err.Error()
	}
	return c
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
