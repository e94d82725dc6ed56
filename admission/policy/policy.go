// Package policy decides which targets the chat bot may probe. A bot that
// connects to whatever anyone types, from inside a network, is an SSRF and
// scanning tool unless fenced: this package is the fence.
//
// A Decision resolves the name once, judges every address, and hands back
// exactly the vetted addresses; the caller probes those literally (checks.
// Request.Addrs) so a second DNS answer can never slip in (rebinding).
// Every decision names the rule that made it, so the bot can cite it.
package policy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Resolver is the one DNS lookup a decision makes. *net.Resolver satisfies
// it; tests inject fakes.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DefaultMaxPorts is used when Config.MaxPorts is zero.
const DefaultMaxPorts = 64

// Config is the operator's policy, the `policy:` section of the
// configuration as is (config.Config embeds it; the field comments are the
// configuration reference). The zero value is the safe default for a chat
// bot: public addresses only, every port, at most DefaultMaxPorts ports per
// command (MaxPorts 0), private hops of public traces redacted (RedactHops
// nil, see Policy.RedactHop). Ports are written "22" or "80-443". NAT64
// prefixes are RFC 6052 lengths /32 to /96: the IPv4 address embedded in an
// address under one is judged like the well-known 64:ff9b::/96 ones, since
// the translator routes it to that IPv4 address whatever its own IPv6 rule
// says.
type Config struct {
	Allow        []string `yaml:"allow"`          // PORTCHECK_ALLOW (comma-separated): CIDRs, addresses, .suffix hostnames
	Deny         []string `yaml:"deny"`           // PORTCHECK_DENY (comma-separated): same forms as allow; deny wins
	Ports        []string `yaml:"ports"`          // allowed ports/ranges; empty = all
	MaxPorts     int      `yaml:"max_ports"`      // PORTCHECK_MAX_PORTS: ports per command
	AllowPrivate bool     `yaml:"allow_private"`  // RFC 1918 and ULA without listing them
	RedactHops   *bool    `yaml:"redact_hops"`    // hide private/denied hops in traces of public targets
	AllowOnly    bool     `yaml:"allowlist_only"` // only explicitly allowed targets, public ones included
	NAT64        []string `yaml:"nat64_prefixes"` // your own NAT64/SIIT prefixes (RFC 6052 /32-/96): the IPv4 address inside is judged too
}

// FromEnv returns base with PORTCHECK_ALLOW and PORTCHECK_DENY
// (comma-separated) appended, so a deployment opens its own networks with
// one variable instead of copying a whole policy file.
func FromEnv(base Config, getenv func(string) string) Config {
	c := base
	c.Allow = append(append([]string(nil), base.Allow...), SplitList(getenv("PORTCHECK_ALLOW"))...)
	c.Deny = append(append([]string(nil), base.Deny...), SplitList(getenv("PORTCHECK_DENY"))...)
	return c
}

// Decision is the verdict on one command's target.
type Decision struct {
	Allowed bool
	Host    string       // as given
	Addrs   []netip.Addr // when Allowed: exactly the addresses that were checked; probe these and nothing else
	Rule    string       // the rule that decided, to cite to the user
	Reason  string       // what was found, for the user; shown with Rule, so it does not repeat it
	// DNSError is set when the name did not resolve: no policy was broken,
	// so the bot reports a dns_error verdict rather than a denial.
	DNSError bool
	NotFound bool // with DNSError: no such name or no addresses, not a resolver failure
}

// Policy decides targets. It is safe for concurrent use.
type Policy struct {
	res          Resolver
	allow, deny  []Rule
	ports        []PortRange
	maxPorts     int
	allowPrivate bool
	allowOnly    bool
	redactHops   bool
	unrestricted bool
	defaults     []special
	private      []special
	embeddings   []embedding
}

