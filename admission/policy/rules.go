package policy

import (
	"fmt"
	"net/netip"
	"strings"
)

// Rule is one allow or deny entry: an address range or a hostname. Names
// with a leading dot (or "*.") match the name itself and every name under
// it; names without match exactly.
type Rule struct {
	Prefix netip.Prefix // valid for address rules
	Name   string       // lower case, no trailing dot, no leading dot
	Suffix bool         // Name matches itself and its subdomains
}

// ParseRule parses a config or environment entry: a CIDR ("10.0.0.0/8"), a
// single address ("192.168.1.5", "fd00::1"), a hostname ("db.example.com")
// or a hostname suffix (".corp.example.com", "*.corp.example.com").
// Addresses must be written canonically: a rule is written by an operator,
// and "10.1" meaning 10.0.0.1 in a config would surprise its reader.
func ParseRule(s string) (Rule, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Rule{}, fmt.Errorf("empty rule")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Rule{}, fmt.Errorf("%q is not a CIDR (example: 10.0.0.0/8): %w", s, err)
		}
		if p.Addr().Zone() != "" {
			return Rule{}, fmt.Errorf("%q: a rule cannot carry an IPv6 zone", s)
		}
		return Rule{Prefix: p.Masked()}, nil
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		if a.Zone() != "" {
			return Rule{}, fmt.Errorf("%q: a rule cannot carry an IPv6 zone", s)
		}
		return Rule{Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	name, suffix := strings.ToLower(s), false
	switch {
	case strings.HasPrefix(name, "*."):
		name, suffix = name[2:], true
	case strings.HasPrefix(name, "."):
		name, suffix = name[1:], true
	}
	name = strings.TrimSuffix(name, ".")
	if err := checkName(name); err != nil {
		return Rule{}, fmt.Errorf("%q is not a CIDR, address or hostname: %w", s, err)
	}
	if looksNumeric(name) {
		return Rule{}, fmt.Errorf("%q is not a canonical address (write it like 10.0.0.1 or 10.0.0.0/8)", s)
	}
	return Rule{Name: name, Suffix: suffix}, nil
}

// String writes the rule the way it is cited to users.
func (r Rule) String() string {
	switch {
	case r.Prefix.IsValid():
		return r.Prefix.String()
	case r.Suffix:
		return "." + r.Name
	default:
		return r.Name
	}
}

// matchName reports whether a name rule covers host (already normalised).
func (r Rule) matchName(host string) bool {
	if r.Name == "" {
		return false
	}
	if host == r.Name {
		return true
	}
	return r.Suffix && strings.HasSuffix(host, "."+r.Name)
}

// ParseRules parses a list, returning every bad entry in one error so an
// operator fixes them all in one go.
func ParseRules(list []string) ([]Rule, error) {
	var out []Rule
	var bad []string
	for _, s := range list {
		if strings.TrimSpace(s) == "" {
			continue
		}
		r, err := ParseRule(s)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		out = append(out, r)
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return out, nil
}

// SplitList splits a comma-separated environment value, dropping blanks.
func SplitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// special is one entry of the built-in table of ranges a probing bot must
// not touch by default.
type special struct {
	prefix netip.Prefix
	what   string
}

func (s special) String() string { return s.what + " " + s.prefix.String() }

// defaultDeny builds the default deny table. Order matters: the first match
// is the one cited, so the specific entries (metadata, broadcast, Teredo)
// come before the ranges containing them. Go's IsGlobalUnicast and friends
// are not used: they call 198.18.0.1 or 240.0.0.1 global.
func defaultDeny() []special {
	p := netip.MustParsePrefix
	return []special{
		{prefix: p("169.254.169.254/32"), what: "cloud metadata"},
		{prefix: p("fd00:ec2::254/128"), what: "cloud metadata (AWS IPv6)"},
		{prefix: p("100.100.100.200/32"), what: "cloud metadata (Alibaba)"},
		{prefix: p("168.63.129.16/32"), what: "cloud metadata (Azure WireServer)"},
		{prefix: p("0.0.0.0/8"), what: "this network"},
		{prefix: p("127.0.0.0/8"), what: "loopback"},
		{prefix: p("169.254.0.0/16"), what: "link-local"},
		{prefix: p("224.0.0.0/4"), what: "multicast"},
		{prefix: p("255.255.255.255/32"), what: "broadcast"},
		{prefix: p("240.0.0.0/4"), what: "reserved"},
		{prefix: p("192.0.0.0/24"), what: "IETF protocol assignments"},
		{prefix: p("192.0.2.0/24"), what: "documentation (TEST-NET-1)"},
		{prefix: p("198.18.0.0/15"), what: "benchmarking"},
		{prefix: p("198.51.100.0/24"), what: "documentation (TEST-NET-2)"},
		{prefix: p("203.0.113.0/24"), what: "documentation (TEST-NET-3)"},
		{prefix: p("100.64.0.0/10"), what: "carrier-grade NAT"},
		{prefix: p("::/128"), what: "unspecified"},
		{prefix: p("::1/128"), what: "loopback"},
		// The IPv6 forms embedding IPv4 (embed.go judges the IPv4 address
		// inside as well; these rules are the wrappers' own).
		{prefix: p("::ffff:0:0/96"), what: "IPv4-mapped"},
		{prefix: p("::ffff:0:0:0/96"), what: "IPv4-translated"},
		{prefix: p("::/96"), what: "deprecated IPv4-compatible"},
		{prefix: p("64:ff9b::/96"), what: "NAT64"},
		{prefix: p("64:ff9b:1::/48"), what: "local-use NAT64"},
		{prefix: p("100::/64"), what: "discard-only"},
		{prefix: p("2001::/32"), what: "Teredo"},
		{prefix: p("2001:db8::/32"), what: "documentation"},
		{prefix: p("2001::/23"), what: "IETF protocol assignments"},
		{prefix: p("2002::/16"), what: "6to4"},
		{prefix: p("fe80::/10"), what: "link-local"},
		{prefix: p("fec0::/10"), what: "site-local (deprecated)"},
		{prefix: p("ff00::/8"), what: "multicast"},
	}
}

// privateRanges are allowed only with AllowPrivate or an explicit allow.
func privateRanges() []special {
	p := netip.MustParsePrefix
	return []special{
		{prefix: p("10.0.0.0/8"), what: "private (RFC 1918)"},
		{prefix: p("172.16.0.0/12"), what: "private (RFC 1918)"},
		{prefix: p("192.168.0.0/16"), what: "private (RFC 1918)"},
		{prefix: p("fc00::/7"), what: "unique local (ULA)"},
	}
}

func firstSpecial(table []special, a netip.Addr) (special, bool) {
	for _, s := range table {
		if s.prefix.Contains(a) {
			return s, true
		}
	}
	return special{}, false
}
