package checks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// probeSock is one non-blocking socket registered with Go's netpoller, so
// thousands of probes can wait at once without one OS thread each. It
// carries IP_RECVERR so ICMP errors about our packets land in its error
// queue, with the sender's address, instead of being folded into an errno.
type probeSock struct {
	f  *os.File
	rc syscall.RawConn
	fd int
	v6 bool
}

// errImmediate wraps an errno connect(2) returned at once (no route, ...):
// no packet left, so there is nothing to wait for.
type errImmediate struct{ Errno syscall.Errno }

func (e *errImmediate) Error() string { return "connect: " + e.Errno.Error() }
func (e *errImmediate) Unwrap() error { return e.Errno }

// openProbeSock creates a socket of the given type toward addr's family with
// IP_RECVERR (or IPV6_RECVERR) and, when ttl > 0, that IP TTL / hop limit,
// then connects it to addr:port. The fd joins the netpoller only after
// connect, so the first readiness event is about the connect itself.
func openProbeSock(addr netip.Addr, typ, proto, ttl, port int) (*probeSock, error) {
	fd, v6, err := dialProbe(addr, sockaddrOf(addr, port), typ, proto, ttl)
	if err != nil {
		return nil, err
	}
	return adoptProbeSock(fd, v6)
}

// dialProbe is openProbeSock without the netpoller: the bare non-blocking
// fd, connect(2) issued. The range scanner watches such fds in its own
// epoll set and hands the few that need more to adoptProbeSock.
func dialProbe(addr netip.Addr, sa unix.Sockaddr, typ, proto, ttl int) (fd int, v6 bool, err error) {
	v6 = addr.Is6() && !addr.Is4In6()
	family, level, recverr, ttlOpt := unix.AF_INET, unix.SOL_IP, unix.IP_RECVERR, unix.IP_TTL
	if v6 {
		family, level, recverr, ttlOpt = unix.AF_INET6, unix.SOL_IPV6, unix.IPV6_RECVERR, unix.IPV6_UNICAST_HOPS
	}
	fd, err = unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, v6, fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, level, recverr, 1); err != nil {
		unix.Close(fd)
		return -1, v6, fmt.Errorf("setsockopt RECVERR: %w", err)
	}
	if ttl > 0 {
		if err := unix.SetsockoptInt(fd, level, ttlOpt, ttl); err != nil {
			unix.Close(fd)
			return -1, v6, fmt.Errorf("setsockopt TTL %d: %w", ttl, err)
		}
	}
	err = unix.Connect(fd, sa)
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return -1, v6, &errImmediate{Errno: errno}
		}
		return -1, v6, fmt.Errorf("connect: %w", err)
	}
	return fd, v6, nil
}

// adoptProbeSock registers a dialled fd with the netpoller; it owns fd
// from then on, also on error.
func adoptProbeSock(fd int, v6 bool) (*probeSock, error) {
	// os.NewFile on a non-blocking fd registers it with the netpoller.
	f := os.NewFile(uintptr(fd), "probe")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("syscallconn: %w", err)
	}
	return &probeSock{f: f, rc: rc, fd: fd, v6: v6}, nil
}

// Close releases the socket; safe to call more than once.
func (s *probeSock) Close() error { return s.f.Close() }

// setDeadline bounds the current and future waits; a past time wakes a
// blocked wait at once (that is how probes are cancelled).
func (s *probeSock) setDeadline(t time.Time) { _ = s.f.SetDeadline(t) }

func sockaddrOf(addr netip.Addr, port int) unix.Sockaddr {
	addr = addr.Unmap()
	if addr.Is4() {
		return &unix.SockaddrInet4{Port: port, Addr: addr.As4()}
	}
	sa := &unix.SockaddrInet6{Port: port, Addr: addr.As16()}
	if z := addr.Zone(); z != "" { // link-local: the zone names the interface
		if ifi, err := net.InterfaceByName(z); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		} else if n, err := strconv.ParseUint(z, 10, 32); err == nil {
			sa.ZoneId = uint32(n)
		}
	}
	return sa
}

// queuedICMP is one entry of a socket error queue.
type queuedICMP struct {
	Origin uint8
	Type   uint8
	Code   uint8
	Errno  syscall.Errno
	From   netip.Addr // SO_EE_OFFENDER; invalid when the kernel gave none
}

