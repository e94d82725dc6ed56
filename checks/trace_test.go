package checks

import (
	"net/netip"
	"testing"
)

// TestICMPHopOurs: only this probe's own echo reply counts; a raw-socket
// pinger's reply that the kernel hands to a ping socket with the same
// identifier must not place the target at this TTL.
func TestICMPHopOurs(t *testing.T) {
	v4 := &icmpHop{target: netip.MustParseAddr("198.18.3.10"), ttl: 5}
	v6 := &icmpHop{target: netip.MustParseAddr("2001:db8:3::10"), ttl: 5}
	reply := func(typ, seq byte, payload string) []byte {
		return append([]byte{typ, 0, 0xab, 0xcd, 0x12, 0x34, 0, seq}, payload...)
	}
	tests := []struct {
		name string
		h    *icmpHop
		pkt  []byte
		want bool
	}{
		{"own reply", v4, reply(0, 5, icmpHopPayload), true},
		{"own reply v6", v6, reply(129, 5, icmpHopPayload), true},
		{"another TTL's sequence", v4, reply(0, 4, icmpHopPayload), false},
		{"a pinger's reply", v4, reply(0, 5, "\x00\x01timestamp-and-uuid"), false},
		{"echo request", v4, reply(8, 5, icmpHopPayload), false},
		{"truncated", v4, reply(0, 5, "port"), false},
	}
	for _, tt := range tests {
		if got := tt.h.ours(tt.pkt); got != tt.want {
			t.Errorf("%s: ours = %v, want %v", tt.name, got, tt.want)
		}
	}
}