// New builds a Policy from c. r does the one lookup per decision; nil uses
// the system resolver.
func New(c Config, r Resolver) (*Policy, error) {
	if r == nil {
		r = &net.Resolver{}
	}
	p := &Policy{
		res:          r,
		maxPorts:     c.MaxPorts,
		allowPrivate: c.AllowPrivate,
		allowOnly:    c.AllowOnly,
		redactHops:   c.RedactHops == nil || *c.RedactHops,
		defaults:     defaultDeny(),
		private:      privateRanges(),
		embeddings:   builtinEmbeddings(),
	}
	var err error
	if p.allow, err = ParseRules(c.Allow); err != nil {
		return nil, fmt.Errorf("policy: allow: %w", err)
	}
	if p.deny, err = ParseRules(c.Deny); err != nil {
		return nil, fmt.Errorf("policy: deny: %w", err)
	}
	for _, s := range c.NAT64 {
		pr, err := ParseNAT64Prefix(s)
		if err != nil {
			return nil, fmt.Errorf("policy: nat64_prefixes: %w", err)
		}
		p.embeddings = append(p.embeddings, configuredNAT64(pr))
	}
	for _, s := range c.Ports {
		pr, err := ParsePortRange(s)
		if err != nil {
			return nil, fmt.Errorf("policy: ports: %w", err)
		}
		p.ports = append(p.ports, pr)
	}
	switch {
	case p.maxPorts == 0:
		p.maxPorts = DefaultMaxPorts
	case p.maxPorts < 0:
		return nil, fmt.Errorf("policy: max_ports %d must be positive", c.MaxPorts)
	}
	return p, nil
}

// Shell is the policy for `portcheck shell`: the bot in your own terminal,
// where checking localhost and your LAN is the point. Loopback and private
// ranges are allowed; cloud metadata and the other default denies still
// hold, and hops are not redacted.
func Shell(r Resolver) *Policy {
	no := false
	p, err := New(Config{
		Allow:        []string{"127.0.0.0/8", "::1/128"},
		AllowPrivate: true,
		RedactHops:   &no,
	}, r)
	if err != nil { // the literal config above cannot fail to parse
		panic(fmt.Sprintf("policy: shell preset: %v", err))
	}
	return p
}

// Unrestricted is "no policy", for `portcheck check`: your machine, your
// terminal. It still parses the host (so odd encodings resolve to the
// address they mean) and resolves once, returning the addresses to probe.
func Unrestricted(r Resolver) *Policy {
	p, err := New(Config{RedactHops: new(bool)}, r)
	if err != nil {
		panic(fmt.Sprintf("policy: unrestricted preset: %v", err))
	}
	p.unrestricted = true
	return p
}

// Decide judges host with the given ports. It resolves a name exactly once
// and checks every answer; one denied answer denies the whole name, because
// the prober (and an attacker's DNS) could pick any of them.
func (p *Policy) Decide(ctx context.Context, host string, ports []int) Decision {
	d := Decision{Host: host}
	if rule, reason, ok := p.checkPorts(ports); !ok {
		d.Rule, d.Reason = rule, reason
		return d
	}
	t, err := parseHost(host)
	if err != nil {
		d.Rule, d.Reason = "invalid host", err.Error()
		return d
	}
	if t.Addr.IsValid() {
		ok, rule := p.checkAddr(t.Addr, nil)
		d.Allowed, d.Rule = ok, rule
		if ok {
			d.Addrs = []netip.Addr{t.Addr}
			d.Reason = fmt.Sprintf("%s is allowed", t.Addr)
		} else {
			d.Reason = fmt.Sprintf("%s is denied", t.Addr)
		}
		return d
	}

	var byName *Rule
	if !p.unrestricted {
		// Name rules are judged before any lookup: a denied name costs no
		// DNS query either.
		for _, r := range p.deny {
			if r.matchName(t.Name) {
				d.Rule = "explicit deny " + r.String()
				d.Reason = fmt.Sprintf("%s is denied by name", t.Name)
				return d
			}
		}
		for i, r := range p.allow {
			if r.matchName(t.Name) {
				byName = &p.allow[i]
				break
			}
		}
	}

	answers, err := p.res.LookupNetIP(ctx, "ip", t.Name)
	if err != nil {
		d.DNSError, d.Rule = true, "dns"
		var de *net.DNSError
		d.NotFound = errors.As(err, &de) && de.IsNotFound
		d.Reason = fmt.Sprintf("%s did not resolve: %v", t.Name, err)
		return d
	}
	addrs := uniqueAddrs(answers)
	if len(addrs) == 0 {
		d.DNSError, d.Rule, d.NotFound = true, "dns", true
		d.Reason = fmt.Sprintf("%s has no addresses", t.Name)
		return d
	}
	var rules []string
	for _, a := range addrs {
		ok, rule := p.checkAddr(a, byName)
		if !ok {
			d.Rule = rule
			d.Reason = fmt.Sprintf("%s resolves to %s; %s is denied, so the name is (one denied address denies the whole name)",
				t.Name, joinAddrs(addrs), a)
			return d
		}
		if !contains(rules, rule) {
			rules = append(rules, rule)
		}
	}
	d.Allowed, d.Addrs, d.Rule = true, addrs, strings.Join(rules, "; ")
	d.Reason = fmt.Sprintf("%s resolves to %s: allowed", t.Name, joinAddrs(addrs))
	return d
}

