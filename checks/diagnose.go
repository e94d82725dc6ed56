package checks

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Diagnose turns evidence into one verdict. It is a pure function: no
// network, no clock, so every rule is table-tested.
func Diagnose(e Evidence) Diagnosis {
	d := diagnose(e)
	if d.Confidence == "" {
		d.Confidence = ConfidenceHigh
	}
	d.Hints = HintsFor(d, e)
	if d.Hints == nil {
		d.Hints = []Hint{}
	}
	return d
}

func diagnose(e Evidence) Diagnosis {
	c := e.Connect
	if c == nil {
		return dnsDiagnosis(e)
	}
	d := Diagnosis{Reason: c.Reason, ReportedBy: c.ReportedBy, LastHop: e.Trace.LastAnswered()}
	ep := net.JoinHostPort(c.Address, strconv.Itoa(e.Port))
	from := c.ReportedBy
	if c.ICMP != nil && c.ICMP.From != "" {
		from = c.ICMP.From
	}
	byTarget := from == "" || from == c.Address
	switch c.Reason {
	case ReasonSynAck:
		if e.Service != nil && e.Service.Refused {
			d.Verdict = VerdictServiceRefused
			d.Summary = fmt.Sprintf("%s accepts TCP connections but the service refuses them (%s): tcp wrappers, hosts.deny or an application ACL.", ep, e.Service.Detail)
			break
		}
		d.Verdict = VerdictOpen
		d.Summary = fmt.Sprintf("%s is open%s.", ep, serviceWords(e.Service)) + middleboxNote(e)
	case ReasonReset:
		if forgedReset(&d, e, ep) {
			break
		}
		d.Verdict = VerdictClosed
		switch {
		case forwardedBy(e):
			d.Summary = fmt.Sprintf("%s forwards port %d to an internal host, and nothing listens there: a TTL-limited SYN that expires at %s itself drew time-exceeded from it (the packet goes on), so the reset comes from behind it. On the internal host the forward points at, the service is stopped or bound to another address or port.", c.Address, e.Port, c.Address)
		case e.Path != nil && e.Path.Forwards && resetBy(e, c.Address, e.Path.HostHops):
			d.Summary = fmt.Sprintf("%s answered with a reset itself: it forwards other ports to internal hosts (a NAT gateway) but not port %d, and nothing listens on it there. If the service runs on a machine behind it, forward TCP %d to that machine's internal address.", ep, e.Port, e.Port)
		default:
			d.Summary = ep + " answered with a reset: nothing listens on that address and port (service stopped, or bound to another address such as 127.0.0.1), or a firewall rejects with tcp-reset." + middleboxNote(e)
		}
	case ReasonICMPPortUnreachable, ReasonICMPAdminProhibited, ReasonICMPProtoUnreachable, ReasonICMPOther:
		if byTarget {
			d.Verdict = VerdictRejectedByHost
			d.Summary = fmt.Sprintf("%s itself rejected the connection with ICMP %s: its own firewall has a REJECT rule for port %d.", c.Address, icmpWords(c), e.Port)
		} else {
			d.Verdict = VerdictRejectedInPath
			d.Summary = fmt.Sprintf("Router %s rejected the connection to %s with ICMP %s: a network ACL or firewall at that hop blocks port %d.", from, ep, icmpWords(c), e.Port)
		}
	case ReasonICMPHostUnreachable:
		if byTarget && from != "" && (c.RTTMS >= 1000 || forwardedBy(e)) {
			// From the target's own address, but only after its ARP
			// gave up: it forwards the port (NAT) to an internal host
			// that does not answer. A REJECT rule would answer at once.
			d.Verdict = VerdictHostUnreachable
			d.Summary = fmt.Sprintf("%s forwards port %d to an internal host that does not answer: %s itself sent host-unreachable after %.1f s, when its ARP for the internal address gave up. Fix the forward's internal address (DHCP may have given the server another one), or wake that host.", c.Address, e.Port, c.Address, c.RTTMS/1000)
			break
		}
		if byTarget && from != "" {
			d.Verdict = VerdictRejectedByHost
			d.Summary = fmt.Sprintf("%s itself rejected the connection with ICMP host-unreachable: its own firewall has a REJECT rule for port %d.", c.Address, e.Port)
			break
		}
		d.Verdict = VerdictHostUnreachable
		if from == "" {
			d.Summary = fmt.Sprintf("%s did not answer address resolution on the local network: the host is down or has another address.", c.Address)
		} else {
			d.Summary = fmt.Sprintf("Router %s reports host %s unreachable (nobody answers for that address on its network): the host is down, or the address is wrong.", from, c.Address)
		}
	case ReasonICMPNetUnreachable:
		if byTarget && from != "" {
			d.Verdict = VerdictRejectedByHost
			d.Summary = fmt.Sprintf("%s itself rejected the connection with ICMP net-unreachable: its own firewall has a REJECT rule for port %d.", c.Address, e.Port)
			break
		}
		d.Verdict = VerdictNetworkUnreachable
		d.Summary = fmt.Sprintf("Router %s has no route to %s: a routing problem on the path (or a missing VPN/peering route).", from, c.Address)
	case ReasonNoRoute:
		d.Verdict = VerdictNetworkUnreachable
		d.Summary = fmt.Sprintf("This machine has no route to %s: no packet was sent (check the routing table, VPN, default gateway).", c.Address)
	case ReasonICMPTimeExceeded:
		d.Verdict = VerdictNetworkUnreachable
		d.Summary = fmt.Sprintf("Packets to %s expire in transit (time-exceeded from %s): a routing loop on the path.", c.Address, from)
	case ReasonLocalError:
		d.Verdict = VerdictNetworkUnreachable
		d.Summary = fmt.Sprintf("This machine could not send to %s: %s.", ep, c.Error)
	default: // no-response
		filtered(&d, e, ep)
	}
	if d.LastHop == nil && c.Reason != ReasonNoResponse && c.ICMP != nil && from != "" && !byTarget {
		// No trace ran (an answer that names its sender needs none):
		// the farthest point known is the router that answered.
		d.LastHop = &Hop{Address: from, ICMP: trimICMP(c.Reason)}
	}
	return d
}