// drainErrQueue reads every pending error-queue entry and returns the ICMP
// ones (origin ICMP / ICMPv6), oldest first. It never blocks.
func drainErrQueue(fd int) []queuedICMP {
	var r errQueueReader
	return r.drain(fd)
}

// errQueueReader reads socket error queues with buffers it keeps: the
// range scanner reads one per port it classifies (a reset leaves the queue
// empty, and the read says so), and a fresh 256+512 bytes each time were
// most of what a 65535-port scan allocated per port. As a local variable
// it lives on the stack.
type errQueueReader struct {
	buf [256]byte // the offending packet's start; only its presence matters
	oob [512]byte
	out []queuedICMP
}

// drain is drainErrQueue; the slice it returns is valid until the next call.
func (r *errQueueReader) drain(fd int) []queuedICMP {
	q, _ := r.drainAll(fd)
	return q
}

// drainAll is drain, and whether the queue is known empty after it (the
// kernel said so, rather than the bound ending the loop).
func (r *errQueueReader) drainAll(fd int) ([]queuedICMP, bool) {
	r.out = r.out[:0]
	for i := 0; i < 16; i++ { // bounded: a queue is short, a bug must not spin
		oobn, err := r.recv(fd)
		if err != nil {
			return r.out, errors.Is(err, unix.EAGAIN)
		}
		b := r.oob[:oobn]
		for len(b) > 0 {
			h, data, rest, err := unix.ParseOneSocketControlMessage(b)
			if err != nil {
				break
			}
			b = rest
			isV4 := h.Level == unix.SOL_IP && h.Type == unix.IP_RECVERR
			isV6 := h.Level == unix.SOL_IPV6 && h.Type == unix.IPV6_RECVERR
			if !isV4 && !isV6 {
				continue
			}
			q, ok := parseExtendedErr(data)
			if ok && (q.Origin == unix.SO_EE_ORIGIN_ICMP || q.Origin == unix.SO_EE_ORIGIN_ICMP6) {
				r.out = append(r.out, q)
			}
		}
	}
	return r.out, false
}

// recv is recvmsg(MSG_ERRQUEUE) without a source address (the kernel would
// put the probe's own destination there, and unix.Recvmsg allocates a
// Sockaddr for it). MSG_DONTWAIT: it never blocks, so it is a raw call.
func (r *errQueueReader) recv(fd int) (oobn int, err error) {
	iov := unix.Iovec{Base: &r.buf[0]}
	iov.SetLen(len(r.buf))
	msg := unix.Msghdr{Iov: &iov, Control: &r.oob[0]}
	msg.SetIovlen(1)
	msg.SetControllen(len(r.oob))
	_, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT))
	if e != 0 {
		return 0, e
	}
	return int(msg.Controllen), nil
}

// sizeofExtendedErr is struct sock_extended_err: errno u32, origin, type,
// code, pad u8, info u32, data u32.
const sizeofExtendedErr = 16

var errShortExtendedErr = errors.New("short sock_extended_err")

// parseExtendedErr decodes a struct sock_extended_err and the offender
// sockaddr the kernel appends right after it (SO_EE_OFFENDER).
func parseExtendedErr(b []byte) (queuedICMP, bool) {
	if len(b) < sizeofExtendedErr {
		return queuedICMP{}, false
	}
	q := queuedICMP{
		Errno:  syscall.Errno(binary.NativeEndian.Uint32(b[0:4])),
		Origin: b[4],
		Type:   b[5],
		Code:   b[6],
	}
	q.From, _ = parseSockaddr(b[sizeofExtendedErr:])
	return q, true
}

// parseSockaddr reads a raw sockaddr_in / sockaddr_in6.
func parseSockaddr(b []byte) (netip.Addr, error) {
	if len(b) < 2 {
		return netip.Addr{}, errShortExtendedErr
	}
	switch binary.NativeEndian.Uint16(b[0:2]) {
	case unix.AF_INET:
		if len(b) < 8 {
			return netip.Addr{}, errShortExtendedErr
		}
		return netip.AddrFrom4([4]byte(b[4:8])), nil
	case unix.AF_INET6:
		if len(b) < 24 {
			return netip.Addr{}, errShortExtendedErr
		}
		return netip.AddrFrom16([16]byte(b[8:24])).Unmap(), nil
	}
	return netip.Addr{}, fmt.Errorf("sockaddr family %d: %w", binary.NativeEndian.Uint16(b[0:2]), errShortExtendedErr)
}
