package checks

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// scanner is CheckEach's fast path for big batches (ranges, long lists):
// one goroutine keeps a window of connect sockets in its own epoll set,
// the way nmap's connect scan keeps a window of sockets, instead of a
// goroutine, a netpoller registration and a Report per port. A port that
// answers with a reset or an ICMP error, or cannot be sent at all, is
// settled there and then: the scanner books what check would have booked
// (the answer's RTT for the host, the ICMP error against its sender's
// budget) and keeps a compact record (quickResult) the report is made of
// when its turn comes to be printed.
//
// Everything else goes on to the full check (Prober.check) with its
// socket: a handshake (the service is to be talked to) at once, and a
// connect still silent a few round trips after its SYN. That check goes on
// as if it had opened the connect itself (same start, same SYN
// retransmissions to follow with the path questions), so a port's verdict
// in a range is the one it gets alone. Those checks are bounded by the
// concurrency cap; the window of unanswered connects adapts (scanWindow).
type scanner struct {
	p     *Prober
	ctx   context.Context
	reqs  []Request
	out   *ordered
	hosts map[string]*hostState

	ep, wake int // the epoll set; an eventfd in it that wakes the loop
	events   []unix.EpollEvent
	slots    []scanSlot
	free     []int32
	pend     []pendingSlot // connects awaiting an answer, in send order
	pendHead int
	inflight int       // connects in the epoll set
	nextSend time.Time // not before: the send delay drops imposed

	spare [2][]int // sockets a reset closed, to reuse: IPv4, IPv6
	eq    errQueueReader

	win  *scanWindow
	full chan struct{} // a slot per full check running (the concurrency cap)
	wg   sync.WaitGroup
}

// scanSlot is one connect in the epoll set.
type scanSlot struct {
	fd    int
	seq   uint32 // bumped on reuse, so a stale pendingSlot is recognised
	idx   int    // the request
	live  bool
	v6    bool
	start time.Time
	hs    *hostState
	addr  netip.Addr
}

type pendingSlot struct {
	slot int32
	seq  uint32
	due  time.Time // hand it to the full check if it is still silent then
}

// sendBatch bounds how many connects go out before the loop reaps answers:
// on a fast path the answers are in before connect(2) returns, and a few
// live sockets cost the kernel less than a thousand.
const sendBatch = 64

func newScanner(ctx context.Context, p *Prober, reqs []Request, out *ordered, conc int) (*scanner, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(ep)
		return nil, err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake), Pad: -1}); err != nil {
		unix.Close(ep)
		unix.Close(wake)
		return nil, err
	}
	return &scanner{p: p, ctx: ctx, reqs: reqs, out: out, hosts: map[string]*hostState{},
		ep: ep, wake: wake, events: make([]unix.EpollEvent, 256),
		win: newScanWindow(conc), full: make(chan struct{}, conc)}, nil
}

// wakeUp interrupts the loop's epoll_wait (a full check ended, ctx ended).
func (s *scanner) wakeUp() {
	var one = [8]byte{1}
	_, _ = unix.Write(s.wake, one[:])
}