// filtered places silence: at the host, in the path, or nowhere yet.
//
// It rests on the path questions (locator.ask): does a TTL-limited SYN to
// the port get as far as the router before the host (TTL host_hops-1)?
// Reached: the host (or that router's link to it) drops the port. Not
// reached, settled by a control probe that hop answered and a re-ask after
// its ICMP token refilled: a firewall before it. Unknown (the hop silent
// to everything: no ICMP at all, or out of ICMP tokens): inconclusive,
// never a guess dressed as a finding, because a wrong place sends the
// on-call to the wrong firewall. Every fact in the words names the probe
// that gave it.
func filtered(d *Diagnosis, e Evidence, ep string) {
	d.ReportedBy = ""
	d.LastHop = nil
	if rejectedOnTheWay(d, e, ep) {
		return
	}
	ping := pingWords(e.Ping)
	pingOK := e.Ping != nil && e.Ping.Received > 0
	path := e.Path
	syns := "its SYN"
	if path != nil && path.SYNs > 1 {
		syns = fmt.Sprintf("%d SYNs, a second apart", path.SYNs)
	}
	atHost := func(conf Confidence, why string) {
		d.Verdict, d.Confidence = VerdictFilteredAtHost, conf
		d.Summary = fmt.Sprintf("No answer from %s to %s: %s. The host's firewall or cloud security group silently drops port %d.", ep, syns, why, e.Port)
	}
	if path == nil || (path.HostHops == 0 && pingOK) {
		// The path was not asked (or the ping reply's TTL told nothing).
		if pingOK {
			atHost(ConfidenceMedium, ping+" (the path to it was not probed)")
			return
		}
		hostGuess(d, e, ep, nil)
		return
	}
	hop := func(ttl int) *Hop { return e.Trace.hop(ttl) }
	ctlHop := func(ttl int) *Hop { return e.ControlTrace.hop(ttl) }
	H := path.HostHops
	if H == 0 {
		last := e.Trace.LastAnswered()
		if last != nil && last.ICMP == string(icmpTimeExceeded) && path.SYNs >= 3 && !path.LastHopRateLimited {
			// Nothing answered from the host, but the routers did, and
			// the last one said nothing about it through the whole
			// window: a router whose ARP for a dead host gives up sends
			// host-unreachable after ~3 s. So the host is probably up.
			d.Verdict, d.Confidence, d.LastHop = VerdictFilteredAtHost, ConfidenceLow, last
			d.Summary = fmt.Sprintf("Nothing answered from %s (no SYN-ACK, no reset to %s, %s), but the host is probably up: TTL-limited SYNs get as far as hop %d (%s), and no router reported %s unreachable, which the router on its network does after its ARP timeout (~3 s) when a host is down. It drops everything from you (ping too), or it has no route back to you.", ep, syns, pingWords(e.Ping), last.TTL, last.Address, e.Connect.Address)
			return
		}
		hostGuess(d, e, ep, last)
		return
	}
	if H == 1 {
		atHost(ConfidenceHigh, fmt.Sprintf("the host is on this machine's network (%s, no router between)", ping))
		return
	}
	dec := hop(H - 1)
	reachedTo := 0 // the farthest TTL the port's SYNs were shown to reach
	var reachedHop *Hop
	for i := range e.Trace.hopsOrNil() {
		h := &e.Trace.Hops[i]
		if h.Reach == ReachYes && h.Address != "" && h.TTL > reachedTo {
			reachedTo, reachedHop = h.TTL, h
		}
	}
	control := path.Control
	if control == "" {
		control = "control"
	}
	router := func(h *Hop, ttl int) string {
		switch {
		case h != nil && h.Address != "":
			return fmt.Sprintf("hop %d (%s)", ttl, h.Address)
		case h != nil && h.Router != "":
			return fmt.Sprintf("hop %d (%s)", ttl, h.Router)
		}
		if c := ctlHop(ttl); c != nil && c.Address != "" {
			return fmt.Sprintf("hop %d (%s)", ttl, c.Address)
		}
		return fmt.Sprintf("hop %d", ttl)
	}
	hostAt := fmt.Sprintf("the host is %d hops away (%s)", H, path.HostHopsBy)
	switch {
	case dec != nil && dec.Reach == ReachYes && path.RouterRateLimited:
		d.Verdict, d.Confidence = VerdictInconclusive, ConfidenceLow
		d.Likely = []Verdict{VerdictFilteredAtHost, VerdictRejectedInPath}
		d.LastHop = dec
		d.Summary = fmt.Sprintf("No answer from %s to %s, and it cannot be told whether the host drops them or %s rejects them: that router, the one before the host, answered a TTL-limited SYN to port %d only after %d tries (it is rate-limiting its ICMP errors), so a reject it sends for the port may have been lost the same way. %s. Check again in a few seconds.", ep, syns, router(dec, H-1), e.Port, dec.Asks, capitalize(ping))
	case dec != nil && dec.Reach == ReachYes && path.HostRateLimited:
		d.Verdict, d.Confidence = VerdictInconclusive, ConfidenceLow
		d.Likely = []Verdict{VerdictRejectedByHost, VerdictFilteredAtHost}
		d.LastHop = dec
		d.Summary = fmt.Sprintf("No answer from %s to %s, but the host sent this machine ICMP errors moments ago and has no ICMP token left: its silence may be a reject (REJECT rule) it could not send as well as a drop. A TTL-limited SYN to port %d reaches %s, the router before the host; %s. Check again in a few seconds.", ep, syns, e.Port, router(dec, H-1), ping)
	case dec != nil && dec.Reach == ReachYes && forwardedBy(e):
		d.LastHop = hop(H)
		d.Verdict, d.Confidence = VerdictFilteredAtHost, ConfidenceHigh
		d.Summary = fmt.Sprintf("No answer from %s to %s: %s forwards port %d to an internal host (a TTL-limited SYN that expires at %s itself drew time-exceeded from it: the packet goes on), and nothing came back from behind it, not even a host-unreachable: the internal host's firewall drops the port, or it does not route its answers back through the gateway.", ep, syns, e.Connect.Address, e.Port, e.Connect.Address)
	case dec != nil && dec.Reach == ReachYes:
		d.LastHop = dec
		atHost(ConfidenceHigh, fmt.Sprintf("a TTL-limited SYN to port %d expired at %s, the router before the host, so the port's packets reach the host's network; %s, and %s", e.Port, router(dec, H-1), hostAt, ping))
	case dec != nil && dec.Reach == ReachNo:
		d.Verdict, d.Confidence = VerdictFilteredInPath, ConfidenceHigh
		d.LastHop = reachedHop
		upTo := "No answer from " + ep + " to " + syns + ": TTL-limited SYNs to port %[1]d are not answered by any hop"
		if reachedHop != nil {
			upTo = fmt.Sprintf("No answer from %s to %s: TTL-limited SYNs to port %%[1]d get as far as %s", ep, syns, router(reachedHop, reachedTo))
		}
		where := fmt.Sprintf("between hop %d and hop %d", reachedTo, H-1)
		switch {
		case H-1 == 1:
			where = "before hop 1 answers (this machine's own firewall, or an ingress filter on the first router)"
		case reachedTo == 0:
			where = fmt.Sprintf("before hop %d", H-1)
		case reachedTo == H-2:
			where = fmt.Sprintf("right after hop %d", reachedTo)
		}
		d.Summary = fmt.Sprintf(upTo+", never to %[2]s, which answered an %[3]s probe sent right behind a SYN to port %[1]d that it never answered: a network firewall (or the ISP) drops port %[1]d %[4]s. %[5]s.", e.Port, router(dec, H-1), control, where, capitalize(ping))
	default:
		d.Verdict, d.Confidence = VerdictInconclusive, ConfidenceLow
		// A reject from a router out of ICMP tokens is silent too.
		d.Likely = []Verdict{VerdictFilteredAtHost, VerdictFilteredInPath, VerdictRejectedInPath}
		if dec != nil && dec.RateLimited {
			d.Likely = []Verdict{VerdictFilteredAtHost, VerdictRejectedInPath, VerdictFilteredInPath}
		}
		d.LastHop = reachedHop
		asked := "was not asked"
		why := ""
		if dec != nil {
			asked = fmt.Sprintf("answered none of %d TTL-limited SYNs to port %d", dec.Asks, e.Port)
			if c := ctlHop(H - 1); c != nil && c.Asks > 0 {
				if c.Address != "" {
					asked += fmt.Sprintf(", though it answered one of %d %s probes, never one sent right behind a SYN to the port (so the SYNs' silence may be its rate limit)", c.Asks, control)
				} else {
					asked += fmt.Sprintf(" nor %d %s probes", c.Asks, control)
				}
			}
			switch {
			case dec.RateLimited:
				why = ": it answered ICMP moments ago, so it is rate-limiting its ICMP errors now"
			case dec.Router == "" && dec.Address == "":
				why = ": it sends no ICMP errors at all, or is out of them"
			}
		}
		d.Summary = fmt.Sprintf("No answer from %s to %s, and where it is dropped cannot be told: %s, the router before the host, %s%s. %s. The drop is at the host (firewall, security group) or at that router: ask again in a few seconds, or look on the host.", ep, syns, router(dec, H-1), asked, why, capitalize(ping))
	}
}