// CheckAddr judges one literal address with no DNS: a worker can re-check
// the addresses a job carries before probing them (defence in depth), and
// the bot can judge trace hops.
func (p *Policy) CheckAddr(a netip.Addr) (allowed bool, rule string) {
	if !a.IsValid() {
		return false, "invalid address"
	}
	return p.checkAddr(a, nil)
}

// checkAddr applies the precedence: explicit deny > embedded IPv4 >
// explicit allow > default deny > private (unless allowed) > allow.
//
// An IPv6 address that embeds IPv4 addresses (see embed.go) passes only if
// every IPv4 address it embeds passes the IPv4 rules on its own and the
// IPv6 address then passes its own rules: an allow of the wrapper
// (64:ff9b::/96 for DNS64) never opens a denied IPv4 address, and an
// allowed IPv4 address does not open a wrapper that is denied by default
// (2002::/16, ::ffff:0:0:0/96 ...). A denial cites the IPv4 rule and the
// form it was found in.
//
// An explicit allow lifts a default deny only when it is at least as
// specific as the denied range: "allow 0.0.0.0/0" must not quietly open
// loopback and metadata, and "allow 169.254.0.0/16" opens link-local but
// not 169.254.169.254/32 — the operator has to name what they mean. byName,
// when set, is the allow rule that matched the hostname: it opens private
// answers, never the default denies, since a DNS answer is not the
// operator's word on an address.
func (p *Policy) checkAddr(a netip.Addr, byName *Rule) (bool, string) {
	a = a.WithZone("") // netip.Prefix.Contains never matches a zoned address
	if p.unrestricted {
		return true, "no policy"
	}
	for _, r := range p.deny {
		if r.Prefix.IsValid() && r.Prefix.Contains(a) {
			return false, "explicit deny " + r.String()
		}
	}

	// The one rule for IPv4 inside IPv6: every embedded IPv4 address is
	// judged by the IPv4 rules (they embed nothing, so this recurses
	// once). The unlikely readings of the local-use NAT64 prefix come
	// after the address's own rule: they deny just the same, but a reader
	// learns more from "default deny: local-use NAT64" than from a guess.
	var inner []string
	judge := func(unlikely bool) (bool, string) {
		for _, e := range embedded(p.embeddings, a) {
			if e.unlikely != unlikely {
				continue
			}
			ok, rule := p.checkAddr(e.v4, byName)
			if !ok {
				return false, fmt.Sprintf("%s (embedded in %s)", rule, e)
			}
			if !unlikely {
				inner = append(inner, fmt.Sprintf("embeds %s: %s", e.v4, rule))
			}
		}
		return true, ""
	}
	if ok, rule := judge(false); !ok {
		return false, rule
	}
	ok, rule := p.checkOwn(a, byName)
	if !ok {
		return false, rule
	}
	if ok, rule := judge(true); !ok {
		return false, rule
	}
	if len(inner) > 0 {
		rule += " (" + strings.Join(inner, "; ") + ")"
	}
	return true, rule
}