// run checks every request, then waits for the full checks it started.
func (s *scanner) run() {
	stop := context.AfterFunc(s.ctx, s.wakeUp)
	defer stop()
	next := 0
	for {
		if s.ctx.Err() != nil {
			s.abandon(next)
			break
		}
		s.handOff(time.Now())
		for sent := 0; next < len(s.reqs) && sent < sendBatch && s.roomToSend(time.Now()); sent++ {
			s.send(next)
			next++
			if d := s.win.sendDelay(); d > 0 {
				s.nextSend = time.Now().Add(d)
			}
		}
		if next == len(s.reqs) && s.inflight == 0 {
			break
		}
		timeout := 0
		if now := time.Now(); next == len(s.reqs) || !s.roomToSend(now) {
			timeout = s.untilDue(now)
			if next < len(s.reqs) && s.hasRoom() && s.nextSend.After(now) {
				timeout = minTimeout(timeout, msCeil(s.nextSend.Sub(now)))
			}
		}
		var n int
		var err error
		if timeout == 0 {
			var e syscall.Errno
			if n, e = rawPoll(s.ep, s.events); e != 0 {
				err = e
			}
		} else {
			n, err = unix.EpollWait(s.ep, s.events, timeout)
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			// The epoll set itself failed: let the full checks take
			// what is left, one goroutine each, as before the scanner.
			s.fallBack(next)
			next = len(s.reqs)
			continue
		}
		for _, e := range s.events[:max(n, 0)] {
			if e.Pad < 0 {
				var b [8]byte
				_, _ = unix.Read(s.wake, b[:])
				continue
			}
			s.answered(int(e.Pad), int(e.Fd))
		}
		s.out.nudge()
	}
	for _, fds := range s.spare {
		for _, fd := range fds {
			rawClose(fd)
		}
	}
	s.wg.Wait()
	unix.Close(s.ep)
	unix.Close(s.wake)
}

// roomToSend: the window has room for another unanswered connect, the
// full checks have room for it should it need one, and the send delay (if
// drops imposed one) has passed.
func (s *scanner) roomToSend(now time.Time) bool {
	return s.hasRoom() && !s.nextSend.After(now)
}

func (s *scanner) hasRoom() bool {
	return s.inflight < s.win.size() && len(s.full)+s.inflight < cap(s.full)
}

// untilDue is epoll_wait's timeout in ms: until the oldest silent connect
// is due for the full check, or -1 (only the eventfd can help).
func (s *scanner) untilDue(now time.Time) int {
	for s.pendHead < len(s.pend) {
		ps := s.pend[s.pendHead]
		sl := &s.slots[ps.slot]
		if !sl.live || sl.seq != ps.seq {
			s.pendHead++
			continue
		}
		if len(s.full) == cap(s.full) {
			return -1 // due or not, it waits for a full check to end
		}
		return msCeil(ps.due.Sub(now))
	}
	return -1
}

func msCeil(d time.Duration) int {
	return int(max(d+time.Millisecond-1, 0) / time.Millisecond)
}

// minTimeout is the sooner of two epoll timeouts (-1: none).
func minTimeout(a, b int) int {
	if a < 0 {
		return b
	}
	if b < 0 {
		return a
	}
	return min(a, b)
}

// host is the shared state of r's host, resolved, with the ping started.
func (s *scanner) host(r Request) *hostState {
	key := hostKey(r)
	hs := s.hosts[key]
	if hs == nil {
		hs = &hostState{}
		s.hosts[key] = hs
	}
	addrs, _ := hs.resolve(s.ctx, s.p.cfg.Resolver, r)
	if len(addrs) > 0 && !hs.scanReady {
		hs.scanReady = true
		hs.addrText = addrs[0].String()
		hs.raw = newRawAddr(addrs[0].Unmap())
		if !s.p.cfg.NoPing {
			o := s.p.pingOptions()
			o.Delay = s.p.cfg.MinWait / 5
			hs.pingFor(s.ctx, addrs[0], o, s.p.cfg.Timeout)
		}
	}
	return hs
}

// send starts request i: a connect in the epoll set, or a full check for
// what the scanner does not do (--trace, a name that did not resolve).
func (s *scanner) send(i int) {
	r := s.reqs[i]
	hs := s.host(r)
	if len(hs.addrs) == 0 {
		s.out.setFull(i, s.p.check(s.ctx, r, hs, traceShared, nil)) // the resolver's answer, no packet
		return
	}
	if r.Trace {
		s.startFull(i, r, hs, traceAlways, nil)
		return
	}
	addr := hs.addrs[0].Unmap()
	start := time.Now()
	fd, reused, err := s.dial(hs, r.Port)
	if err != nil {
		s.settle(i, hs, addr, start, immediateOutcome(err))
		return
	}
	slot := s.slot()
	sl := &s.slots[slot]
	sl.fd, sl.idx, sl.live, sl.v6, sl.start, sl.hs, sl.addr = fd, i, true, hs.raw.is6, start, hs, addr
	// One-shot: once it fired the socket stays in the set, disarmed, so a
	// socket kept for reuse raises nothing until it is armed again (MOD).
	op := unix.EPOLL_CTL_ADD
	if reused {
		op = unix.EPOLL_CTL_MOD
	}
	if e := rawEpollCtl(s.ep, op, fd, &unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(fd), Pad: slot}); e != 0 {
		sl.live = false
		s.free = append(s.free, slot)
		s.startFull(i, r, hs, traceShared, s.adopt(sl, nil))
		return
	}
	s.inflight++
	s.pend = append(s.pend, pendingSlot{slot: slot, seq: sl.seq, due: start.Add(s.silentAfter(hs))})
}

