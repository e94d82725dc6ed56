package checks

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// HintsFor returns the remediation steps the evidence supports for a
// diagnosis: the seeds' troubleshooting advice with the real port, address
// and router filled in, as commands a person can paste. It only suggests
// what the evidence points at: no hosts.deny when the port is filtered, no
// security group when the host itself sent a reject. It never returns nil,
// so the JSON "hints" field is always an array.
func HintsFor(d Diagnosis, e Evidence) []Hint {
	c := newHintCtx(d, e)
	var hs []Hint
	switch d.Verdict {
	case VerdictOpen:
		hs = c.open()
	case VerdictClosed:
		hs = c.closed()
	case VerdictServiceRefused:
		hs = c.serviceRefused()
	case VerdictRejectedByHost:
		hs = c.hostFirewall(true)
	case VerdictFilteredAtHost:
		hs = c.hostFirewall(false)
	case VerdictRejectedInPath:
		hs = c.rejectedInPath()
	case VerdictFilteredInPath:
		hs = c.filteredInPath()
	case VerdictHostUnreachable:
		hs = c.hostUnreachable()
	case VerdictNetworkUnreachable:
		hs = c.networkUnreachable()
	case VerdictDNSError:
		hs = c.dnsError()
	case VerdictInconclusive:
		hs = c.inconclusive()
	}
	if hs == nil {
		hs = []Hint{}
	}
	return hs
}

// hintCtx is the evidence reduced to what the hint texts need, with every
// value that lands in a command already shell-safe.
type hintCtx struct {
	d        Diagnosis
	e        Evidence
	port     int
	addr     string // the address probed (shell-safe), or the host when none
	host     string // the name as given (shell-safe)
	v6       bool
	by       string // who answered (RST or ICMP sender), shell-safe, may be ""
	lastHop  *Hop
	daemon   daemon
	pingUp   bool // the host answered ping
	isPublic bool // addr is a global unicast address (NAT/ISP hints make sense)
}

func newHintCtx(d Diagnosis, e Evidence) hintCtx {
	c := hintCtx{d: d, e: e, port: e.Port, host: shellSafe(e.Host), lastHop: d.LastHop}
	addr := ""
	if e.Connect != nil {
		addr = hostOnly(e.Connect.Address)
	}
	if addr == "" && len(e.Resolve.Addresses) > 0 {
		addr = hostOnly(e.Resolve.Addresses[0])
	}
	if addr == "" {
		addr = e.Host
	}
	c.addr = shellSafe(addr)
	if a, err := netip.ParseAddr(addr); err == nil {
		c.v6 = a.Is6() && !a.Is4In6()
		c.isPublic = isPublic(a)
	}
	by := d.ReportedBy
	if by == "" && e.Connect != nil {
		by = e.Connect.ReportedBy
	}
	c.by = shellSafe(hostOnly(by))
	if c.lastHop == nil && e.Trace != nil {
		c.lastHop = e.Trace.LastAnswered()
	}
	if e.Ping != nil && e.Ping.Received > 0 {
		c.pingUp = true
	}
	svc := ""
	if e.Service != nil {
		svc = e.Service.Name
	}
	c.daemon = daemonFor(e.Port, svc)
	return c
}

// isPublic reports whether an address is routable on the internet, the
// only case where NAT port forwarding or an ISP can be the problem.
// IsGlobalUnicast alone says yes to documentation, benchmarking (198.18/15,
// the lab) and CGNAT space, hence the list.
func isPublic(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range notPublic() {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// notPublic is the special-purpose space IsGlobalUnicast calls global.
func notPublic() [12]netip.Prefix {
	return [...]netip.Prefix{
		netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64}), 10),
		netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 0}), 24),
		netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2}), 24),
		netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18}), 15),
		netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100}), 24),
		netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113}), 24),
		netip.PrefixFrom(netip.AddrFrom4([4]byte{240}), 4),
		netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8}), 32),
		netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01}), 23),
		netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x02}), 16),
		netip.PrefixFrom(netip.AddrFrom16([16]byte{0, 0x64, 0xff, 0x9b}), 96),
		netip.PrefixFrom(netip.AddrFrom16([16]byte{0x01}), 64),
	}
}

