package checks

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// extendedErr builds what the kernel puts in an IP_RECVERR control message:
// struct sock_extended_err followed by the offender's sockaddr.
func extendedErr(origin, typ, code uint8, from netip.Addr) []byte {
	b := make([]byte, sizeofExtendedErr)
	binary.NativeEndian.PutUint32(b[0:4], uint32(unix.EHOSTUNREACH))
	b[4], b[5], b[6] = origin, typ, code
	if from.Is4() {
		sa := make([]byte, 16)
		binary.NativeEndian.PutUint16(sa[0:2], unix.AF_INET)
		copy(sa[4:8], from.AsSlice())
		return append(b, sa...)
	}
	sa := make([]byte, 28)
	binary.NativeEndian.PutUint16(sa[0:2], unix.AF_INET6)
	copy(sa[8:24], from.AsSlice())
	return append(b, sa...)
}

func TestParseExtendedErr(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		ok   bool
		want queuedICMP
	}{
		{"v4 admin prohibited", extendedErr(2, 3, 13, netip.MustParseAddr("198.18.2.2")), true,
			queuedICMP{Origin: 2, Type: 3, Code: 13, Errno: unix.EHOSTUNREACH, From: netip.MustParseAddr("198.18.2.2")}},
		{"v6 port unreachable", extendedErr(3, 1, 4, netip.MustParseAddr("2001:db8:3::10")), true,
			queuedICMP{Origin: 3, Type: 1, Code: 4, Errno: unix.EHOSTUNREACH, From: netip.MustParseAddr("2001:db8:3::10")}},
		{"no offender", extendedErr(2, 11, 0, netip.MustParseAddr("198.18.1.1"))[:sizeofExtendedErr], true,
			queuedICMP{Origin: 2, Type: 11, Errno: unix.EHOSTUNREACH}},
		{"short", []byte{1, 2, 3}, false, queuedICMP{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseExtendedErr(tt.in)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseExtendedErr(f *testing.F) {
	f.Add(extendedErr(2, 3, 13, netip.MustParseAddr("198.18.2.2")))
	f.Add(extendedErr(3, 1, 4, netip.MustParseAddr("2001:db8:3::10")))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, ok := parseExtendedErr(b) // must never panic
		if !ok && len(b) >= sizeofExtendedErr {
			t.Fatalf("rejected a full-size struct")
		}
		if q.From.IsValid() && len(b) < sizeofExtendedErr+8 {
			t.Fatalf("offender %v from %d bytes", q.From, len(b))
		}
	})
}

func TestClassifyICMP(t *testing.T) {
	tests := []struct {
		v6         bool
		typ, code  uint8
		want       icmpKind
		wantReason Reason
	}{
		{false, 3, 0, icmpNetUnreach, ReasonICMPNetUnreachable},
		{false, 3, 1, icmpHostUnreach, ReasonICMPHostUnreachable},
		{false, 3, 3, icmpPortUnreach, ReasonICMPPortUnreachable},
		{false, 3, 9, icmpAdminProhibited, ReasonICMPAdminProhibited},
		{false, 3, 10, icmpAdminProhibited, ReasonICMPAdminProhibited},
		{false, 3, 13, icmpAdminProhibited, ReasonICMPAdminProhibited},
		{false, 11, 0, icmpTimeExceeded, ReasonICMPTimeExceeded},
		{false, 3, 4, icmpOther, ReasonICMPOther}, // fragmentation needed
		{true, 1, 0, icmpNetUnreach, ReasonICMPNetUnreachable},
		{true, 1, 1, icmpAdminProhibited, ReasonICMPAdminProhibited},
		{true, 1, 3, icmpHostUnreach, ReasonICMPHostUnreachable},
		{true, 1, 4, icmpPortUnreach, ReasonICMPPortUnreachable},
		{true, 3, 0, icmpTimeExceeded, ReasonICMPTimeExceeded},
	}
	for _, tt := range tests {
		got := classifyICMP(tt.v6, tt.typ, tt.code)
		if got != tt.want || got.reason() != tt.wantReason {
			t.Errorf("classifyICMP(v6=%v, %d/%d) = %s/%s, want %s/%s", tt.v6, tt.typ, tt.code, got, got.reason(), tt.want, tt.wantReason)
		}
	}
}

func TestSockaddrOfZone(t *testing.T) {
	sa, ok := sockaddrOf(netip.MustParseAddr("fe80::1%1"), 22).(*unix.SockaddrInet6)
	if !ok || sa.ZoneId != 1 || sa.Port != 22 {
		t.Fatalf("got %+v", sa)
	}
	if _, ok := sockaddrOf(netip.MustParseAddr("::ffff:198.18.3.10"), 22).(*unix.SockaddrInet4); !ok {
		t.Fatal("a v4-mapped address must use an AF_INET sockaddr")
	}
}
