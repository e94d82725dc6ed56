package checks

import (
	"slices"
	"strings"
	"testing"
)

func TestDiagnose(t *testing.T) {
	const target, r1, r2 = "198.18.3.10", "198.18.1.1", "198.18.2.2"
	conn := func(r Reason, from string, icmp *ICMP) *ConnectResult {
		return &ConnectResult{Address: target, Reason: r, ReportedBy: from, ICMP: icmp}
	}
	hops := func(addrs ...string) []Hop {
		hs := make([]Hop, len(addrs))
		for i, a := range addrs {
			hs[i] = Hop{TTL: i + 1, Address: a}
			if a != "" {
				hs[i].ICMP = "time-exceeded"
			}
		}
		return hs
	}
	portTrace := func(addrs ...string) *Trace { return &Trace{Proto: "tcp", Hops: hops(addrs...)} }
	reached := func(addrs ...string) *Trace { return &Trace{Proto: "icmp", Hops: hops(addrs...), Reached: true} }
	pingNone := &PingResult{Sent: 3}

	tests := []struct {
		name       string
		ev         Evidence
		verdict    Verdict
		reportedBy string
		lastHopTTL int
		summary    string // a fragment the summary must contain
	}{
		{name: "dns not found", ev: Evidence{Host: "nope.invalid", Resolve: ResolveResult{Error: "no such host", NotFound: true}},
			verdict: VerdictDNSError, summary: "does not resolve"},
		{name: "dns failure", ev: Evidence{Host: "x", Resolve: ResolveResult{Error: "i/o timeout"}},
			verdict: VerdictDNSError, summary: "failed"},
		{name: "open", ev: Evidence{Port: 22, Connect: conn(ReasonSynAck, target, nil), Service: &Service{Name: "ssh", Banner: "SSH-2.0-x"}},
			verdict: VerdictOpen, reportedBy: target, summary: "is open (ssh: SSH-2.0-x)"},
		{name: "421 greeting", ev: Evidence{Port: 21, Connect: conn(ReasonSynAck, target, nil), Service: &Service{Banner: "421 go away", Refused: true, Detail: "421 go away"}},
			verdict: VerdictServiceRefused, reportedBy: target, summary: "tcp wrappers"},
		{name: "reset", ev: Evidence{Port: 5432, Connect: conn(ReasonReset, target, nil)},
			verdict: VerdictClosed, reportedBy: target, summary: "127.0.0.1"},
		{name: "port unreachable from host", ev: Evidence{Port: 7001, Connect: conn(ReasonICMPPortUnreachable, target, &ICMP{Type: 3, Code: 3, From: target}), Trace: &Trace{Hops: append(hops(r1, r2), Hop{TTL: 3, Address: target, ICMP: "port-unreachable"}), Reached: true}},
			verdict: VerdictRejectedByHost, reportedBy: target, lastHopTTL: 3, summary: "itself rejected"},
		{name: "admin prohibited from host", ev: Evidence{Port: 7002, Connect: conn(ReasonICMPAdminProhibited, target, &ICMP{Type: 3, Code: 13, From: target})},
			verdict: VerdictRejectedByHost, reportedBy: target, summary: "admin-prohibited (type 3 code 13)"},
		{name: "admin prohibited from router", ev: Evidence{Port: 7005, Connect: conn(ReasonICMPAdminProhibited, r2, &ICMP{Type: 3, Code: 13, From: r2}), Trace: portTrace(r1, r2)},
			verdict: VerdictRejectedInPath, reportedBy: r2, lastHopTTL: 2, summary: "Router 198.18.2.2 rejected"},
		{name: "v6 admin prohibited from router", ev: Evidence{Port: 7005, Connect: &ConnectResult{Address: "2001:db8:3::10", Reason: ReasonICMPAdminProhibited, ReportedBy: "2001:db8:2::2", ICMP: &ICMP{Type: 1, Code: 1, From: "2001:db8:2::2"}}},
			verdict: VerdictRejectedInPath, reportedBy: "2001:db8:2::2", summary: "type 1 code 1"},
		{name: "host unreachable from router", ev: Evidence{Port: 80, Connect: conn(ReasonICMPHostUnreachable, r2, &ICMP{Type: 3, Code: 1, From: r2}), Ping: pingNone},
			verdict: VerdictHostUnreachable, reportedBy: r2, summary: "Router 198.18.2.2 reports host"},
		{name: "host unreachable sent by the host itself is a reject", ev: Evidence{Port: 80, Connect: conn(ReasonICMPHostUnreachable, target, &ICMP{Type: 3, Code: 1, From: target})},
			verdict: VerdictRejectedByHost, reportedBy: target},
		{name: "local neighbour failure", ev: Evidence{Port: 80, Connect: conn(ReasonICMPHostUnreachable, "", nil)},
			verdict: VerdictHostUnreachable, summary: "address resolution"},
		{name: "net unreachable from router", ev: Evidence{Port: 80, Connect: conn(ReasonICMPNetUnreachable, r1, &ICMP{Type: 3, Code: 0, From: r1})},
			verdict: VerdictNetworkUnreachable, reportedBy: r1, summary: "has no route"},
		{name: "no local route", ev: Evidence{Port: 80, Connect: conn(ReasonNoRoute, "", nil)},
			verdict: VerdictNetworkUnreachable, summary: "This machine has no route"},
		{name: "routing loop", ev: Evidence{Port: 80, Connect: conn(ReasonICMPTimeExceeded, r2, &ICMP{Type: 11, From: r2})},
			verdict: VerdictNetworkUnreachable, reportedBy: r2, summary: "routing loop"},
		{name: "middlebox answers on the target's behalf", ev: Evidence{Port: 443, Connect: conn(ReasonSynAck, target, nil),
			Trace: &Trace{Hops: []Hop{{TTL: 1, Address: r1, ICMP: "time-exceeded"}, {TTL: 2, Address: target, ICMP: "syn-ack"}}, Reached: true}, ControlTrace: reached(r1, r2, target)},
			verdict: VerdictOpen, reportedBy: target, lastHopTTL: 2, summary: "middlebox"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Diagnose(tt.ev)
			if d.Verdict != tt.verdict || d.ReportedBy != tt.reportedBy {
				t.Fatalf("got %s reported_by %q, want %s %q (%s)", d.Verdict, d.ReportedBy, tt.verdict, tt.reportedBy, d.Summary)
			}
			gotTTL := 0
			if d.LastHop != nil {
				gotTTL = d.LastHop.TTL
			}
			if gotTTL != tt.lastHopTTL {
				t.Errorf("last hop ttl %d, want %d", gotTTL, tt.lastHopTTL)
			}
			if !strings.Contains(d.Summary, tt.summary) || strings.Count(d.Summary, "\n") > 0 {
				t.Errorf("summary %q, want it to contain %q", d.Summary, tt.summary)
			}
			if d.Hints == nil {
				t.Error("hints must be a list, never null")
			}
		})
	}
}