// hostOnly strips a port from "addr:port" / "[v6]:port" forms.
func hostOnly(s string) string {
	if _, err := netip.ParseAddr(s); err == nil {
		return s // an address alone (the common case): nothing to strip
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}

// shellSafe returns s when it is plain (names, addresses), else s in single
// quotes, so a surprising value can never turn a suggested command into a
// different one.
func shellSafe(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:%/", r)) {
			plain = false
			break
		}
	}
	if plain || s == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// portText is the port in digits.
func (c hintCtx) portText() string { return strconv.Itoa(c.port) }

// hostPort is addr:port for commands (brackets for IPv6).
func (c hintCtx) hostPort(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + fmt.Sprint(c.port)
	}
	return fmt.Sprintf("%s:%d", host, c.port)
}

// iptables picks ip6tables for IPv6 targets: the v4 table does not see them.
func (c hintCtx) iptables() string {
	if c.v6 {
		return "ip6tables"
	}
	return "iptables"
}

func (c hintCtx) lastHopText() string {
	if c.lastHop == nil || c.lastHop.Address == "" {
		return ""
	}
	return fmt.Sprintf("%s (hop %d)", c.lastHop.Address, c.lastHop.TTL)
}

func (c hintCtx) open() []Hint {
	s := c.e.Service
	if s == nil || s.TLS == nil {
		return nil
	}
	name := c.host
	check := fmt.Sprintf("openssl s_client -connect %s -servername %s </dev/null 2>/dev/null | openssl x509 -noout -subject -issuer -dates", c.hostPort(c.addr), name)
	t := s.TLS
	switch {
	case t.Error != "":
		return []Hint{{
			Text:     fmt.Sprintf("Port %d accepts connections but the TLS handshake failed (%s): check the certificate and TLS settings of the service.", c.port, t.Error),
			Commands: []string{fmt.Sprintf("openssl s_client -connect %s -servername %s </dev/null", c.hostPort(c.addr), name)},
		}}
	case t.NotAfter.IsZero() || t.DaysLeft >= 14:
		return nil
	}
	when := fmt.Sprintf("expires in %d days", t.DaysLeft)
	if t.DaysLeft < 0 {
		when = fmt.Sprintf("expired %d days ago", -t.DaysLeft)
	}
	h := Hint{
		Text:     fmt.Sprintf("The certificate (%s) %s, on %s: renew it.", orDash(t.Subject), when, t.NotAfter.UTC().Format("2006-01-02")),
		Commands: []string{check},
	}
	if strings.Contains(t.Issuer, "Let's Encrypt") {
		h.Commands = append(h.Commands, "sudo certbot renew")
	}
	return []Hint{h}
}

func (c hintCtx) closed() []Hint {
	hs := make([]Hint, 0, 7)
	if forwardedBy(c.e) {
		hs = append(hs, Hint{
			Text: c.addr + " forwards TCP " + c.portText() + " to an internal host, where nothing listens on the forwarded port. Check the port-forward rule's internal address and port, then the service on that host:",
			Commands: []string{
				"sudo " + c.iptables() + " -t nat -L PREROUTING -v -n --line-numbers | grep " + c.portText(),
				"sudo ss -tlnp   # on the internal host",
			},
		})
	}
	if c.by != "" && c.by != c.addr {
		hs = append(hs, Hint{
			Text: "The reset came from " + c.by + ", not from " + c.addr + ": a firewall or load balancer in front of the host answers for it. Check its rules or its backend pool for port " + c.portText() + ".",
		})
	}
	// Concatenation rather than fmt: a range prints this for every closed
	// port, sixty thousand times.
	dm, port := c.daemon, c.portText()
	hs = append(hs, Hint{
		Text: "Nothing accepts connections on " + c.addr + " port " + port + " (the host answered with a TCP reset). On the host, see whether anything listens on port " + port + ", and on which address:",
		Commands: []string{
			"sudo ss -tlnp 'sport = :" + port + "'",
			"sudo netstat -tlnp | grep ':" + port + " '",
		},
	})
	// A loopback target reaches a loopback-only listener, so the classic
	// "bound to 127.0.0.1" cause cannot be it; say it only for real addresses.
	if a, err := netip.ParseAddr(c.addr); err != nil || !a.IsLoopback() {
		hs = append(hs, Hint{
			Text:     "If it listens only on 127.0.0.1 or ::1 (or another interface), other machines cannot reach it: make it listen on " + c.addr + " or 0.0.0.0 (" + dm.listenSetting() + "), then restart it.",
			Commands: dm.listenCheck,
		})
	}
	if dm.unit != "" {
		hs = append(hs, Hint{
			Text: "If nothing listens, start " + dm.unit + " and see why it stopped:",
			Commands: []string{
				"sudo systemctl status " + dm.unit,
				"sudo journalctl -u " + dm.unit + " -n 50 --no-pager",
				"sudo systemctl start " + dm.unit,
			},
		})
	} else {
		hs = append(hs, Hint{
			Text:     "If nothing listens, start the service (and see why it stopped: failed units, its log):",
			Commands: []string{"systemctl list-units --type=service --state=failed"},
		})
	}
	if c.nonLocal() && !forwardedBy(c.e) {
		hs = append(hs, c.portForward())
	}
	hs = append(hs, Hint{
		Text: "A firewall rule REJECT --reject-with tcp-reset answers the same way: if the service does listen on " + c.addr + ", look for one:",
		Commands: []string{
			"sudo " + c.iptables() + " -L INPUT -v -n --line-numbers | grep -i reset",
			"sudo nft list ruleset | grep -n 'tcp reset'",
		},
	})
	return hs
}