// dial starts a connect to the host's address on port, on a socket a reset
// closed before when there is one (reused), else on a new one.
func (s *scanner) dial(hs *hostState, port int) (fd int, reused bool, err error) {
	hs.raw.setPort(port)
	f := 0
	if hs.raw.is6 {
		f = 1
	}
	for len(s.spare[f]) > 0 {
		fd = s.spare[f][len(s.spare[f])-1]
		s.spare[f] = s.spare[f][:len(s.spare[f])-1]
		if rawDisconnect(fd) != 0 {
			rawClose(fd)
			continue
		}
		switch e := rawConnect(fd, &hs.raw); e {
		case unix.EINPROGRESS:
			return fd, true, nil
		default:
			rawClose(fd)
			return -1, false, &errImmediate{Errno: e}
		}
	}
	fd, e := rawSocket(hs.raw.is6)
	if e != 0 {
		return -1, false, fmt.Errorf("socket: %w", e)
	}
	if e := rawConnect(fd, &hs.raw); e != unix.EINPROGRESS {
		rawClose(fd)
		return -1, false, &errImmediate{Errno: e}
	}
	return fd, false, nil
}

// keepSpare is how many closed sockets the scanner keeps to reuse: about
// what one batch of sends takes.
const keepSpare = 2 * sendBatch

// silentAfter is how long a connect may go unanswered before the full
// check takes it over: a few of the host's round trips, and never less
// than twice the slowest answer seen lately (a loaded prober reaps late).
func (s *scanner) silentAfter(hs *hostState) time.Duration {
	rtt, ok := hs.learnedRTT()
	if !ok && hs.ping != nil && hs.ping.hasReplied() {
		rtt, ok = hs.ping.rtt(), true
	}
	if !ok {
		return s.p.cfg.MinWait
	}
	return max(s.p.quick(rtt), 2*s.p.lag.recent())
}

func (s *scanner) slot() int32 {
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		s.slots[i].seq++
		return i
	}
	s.slots = append(s.slots, scanSlot{})
	return int32(len(s.slots) - 1)
}

func (s *scanner) release(slot int32) {
	s.slots[slot].live = false
	s.slots[slot].hs = nil
	s.free = append(s.free, slot)
	s.inflight--
}

// answered classifies a connect the epoll set reports done.
func (s *scanner) answered(slot, fd int) {
	if slot >= len(s.slots) {
		return
	}
	sl := &s.slots[slot]
	if !sl.live || sl.fd != fd {
		return
	}
	soerr, e := rawSoError(fd)
	q, empty := s.eq.drainAll(fd)
	out := classifyAnswer(soerr, q, sl.addr, sl.v6)
	if e != 0 {
		out = tcpOutcome{Reason: ReasonLocalError, Err: fmt.Errorf("SO_ERROR: %w", e)}
	}
	out.RTT = time.Since(sl.start)
	if out.Reason == ReasonNoResponse {
		return // not done after all (a spurious wake-up): the full check will see
	}
	s.win.answered()
	if out.Reason == ReasonSynAck {
		// The service is to be talked to (and a reset right after the
		// handshake read): the full check does it.
		_ = rawEpollCtl(s.ep, unix.EPOLL_CTL_DEL, fd, nil)
		i, hs := sl.idx, sl.hs
		pre := s.adopt(sl, &out)
		s.release(int32(slot))
		s.startFull(i, s.reqs[i], hs, traceShared, pre)
		return
	}
	f := 0
	if sl.v6 {
		f = 1
	}
	if out.Reason == ReasonReset && empty && len(s.spare[f]) < keepSpare {
		// A reset closed it (TCP_CLOSE) and nothing is left in its error
		// queue to be read against the next port: keep it.
		s.spare[f] = append(s.spare[f], fd)
	} else {
		rawClose(fd)
	}
	i, hs, addr, start := sl.idx, sl.hs, sl.addr, sl.start
	s.release(int32(slot))
	s.settle(i, hs, addr, start, out)
}