// TestDiagnoseSilent covers the readings of a silent port from its path
// questions: where the port's TTL-limited SYNs were shown to get (reach),
// what the control probe said, and what the budget knew.
func TestDiagnoseSilent(t *testing.T) {
	const target, r1, r2 = "198.18.3.10", "198.18.1.1", "198.18.2.2"
	silent := &ConnectResult{Address: target, Reason: ReasonNoResponse}
	pingOK := &PingResult{Sent: 3, Received: 3, RTTMS: 0.1}
	pingNone := &PingResult{Sent: 3}
	path := func(h int) *PathEvidence {
		return &PathEvidence{HostHops: h, HostHopsBy: "the ping reply's TTL", SYNs: 2, Control: "ICMP echo"}
	}
	yes := func(ttl int, addr string) Hop {
		return Hop{TTL: ttl, Address: addr, ICMP: "time-exceeded", Reach: ReachYes, Asks: 1}
	}
	no := func(ttl int, router string) Hop { return Hop{TTL: ttl, Reach: ReachNo, Asks: 2, Router: router} }
	unknown := func(ttl int, router string, limited bool) Hop {
		return Hop{TTL: ttl, Reach: ReachUnknown, Asks: 3, Router: router, RateLimited: limited}
	}
	port := func(hs ...Hop) *Trace { return &Trace{Proto: "tcp", Port: 7003, Hops: hs} }
	ctl := func(hs ...Hop) *Trace { return &Trace{Proto: "icmp", Hops: hs} }
	ctlOK := func(ttl int, addr string) Hop { return Hop{TTL: ttl, Address: addr, ICMP: "time-exceeded", Asks: 1} }
	ctlSilent := func(ttl int) Hop { return Hop{TTL: ttl, Asks: 3} }

	tests := []struct {
		name       string
		ev         Evidence
		verdict    Verdict
		confidence Confidence
		likely     []Verdict
		reportedBy string
		lastHopTTL int
		summary    []string // fragments the summary must contain
		not        []string // fragments it must not contain
	}{
		{name: "SYN reaches the router before the host", ev: Evidence{Ping: pingOK, Path: path(3), Trace: port(yes(2, r2))},
			verdict: VerdictFilteredAtHost, confidence: ConfidenceHigh, lastHopTTL: 2,
			summary: []string{"2 SYNs, a second apart", "expired at hop 2 (198.18.2.2), the router before the host", "answers ping (3 of 3 echo requests)", "host's firewall"}},
		{name: "SYN stops after hop 1 while hop 2 answers the control", ev: Evidence{Ping: pingOK, Path: path(3), Trace: port(yes(1, r1), no(2, r2)), ControlTrace: ctl(ctlOK(2, r2))},
			verdict: VerdictFilteredInPath, confidence: ConfidenceHigh, lastHopTTL: 1,
			summary: []string{"as far as hop 1 (198.18.1.1)", "never to hop 2 (198.18.2.2), which answered an ICMP echo probe", "right after hop 1"}},
		{name: "dropped before the only router", ev: Evidence{Ping: pingOK, Path: path(2), Trace: port(no(1, r1)), ControlTrace: ctl(ctlOK(1, r1))},
			verdict: VerdictFilteredInPath, confidence: ConfidenceHigh,
			summary: []string{"before hop 1 answers"}},
		{name: "lower hops silent, deciding hop not reached", ev: Evidence{Ping: pingOK, Path: path(4), Trace: port(unknown(1, "", false), unknown(2, "", false), no(3, r2)), ControlTrace: ctl(ctlOK(3, r2))},
			verdict: VerdictFilteredInPath, confidence: ConfidenceHigh,
			summary: []string{"before hop 3"}, not: []string{"before hop 1 answers"}},
		{name: "router before the host rate-limiting: inconclusive", ev: Evidence{Ping: pingOK, Path: path(3), Trace: port(yes(1, r1), unknown(2, r2, true)), ControlTrace: ctl(ctlSilent(2))},
			verdict: VerdictInconclusive, confidence: ConfidenceLow, likely: []Verdict{VerdictFilteredAtHost, VerdictRejectedInPath, VerdictFilteredInPath}, lastHopTTL: 1,
			summary: []string{"cannot be told", "hop 2 (198.18.2.2)", "rate-limiting", "nor 3 ICMP echo probes"}, not: []string{"answers ICMP at"}},
		{name: "router that never sends ICMP: inconclusive", ev: Evidence{Ping: pingOK, Path: path(3), Trace: port(yes(1, r1), unknown(2, "", false)), ControlTrace: ctl(ctlSilent(2))},
			verdict: VerdictInconclusive, confidence: ConfidenceLow, likely: []Verdict{VerdictFilteredAtHost, VerdictFilteredInPath, VerdictRejectedInPath}, lastHopTTL: 1,
			summary: []string{"sends no ICMP errors at all"}},
		{name: "control answered, never beside a SYN: inconclusive", ev: Evidence{Ping: pingOK, Path: path(3), Trace: port(unknown(2, r2, false)), ControlTrace: ctl(ctlOK(2, r2))},
			verdict: VerdictInconclusive, confidence: ConfidenceLow, likely: []Verdict{VerdictFilteredAtHost, VerdictFilteredInPath, VerdictRejectedInPath},
			summary: []string{"though it answered one of 1 ICMP echo probes"}},
		{name: "host out of ICMP tokens: maybe a reject", ev: Evidence{Ping: pingOK, Path: &PathEvidence{HostHops: 3, SYNs: 4, HostRateLimited: true}, Trace: port(yes(2, r2))},
			verdict: VerdictInconclusive, confidence: ConfidenceLow, likely: []Verdict{VerdictRejectedByHost, VerdictFilteredAtHost}, lastHopTTL: 2,
			summary: []string{"may be a reject"}},
		{name: "host on this network", ev: Evidence{Ping: pingOK, Path: path(1)},
			verdict: VerdictFilteredAtHost, confidence: ConfidenceHigh, summary: []string{"no router between"}},
		{name: "path not asked, ping answers", ev: Evidence{Ping: pingOK},
			verdict: VerdictFilteredAtHost, confidence: ConfidenceMedium, summary: []string{"answers ping", "not probed"}},
		{name: "nothing at all", ev: Evidence{Ping: pingNone},
			verdict: VerdictHostUnreachable, confidence: ConfidenceLow, summary: []string{"no reply to 3 ping echo requests", "This is a guess"}},
		{name: "host silent to everything, its last router silent about it: probably up", ev: Evidence{Ping: pingNone, Path: &PathEvidence{SYNs: 4}, Trace: port(yes(1, r1), yes(2, r2), unknown(3, "", false))},
			verdict: VerdictFilteredAtHost, confidence: ConfidenceLow, lastHopTTL: 2,
			summary: []string{"probably up", "as far as hop 2 (198.18.2.2)", "no route back"}, not: []string{"answers ping"}},
		{name: "host silent to everything, last router out of tokens: a guess", ev: Evidence{Ping: pingNone, Path: &PathEvidence{SYNs: 4, LastHopRateLimited: true}, Trace: port(yes(1, r1), yes(2, r2), unknown(3, "", false))},
			verdict: VerdictHostUnreachable, confidence: ConfidenceLow, lastHopTTL: 2,
			summary: []string{"as far as hop 2 (198.18.2.2)", "guess"}},
		{name: "host silent, not listened long enough for a late ICMP: a guess", ev: Evidence{Ping: pingNone, Path: &PathEvidence{SYNs: 2}, Trace: port(yes(1, r1), yes(2, r2))},
			verdict: VerdictHostUnreachable, confidence: ConfidenceLow, lastHopTTL: 2},
		{name: "a NAT gateway forwards the silent port", ev: Evidence{Ping: pingOK, Path: path(3), Trace: port(yes(2, r2), Hop{TTL: 3, Address: target, ICMP: "time-exceeded", Reach: ReachYes, Asks: 1})},
			verdict: VerdictFilteredAtHost, confidence: ConfidenceHigh, lastHopTTL: 3,
			summary: []string{"forwards port 7003 to an internal host", "expires at 198.18.3.10 itself"}},
		{name: "a TTL-limited SYN drew the router's reject", ev: Evidence{Ping: pingOK, Path: path(3), Trace: port(yes(1, r1), Hop{TTL: 3, Address: r2, ICMP: "admin-prohibited", Reach: ReachYes, Asks: 1})},
			verdict: VerdictRejectedInPath, confidence: ConfidenceHigh, reportedBy: r2, lastHopTTL: 3,
			summary: []string{"Router 198.18.2.2 rejected a TTL-limited SYN", "rate-limits"}},
		{name: "a TTL-limited SYN drew the host's reject", ev: Evidence{Ping: pingOK, Path: path(3), Trace: port(Hop{TTL: 3, Address: target, ICMP: "port-unreachable", Reach: ReachYes, Asks: 1})},
			verdict: VerdictRejectedByHost, confidence: ConfidenceHigh, reportedBy: target, lastHopTTL: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			ev.Target, ev.Host, ev.Port, ev.Connect = target+":7003", target, 7003, silent
			d := Diagnose(ev)
			if d.Verdict != tt.verdict || d.Confidence != tt.confidence || d.ReportedBy != tt.reportedBy {
				t.Fatalf("got %s (%s) reported_by %q, want %s (%s) %q: %s", d.Verdict, d.Confidence, d.ReportedBy, tt.verdict, tt.confidence, tt.reportedBy, d.Summary)
			}
			if !slices.Equal(d.Likely, tt.likely) {
				t.Errorf("likely %v, want %v", d.Likely, tt.likely)
			}
			gotTTL := 0
			if d.LastHop != nil {
				gotTTL = d.LastHop.TTL
			}
			if gotTTL != tt.lastHopTTL {
				t.Errorf("last hop ttl %d, want %d", gotTTL, tt.lastHopTTL)
			}
			for _, f := range tt.summary {
				if !strings.Contains(d.Summary, f) {
					t.Errorf("summary %q, want it to contain %q", d.Summary, f)
				}
			}
			for _, f := range tt.not {
				if strings.Contains(d.Summary, f) {
					t.Errorf("summary %q must not contain %q", d.Summary, f)
				}
			}
			if len(d.Hints) == 0 {
				t.Error("no hints")
			}
		})
	}
}