// hostFirewall covers a reject sent by the target itself and silence at the
// target: both are the host's firewall (or, for silence, a cloud filter in
// front of it, which drops but never rejects).
func (c hintCtx) hostFirewall(rejected bool) []Hint {
	var first Hint
	if rejected {
		first.Text = fmt.Sprintf("%s itself rejects port %d with %s: its host firewall has a REJECT rule for the port. Find the rule:", c.addr, c.port, reasonWords(c.d.Reason))
	} else {
		path := "Probes to port %[1]d get no answer from %[2]s"
		if hop := c.lastHopText(); hop != "" {
			path = fmt.Sprintf("Probes to port %%[1]d get through the path up to %s but %%[2]s never answers", hop)
		}
		up := ""
		if c.pingUp {
			up = ", although it answers ping (so the host is up)"
		}
		first.Text = fmt.Sprintf(path+up+": a firewall on the host drops them (DROP rule), or a cloud security group in front of it. Find the rule:", c.port, c.addr)
	}
	first.Commands = []string{
		fmt.Sprintf("sudo %s -L INPUT -v -n --line-numbers", c.iptables()),
		"sudo nft list ruleset",
	}
	hs := []Hint{
		first,
		{
			Text: "Test with a temporary rule at the top of INPUT, check again, then remove the rule:",
			Commands: []string{
				fmt.Sprintf("sudo %s -I INPUT 1 -p tcp --dport %d -j ACCEPT", c.iptables(), c.port),
				"portcheck check " + c.hostPort(c.addr),
				fmt.Sprintf("sudo %s -D INPUT 1", c.iptables()),
			},
		},
		{
			Text: "Open the port for good with the firewall the host uses (ufw, firewalld or nftables):",
			Commands: []string{
				fmt.Sprintf("sudo ufw allow %d/tcp", c.port),
				fmt.Sprintf("sudo firewall-cmd --permanent --add-port=%d/tcp && sudo firewall-cmd --reload", c.port),
				fmt.Sprintf("sudo nft insert rule inet filter input tcp dport %d accept", c.port),
			},
		},
	}
	if !rejected && (c.e.Path != nil && c.e.Path.HostHops == 0 || forwardedBy(c.e)) {
		hs = append(hs, c.routeBack())
	}
	if !rejected && forwardedBy(c.e) {
		hs = append([]Hint{{
			Text: fmt.Sprintf("%s forwards TCP %d to an internal host: the drop is on that host (its firewall), or the forward points at a host that ignores the port. Check the forward's internal address, then that host's firewall:", c.addr, c.port),
			Commands: []string{
				fmt.Sprintf("sudo %s -t nat -L PREROUTING -v -n --line-numbers | grep %d", c.iptables(), c.port),
				"sudo iptables -L INPUT -v -n --line-numbers   # on the internal host",
			},
		}}, hs...)
	}
	if !rejected {
		hs = append(hs, Hint{
			Text: fmt.Sprintf("In a cloud, allow TCP %d in the instance's security group / firewall rule / NSG (SOURCE_CIDR: the address you connect from):", c.port),
			Commands: []string{
				fmt.Sprintf("aws ec2 authorize-security-group-ingress --group-id SG_ID --protocol tcp --port %d --cidr SOURCE_CIDR", c.port),
				fmt.Sprintf("gcloud compute firewall-rules create allow-tcp-%d --network NETWORK --direction INGRESS --allow tcp:%d --source-ranges SOURCE_CIDR", c.port, c.port),
				fmt.Sprintf("az network nsg rule create --resource-group RESOURCE_GROUP --nsg-name NSG_NAME --name allow-tcp-%d --priority 1000 --direction Inbound --access Allow --protocol Tcp --destination-port-ranges %d --source-address-prefixes SOURCE_CIDR", c.port, c.port),
			},
		})
		if c.isPublic {
			hs = append(hs, c.portForward())
		}
	}
	return hs
}

