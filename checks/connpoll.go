package checks

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// connPoller waits for many connects at once: one epoll set and one
// goroutine for a Prober, instead of a goroutine parked in each connect's
// wait. A worker holding a thousand silent checks held a thousand such
// goroutines, 4 KB of stack each, doing nothing but wait for a SYN-ACK,
// a reset or an ICMP error that mostly never came.
//
// The epoll set is itself an fd in Go's netpoller (an epoll fd is
// pollable), so the loop parks like any network read while nothing is
// ready, and holds no OS thread. The set and its goroutine exist only
// while connects are in it.
type connPoller struct {
	mu    sync.Mutex
	f     *os.File // the epoll set; nil while no connect waits
	ep    int
	next  uint64
	waits map[uint64]*connWait
}

// connWait is one connect in the set. Its outcome goes to out, exactly
// once: from the loop when the socket shows an event, or from its timer
// at the deadline (or on cancel).
type connWait struct {
	p        *connPoller
	id       uint64
	a        *tcpAttempt
	keep     bool
	out      chan<- tcpOutcome
	mu       sync.Mutex // serializes the loop's look, the timer's and the outcome
	done     bool
	deadline time.Time
	timer    *time.Timer
	// spurious counts wake-ups that found the socket still in SYN_SENT.
	spurious int
}

// watch delivers a's outcome on out (which must have room for it) without
// a goroutine of its own; keep: a SYN-ACK hands back the live connection.
// The deadline is a's (setDeadline), and cancel ends the wait at once, as
// with wait. Without an epoll set (it could not be made) it falls back to
// a goroutine in wait.
func (p *connPoller) watch(a *tcpAttempt, keep bool, out chan<- tcpOutcome) {
	if a.early != nil {
		deliver(out, *a.early)
		return
	}
	w := &connWait{p: p, a: a, keep: keep, out: out}
	if err := p.add(w); err != nil {
		go func() {
			defer catch(func(err error) { deliver(out, tcpOutcome{Reason: ReasonLocalError, Err: err}) })
			deliver(out, a.wait(keep))
		}()
	}
}

// add puts w in the epoll set, starting the set and its loop when w is
// the only one, and arms w's deadline.
func (p *connPoller) add(w *connWait) error {
	a := w.a
	a.infoMu.Lock()
	w.deadline = a.deadline
	a.watcher = w // from now on a's deadline moves w's timer
	a.infoMu.Unlock()
	if err := p.register(w); err != nil {
		a.infoMu.Lock()
		a.watcher = nil
		a.infoMu.Unlock()
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done { // the loop may have answered it already
		w.timer = time.AfterFunc(time.Until(w.deadline), w.expire)
	}
	return nil
}

// register adds w's socket to the set, opening the set when it is closed.
func (p *connPoller) register(w *connWait) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		if err := p.open(); err != nil {
			return err
		}
	}
	p.next++
	w.id = p.next
	ev := connEvent(w.id)
	if err := unix.EpollCtl(p.ep, unix.EPOLL_CTL_ADD, w.a.sock.fd, &ev); err != nil {
		if len(p.waits) == 0 {
			p.closeLocked()
		}
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	p.waits[w.id] = w
	return nil
}

// connEvents are what ends a connect's wait: writable (the handshake
// completed), an error (a reset, an ICMP error in the error queue), as
// the netpoller's own registration would see them; one-shot, so the
// loop looks at each event once.
const connEvents = unix.EPOLLOUT | unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// connEvent is the registration of wait id, and eventID reads the id back:
// it is kept in the event's 64-bit data.
func connEvent(id uint64) unix.EpollEvent {
	return unix.EpollEvent{Events: connEvents, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
}

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// open makes the epoll set and starts its loop (p.mu held).
func (p *connPoller) open() error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll_create: %w", err)
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		unix.Close(ep)
		return fmt.Errorf("epoll set non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(ep), "connect-poller")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return fmt.Errorf("epoll set: %w", err)
	}
	p.f, p.ep = f, ep
	if p.waits == nil {
		p.waits = map[uint64]*connWait{}
	}
	go p.loop(f, rc)
	return nil
}

// closeLocked closes the epoll set; its loop returns (p.mu held).
func (p *connPoller) closeLocked() {
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
}

