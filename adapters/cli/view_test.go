package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/golden"
)

// withHints fills a hand-built report's hints from the real catalogue, the
// way the engine does, so the goldens show what users will see.
func withHints(r checks.Report) checks.Report {
	e := checks.Evidence{Target: r.Target, Host: r.Host, Port: r.Port, Connect: r.Connect, Ping: r.Ping, Service: r.Service,
		ControlTrace: r.ControlTrace, Resolve: checks.ResolveResult{Addresses: r.Addresses}}
	if len(r.Trace) > 0 {
		e.Trace = &checks.Trace{Proto: "tcp", Port: r.Port, Hops: r.Trace}
	}
	if r.Verdict == checks.VerdictDNSError {
		e.Resolve.NotFound = true
	}
	r.Hints = checks.HintsFor(checks.Diagnosis{Verdict: r.Verdict, Reason: r.Reason, ReportedBy: r.ReportedBy, LastHop: r.LastHop}, e)
	return r
}

func openSSH() checks.Report {
	return checks.Report{
		Target: "web01:22", Host: "web01", Port: 22, Address: "198.18.1.10", Addresses: []string{"198.18.1.10"},
		Verdict: checks.VerdictOpen, Reason: checks.ReasonSynAck, ReportedBy: "198.18.1.10",
		Connect: &checks.ConnectResult{Address: "198.18.1.10", Reason: checks.ReasonSynAck, ReportedBy: "198.18.1.10", RTTMS: 0.41},
		Service: &checks.Service{Name: "ssh", Banner: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"},
		Ping:    &checks.PingResult{Sent: 3, Received: 3, RTTMS: 0.38},
		Summary: "web01:22 is open: ssh answered.", ElapsedMS: 12,
	}
}

func closedHTTP() checks.Report {
	return withHints(checks.Report{
		Target: "web01:22,8080", Host: "web01", Port: 8080, Address: "198.18.1.10", Addresses: []string{"198.18.1.10"},
		Verdict: checks.VerdictClosed, Reason: checks.ReasonReset, ReportedBy: "198.18.1.10",
		Connect:   &checks.ConnectResult{Address: "198.18.1.10", Reason: checks.ReasonReset, ReportedBy: "198.18.1.10", RTTMS: 0.35},
		Summary:   "198.18.1.10 answered port 8080 with a reset: nothing listens there (stopped, or bound to another address such as 127.0.0.1).",
		ElapsedMS: 3,
	})
}

func filteredAtHost() checks.Report {
	return withHints(checks.Report{
		Target: "db01:5432", Host: "db01", Port: 5432, Address: "198.18.1.20", Addresses: []string{"198.18.1.20", "2001:db8:1::20"},
		Verdict: checks.VerdictFilteredAtHost, Reason: checks.ReasonNoResponse,
		LastHop: &checks.Hop{TTL: 2, Address: "198.18.0.2", RTTMS: 0.3, ICMP: "time-exceeded"},
		Connect: &checks.ConnectResult{Address: "198.18.1.20", Reason: checks.ReasonNoResponse},
		Others:  []checks.ConnectResult{{Address: "2001:db8:1::20", Reason: checks.ReasonNoResponse}},
		Ping:    &checks.PingResult{Sent: 3, Received: 3, RTTMS: 0.52},
		Trace: []checks.Hop{
			{TTL: 1, Address: "198.18.0.1", RTTMS: 0.12, ICMP: "time-exceeded"},
			{TTL: 2, Address: "198.18.0.2", RTTMS: 0.3, ICMP: "time-exceeded"},
			{TTL: 3}, {TTL: 4}, {TTL: 5},
		},
		ControlTrace: &checks.Trace{Proto: "icmp", Reached: true, Hops: []checks.Hop{
			{TTL: 1, Address: "198.18.0.1"}, {TTL: 2, Address: "198.18.0.2"}, {TTL: 3, Address: "198.18.1.20", ICMP: "echo-reply"},
		}},
		Summary:   "Probes to port 5432 pass 198.18.0.2 (hop 2) but 198.18.1.20 never answers, though it answers ping: a firewall on the host drops them.",
		ElapsedMS: 1240,
	})
}

func rejectedInPath() checks.Report {
	return withHints(checks.Report{
		Target: "mail.example.com:25", Host: "mail.example.com", Port: 25, Address: "198.18.1.30", Addresses: []string{"198.18.1.30"},
		Verdict: checks.VerdictRejectedInPath, Reason: checks.ReasonICMPAdminProhibited, ReportedBy: "198.18.0.2",
		LastHop: &checks.Hop{TTL: 2, Address: "198.18.0.2", ICMP: "admin-prohibited"},
		Connect: &checks.ConnectResult{Address: "198.18.1.30", Reason: checks.ReasonICMPAdminProhibited, ReportedBy: "198.18.0.2",
			ICMP: &checks.ICMP{Type: 3, Code: 13, From: "198.18.0.2"}, RTTMS: 0.44},
		Ping: &checks.PingResult{Sent: 3, Received: 0, Privileged: true},
		Trace: []checks.Hop{
			{TTL: 1, Address: "198.18.0.1", RTTMS: 0.1, ICMP: "time-exceeded"},
			{TTL: 2, Address: "198.18.0.2", RTTMS: 0.2, ICMP: "admin-prohibited"},
		},
		Summary:   "Router 198.18.0.2 (hop 2) rejects port 25 with ICMP admin-prohibited: a network ACL.",
		ElapsedMS: 45,
	})
}

func refusedFTP() checks.Report {
	return withHints(checks.Report{
		Target: "ftp01:21", Host: "ftp01", Port: 21, Address: "198.18.1.40", Addresses: []string{"198.18.1.40"},
		Verdict: checks.VerdictServiceRefused, Reason: checks.ReasonSynAck, ReportedBy: "198.18.1.40",
		Connect:   &checks.ConnectResult{Address: "198.18.1.40", Reason: checks.ReasonSynAck, ReportedBy: "198.18.1.40"},
		Service:   &checks.Service{Name: "ftp", Banner: "421 Service not available.\r\n\x1b[31m", Refused: true, Detail: "421 greeting"},
		Summary:   "198.18.1.40 accepts connections on port 21 but the service refuses this client (421): tcp wrappers or an application ACL.",
		ElapsedMS: 8,
	})
}

func dnsError() checks.Report {
	return withHints(checks.Report{
		Target: "wbe01.example.com:443", Host: "wbe01.example.com", Port: 443,
		Verdict: checks.VerdictDNSError, Reason: checks.ReasonDNSError,
		Summary: "wbe01.example.com does not resolve (no such host).", ElapsedMS: 21,
	})
}

func TestRenderHumanGolden(t *testing.T) {
	tlsSoon := openSSH()
	tlsSoon.Target, tlsSoon.Port = "https://web01/", 443
	tlsSoon.Summary = "web01:443 is open: https answered."
	tlsSoon.Service = &checks.Service{Name: "https", Banner: "HTTP/1.1 200 OK", TLS: &checks.TLSInfo{
		Version: "TLS 1.3", Subject: "CN=web01.example.com", Issuer: "CN=R11,O=Let's Encrypt,C=US",
		NotAfter: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC), DaysLeft: 9}}
	tlsSoon.Trace = []checks.Hop{
		{TTL: 1, Address: "198.18.0.1", RTTMS: 0.1, ICMP: "time-exceeded"},
		{TTL: 2, Address: "198.18.0.2", RTTMS: 0.2, ICMP: "time-exceeded"},
		{TTL: 3, Address: "198.18.1.10", RTTMS: 0.3, ICMP: "syn-ack"},
	}
	tlsSoon = withHints(tlsSoon)

	tests := []struct {
		name    string
		reports []checks.Report
		summary runSummary
	}{
		{"open.golden", []checks.Report{openSSH()}, runSummary{Requested: 1, Elapsed: 15 * time.Millisecond}},
		{"mixed.golden", []checks.Report{openSSH(), closedHTTP(), filteredAtHost(), rejectedInPath(), refusedFTP(), dnsError()},
			runSummary{Requested: 6, Elapsed: 1260 * time.Millisecond}},
		{"tls-trace.golden", []checks.Report{tlsSoon}, runSummary{Requested: 1, Elapsed: 40 * time.Millisecond}},
		{"range.golden", rangeReports(), runSummary{Requested: 1024, Elapsed: 2345 * time.Millisecond}},
		{"interrupted.golden", []checks.Report{openSSH(), closedHTTP()}, runSummary{Requested: 40, Elapsed: 800 * time.Millisecond, Interrupted: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := renderHuman(&b, tc.reports, tc.summary); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.name, b.Bytes())
		})
	}
}