// inconclusive says how to settle a silent port whose deciding probe went
// unanswered: ask again once the routers' ICMP budget refilled, look from
// the host itself, and what each outcome would mean.
func (c hintCtx) inconclusive() []Hint {
	hs := []Hint{{
		Text: "Routers send about one ICMP error per second to each source (many fewer on some hardware): check again in a few seconds, with the trace, to give the silent hop a refilled budget:",
		Commands: []string{
			"sleep 10; portcheck check --trace " + c.hostPort(c.addr),
		},
	}, {
		Text: fmt.Sprintf("Settle it from the host: see whether SYNs to port %d arrive and which rule counts them (the portcheck agent does both):", c.port),
		Commands: []string{
			fmt.Sprintf("sudo portcheck agent --port %d", c.port),
			fmt.Sprintf("sudo tcpdump -ni any 'tcp dst port %d and tcp[tcpflags] & tcp-syn != 0' -c 5", c.port),
			fmt.Sprintf("sudo %s -L INPUT -v -n --line-numbers", c.iptables()),
		},
	}}
	for _, v := range c.d.Likely {
		if v == VerdictRejectedByHost {
			hs = append(hs, Hint{
				Text:     "If the host's rules REJECT the port, the silence was the host's own ICMP rate limit; look for the rule:",
				Commands: []string{fmt.Sprintf("sudo %s -L INPUT -v -n --line-numbers | grep -i reject", c.iptables())},
			})
		}
	}
	return hs
}

// nonLocal: the target is not this machine and not on its own network
// (a router is between), so it may be a gateway that forwards ports.
func (c hintCtx) nonLocal() bool {
	a, err := netip.ParseAddr(c.addr)
	if err != nil || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return false
	}
	return c.e.Path == nil || c.e.Path.HostHops != 1
}

// routeBack is what to check on a host that is up but may not route its
// answers back (the seed's "route add default gw").
func (c hintCtx) routeBack() Hint {
	ip := "ip"
	if c.v6 {
		ip = "ip -6"
	}
	return Hint{
		Text: fmt.Sprintf("If %s has no route back to you, its answers go nowhere: on it, see how it would reach your address (YOUR_ADDRESS as it sees you; behind NAT, your public address) and whether it has a default gateway:", c.addr),
		Commands: []string{
			ip + " route get YOUR_ADDRESS",
			ip + " route show default",
			"sudo " + ip + " route add default via GATEWAY_IP   # if there is none (route add default gw GATEWAY_IP on old systems)",
		},
	}
}

func (c hintCtx) portForward() Hint {
	return Hint{Text: "If " + c.addr + " is a router's public address (home or office NAT), check that the router forwards TCP port " + c.portText() + " to the server's internal address."}
}

// ispBlocked lists ports residential ISPs commonly block (and clouds block
// outbound 25): only for these is "ask the ISP" worth a line of its own.
func ispBlocked(port int) bool {
	return port == 25 || port == 80 || port == 445 || port >= 135 && port <= 139
}

func (c hintCtx) ispHint() Hint {
	return Hint{Text: fmt.Sprintf("Many ISPs block port %d on residential lines (and most clouds block outbound 25): ask the ISP, or test from another network.", c.port)}
}

func (c hintCtx) pathExtras() []Hint {
	var hs []Hint
	if c.isPublic {
		hs = append(hs, c.portForward())
	}
	if ispBlocked(c.port) {
		hs = append(hs, c.ispHint())
	}
	return hs
}