// checkOwn judges a by its own rules, explicit deny and embedded addresses
// already checked.
func (p *Policy) checkOwn(a netip.Addr, byName *Rule) (bool, string) {
	var best netip.Prefix
	for _, r := range p.allow {
		if r.Prefix.IsValid() && r.Prefix.Contains(a) && (!best.IsValid() || r.Prefix.Bits() > best.Bits()) {
			best = r.Prefix
		}
	}

	if def, ok := firstSpecial(p.defaults, a); ok {
		if best.IsValid() && best.Bits() >= def.prefix.Bits() {
			return true, "explicit allow " + best.String()
		}
		rule := "default deny: " + def.String()
		if best.IsValid() {
			rule += fmt.Sprintf(" (allow %s is broader; allow %s itself to lift it)", best, def.prefix)
		}
		return false, rule
	}

	if pr, ok := firstSpecial(p.private, a); ok {
		switch {
		case best.IsValid() && best.Bits() >= pr.prefix.Bits():
			return true, "explicit allow " + best.String()
		case byName != nil:
			return true, "explicit allow " + byName.String()
		case p.allowPrivate:
			return true, "allow_private: " + pr.String()
		}
		return false, fmt.Sprintf("private range not allowed: %s (add it to PORTCHECK_ALLOW or set allow_private)", pr)
	}

	switch {
	case best.IsValid():
		return true, "explicit allow " + best.String()
	case byName != nil:
		return true, "explicit allow " + byName.String()
	case p.allowOnly:
		return false, "allowlist only: no allow rule covers it"
	}
	return true, "public address"
}

// checkPorts enforces the port count and the allowed ports.
func (p *Policy) checkPorts(ports []int) (rule, reason string, ok bool) {
	if p.unrestricted {
		return "", "", true
	}
	if len(ports) > p.maxPorts {
		return fmt.Sprintf("max ports %d", p.maxPorts),
			fmt.Sprintf("%d ports requested; at most %d per command", len(ports), p.maxPorts), false
	}
	for _, port := range ports {
		if port < 1 || port > 65535 {
			return "invalid port", fmt.Sprintf("%d is not a TCP port (1-65535)", port), false
		}
		if len(p.ports) == 0 {
			continue
		}
		in := false
		for _, r := range p.ports {
			if r.Lo <= port && port <= r.Hi {
				in = true
				break
			}
		}
		if !in {
			rule := "allowed ports " + portsString(p.ports)
			return rule, fmt.Sprintf("port %d is not allowed", port), false
		}
	}
	return "", "", true
}

// RedactHop reports whether a trace hop should be shown redacted. For a
// public target, hops inside private or denied ranges reveal the internal
// network to whoever typed the command; for an internal target the asker
// already sees internal addresses, so nothing is hidden. The hop equal to
// the target is never hidden.
func (p *Policy) RedactHop(target, hop netip.Addr) bool {
	if !p.redactHops || !hop.IsValid() {
		return false
	}
	target, hop = target.Unmap().WithZone(""), hop.Unmap().WithZone("")
	if hop == target || !p.isPublic(target) {
		return false
	}
	if !p.isPublic(hop) {
		return true
	}
	for _, r := range p.deny {
		if r.Prefix.IsValid() && r.Prefix.Contains(hop) {
			return true
		}
	}
	return false
}

func (p *Policy) isPublic(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	if _, ok := firstSpecial(p.defaults, a); ok {
		return false
	}
	if _, ok := firstSpecial(p.private, a); ok {
		return false
	}
	// An address under a configured NAT64 prefix is only as public as
	// the IPv4 address it leads to.
	for _, e := range embedded(p.embeddings, a) {
		if !p.isPublic(e.v4) {
			return false
		}
	}
	return true
}

// uniqueAddrs unmaps and de-duplicates resolver answers. Go's resolver may
// hand back IPv4 answers in IPv4-mapped form; they are A records, not a
// user typing ::ffff:..., so they are judged (and probed) as IPv4.
func uniqueAddrs(in []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(in))
	for _, a := range in {
		if !a.IsValid() {
			continue
		}
		a = a.Unmap()
		dup := false
		for _, b := range out {
			if a == b {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