// loop takes the set's events until it is closed. It reads the set with
// a zero timeout inside the netpoller's wait: nothing ready parks it.
func (p *connPoller) loop(f *os.File, rc syscall.RawConn) {
	defer catch(func(error) {
		// A bug in the loop must not leave its connects unanswered:
		// their timers still end them at their deadlines.
		p.mu.Lock()
		if p.f == f {
			p.closeLocked()
		}
		p.mu.Unlock()
	})
	evs := make([]unix.EpollEvent, 128)
	ids := make([]uint64, 0, len(evs))
	var failed error
	for {
		ids = ids[:0]
		err := rc.Read(func(fd uintptr) bool {
			for {
				n, err := unix.EpollWait(int(fd), evs, 0)
				if errors.Is(err, unix.EINTR) {
					continue
				}
				if err != nil {
					failed = err
					return true
				}
				if n <= 0 {
					return len(ids) > 0
				}
				for _, e := range evs[:n] {
					ids = append(ids, eventID(&e))
				}
				if n < len(evs) {
					return true
				}
			}
		})
		if err != nil {
			return // closed: no connect is left in it
		}
		if failed != nil {
			// Cannot happen with a valid set and buffer. Should it, the
			// set closes; its connects end at their deadlines with the
			// last look, and the next connect opens a new set.
			p.mu.Lock()
			if p.f == f {
				p.closeLocked()
			}
			p.mu.Unlock()
			return
		}
		for _, id := range ids {
			p.mu.Lock()
			w := p.waits[id]
			p.mu.Unlock()
			if w != nil {
				w.ready()
			}
		}
	}
}

// ready is the loop's look at a connect whose socket showed an event.
func (w *connWait) ready() { w.look(false) }

// expire ends the wait at its deadline (or on cancel): one last look, an
// ICMP may have just landed, else no response.
func (w *connWait) expire() { w.look(true) }

// look classifies the connect and finishes the wait when it has an answer
// or, final, at its end (no response then). Otherwise the socket was
// still in SYN_SENT (see settledTCP) and the wait goes on.
func (w *connWait) look(final bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	out, got := w.a.lookNow()
	if got || final {
		if !got {
			out = tcpOutcome{Reason: ReasonNoResponse}
		}
		w.finish(out, got)
		return
	}
	// The set is one-shot, so re-arm it; after a few wake-ups that found
	// nothing, only every 10 ms, so that a condition that stays up cannot
	// make the loop spin.
	w.spurious++
	if w.spurious <= 2 {
		w.rearm()
		return
	}
	time.AfterFunc(10*time.Millisecond, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.done {
			w.rearm()
		}
	})
}

// rearm puts the connect back in the one-shot set (w.mu held).
func (w *connWait) rearm() {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	ev := connEvent(w.id)
	if p.f != nil {
		_ = unix.EpollCtl(p.ep, unix.EPOLL_CTL_MOD, w.a.sock.fd, &ev)
	}
}

// finish takes the connect out of the set, settles a classified outcome
// (RTT, the kept connection), closes the socket and hands the outcome on
// (w.mu held).
func (w *connWait) finish(out tcpOutcome, settled bool) {
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
	p, a := w.p, w.a
	p.mu.Lock()
	delete(p.waits, w.id)
	if p.f != nil {
		// Before the socket closes: a closed fd's number can be reused by
		// the next connect, whose registration this would delete.
		_ = unix.EpollCtl(p.ep, unix.EPOLL_CTL_DEL, a.sock.fd, nil)
		if len(p.waits) == 0 {
			p.closeLocked()
		}
	}
	p.mu.Unlock()
	a.infoMu.Lock()
	a.watcher = nil
	a.infoMu.Unlock()
	if settled {
		out = a.settle(out, w.keep)
	}
	a.sock.Close()
	deliver(w.out, out)
}

// setDeadline moves the wait's end; it may be called from any goroutine.
func (w *connWait) setDeadline(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = t
	if !w.done && w.timer != nil {
		w.timer.Reset(time.Until(t))
	}
}

// deliver hands an outcome to a channel with room for it; should it be
// full (a caller's bug), a goroutine waits rather than the poller's loop.
func deliver(out chan<- tcpOutcome, o tcpOutcome) {
	select {
	case out <- o:
	default:
		go func() { out <- o }()
	}
}