func (c hintCtx) rejectedInPath() []Hint {
	by := c.by
	if by == "" {
		by = "a router on the path"
	}
	how := reasonWords(c.d.Reason)
	if c.d.Reason == ReasonNoResponse && c.lastHop != nil && c.lastHop.ICMP != "" {
		// The connect heard nothing; a TTL-limited SYN drew the reject.
		how = "ICMP " + c.lastHop.ICMP
	}
	list := []string{
		fmt.Sprintf("sudo %s -L FORWARD -v -n --line-numbers", c.iptables()),
		"sudo nft list ruleset",
	}
	if c.d.Reason == ReasonReset {
		how = "a TCP reset forged with the host's address (REJECT --reject-with tcp-reset, or a next-generation firewall's reset)"
		list = []string{
			fmt.Sprintf("sudo %s -L FORWARD -v -n --line-numbers | grep -i reset", c.iptables()),
			"sudo nft list ruleset | grep -n 'reject with tcp reset'",
		}
	}
	hs := []Hint{
		{
			Text:     fmt.Sprintf("Router %s rejects port %d with %s before it reaches %s: a network ACL or firewall there, not the server. Ask whoever runs %s; on a Linux router, list its FORWARD rules:", by, c.port, how, c.addr, by),
			Commands: list,
		},
		{
			Text: "On that router, test with a temporary rule at the top of FORWARD, check again, then remove it:",
			Commands: []string{
				fmt.Sprintf("sudo %s -I FORWARD 1 -p tcp -d %s --dport %d -j ACCEPT", c.iptables(), c.addr, c.port),
				"portcheck check " + c.hostPort(c.addr),
				fmt.Sprintf("sudo %s -D FORWARD 1", c.iptables()),
			},
		},
	}
	return append(hs, c.pathExtras()...)
}

func (c hintCtx) filteredInPath() []Hint {
	var h Hint
	other := ""
	if c.e.ControlTrace != nil && c.e.ControlTrace.Reached {
		other = fmt.Sprintf(" while %s traffic reaches %s", c.e.ControlTrace.Proto, c.addr)
	}
	if hop := c.lastHopText(); hop != "" {
		h.Text = fmt.Sprintf("Probes to port %d die after %s%s: a network firewall or ACL just past %s drops port %d (a corporate firewall, a cloud network ACL, or the ISP). Ask whoever runs that network; compare the two traces:", c.port, hop, other, c.lastHop.Address, c.port)
	} else if p := c.e.Path; p != nil && p.HostHops > 2 {
		h.Text = fmt.Sprintf("Probes to port %d never reach hop %d, the router before %s, and no hop before it answered them (routers that send no ICMP): a network firewall on the way drops port %d. Compare the two traces to see how far each gets:", c.port, p.HostHops-1, c.addr, c.port)
	} else {
		h.Text = fmt.Sprintf("Probes to port %d die before the first hop answers%s: a firewall on this machine or the first router drops port %d outbound. Check the local OUTPUT rules and compare the two traces:", c.port, other, c.port)
		h.Commands = append(h.Commands, fmt.Sprintf("sudo %s -L OUTPUT -v -n --line-numbers", c.iptables()))
	}
	h.Commands = append(h.Commands,
		fmt.Sprintf("sudo traceroute -n -T -p %d %s", c.port, c.addr),
		fmt.Sprintf("sudo traceroute -n -I %s", c.addr),
	)
	return append([]Hint{h}, c.pathExtras()...)
}

func (c hintCtx) neighCommands() []string {
	if c.v6 {
		return []string{fmt.Sprintf("ip -6 neigh show %s", c.addr), fmt.Sprintf("ping -6 -c 3 %s", c.addr)}
	}
	return []string{fmt.Sprintf("ip neigh show %s", c.addr), fmt.Sprintf("arping -c 3 %s", c.addr)}
}

