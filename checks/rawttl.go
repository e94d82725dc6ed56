package checks

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// ttlWatch reads the IP TTL (hop limit) of the TCP segments a target sends
// back, on a raw TCP socket: a reset sent by a firewall on the way (with
// the host's address as its source) arrives with more TTL left than the
// host's own packets, so the TTL tells who really answered where a
// TTL-limited SYN cannot (the router right before the host resets a SYN
// only after its TTL check, like the host would). A raw socket needs
// CAP_NET_RAW; without it there is no watch and the check does without.
//
// Every raw TCP socket gets a copy of every TCP segment the machine
// receives, so a watch lives only for one check of one port (never for a
// range) and reads with a short deadline.
type ttlWatch struct {
	fd  int
	v6  bool
	src netip.Addr // the target
}

func openTTLWatch(target netip.Addr) *ttlWatch {
	target = target.Unmap()
	family := unix.AF_INET
	if target.Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil
	}
	w := &ttlWatch{fd: fd, v6: target.Is6(), src: target}
	if w.v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1); err != nil {
			unix.Close(fd)
			return nil
		}
	}
	// Small: only the segments of the last moments matter.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 256<<10)
	return w
}

func (w *ttlWatch) Close() {
	if w != nil {
		unix.Close(w.fd)
	}
}

// ttlOf returns the TTL of the first segment from the target's port to
// localPort, waiting up to wait for it (the raw copy and the TCP socket's
// answer race); 0 when none was seen.
func (w *ttlWatch) ttlOf(port, localPort int, wait time.Duration) int {
	if w == nil {
		return 0
	}
	end := time.Now().Add(wait)
	buf := make([]byte, 128)
	oob := make([]byte, 64)
	for {
		n, oobn, _, from, err := unix.Recvmsg(w.fd, buf, oob, 0)
		switch {
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			if time.Now().After(end) {
				return 0
			}
			time.Sleep(time.Millisecond)
			continue
		case err != nil:
			return 0
		}
		if ttl, ok := w.match(buf[:n], oob[:oobn], from, port, localPort); ok {
			return ttl
		}
	}
}

// match picks the TTL out of one received segment if it is the one sought.
// An IPv4 raw socket hands over the IP header; an IPv6 one only the TCP
// header, with the hop limit in a control message.
func (w *ttlWatch) match(pkt, oob []byte, from unix.Sockaddr, port, localPort int) (int, bool) {
	if sockaddrAddr(from, netip.Addr{}) != w.src {
		return 0, false
	}
	ttl, tcp := 0, pkt
	if !w.v6 {
		if len(pkt) < 20 {
			return 0, false
		}
		ihl := int(pkt[0]&0x0f) * 4
		if len(pkt) < ihl+20 {
			return 0, false
		}
		ttl, tcp = int(pkt[8]), pkt[ihl:]
	} else {
		msgs, err := unix.ParseSocketControlMessage(oob)
		if err != nil {
			return 0, false
		}
		for _, m := range msgs {
			if m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_HOPLIMIT && len(m.Data) >= 4 {
				ttl = int(binary.NativeEndian.Uint32(m.Data[:4]))
			}
		}
	}
	if len(tcp) < 14 {
		return 0, false
	}
	sport, dport := int(binary.BigEndian.Uint16(tcp[0:2])), int(binary.BigEndian.Uint16(tcp[2:4]))
	if sport != port || dport != localPort || ttl == 0 {
		return 0, false
	}
	return ttl, true
}

// localPort is the connect socket's own port.
func (a *tcpAttempt) localPort() int {
	if a.sock == nil {
		return 0
	}
	sa, err := unix.Getsockname(a.sock.fd)
	if err != nil {
		return 0
	}
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return s.Port
	case *unix.SockaddrInet6:
		return s.Port
	}
	return 0
}