// settle books an answer the way gather does in a range (its RTT for the
// host, its ICMP error against the sender's budget) and records it.
func (s *scanner) settle(i int, hs *hostState, addr netip.Addr, start time.Time, out tcpOutcome) {
	if out.answered() {
		s.p.lag.note(out.RTT)
		if out.RTT < time.Second {
			hs.noteRTT(out.RTT)
		}
	}
	s.p.charge(addr, out, hs.ping)
	elapsed, ping := time.Since(start), hs.notePing()
	code, okReason := reasonCode(out.Reason)
	from, errIdx, okIntern := hs.intern(out.From, out.Err)
	if !okReason || !okIntern || out.RTT >= time.Hour || elapsed >= time.Hour {
		// More than a quickResult holds (not seen in practice): the
		// report now, in full.
		s.out.setFull(i, s.p.answerReport(s.reqs[i], hs, out, elapsed, ping))
		return
	}
	q := quickResult{reason: code, from: from, err: errIdx, rttUS: uint32(out.RTT / time.Microsecond),
		elapsed: uint32(elapsed / time.Millisecond), ping: ping}
	if out.ICMP != nil {
		q.icmp, q.typ, q.code = true, out.ICMP.Type, out.ICMP.Code
	}
	s.out.setQuick(i, hs, q)
}

// handOff gives every connect still silent at its due time to a full
// check, as far as the concurrency cap allows.
func (s *scanner) handOff(now time.Time) {
	for s.pendHead < len(s.pend) {
		ps := s.pend[s.pendHead]
		sl := &s.slots[ps.slot]
		if !sl.live || sl.seq != ps.seq {
			s.pendHead++
			continue
		}
		if ps.due.After(now) || len(s.full) == cap(s.full) {
			break
		}
		s.pendHead++
		_ = rawEpollCtl(s.ep, unix.EPOLL_CTL_DEL, sl.fd, nil)
		i, hs := sl.idx, sl.hs
		pre := s.adopt(sl, nil)
		s.release(ps.slot)
		s.startFull(i, s.reqs[i], hs, traceShared, pre)
	}
	if s.pendHead > 4096 && s.pendHead*2 > len(s.pend) {
		s.pend = append(s.pend[:0], s.pend[s.pendHead:]...)
		s.pendHead = 0
	}
}

// adopt wraps a slot's socket for the full check (the netpoller takes it
// from here).
func (s *scanner) adopt(sl *scanSlot, out *tcpOutcome) *preConnect {
	a := &tcpAttempt{addr: sl.addr, start: sl.start}
	sock, err := adoptProbeSock(sl.fd, sl.v6)
	if err != nil {
		o := tcpOutcome{Reason: ReasonLocalError, Err: err}
		a.early = &o
		return &preConnect{a: a, start: sl.start}
	}
	a.sock = sock
	return &preConnect{a: a, start: sl.start, out: out}
}