func (c hintCtx) hostUnreachable() []Hint {
	var hs []Hint
	switch {
	case c.d.Reason == ReasonICMPHostUnreachable && c.by != "" && c.by == c.addr:
		// The target's own address gave up on ARP: a port forward to an
		// internal host that does not answer.
		hs = append(hs, Hint{
			Text: fmt.Sprintf("%s forwards TCP %d to an internal address nobody answers on. In the router's port-forwarding table (NAT / virtual server), check the internal address of the rule for port %d; if the server got a new address from DHCP, fix the rule or give the server a DHCP reservation. On a Linux gateway:", c.addr, c.port, c.port),
			Commands: []string{
				fmt.Sprintf("sudo %s -t nat -L PREROUTING -v -n --line-numbers | grep %d", c.iptables(), c.port),
				"ip neigh show",
			},
		}, Hint{Text: "If the rule's address is right, the internal host is down or asleep: wake it (Wake-on-LAN, its console) and check it is on the LAN."})
		return hs
	case c.d.Reason == ReasonICMPHostUnreachable && (c.by == "" || c.by == c.addr):
		// Our own kernel gave up: the target is on this machine's LAN.
		hs = append(hs, Hint{
			Text:     fmt.Sprintf("%s is on this machine's network but never answered ARP/neighbour discovery: the host is down, unplugged, or has another address (FAILED/INCOMPLETE below means nothing answers):", c.addr),
			Commands: c.neighCommands(),
		})
	case c.by != "" && c.by != c.addr:
		hs = append(hs, Hint{
			Text:     fmt.Sprintf("%s, the last router before %s, could not reach it (no ARP/neighbour reply on its LAN): the host is down, powered off or unplugged, or the address is wrong. On %s or another machine on that LAN (FAILED/INCOMPLETE means nothing answers):", c.by, c.addr, c.by),
			Commands: c.neighCommands(),
		})
	default:
		where := ""
		if hop := c.lastHopText(); hop != "" {
			where = fmt.Sprintf(" (the trace stops after %s)", hop)
		}
		hs = append(hs, Hint{
			Text: fmt.Sprintf("Nothing answered from %s at all%s: the host is down or powered off, the address is wrong, or everything to it is dropped.", c.addr, where),
			Commands: []string{
				fmt.Sprintf("ping -c 3 %s", c.addr),
				fmt.Sprintf("sudo traceroute -n -T -p %d %s", c.port, c.addr),
			},
		})
	}
	hs = append(hs, Hint{Text: "Check the machine is powered on and its network is up (console, hypervisor or cloud console: is the VM running?)."})
	if c.host != "" && c.host != c.addr {
		hs = append(hs, c.checkName(fmt.Sprintf("Check %s still points at the right address (it resolved to %s):", c.host, c.addr)))
	}
	return hs
}

func (c hintCtx) checkName(text string) Hint {
	return Hint{Text: text, Commands: []string{"getent hosts " + c.host, "dig +short " + c.host}}
}

func (c hintCtx) networkUnreachable() []Hint {
	switch c.d.Reason {
	case ReasonICMPTimeExceeded:
		at := ""
		if c.by != "" {
			at = " (time-exceeded from " + c.by + ")"
		}
		return []Hint{{
			Text: fmt.Sprintf("Packets to %s expire in transit%s: a routing loop. The trace shows the routers passing them back and forth; fix the route on those routers:", c.addr, at),
			Commands: []string{
				fmt.Sprintf("sudo traceroute -n -T -p %d %s", c.port, c.addr),
				"ip route get " + c.addr,
			},
		}}
	case ReasonLocalError:
		why := ""
		if c.e.Connect != nil && c.e.Connect.Error != "" {
			why = " (" + c.e.Connect.Error + ")"
		}
		return []Hint{{
			Text: fmt.Sprintf("This machine could not send to %s%s: check its route and the local OUTPUT firewall rules (a local DROP shows up as \"operation not permitted\"):", c.addr, why),
			Commands: []string{
				"ip route get " + c.addr,
				fmt.Sprintf("sudo %s -L OUTPUT -v -n --line-numbers", c.iptables()),
			},
		}}
	}
	if c.by != "" && c.by != c.addr && c.d.Reason != ReasonNoRoute {
		return []Hint{{
			Text: fmt.Sprintf("Router %s has no route to %s's network: the address is wrong, or routing is broken at that router. On %s:", c.by, c.addr, c.by),
			Commands: []string{
				"ip route get " + c.addr,
				fmt.Sprintf("sudo traceroute -n %s", c.addr),
			},
		}}
	}
	ipr := "ip"
	if c.v6 {
		ipr = "ip -6"
	}
	hs := []Hint{{
		Text: fmt.Sprintf("This machine has no route to %s: check the routing table and the default route (add one through your gateway if it is missing):", c.addr),
		Commands: []string{
			"ip route get " + c.addr,
			ipr + " route show default",
			fmt.Sprintf("sudo %s route add default via GATEWAY_IP", ipr),
		},
	}}
	if c.v6 {
		for _, a := range c.e.Resolve.Addresses {
			if ip, err := netip.ParseAddr(hostOnly(a)); err == nil && ip.Is4() {
				hs = append(hs, Hint{
					Text:     fmt.Sprintf("This machine has no IPv6 route; %s also has the IPv4 address %s: try that.", c.host, ip),
					Commands: []string{"portcheck check " + fmt.Sprintf("%s:%d", ip, c.port)},
				})
				break
			}
		}
	}
	return hs
}

