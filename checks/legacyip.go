package checks

import (
	"net/netip"
	"strings"
)

// ParseLegacyIPv4 parses s the way inet_aton(3) does, which is what
// getaddrinfo and therefore most tools connect to when handed such a string:
// one to four parts separated by dots, each decimal, hex (0x...) or octal
// (leading 0). The last part fills all remaining bytes, so "127.1" is
// 127.0.0.1, "10.1.1" is 10.1.0.1 and "2852039166" is 169.254.169.254. One
// trailing dot is accepted ("127.0.0.1.") because resolvers treat it as the
// same host.
//
// It exists so the policy decides by the address a string means rather than
// by how it looks: "0xA9FEA9FE" must be denied as cloud metadata, not
// handed to a resolver that may turn it into 169.254.169.254 behind our
// back. ok is false when s is not such an address (a hostname, an overflowing
// part, an empty part, an 8 in an octal part, ...).
func ParseLegacyIPv4(s string) (netip.Addr, bool) {
	s = strings.TrimSuffix(s, ".")
	// No length cap: inet_aton accepts any number of leading zeros, and
	// part values are bounded below, so long input cannot overflow.
	if s == "" {
		return netip.Addr{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, ok := parseLegacyPart(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	// Every part but the last is one byte; the last fills what is left.
	var n uint64
	for i := 0; i < len(vals)-1; i++ {
		if vals[i] > 0xff {
			return netip.Addr{}, false
		}
		n = n<<8 | vals[i]
	}
	lastBytes := 5 - len(vals)
	last := vals[len(vals)-1]
	if last >= 1<<(8*lastBytes) {
		return netip.Addr{}, false
	}
	n = n<<(8*lastBytes) | last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// parseLegacyPart parses one inet_aton part. Values are capped well above
// 32 bits so overflow cannot wrap around to a different address.
func parseLegacyPart(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := uint64(10)
	switch {
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, p = 16, p[2:]
		if p == "" { // inet_aton takes a bare "0x" as zero
			return 0, true
		}
	case len(p) >= 2 && p[0] == '0':
		base, p = 8, p[1:]
	}
	var v uint64
	for i := 0; i < len(p); i++ {
		d, ok := digitValue(p[i])
		if !ok || d >= base {
			return 0, false
		}
		v = v*base + d
		if v > 0xffffffff {
			return 0, false
		}
	}
	return v, true
}

func digitValue(c byte) (uint64, bool) {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0'), true
	case 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return uint64(c-'A') + 10, true
	}
	return 0, false
}
