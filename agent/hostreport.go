package agent

import (
	"strings"

	"github.com/portcheck/portcheck/checks"
)

// HostReport turns facts into the checks.Report an agent vantage
// (host:<hostname>) publishes on the results queue, so the bot can show it
// beside the external vantages with no agent-specific plumbing.
//
// Its Verdict is the host's prediction of what an outside client meets,
// from the facts alone (no packet is sent): closed when nothing listens on
// a reachable address, filtered_at_host / rejected_by_host when a rule
// blocks the port, service_refused when libwrap and hosts.deny refuse the
// daemon, open otherwise. Reason is empty: no probe ran. Summary, Hints and
// the evidence come from Merge against that prediction.
func HostReport(f Facts, target, host, vantage string) checks.Report {
	v := predict(f)
	r := checks.Report{Target: target, Host: host, Port: f.Query.Port, Verdict: v, Vantage: vantage,
		Addresses: []string{}, Trace: []checks.Hop{}}
	fd := Merge(r, f)
	r.Summary = fd.Summary
	if r.Summary == "" {
		r.Summary = hostOpenSummary(f)
	}
	r.Hints = fd.Hints
	// The evidence and the gaps travel as hints without commands: the
	// Report has no field for them, and every renderer shows hint text.
	r.Hints = append(r.Hints, checks.Hint{Text: "On the host: " + strings.Join(fd.Evidence, "; ")})
	if len(fd.Unseen) > 0 {
		r.Hints = append(r.Hints, checks.Hint{Text: "The agent could not see: " + strings.Join(fd.Unseen, "; ")})
	}
	for _, l := range f.Listeners {
		if l.Scope != "loopback" {
			r.Address = l.Address.String()
			break
		}
	}
	return r
}

// predict is the verdict the facts imply for a client outside the host.
func predict(f Facts) checks.Verdict {
	m := merger{f: f, port: f.Query.Port, proto: f.Query.Proto}
	if m.proto == "" {
		m.proto = "tcp"
	}
	if r := m.blockingRule(); r != nil {
		if strings.EqualFold(r.Target, "REJECT") {
			return checks.VerdictRejectedByHost
		}
		return checks.VerdictFilteredAtHost
	}
	outside := false
	for _, l := range f.Listeners {
		if l.Scope != "loopback" {
			outside = true
		}
	}
	if !outside {
		return checks.VerdictClosed
	}
	for _, tw := range f.TCPWrap {
		if tw.Libwrap && len(tw.Deny) > 0 {
			return checks.VerdictServiceRefused
		}
	}
	return checks.VerdictOpen
}

func hostOpenSummary(f Facts) string {
	for _, l := range f.Listeners {
		if l.Scope != "loopback" {
			return who(l) + " listens on " + l.Endpoint() + " and no firewall rule on the host blocks the port"
		}
	}
	return "the host sees nothing in the way"
}
