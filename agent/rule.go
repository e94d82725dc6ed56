package agent

import (
	"fmt"
	"strconv"
	"strings"
)

// Rule is one firewall rule (or a chain policy) as read from a listing, in
// a shape common to iptables, nftables and ufw.
type Rule struct {
	Source   string      `json:"source"`           // "iptables", "ip6tables", "nft", "ufw"
	Family   string      `json:"family,omitempty"` // nft family: ip, ip6, inet, ...
	Table    string      `json:"table"`
	Chain    string      `json:"chain"`
	Position int         `json:"position"`         // 1-based, as `iptables -L --line-numbers` counts; 0 for a policy
	Handle   int         `json:"handle,omitempty"` // nft rule handle, for `nft delete rule ... handle N`
	Text     string      `json:"text"`             // the rule as its tool prints it
	Target   string      `json:"target"`           // ACCEPT, DROP, REJECT, a chain name, ...
	Packets  uint64      `json:"packets"`
	Bytes    uint64      `json:"bytes"`
	Counters bool        `json:"counters"`        // Packets/Bytes were in the listing
	Proto    string      `json:"proto,omitempty"` // "tcp", "udp"; "" matches any
	Ports    []PortRange `json:"ports,omitempty"` // destination ports; empty matches any
	NotPorts bool        `json:"not_ports,omitempty"`
	// Conditional is set when the rule also matches on something this
	// package does not evaluate (source address, interface, conntrack
	// state...): it may or may not apply to a given peer.
	Conditional bool `json:"conditional,omitempty"`
	Policy      bool `json:"policy,omitempty"` // the chain's default verdict, not a rule
	Hook        bool `json:"hook,omitempty"`   // the chain is where inbound packets start (INPUT, nft hook input)
}

// PortRange is an inclusive destination port range; From == To for one port.
type PortRange struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// Matches says whether the rule names port explicitly for proto (a port
// list or range containing it, or a negated one excluding it).
func (r Rule) Matches(port int, proto string) bool {
	if r.Policy || len(r.Ports) == 0 || !r.protoOK(proto) {
		return false
	}
	in := false
	for _, pr := range r.Ports {
		if port >= pr.From && port <= pr.To {
			in = true
			break
		}
	}
	return in != r.NotPorts
}

// CatchAll says whether the rule applies to every packet of proto with no
// port or other condition: "-A INPUT -j DROP", "-p tcp -j REJECT".
func (r Rule) CatchAll(proto string) bool {
	return !r.Policy && len(r.Ports) == 0 && !r.Conditional && r.protoOK(proto)
}

func (r Rule) protoOK(proto string) bool {
	return r.Proto == "" || proto == "" || strings.EqualFold(r.Proto, proto)
}

// Blocks says whether the rule's verdict stops the packet.
func (r Rule) Blocks() bool {
	switch strings.ToUpper(r.Target) {
	case "DROP", "REJECT", "DENY":
		return true
	}
	return false
}

// Accepts says whether the rule's verdict lets the packet in.
func (r Rule) Accepts() bool {
	switch strings.ToUpper(r.Target) {
	case "ACCEPT", "ALLOW":
		return true
	}
	return false
}

// Relevant says whether the rule matters for inbound port/proto: it names
// the port, or it is a blocking catch-all or policy of an inbound chain.
func (r Rule) Relevant(port int, proto string) bool {
	switch {
	case r.Matches(port, proto):
		return true
	case r.Policy:
		return r.Hook && r.Blocks()
	default:
		return r.Hook && r.Blocks() && r.CatchAll(proto)
	}
}

// Describe is the one-line evidence: `DROP rule #3 in INPUT has 14 packets`.
func (r Rule) Describe() string {
	var b strings.Builder
	if r.Policy {
		fmt.Fprintf(&b, "%s policy %s", r.Chain, strings.ToUpper(r.Target))
	} else {
		fmt.Fprintf(&b, "%s rule #%d in %s", strings.ToUpper(r.Target), r.Position, r.Chain)
	}
	// iptables is the common case and stays implicit; an ip6tables or
	// legacy rule says so, or it reads like its iptables twin.
	var where []string
	if r.Source != "" && r.Source != "nft" && r.Source != "iptables" && r.Source != "ufw" {
		where = append(where, r.Source)
	}
	if r.Source == "nft" {
		where = append(where, "nft "+r.Family+" "+r.Table)
	} else if r.Table != "" && r.Table != "filter" {
		where = append(where, "table "+r.Table)
	}
	if len(where) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(where, ", "))
	}
	if r.Counters {
		fmt.Fprintf(&b, " has %d packet%s", r.Packets, plural(r.Packets))
	}
	return b.String()
}

func plural(n uint64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// parsePortList reads "8443", "1000:2000", "1000-2000" or a comma list of
// those, as iptables (multiport) and ufw print them.
func parsePortList(s string) ([]PortRange, error) {
	var out []PortRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, ":")
		if !isRange {
			lo, hi, isRange = strings.Cut(part, "-")
		}
		from, err := parsePort(lo)
		if err != nil {
			return nil, err
		}
		to := from
		if isRange && hi == "" {
			to = 65535 // "1024:" means 1024 and up
		} else if isRange {
			if to, err = parsePort(hi); err != nil {
				return nil, err
			}
		}
		if to < from {
			from, to = to, from
		}
		out = append(out, PortRange{From: from, To: to})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty port list %q", s)
	}
	return out, nil
}

func parsePort(s string) (int, error) {
	if s == "" {
		return 0, nil // iptables ":1024" means 0:1024
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("port %q: not a number 0-65535", s)
	}
	return n, nil
}