// forwardedBy: a TTL-limited SYN to the port that expired at the target
// itself drew time-exceeded from the target's own address: the target
// forwards the port on (a NAT gateway's port forward).
func forwardedBy(e Evidence) bool {
	if e.Connect == nil {
		return false
	}
	for _, h := range e.Trace.hopsOrNil() {
		if h.Address == e.Connect.Address && h.ICMP == string(icmpTimeExceeded) {
			return true
		}
	}
	return false
}

// resetBy: a TTL-limited SYN at ttl drew a reset from addr.
func resetBy(e Evidence, addr string, ttl int) bool {
	h := e.Trace.hop(ttl)
	return h != nil && h.Address == addr && h.ICMP == "reset"
}

// forgedReset reads a reset that came from nearer than the host: a SYN
// with a TTL too short to reach it (the host's distance comes from the
// ping reply) was answered with a reset as well, so a firewall on the way
// answers on the host's behalf (REJECT --reject-with tcp-reset, or a
// next-generation firewall), with the host's address as the source. The
// lowest TTL that still gets the reset says which hop: the one before it.
func forgedReset(d *Diagnosis, e Evidence, ep string) bool {
	if e.Path == nil || e.Path.HostHops < 2 {
		return false
	}
	low, byTTL := 0, ""
	for _, h := range e.Trace.hopsOrNil() {
		if h.ICMP == "reset" && h.TTL < e.Path.HostHops && (low == 0 || h.TTL < low) {
			low = h.TTL
		}
	}
	if c := e.Connect; low == 0 && c.TTL > 0 && e.Ping != nil && e.Ping.TTL > 0 {
		// The reset's own TTL: more left than on the host's echo reply
		// (the same stack starts both at the same value) means it was
		// sent from nearer. Only a plausible distance is read.
		if diff := c.TTL - e.Ping.TTL; diff >= 1 && diff < e.Path.HostHops {
			low = e.Path.HostHops - diff + 1
			byTTL = fmt.Sprintf("the reset arrived with TTL %d, the host's echo reply with %d: it was sent %d %s nearer", c.TTL, e.Ping.TTL, diff, plural(diff, "hop", "hops"))
		}
	}
	if low == 0 {
		return false
	}
	d.Verdict, d.Reason = VerdictRejectedInPath, ReasonReset
	at, who := low-1, ""
	if h := e.Trace.hop(at); h != nil && h.Address != "" && h.ICMP == string(icmpTimeExceeded) {
		who = h.Address
		hh := *h
		d.LastHop = &hh
	}
	d.ReportedBy = who
	where := fmt.Sprintf("hop %d (%s)", at, who)
	switch {
	case at == 0:
		where = "the first hop (or this machine's own firewall)"
	case who == "":
		where = fmt.Sprintf("hop %d", at)
	}
	why := fmt.Sprintf("a SYN to port %d sent with TTL %d, too short to reach the host (it is %d hops away, by %s), was answered with a reset too", e.Port, low, e.Path.HostHops, e.Path.HostHopsBy)
	if byTTL != "" {
		why = byTTL
	}
	d.Summary = fmt.Sprintf("The reset did not come from %s: %s, so %s resets the connection on the host's behalf: a firewall there blocks port %d with REJECT --reject-with tcp-reset (or a next-generation firewall does).", e.Connect.Address, why, where, e.Port)
	return true
}

