package policytest

import (
	"net/netip"
	"strings"
	"testing"
)

// The cloud metadata address, and the IPv4 address Teredo forms carry as
// their other end (the allowed control of the zero-packet tests).
const (
	Metadata      = "169.254.169.254"
	TeredoPartner = "198.18.0.20"
)

// MetadataNAT64Prefixes are the deployment NAT64 prefixes the last
// MetadataForms sit under: give them to policy.Config.NAT64.
func MetadataNAT64Prefixes() []string { return []string{"2001:db8:64::/96", "2001:db8:46::/48"} }

// MetadataForms are the ways to type 169.254.169.254 (a9fe:a9fe) inside
// IPv6, one or two per form, as a user would. Teredo's other address is
// TeredoPartner (c612:14; inverted 39ed:ffeb). Written out by hand from
// the RFCs, so they do not depend on the code they test.
func MetadataForms() []string {
	return []string{
		"::ffff:169.254.169.254",               // IPv4-mapped
		"[::ffff:a9fe:a9fe]",                   // ... hex, bracketed
		"::ffff:0:a9fe:a9fe",                   // IPv4-translated (SIIT, RFC 2765): issue 17
		"[::ffff:0:169.254.169.254]",           // ... dotted, bracketed
		"::a9fe:a9fe",                          // IPv4-compatible (deprecated)
		"64:ff9b::a9fe:a9fe",                   // NAT64 well-known prefix (RFC 6052)
		"64:ff9b:1:a9fe:a9:fe00::",             // local-use NAT64 (RFC 8215), /48 layout
		"64:ff9b:1:aba9:fe:a9fe::",             // ... /56
		"64:ff9b:1:abcd:a9:fea9:fe00:0",        // ... /64
		"64:ff9b:1:abcd::a9fe:a9fe",            // ... /96
		"2002:a9fe:a9fe::1",                    // 6to4
		"2001:0:c612:14:8000:63bf:5601:5601",   // Teredo, metadata as the client
		"2001:0:a9fe:a9fe:8000:63bf:39ed:ffeb", // Teredo, metadata as the server
		"2001:db8:64::a9fe:a9fe",               // under the configured 2001:db8:64::/96
		"2001:db8:46:a9fe:a9:fe00::",           // under the configured 2001:db8:46::/48
	}
}

// FormAddr is the address a typed form means (unmapped: the kernel sends
// IPv4-mapped destinations as IPv4).
func FormAddr(typed string) netip.Addr {
	return netip.MustParseAddr(strings.TrimSuffix(strings.TrimPrefix(typed, "["), "]")).Unmap()
}

// SinkMetadata routes the metadata address and every one of
// MetadataForms into the sink (Sink) and returns the addresses counted.
func (c *Counter) SinkMetadata(t testing.TB) []netip.Addr {
	t.Helper()
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, f := range append([]string{Metadata}, MetadataForms()...) {
		if a := FormAddr(f); !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	c.Sink(t, out...)
	return out
}
