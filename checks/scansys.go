package checks

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The range scanner's system calls. None of them blocks (the sockets are
// non-blocking, and only the scanner's own zero-timeout epoll_wait goes
// through here), so they are raw: the scanner's goroutine keeps its P
// instead of announcing a system call to the runtime six times per port,
// which on a 65535-port range had the runtime's monitor hand the P off and
// back thousands of times (futex wake-ups and timer sleeps charged to the
// process as system time).

// rawAddr is a destination in the kernel's own sockaddr layout, built once
// per host; setPort patches the port of each connect.
type rawAddr struct {
	v4  unix.RawSockaddrInet4
	v6  unix.RawSockaddrInet6
	is6 bool
}

func newRawAddr(addr netip.Addr) rawAddr {
	var r rawAddr
	switch sa := sockaddrOf(addr, 0).(type) {
	case *unix.SockaddrInet4:
		r.v4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: sa.Addr}
	case *unix.SockaddrInet6:
		r.is6 = true
		r.v6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: sa.Addr, Scope_id: sa.ZoneId}
	}
	return r
}

func (r *rawAddr) setPort(port int) {
	p := (*[2]byte)(unsafe.Pointer(&r.v4.Port))
	if r.is6 {
		p = (*[2]byte)(unsafe.Pointer(&r.v6.Port))
	}
	p[0], p[1] = byte(port>>8), byte(port) // network byte order
}

func (r *rawAddr) family() int {
	if r.is6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// rawSocket is a non-blocking TCP socket with IP_RECVERR (IPV6_RECVERR),
// as dialProbe makes them.
func rawSocket(v6 bool) (int, syscall.Errno) {
	family, level, recverr := unix.AF_INET, unix.SOL_IP, unix.IP_RECVERR
	if v6 {
		family, level, recverr = unix.AF_INET6, unix.SOL_IPV6, unix.IPV6_RECVERR
	}
	fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), uintptr(unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC), uintptr(unix.IPPROTO_TCP))
	if e != 0 {
		return -1, e
	}
	one := int32(1)
	if _, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, fd, uintptr(level), uintptr(recverr), uintptr(unsafe.Pointer(&one)), 4, 0); e != 0 {
		rawClose(int(fd))
		return -1, e
	}
	return int(fd), 0
}

// rawConnect starts a connect to r (EINPROGRESS is the normal answer).
func rawConnect(fd int, r *rawAddr) syscall.Errno {
	p, n := unsafe.Pointer(&r.v4), unsafe.Sizeof(r.v4)
	if r.is6 {
		p, n = unsafe.Pointer(&r.v6), unsafe.Sizeof(r.v6)
	}
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(p), n)
	return e
}

// rawDisconnect dissolves a finished connect (connect to AF_UNSPEC), so
// the socket can connect again: a socket a reset closed costs a system
// call to reuse instead of three (socket, setsockopt, close) and the
// kernel's allocating and freeing it.
func rawDisconnect(fd int) syscall.Errno {
	sa := unix.RawSockaddr{Family: unix.AF_UNSPEC}
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	return e
}

func rawClose(fd int) {
	_, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

func rawEpollCtl(ep, op, fd int, ev *unix.EpollEvent) syscall.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(ep), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return e
}

// rawPoll is epoll_wait with a zero timeout: what is ready now.
func rawPoll(ep int, evs []unix.EpollEvent) (int, syscall.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
	return int(n), e
}

// rawSoError reads and clears the socket's pending error.
func rawSoError(fd int) (int, syscall.Errno) {
	var v int32
	l := uint32(4)
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ERROR, uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&l)), 0)
	return int(v), e
}