// rejectedOnTheWay handles a silent connect whose TTL-limited SYN got a
// reject (the connect's own reject was lost to a rate limit): the reject
// decides, and its sender says where.
func rejectedOnTheWay(d *Diagnosis, e Evidence, ep string) bool {
	for _, h := range e.Trace.hopsOrNil() {
		switch h.ICMP {
		case string(icmpAdminProhibited), string(icmpPortUnreach), string(icmpProtoUnreach):
		default:
			continue
		}
		d.ReportedBy = h.Address
		hh := h
		d.LastHop = &hh
		if h.Address == e.Connect.Address {
			d.Verdict = VerdictRejectedByHost
			d.Summary = fmt.Sprintf("%s rejected a TTL-limited SYN to port %d with ICMP %s (its first SYNs went unanswered: it rate-limits its ICMP errors): its own firewall has a REJECT rule for port %d.", e.Connect.Address, e.Port, h.ICMP, e.Port)
		} else {
			d.Verdict = VerdictRejectedInPath
			d.Summary = fmt.Sprintf("Router %s rejected a TTL-limited SYN to %s with ICMP %s at hop %d (the connect's own SYNs went unanswered: it rate-limits its ICMP errors): a network ACL or firewall at that hop blocks port %d.", h.Address, ep, h.ICMP, h.TTL, e.Port)
		}
		return true
	}
	return false
}