// startFull runs the full check of request i in its own goroutine, within
// the concurrency cap (taken here, so the caller checked there is room).
func (s *scanner) startFull(i int, r Request, hs *hostState, mode traceMode, pre *preConnect) {
	s.full <- struct{}{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			<-s.full
			s.wakeUp()
		}()
		rep := s.p.check(s.ctx, r, hs, mode, pre)
		if s.ctx.Err() != nil && !conclusive(&rep) {
			s.out.setGone(i) // cut short by the cancellation: not a finding
			return
		}
		if pre != nil && rep.Connect != nil && rep.Connect.Reason != ReasonNoResponse && rep.Connect.RTTMS >= float64(synRetry/time.Millisecond) {
			// Silent to its first SYN, answered to a retransmission:
			// the SYN or its answer was lost (congestion, or a host or
			// router out of ICMP tokens). Send less at once.
			s.win.dropped(pre.start)
		}
		s.out.setFull(i, rep)
	}()
}

// abandon closes the connects still waiting (ctx ended: their silence is
// not a finding) and marks the requests never sent as gone.
func (s *scanner) abandon(next int) {
	for i := range s.slots {
		if sl := &s.slots[i]; sl.live {
			rawClose(sl.fd)
			s.out.setGone(sl.idx)
			s.release(int32(i))
		}
	}
	for ; next < len(s.reqs); next++ {
		s.out.setGone(next)
	}
}

// fallBack runs the requests from next on as full checks.
func (s *scanner) fallBack(next int) {
	for ; next < len(s.reqs); next++ {
		if s.ctx.Err() != nil {
			s.out.setGone(next)
			continue
		}
		r := s.reqs[next]
		s.startFull(next, r, s.host(r), traceShared, nil)
	}
}

// scanWindow is how many connects may await their first answer at once,
// and how long to wait between sends: nmap's congestion control (after
// TCP's). The window starts small, grows by one per answer up to a
// threshold and by one per window of answers past it, and halves on a
// drop: a port silent to its first SYN that answered a retransmission
// (its SYN or the answer was lost to congestion, or the host or a router
// was out of ICMP tokens for the reject). Drops come in batches, so only a
// port sent after the last cut cuts again. A port that stays silent says
// nothing (a filter) and does not shrink the window; it leaves it when the
// full check takes it over.
//
// When drops are a large share of the answers all the same (more than 10,
// over 40 % since the last change: a host or router rate-limiting its ICMP
// rejects answers one port a second, whatever the window), a delay between
// sends starts at 5 ms and doubles up to 1 s, as nmap -T4 does.
type scanWindow struct {
	mu       sync.Mutex
	cwnd     float64
	ssthresh float64
	max      float64
	cut      time.Time // the last cut
	drops    int       // since the scan began

	delay     time.Duration
	boosted   time.Time // when the delay last grew
	good, bad int       // answers and drops since then
}

const (
	scanWindowInitial = 32
	scanWindowMin     = 8
	scanDelayFirst    = 5 * time.Millisecond
	scanDelayMax      = time.Second
)

func newScanWindow(capacity int) *scanWindow {
	m := float64(max(capacity, 1))
	return &scanWindow{cwnd: min(scanWindowInitial, m), ssthresh: m, max: m}
}

func (w *scanWindow) size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return int(w.cwnd)
}

func (w *scanWindow) sendDelay() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.delay
}

func (w *scanWindow) answered() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cwnd < w.ssthresh {
		w.cwnd++
	} else {
		w.cwnd += 1 / w.cwnd
	}
	w.cwnd = min(w.cwnd, w.max)
	w.good++
}

// dropped records a drop of a port sent at sent.
func (w *scanWindow) dropped(sent time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.drops++
	if sent.After(w.cut) {
		w.cut = time.Now()
		w.ssthresh = max(w.cwnd/2, min(scanWindowMin, w.max))
		w.cwnd = w.ssthresh
	}
	if !sent.After(w.boosted) {
		return
	}
	w.bad++
	if w.bad > 10 && float64(w.bad)/float64(w.bad+w.good) > 0.4 {
		w.delay = min(max(2*w.delay, scanDelayFirst), scanDelayMax)
		w.boosted, w.good, w.bad = time.Now(), 0, 0
	}
}

// stopPings ends the hosts' ping runs once every port is done.
func (s *scanner) stopPings() {
	for _, hs := range s.hosts {
		hs.stopPing()
	}
}