func (c hintCtx) dnsError() []Hint {
	r := c.e.Resolve
	if r.NotFound {
		hs := []Hint{c.checkName(fmt.Sprintf("%s does not exist in DNS: check the spelling (and the zone, if you own it):", c.host))}
		if !strings.Contains(strings.TrimSuffix(c.e.Host, "."), ".") {
			hs = append(hs, Hint{
				Text:     fmt.Sprintf("%s is a short name: it only resolves through a search domain or /etc/hosts. Check them, or use the full name:", c.host),
				Commands: []string{"grep -E '^(search|domain)' /etc/resolv.conf", "grep -w " + c.host + " /etc/hosts"},
			})
		}
		return hs
	}
	why := ""
	if r.Error != "" {
		why = " (" + r.Error + ")"
	}
	return []Hint{
		{
			Text:     fmt.Sprintf("The resolver could not answer for %s%s: check which DNS servers this machine uses and that they answer:", c.host, why),
			Commands: []string{"cat /etc/resolv.conf", "resolvectl status", "dig " + c.host},
		},
		c.checkName("Then check the name itself:"),
	}
}

func (c hintCtx) serviceRefused() []Hint {
	// The summary already carries the engine's detail; quote only what the
	// server itself said, which is what a person would grep the logs for.
	why := ""
	if s := c.e.Service; s != nil && s.Banner != "" {
		line, _, _ := strings.Cut(strings.TrimSpace(s.Banner), "\n")
		line = strings.TrimSpace(line)
		if r := []rune(line); len(r) > 80 {
			line = string(r[:80]) + "…"
		}
		why = fmt.Sprintf(" (it said %q)", line) // %q: no raw control bytes reach a terminal or chat
	}
	dm := c.daemon
	wrap := Hint{
		Text: fmt.Sprintf("%s accepted the connection on port %d, then refused the service%s: TCP wrappers (/etc/hosts.deny) or the application's own access rules turn this client away. Look for a deny rule on the host; comment the line out with '#' (takes effect at once, no restart):", c.addr, c.port, why),
	}
	if dm.binary != "" {
		wrap.Commands = []string{
			fmt.Sprintf("sudo grep -i %s /etc/hosts.deny /etc/hosts.allow", dm.binary),
			fmt.Sprintf("ldd $(command -v %[1]s || echo /usr/sbin/%[1]s) | grep libwrap", dm.binary),
		}
	} else {
		// Unknown daemon: find it by its port first, then check that binary.
		wrap.Commands = []string{
			"sudo grep -v '^#' /etc/hosts.deny",
			fmt.Sprintf("sudo ss -tlnp 'sport = :%d'", c.port),
			"sudo ldd /proc/PID/exe | grep libwrap",
		}
	}
	hs := []Hint{wrap}
	if dm.unit != "" {
		hs = append(hs, Hint{
			Text:     "Read the service's log around the refusal:",
			Commands: []string{fmt.Sprintf("sudo journalctl -u %s --since -15min --no-pager | grep -iE 'refus|denied|wrap|not allowed'", dm.unit)},
		})
	} else {
		hs = append(hs, Hint{Text: "Read the service's log around the refusal (look for refused, denied, tcp_wrappers, not allowed)."})
	}
	if dm.aclText != "" {
		hs = append(hs, Hint{Text: dm.aclText, Commands: dm.aclCheck})
	}
	return hs
}

// reasonWords turns a reason code into words for a sentence.
func reasonWords(r Reason) string {
	switch r {
	case ReasonICMPPortUnreachable:
		return "ICMP port-unreachable"
	case ReasonICMPAdminProhibited:
		return "ICMP admin-prohibited"
	case ReasonICMPHostUnreachable:
		return "ICMP host-unreachable"
	case ReasonICMPNetUnreachable:
		return "ICMP net-unreachable"
	case ReasonICMPProtoUnreachable:
		return "ICMP protocol-unreachable"
	case ReasonReset:
		return "a TCP reset"
	case "":
		return "a reject"
	}
	return string(r)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