// hostGuess is a silent port of a host that answered nothing at all.
func hostGuess(d *Diagnosis, e Evidence, ep string, last *Hop) {
	d.Verdict, d.Confidence = VerdictHostUnreachable, ConfidenceLow
	where := ""
	if last != nil {
		d.LastHop = last
		where = fmt.Sprintf("; TTL-limited SYNs get as far as hop %d (%s)", last.TTL, last.Address)
	}
	d.Summary = fmt.Sprintf("Nothing answered from %s: no SYN-ACK, no reset, %s, no ICMP error%s. This is a guess: the host is down, or drops everything including ping.", ep, pingWords(e.Ping), where)
}

// pingWords says what the ping step showed, naming the probe.
func pingWords(p *PingResult) string {
	switch {
	case p == nil:
		return "ping was not run"
	case p.Received > 0:
		return fmt.Sprintf("the host answers ping (%d of %d echo requests)", p.Received, p.Sent)
	case p.Error != "":
		return "ping could not run (" + p.Error + ")"
	}
	return fmt.Sprintf("no reply to %d ping echo requests", p.Sent)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func dnsDiagnosis(e Evidence) Diagnosis {
	d := Diagnosis{Verdict: VerdictDNSError, Reason: ReasonDNSError}
	switch {
	case e.Resolve.NotFound:
		d.Summary = fmt.Sprintf("%s does not resolve (no such name or no A/AAAA records): check the spelling and the DNS zone.", e.Host)
	case e.Resolve.Error != "":
		d.Summary = fmt.Sprintf("Looking up %s failed (%s): the resolver is unreachable or broken.", e.Host, e.Resolve.Error)
	default:
		d.Summary = fmt.Sprintf("%s has no address to probe.", e.Host)
	}
	return d
}

// middleboxNote flags a handshake answered before the target's own hop
// (a proxy, load balancer or firewall answering on its behalf): in a
// --trace, the port's SYN is answered at a TTL below the host's distance,
// as the ping reply's TTL or an ICMP echo control tells it.
func middleboxNote(e Evidence) string {
	if e.Trace == nil {
		return ""
	}
	host := 0
	if e.Path != nil {
		host = e.Path.HostHops
	}
	if e.ControlTrace != nil && e.ControlTrace.Reached {
		if cl := e.ControlTrace.LastAnswered(); cl != nil {
			host = cl.TTL
		}
	}
	tl := e.Trace.LastAnswered()
	if host == 0 || tl == nil || tl.TTL >= host || (tl.ICMP != "syn-ack" && tl.ICMP != "reset") {
		return ""
	}
	return fmt.Sprintf(" Note: the TCP answer came from hop %d while the host is at hop %d: a middlebox answers on its behalf.", tl.TTL, host)
}

func serviceWords(s *Service) string {
	switch {
	case s == nil:
		return ""
	case s.Banner != "" && s.Name != "":
		return fmt.Sprintf(" (%s: %s)", s.Name, s.Banner)
	case s.Banner != "":
		return fmt.Sprintf(" (%s)", s.Banner)
	case s.Name != "":
		return fmt.Sprintf(" (%s)", s.Name)
	}
	return ""
}

func icmpWords(c *ConnectResult) string {
	if c.ICMP == nil {
		return string(c.Reason)
	}
	return fmt.Sprintf("%s (type %d code %d)", trimICMP(c.Reason), c.ICMP.Type, c.ICMP.Code)
}

func trimICMP(r Reason) string {
	s := string(r)
	if len(s) > 5 && s[:5] == "icmp-" {
		return s[5:]
	}
	return s
}
