package agent

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/portcheck/portcheck/checks"
)

func TestHostReport(t *testing.T) {
	drop := Rule{Source: "iptables", Table: "filter", Chain: "INPUT", Position: 3, Target: "DROP", Proto: "tcp",
		Ports: []PortRange{{8443, 8443}}, Hook: true, Counters: true, Packets: 14, Text: "-A INPUT -p tcp --dport 8443 -j DROP"}
	reject := drop
	reject.Target = "REJECT"
	wild := listener("0.0.0.0", 8443, 5, "/usr/sbin/nginx", "nginx")
	lo := listener("127.0.0.1", 8443, 5, "/usr/sbin/nginx", "nginx")
	tests := []struct {
		name    string
		f       Facts
		verdict checks.Verdict
		summary string
		address string
	}{
		{"nothing listening", Facts{}, checks.VerdictClosed, "nothing listens on port 8443/tcp on the host", ""},
		{"loopback only", Facts{Listeners: []Listener{lo}}, checks.VerdictClosed, "listens on 127.0.0.1:8443 only", ""},
		{"drop rule", Facts{Listeners: []Listener{wild}, Firewall: Firewall{Rules: []Rule{drop}}}, checks.VerdictFilteredAtHost, "DROP rule #3 in INPUT has 14 packets", "0.0.0.0"},
		{"reject rule", Facts{Listeners: []Listener{wild}, Firewall: Firewall{Rules: []Rule{reject}}}, checks.VerdictRejectedByHost, "REJECT rule #3 in INPUT has 14 packets", "0.0.0.0"},
		{"libwrap deny", Facts{Listeners: []Listener{wild}, TCPWrap: []TCPWrap{{Daemon: "nginx", Libwrap: true, Needed: []string{"libwrap.so.0"},
			Deny: []AccessLine{{File: "/etc/hosts.deny", Line: 1, Text: "nginx: ALL"}}}}}, checks.VerdictServiceRefused, `/etc/hosts.deny:1 denies it: "nginx: ALL"`, "0.0.0.0"},
		{"open", Facts{Listeners: []Listener{lo, wild}}, checks.VerdictOpen, "nginx (pid 5, /usr/sbin/nginx) listens on 0.0.0.0:8443 and no firewall rule on the host blocks the port", "0.0.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Query = Query{Port: 8443, Proto: "tcp", Peer: netip.Addr{}}
			tt.f.Unseen = []Unseen{{What: "ufw rules", Why: "ufw status needs root"}}
			r := HostReport(tt.f, "web01:8443", "web01", "host:web01")
			if r.Verdict != tt.verdict || !strings.Contains(r.Summary, tt.summary) || r.Vantage != "host:web01" || r.Port != 8443 || r.Address != tt.address {
				t.Errorf("report = %+v\nwant verdict %s, summary containing %q", r, tt.verdict, tt.summary)
			}
			last := r.Hints[len(r.Hints)-1].Text
			if last != "The agent could not see: ufw rules: ufw status needs root" {
				t.Errorf("last hint = %q", last)
			}
		})
	}
}
