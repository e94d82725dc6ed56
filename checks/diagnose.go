package checks

import (
	"fmt"
	"net"
	"strconv"
)

// Diagnose turns evidence into one verdict. It is a pure function: no
// network, no clock, so every rule is table-tested.
func Diagnose(e Evidence) Diagnosis {
	d := diagnose(e)
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
		d.Verdict = VerdictClosed
		d.Summary = fmt.Sprintf("%s answered with a reset: nothing listens on that address and port (service stopped, or bound to another address such as 127.0.0.1), or a firewall rejects with tcp-reset.", ep) + middleboxNote(e)
	case ReasonICMPPortUnreachable, ReasonICMPAdminProhibited, ReasonICMPProtoUnreachable, ReasonICMPOther:
		if byTarget {
			d.Verdict = VerdictRejectedByHost
			d.Summary = fmt.Sprintf("%s itself rejected the connection with ICMP %s: its own firewall has a REJECT rule for port %d.", c.Address, icmpWords(c), e.Port)
		} else {
			d.Verdict = VerdictRejectedInPath
			d.Summary = fmt.Sprintf("Router %s rejected the connection to %s with ICMP %s: a network ACL or firewall at that hop blocks port %d.", from, ep, icmpWords(c), e.Port)
		}
	case ReasonICMPHostUnreachable:
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
	return d
}

// filtered places silence: at the host, in the path, or nowhere to be
// found (a guess that the host is unreachable).
//
// "In the path" needs positive evidence: a hop past the port trace's end
// that answered the control trace (ICMP got a word back from there, the
// port's probe did not). A hop silent in both traces is a router that sends
// no ICMP (or rate-limits it, or its answer was lost) and says nothing
// about the port; likewise a control trace that reaches the target with
// silent hops below it only bounds how far away the target is. Calling
// such gaps a path filter sends the on-call to the wrong firewall.
func filtered(d *Diagnosis, e Evidence, ep string) {
	d.ReportedBy = ""
	pingOK := e.Ping != nil && e.Ping.Received > 0
	portLast := e.Trace.LastAnswered()
	portTTL := 0
	if portLast != nil {
		portTTL = portLast.TTL
	}
	ctlLast := e.ControlTrace.LastAnswered()
	targetTTL := 0
	if e.ControlTrace != nil && e.ControlTrace.Reached && ctlLast != nil {
		targetTTL = ctlLast.TTL
	}
	// beyond: the first router past the port trace's end that answered the
	// control (before the target, when the control reached it).
	var beyond *Hop
	if e.ControlTrace != nil {
		for _, h := range e.ControlTrace.Hops {
			if h.TTL > portTTL && h.Address != "" && (targetTTL == 0 || h.TTL < targetTTL) {
				beyond = &h
				break
			}
		}
	}
	dieAt := func() string {
		if portLast == nil {
			return "at the first hop"
		}
		return fmt.Sprintf("after hop %d (%s)", portLast.TTL, portLast.Address)
	}
	inPath := func(other string) {
		d.Verdict = VerdictFilteredInPath
		d.Summary = fmt.Sprintf("No answer from %s: probes to port %d die %s while %s: a network firewall (or the ISP) drops port %d there.", ep, e.Port, dieAt(), other, e.Port)
	}
	atHost := func(why string) {
		d.Verdict = VerdictFilteredAtHost
		d.Summary = fmt.Sprintf("No answer from %s: %s, so the host's firewall or security group silently drops port %d.", ep, why, e.Port)
	}
	switch {
	case targetTTL > 0 && portTTL < targetTTL-1 && beyond != nil:
		inPath(fmt.Sprintf("hop %d (%s) answers ICMP and ICMP echo reaches the target at hop %d", beyond.TTL, beyond.Address, targetTTL))
	case targetTTL > 0 && portTTL < targetTTL-1:
		// Every hop between the port trace's end and the target is silent
		// to ICMP too: nothing places a filter there.
		upTo := "no hop before the target answers"
		if portLast != nil {
			upTo = fmt.Sprintf("the path answers up to hop %d (%s)", portLast.TTL, portLast.Address)
		}
		atHost(fmt.Sprintf("%s, nothing answers at %s to port probes or to ICMP (a router that sends no ICMP is no sign of a filter) and the host itself answers ICMP at hop %d",
			upTo, hopRange(portTTL+1, targetTTL-1), targetTTL))
	case targetTTL > 0:
		atHost(fmt.Sprintf("the path answers up to hop %d and the host itself answers ICMP at hop %d", portTTL, targetTTL))
	case beyond != nil:
		inPath(fmt.Sprintf("ICMP goes on to hop %d (%s)", ctlLast.TTL, ctlLast.Address))
	case pingOK && portLast != nil:
		atHost(fmt.Sprintf("the path answers up to hop %d (%s) and the host answers ping", portLast.TTL, portLast.Address))
	case pingOK:
		atHost("the host answers ping")
	default:
		d.Verdict = VerdictHostUnreachable
		where := ""
		if portLast != nil {
			where = fmt.Sprintf("; the path answers up to hop %d (%s)", portLast.TTL, portLast.Address)
		}
		d.Summary = fmt.Sprintf("Nothing answered from %s: no SYN-ACK, no reset, no ping reply, no ICMP error%s. This is a guess: the host is down, or drops everything including ping.", ep, where)
	}
}

// hopRange words TTLs from..to.
func hopRange(from, to int) string {
	if from == to {
		return fmt.Sprintf("hop %d", from)
	}
	return fmt.Sprintf("hops %d-%d", from, to)
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

// middleboxNote flags a handshake answered before the target's own hop:
// a proxy, load balancer or firewall answering on its behalf.
func middleboxNote(e Evidence) string {
	if e.Trace == nil || e.ControlTrace == nil || !e.ControlTrace.Reached {
		return ""
	}
	tl, cl := e.Trace.LastAnswered(), e.ControlTrace.LastAnswered()
	if tl == nil || cl == nil || tl.TTL >= cl.TTL || (tl.ICMP != "syn-ack" && tl.ICMP != "reset") {
		return ""
	}
	return fmt.Sprintf(" Note: the TCP answer came from hop %d while the host is at hop %d: a middlebox answers on its behalf.", tl.TTL, cl.TTL)
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