// TestDiagnoseGateways covers issue 13's readings of an answer: port
// forwards, forged resets and a gateway's late host-unreachable.
func TestDiagnoseGateways(t *testing.T) {
	const gw, r1, r2 = "198.18.4.2", "198.18.1.1", "198.18.2.2"
	pingOK := &PingResult{Sent: 3, Received: 3, RTTMS: 0.1, TTL: 62}
	path := &PathEvidence{HostHops: 3, HostHopsBy: "the ping reply's TTL", SYNs: 1}
	te := func(ttl int, a string) Hop {
		return Hop{TTL: ttl, Address: a, ICMP: "time-exceeded", Reach: ReachYes, Asks: 1}
	}
	rst := func(ttl int) Hop { return Hop{TTL: ttl, Address: gw, ICMP: "reset", Reach: ReachYes, Asks: 1} }
	reset := &ConnectResult{Address: gw, Reason: ReasonReset, ReportedBy: gw}
	tests := []struct {
		name       string
		ev         Evidence
		verdict    Verdict
		reportedBy string
		summary    string
		hint       string // a fragment one hint must contain
	}{
		{name: "forward to a port where nothing listens", ev: Evidence{Connect: reset, Ping: pingOK, Path: path, Trace: &Trace{Hops: []Hop{te(2, r2), te(3, gw)}}},
			verdict: VerdictClosed, reportedBy: gw, summary: "forwards port 7011 to an internal host, and nothing listens there", hint: "port-forward rule's internal address"},
		{name: "the gateway's own reset, known to forward other ports", ev: Evidence{Connect: reset, Ping: pingOK, Path: &PathEvidence{HostHops: 3, SYNs: 1, Forwards: true}, Trace: &Trace{Hops: []Hop{te(2, r2), rst(3)}}},
			verdict: VerdictClosed, reportedBy: gw, summary: "forwards other ports to internal hosts (a NAT gateway) but not port 7011"},
		{name: "plain reset from a remote host gets the port-forward hint", ev: Evidence{Connect: reset, Ping: pingOK, Path: path, Trace: &Trace{Hops: []Hop{te(2, r2), rst(3)}}},
			verdict: VerdictClosed, reportedBy: gw, summary: "answered with a reset", hint: "forwards TCP port 7011 to the server's internal address"},
		{name: "reset to a SYN too short to reach the host", ev: Evidence{Connect: reset, Ping: pingOK, Path: path, Trace: &Trace{Hops: []Hop{te(1, r1), rst(2), rst(3)}}},
			verdict: VerdictRejectedInPath, reportedBy: r1, summary: "hop 1 (198.18.1.1) resets the connection on the host's behalf", hint: "forged with the host's address"},
		{name: "reset with more TTL left than the host's echo reply", ev: Evidence{Connect: &ConnectResult{Address: gw, Reason: ReasonReset, ReportedBy: gw, TTL: 63}, Ping: pingOK, Path: path, Trace: &Trace{Hops: []Hop{te(2, r2), rst(3)}}},
			verdict: VerdictRejectedInPath, reportedBy: r2, summary: "TTL 63, the host's echo reply with 62"},
		{name: "implausible TTL difference is not read", ev: Evidence{Connect: &ConnectResult{Address: gw, Reason: ReasonReset, ReportedBy: gw, TTL: 125}, Ping: pingOK, Path: path, Trace: &Trace{Hops: []Hop{te(2, r2), rst(3)}}},
			verdict: VerdictClosed, reportedBy: gw},
		{name: "late host-unreachable from the target: forward to a dead host", ev: Evidence{Connect: &ConnectResult{Address: gw, Reason: ReasonICMPHostUnreachable, ReportedBy: gw, RTTMS: 3061, ICMP: &ICMP{Type: 3, Code: 1, From: gw}}},
			verdict: VerdictHostUnreachable, reportedBy: gw, summary: "forwards port 7011 to an internal host that does not answer", hint: "DHCP reservation"},
		{name: "prompt host-unreachable from the target: a REJECT rule", ev: Evidence{Connect: &ConnectResult{Address: gw, Reason: ReasonICMPHostUnreachable, ReportedBy: gw, RTTMS: 0.4, ICMP: &ICMP{Type: 3, Code: 1, From: gw}}},
			verdict: VerdictRejectedByHost, reportedBy: gw, summary: "itself rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			ev.Target, ev.Host, ev.Port = gw+":7011", gw, 7011
			d := Diagnose(ev)
			if d.Verdict != tt.verdict || d.ReportedBy != tt.reportedBy {
				t.Fatalf("got %s reported_by %q, want %s %q: %s", d.Verdict, d.ReportedBy, tt.verdict, tt.reportedBy, d.Summary)
			}
			if !strings.Contains(d.Summary, tt.summary) {
				t.Errorf("summary %q, want %q", d.Summary, tt.summary)
			}
			if tt.hint != "" && !slices.ContainsFunc(d.Hints, func(h Hint) bool { return strings.Contains(h.Text, tt.hint) }) {
				t.Errorf("no hint with %q in %+v", tt.hint, d.Hints)
			}
		})
	}
}
