package policy

import (
	"net/netip"
	"strings"

	"github.com/portcheck/portcheck/checks"
)

// ParseLegacyIPv4 parses s the way inet_aton(3) does ("127.1",
// "2852039166", "0xA9FEA9FE", "0251.0376.0251.0376"), so the policy decides by
// the address a string means rather than by how it looks. The one
// implementation lives in checks, which the target parser shares.
func ParseLegacyIPv4(s string) (netip.Addr, bool) { return checks.ParseLegacyIPv4(s) }

// looksNumeric reports whether the last label of a host is made only of
// characters an inet_aton part may contain. Such a host that did not parse
// as an address (say "256.1.1.1" or "1.2.3.08") must not go to a resolver:
// some C libraries accept forms we reject, and we would then probe an
// address we never checked.
func looksNumeric(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		last = last[2:]
		for i := 0; i < len(last); i++ {
			if c := last[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return false
		}
	}
	return true
}