// rangeReports is web01:1-1024 with 22, 80 and 443 open and the rest
// closed: the closed ones fold into one line.
func rangeReports() []checks.Report {
	var out []checks.Report
	for p := 1; p <= 1024; p++ {
		r := checks.Report{Target: "web01:1-1024", Host: "web01", Port: p, Address: "198.18.1.10", Addresses: []string{"198.18.1.10"},
			Verdict: checks.VerdictClosed, Reason: checks.ReasonReset, ReportedBy: "198.18.1.10", ElapsedMS: 1}
		switch p {
		case 22, 80, 443:
			r.Verdict, r.Reason = checks.VerdictOpen, checks.ReasonSynAck
			r.Service = &checks.Service{Name: checks.ServiceName(p)}
		case 1000:
			r.Verdict, r.Reason, r.ReportedBy = checks.VerdictRejectedByHost, checks.ReasonICMPPortUnreachable, "198.18.1.10"
			r = withHints(r)
		}
		out = append(out, r)
	}
	return out
}

func TestCleanStripsTerminalControls(t *testing.T) {
	got := clean("220 hi\x1b[2J\r\nthere\x07", 0)
	if got != "220 hi?[2J there?" {
		t.Errorf("clean = %q", got)
	}
	if got := clean("αβγδε", 3); got != "αβγ…" {
		t.Errorf("cut = %q", got)
	}
}

