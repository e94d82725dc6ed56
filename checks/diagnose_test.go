package checks

import (
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
	ctlDies := func(addrs ...string) *Trace { return &Trace{Proto: "icmp", Hops: hops(addrs...)} }
	pingOK := &PingResult{Sent: 3, Received: 3, RTTMS: 0.1}
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
		{name: "drop at host: trace reaches the hop before, control reaches target", ev: Evidence{Port: 7003, Connect: conn(ReasonNoResponse, "", nil), Ping: pingOK, Trace: portTrace(r1, r2, ""), ControlTrace: reached(r1, r2, target)},
			verdict: VerdictFilteredAtHost, lastHopTTL: 2, summary: "host's firewall"},
		{name: "drop in path: port dies at hop 2, ICMP reaches target at 3", ev: Evidence{Port: 7004, Connect: conn(ReasonNoResponse, "", nil), Ping: pingOK, Trace: portTrace(r1, ""), ControlTrace: reached(r1, r2, target)},
			verdict: VerdictFilteredInPath, lastHopTTL: 1, summary: "die after hop 1 (198.18.1.1)"},
		{name: "drop in path, target ignores ICMP, control goes further", ev: Evidence{Port: 7004, Connect: conn(ReasonNoResponse, "", nil), Ping: pingNone, Trace: portTrace(r1, ""), ControlTrace: ctlDies(r1, r2, "")},
			verdict: VerdictFilteredInPath, lastHopTTL: 1, summary: "ICMP goes on to hop 2"},
		{name: "drop at first hop", ev: Evidence{Port: 7004, Connect: conn(ReasonNoResponse, "", nil), Ping: pingOK, Trace: portTrace(""), ControlTrace: reached(r1, r2, target)},
			verdict: VerdictFilteredInPath, summary: "at the first hop"},
		{name: "silence, ping answers, no trace", ev: Evidence{Port: 7003, Connect: conn(ReasonNoResponse, "", nil), Ping: pingOK},
			verdict: VerdictFilteredAtHost, summary: "answers ping"},
		{name: "unanswered ping alone is not host down when the path shows the host", ev: Evidence{Port: 7003, Connect: conn(ReasonNoResponse, "", nil), Ping: pingNone, Trace: portTrace(r1, r2, ""), ControlTrace: reached(r1, r2, target)},
			verdict: VerdictFilteredAtHost, lastHopTTL: 2},
		{name: "nothing answers anything", ev: Evidence{Port: 80, Connect: conn(ReasonNoResponse, "", nil), Ping: pingNone, Trace: portTrace(r1, r2, ""), ControlTrace: ctlDies(r1, r2, "")},
			verdict: VerdictHostUnreachable, lastHopTTL: 2, summary: "This is a guess"},
		{name: "nothing at all, no traces", ev: Evidence{Port: 80, Connect: conn(ReasonNoResponse, "", nil), Ping: pingNone},
			verdict: VerdictHostUnreachable, summary: "guess"},
		// Ambiguous shapes: a hop silent in both traces, or a control
		// trace whose lower TTLs went unanswered, is a router that sends
		// no ICMP (or a lost answer), not a filter in the path.
		{name: "hop silent in both traces before the target is no filter", ev: Evidence{Port: 7003, Connect: conn(ReasonNoResponse, "", nil), Ping: pingOK, Trace: portTrace(r1, r2, "", ""), ControlTrace: reached(r1, r2, "", target)},
			verdict: VerdictFilteredAtHost, lastHopTTL: 2, summary: "nothing answers at hop 3 to port probes or to ICMP"},
		{name: "port trace one hop short, the missing hop silent in the control too", ev: Evidence{Port: 7003, Connect: conn(ReasonNoResponse, "", nil), Ping: pingOK, Trace: portTrace(r1, ""), ControlTrace: reached(r1, "", target)},
			verdict: VerdictFilteredAtHost, lastHopTTL: 1, summary: "nothing answers at hop 2"},
		{name: "control hears the target only at a far TTL, its lower TTLs lost", ev: Evidence{Port: 7003, Connect: conn(ReasonNoResponse, "", nil), Ping: pingOK, Trace: portTrace(r1, r2, ""), ControlTrace: reached("", "", "", "", target)},
			verdict: VerdictFilteredAtHost, lastHopTTL: 2, summary: "hops 3-4"},
		{name: "nothing before the target answers either trace", ev: Evidence{Port: 7003, Connect: conn(ReasonNoResponse, "", nil), Ping: pingOK, Trace: portTrace(""), ControlTrace: reached("", "", target)},
			verdict: VerdictFilteredAtHost, summary: "no hop before the target answers"},
		{name: "control trace entirely silent, ping answers", ev: Evidence{Port: 7003, Connect: conn(ReasonNoResponse, "", nil), Ping: pingOK, Trace: portTrace(r1, r2, ""), ControlTrace: ctlDies("")},
			verdict: VerdictFilteredAtHost, lastHopTTL: 2, summary: "answers ping"},
		{name: "a later router answers ICMP past a silent one: in path", ev: Evidence{Port: 7004, Connect: conn(ReasonNoResponse, "", nil), Ping: pingOK, Trace: portTrace(r1, "", ""), ControlTrace: reached(r1, "", "198.18.4.4", target)},
			verdict: VerdictFilteredInPath, lastHopTTL: 1, summary: "hop 3 (198.18.4.4) answers ICMP"},
		{name: "control dies too, silent in both past the port's end", ev: Evidence{Port: 7004, Connect: conn(ReasonNoResponse, "", nil), Ping: pingOK, Trace: portTrace(r1, ""), ControlTrace: ctlDies(r1, "")},
			verdict: VerdictFilteredAtHost, lastHopTTL: 1, summary: "answers ping"},
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