func TestCutList(t *testing.T) {
	if got := cutList("1-3,5,7-8,10,12", 9); got != "1-3,5,…" {
		t.Errorf("cutList = %q", got)
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// In colour the view is the same text, column for column, with the glyph
// and the verdict painted: green open, red problems, yellow inconclusive.
func TestRenderHumanColor(t *testing.T) {
	inc := filteredAtHost()
	inc.Target, inc.Port, inc.Verdict = "db01:5433", 5433, checks.VerdictInconclusive
	reps := []checks.Report{openSSH(), closedHTTP(), inc}
	var plain, color bytes.Buffer
	if err := renderHuman(&plain, reps, runSummary{Requested: 3, Elapsed: time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := renderHuman(&color, reps, runSummary{Requested: 3, Elapsed: time.Second, Color: true}); err != nil {
		t.Fatal(err)
	}
	if got := ansi.ReplaceAllString(color.String(), ""); got != plain.String() {
		t.Errorf("colour changed the text:\n%s\nwant:\n%s", got, plain.String())
	}
	for _, want := range []string{
		"\x1b[1;32m✓\x1b[0m  \x1b[1;32mopen\x1b[0m ",
		"\x1b[1;31m✗\x1b[0m  \x1b[1;31mclosed\x1b[0m ",
		"\x1b[1;33m?\x1b[0m  \x1b[1;33minconclusive\x1b[0m ",
		"\x1b[1;31m✗\x1b[0m web01:8080  \x1b[1;31mclosed\x1b[0m\n",
	} {
		if !strings.Contains(color.String(), want) {
			t.Errorf("colour view lacks %q:\n%q", want, color.String())
		}
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("colour without asking for it")
	}
}
