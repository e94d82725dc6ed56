package agent

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/portcheck/portcheck/checks"
)

func report(v checks.Verdict, addr string, port int) checks.Report {
	return checks.Report{Target: "web01:" + strconv.Itoa(port), Host: "web01", Port: port, Address: addr, Verdict: v, Summary: "external summary"}
}

func listener(addr string, port, pid int, exe, comm string) Listener {
	a := netip.MustParseAddr(addr)
	return Listener{Proto: "tcp", Address: a, Port: port, Scope: Scope(a), PID: pid, Exe: exe, Comm: comm}
}

func TestMerge(t *testing.T) {
	defRoute := &Route{Dest: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("198.18.0.254"), Iface: "eth0"}
	withDef := Routes{Default: defRoute}
	drop := Rule{Source: "iptables", Table: "filter", Chain: "INPUT", Position: 3, Text: "-A INPUT -p tcp -m tcp --dport 8443 -j DROP",
		Target: "DROP", Packets: 14, Bytes: 840, Counters: true, Proto: "tcp", Ports: []PortRange{{8443, 8443}}, Hook: true}
	nftDrop := Rule{Source: "nft", Family: "inet", Table: "pca", Chain: "input", Position: 2, Handle: 5, Text: "tcp dport 8443 counter packets 3 bytes 180 drop",
		Target: "DROP", Packets: 3, Counters: true, Proto: "tcp", Ports: []PortRange{{8443, 8443}}, Hook: true}
	policy := Rule{Source: "iptables", Table: "filter", Chain: "INPUT", Target: "DROP", Policy: true, Hook: true, Packets: 120, Counters: true, Text: ":INPUT DROP [120:7200]"}
	accept := Rule{Source: "iptables", Table: "filter", Chain: "INPUT", Position: 1, Target: "ACCEPT", Proto: "tcp", Ports: []PortRange{{8443, 8443}}, Hook: true, Text: "-A INPUT -p tcp --dport 8443 -j ACCEPT"}
	ufwDeny := Rule{Source: "ufw", Table: "ufw", Chain: "incoming", Position: 2, Target: "DROP", Proto: "tcp", Ports: []PortRange{{8443, 8443}}, Hook: true, Text: "8443/tcp DENY IN Anywhere"}
	peer := netip.MustParseAddr("198.18.0.2")

	tests := []struct {
		name         string
		r            checks.Report
		f            Facts
		wantSummary  string
		wantCommands []string // each must appear among the hints' commands
		wantHintText string
		wantEvidence string
	}{
		{
			name: "closed, loopback only, nginx",
			r:    report(checks.VerdictClosed, "198.18.0.1", 8443),
			f: Facts{Query: Query{Port: 8443, Proto: "tcp"}, Routes: withDef,
				Listeners: []Listener{listener("127.0.0.1", 8443, 812, "/usr/sbin/nginx", "nginx")}},
			wantSummary:  "nginx (pid 812, /usr/sbin/nginx) listens on 127.0.0.1:8443 only: it accepts connections from this host, so 198.18.0.1:8443 is refused; change its listen address",
			wantHintText: "`listen 0.0.0.0:8443;`",
			wantEvidence: "nginx (pid 812, /usr/sbin/nginx) listens on 127.0.0.1:8443/tcp",
		},
		{
			name: "closed, loopback only, sshd",
			r:    report(checks.VerdictClosed, "198.18.0.1", 22),
			f: Facts{Query: Query{Port: 22, Proto: "tcp"}, Routes: withDef,
				Listeners: []Listener{listener("127.0.0.1", 22, 90, "/usr/sbin/sshd", "sshd"), listener("::1", 22, 90, "/usr/sbin/sshd", "sshd")}},
			wantSummary:  "sshd (pid 90, /usr/sbin/sshd) listens on 127.0.0.1:22 and [::1]:22 only: it accepts connections from this host, so 198.18.0.1:22 is refused; change its listen address",
			wantHintText: "`ListenAddress 0.0.0.0`",
		},
		{
			name: "closed, bound to another interface, generic daemon",
			r:    report(checks.VerdictClosed, "198.18.0.1", 9000),
			f: Facts{Query: Query{Port: 9000, Proto: "tcp"}, Routes: withDef,
				Listeners: []Listener{listener("10.9.0.1", 9000, 7, "/opt/app/bin/app", "app")}},
			wantSummary:  "app (pid 7, /opt/app/bin/app) listens on 10.9.0.1:9000 only: it accepts connections on that one address, so 198.18.0.1:9000 is refused; change its listen address",
			wantHintText: "listen/bind address to 198.18.0.1 (the address clients use) or 0.0.0.0",
		},
		{
			name: "closed over IPv6, IPv4 wildcard only",
			r:    report(checks.VerdictClosed, "2001:db8::1", 8443),
			f: Facts{Query: Query{Port: 8443, Proto: "tcp"}, Routes: withDef,
				Listeners: []Listener{listener("0.0.0.0", 8443, 812, "/usr/sbin/nginx", "nginx")}},
			wantSummary:  "nginx (pid 812, /usr/sbin/nginx) listens on 0.0.0.0:8443 (IPv4 only), so [2001:db8::1]:8443 over IPv6 is refused; make it listen on [::] too",
			wantHintText: "`listen [::]:8443;`",
		},
		{
			name:         "closed, nothing listening",
			r:            report(checks.VerdictClosed, "198.18.0.1", 22),
			f:            Facts{Query: Query{Port: 22, Proto: "tcp"}, Routes: withDef, Listeners: []Listener{}},
			wantSummary:  "nothing listens on port 22/tcp on the host: the service is stopped (or configured for another port); start it",
			wantCommands: []string{"sudo systemctl start ssh", "sudo ss -tlnp 'sport = :22'"},
			wantEvidence: "nothing listens on port 22/tcp",
		},
		{
			name: "closed though listening on wildcard: a tcp-reset REJECT",
			r:    report(checks.VerdictClosed, "198.18.0.1", 8443),
			f: Facts{Query: Query{Port: 8443, Proto: "tcp"}, Routes: withDef,
				Listeners: []Listener{listener("::", 8443, 5, "/usr/bin/app", "app")},
				Firewall: Firewall{Rules: []Rule{{Source: "iptables", Table: "filter", Chain: "INPUT", Position: 2, Target: "REJECT", Proto: "tcp",
					Ports: []PortRange{{8443, 8443}}, Hook: true, Counters: true, Packets: 2, Text: "-A INPUT -p tcp --dport 8443 -j REJECT --reject-with tcp-reset"}}}},
			wantSummary: "the host firewall rejects it: REJECT rule #2 in INPUT has 2 packets matches port 8443/tcp (-A INPUT -p tcp --dport 8443 -j REJECT --reject-with tcp-reset)",
		},
		{
			name: "closed though listening on wildcard, no rule",
			r:    report(checks.VerdictClosed, "198.18.0.1", 8443),
			f: Facts{Query: Query{Port: 8443, Proto: "tcp"}, Routes: withDef,
				Listeners: []Listener{listener("0.0.0.0", 8443, 5, "/usr/bin/app", "app")}},
			wantSummary: "the host sees app (pid 5, /usr/bin/app) listening on 0.0.0.0:8443, yet the probe got a reset: another box answers for 198.18.0.1 (NAT, port forward, load balancer) or a firewall resets it",
		},
		{
			name: "filtered at host, iptables DROP with counters, peer known",
			r:    report(checks.VerdictFilteredAtHost, "198.18.0.1", 8443),
			f: Facts{Query: Query{Port: 8443, Proto: "tcp", Peer: peer}, Routes: withDef,
				Listeners: []Listener{listener("0.0.0.0", 8443, 5, "/usr/sbin/nginx", "nginx")},
				Firewall:  Firewall{Rules: []Rule{policy, drop}}},
			wantSummary: "the host firewall drops it: DROP rule #3 in INPUT has 14 packets matches port 8443/tcp (-A INPUT -p tcp -m tcp --dport 8443 -j DROP)",
			wantCommands: []string{"sudo iptables -L INPUT -v -n --line-numbers",
				"sudo iptables -I INPUT 3 -s 198.18.0.2 -p tcp --dport 8443 -j ACCEPT",
				"sudo iptables -D INPUT -s 198.18.0.2 -p tcp --dport 8443 -j ACCEPT"},
			wantEvidence: "DROP rule #3 in INPUT has 14 packets: -A INPUT -p tcp -m tcp --dport 8443 -j DROP",
		},
		{
			name:         "filtered at host, nft drop",
			r:            report(checks.VerdictFilteredAtHost, "198.18.0.1", 8443),
			f:            Facts{Query: Query{Port: 8443, Proto: "tcp"}, Routes: withDef, Firewall: Firewall{Rules: []Rule{nftDrop}}},
			wantSummary:  "the host firewall drops it: DROP rule #2 in input (nft inet pca) has 3 packets matches port 8443/tcp (tcp dport 8443 counter packets 3 bytes 180 drop)",
			wantCommands: []string{"sudo nft -a list chain inet pca input", "sudo nft insert rule inet pca input position 5 tcp dport 8443 accept"},
		},
		{
			name:         "filtered at host, policy DROP and no ACCEPT",
			r:            report(checks.VerdictFilteredAtHost, "198.18.0.1", 8443),
			f:            Facts{Query: Query{Port: 8443, Proto: "tcp"}, Routes: withDef, Firewall: Firewall{Rules: []Rule{policy}}},
			wantSummary:  "the host firewall drops it: INPUT policy DROP has 120 packets applies: no rule accepts port 8443/tcp (:INPUT DROP [120:7200])",
			wantCommands: []string{"sudo iptables -I INPUT 1 -p tcp --dport 8443 -j ACCEPT"},
		},
		{
			name:        "filtered at host, policy DROP but an ACCEPT for the port: not the cause",
			r:           report(checks.VerdictFilteredAtHost, "198.18.0.1", 8443),
			f:           Facts{Query: Query{Port: 8443, Proto: "tcp"}, Routes: withDef, Firewall: Firewall{Rules: []Rule{policy, accept}}},
			wantSummary: "external summary",
		},
		{
			name: "filtered at host, catch-all DROP after an ACCEPT for the port: not the cause",
			r:    report(checks.VerdictFilteredAtHost, "198.18.0.1", 8443),
			f: Facts{Query: Query{Port: 8443, Proto: "tcp"}, Routes: withDef, Firewall: Firewall{Rules: []Rule{accept,
				{Source: "iptables", Table: "filter", Chain: "INPUT", Position: 5, Target: "DROP", Hook: true, Text: "-A INPUT -j DROP"}}}},
			wantSummary: "external summary",
		},
		{
			name: "filtered at host, catch-all DROP after an ACCEPT for another port",
			r:    report(checks.VerdictFilteredAtHost, "198.18.0.1", 9000),
			f: Facts{Query: Query{Port: 9000, Proto: "tcp"}, Routes: withDef, Firewall: Firewall{Rules: []Rule{
				{Source: "iptables", Table: "filter", Chain: "INPUT", Position: 5, Target: "DROP", Hook: true, Counters: true, Packets: 9, Text: "-A INPUT -j DROP"}}}},
			wantSummary: "the host firewall drops it: DROP rule #5 in INPUT has 9 packets catches all tcp traffic (-A INPUT -j DROP)",
		},
		{
			name: "filtered at host, DROP after a source-restricted ACCEPT: still the cause",
			r:    report(checks.VerdictFilteredAtHost, "198.18.0.1", 8443),
			f: Facts{Query: Query{Port: 8443, Proto: "tcp"}, Routes: withDef, Firewall: Firewall{Rules: []Rule{
				{Source: "iptables", Table: "filter", Chain: "INPUT", Position: 1, Target: "ACCEPT", Proto: "tcp", Ports: []PortRange{{8443, 8443}}, Conditional: true, Hook: true, Text: "-A INPUT -s 10.0.0.0/8 -p tcp --dport 8443 -j ACCEPT"},
				drop}}},
			wantSummary: "the host firewall drops it: DROP rule #3 in INPUT has 14 packets matches port 8443/tcp (-A INPUT -p tcp -m tcp --dport 8443 -j DROP)",
		},
		{
			name: "filtered at host, DROP in a ufw-managed iptables chain: ufw commands",
			r:    report(checks.VerdictFilteredAtHost, "198.18.0.1", 8443),
			f: Facts{Query: Query{Port: 8443, Proto: "tcp"}, Routes: withDef, Firewall: Firewall{Rules: []Rule{
				{Source: "iptables", Table: "filter", Chain: "ufw-user-input", Position: 2, Target: "DROP", Proto: "tcp", Ports: []PortRange{{8443, 8443}}, Hook: true, Counters: true, Packets: 4, Text: "-A ufw-user-input -p tcp -m tcp --dport 8443 -j DROP"}}}},
			wantSummary:  "the host firewall drops it: DROP rule #2 in ufw-user-input has 4 packets matches port 8443/tcp (-A ufw-user-input -p tcp -m tcp --dport 8443 -j DROP)",
			wantCommands: []string{"sudo iptables -L ufw-user-input -v -n --line-numbers", "sudo ufw status numbered", "sudo ufw insert 1 allow 8443/tcp"},
		},
		{
			name:         "filtered at host, ufw deny",
			r:            report(checks.VerdictFilteredAtHost, "198.18.0.1", 8443),
			f:            Facts{Query: Query{Port: 8443, Proto: "tcp"}, Routes: withDef, Firewall: Firewall{Rules: []Rule{ufwDeny}}},
			wantSummary:  "the host firewall drops it: DROP rule #2 in incoming (table ufw) matches port 8443/tcp (8443/tcp DENY IN Anywhere)",
			wantCommands: []string{"sudo ufw status numbered", "sudo ufw insert 1 allow 8443/tcp"},
		},
		{
			name: "filtered at host, no rule, no route back",
			r:    report(checks.VerdictFilteredAtHost, "198.18.0.1", 8443),
			f: Facts{Query: Query{Port: 8443, Proto: "tcp", Peer: netip.MustParseAddr("198.19.7.7")}, Routes: Routes{NoRoute: true},
				Listeners: []Listener{listener("0.0.0.0", 8443, 5, "/usr/sbin/nginx", "nginx")}},
			wantSummary:  "the host has no route back to 198.19.7.7 and no default route: the SYNs arrive but the replies cannot leave",
			wantCommands: []string{"ip route show default", "ip route get 198.19.7.7"},
			wantEvidence: "route: no IPv4 default route",
		},
		{
			name:         "host unreachable, no default route, no peer",
			r:            report(checks.VerdictHostUnreachable, "198.18.0.1", 8443),
			f:            Facts{Query: Query{Port: 8443, Proto: "tcp"}},
			wantSummary:  "the host has no IPv4 default route: it cannot answer anyone outside its own subnets",
			wantCommands: []string{"ip route show default"},
		},
		{
			name: "service refused, libwrap and hosts.deny",
			r:    report(checks.VerdictServiceRefused, "198.18.0.1", 22),
			f: Facts{Query: Query{Port: 22, Proto: "tcp", Peer: peer}, Routes: withDef,
				Listeners: []Listener{listener("0.0.0.0", 22, 90, "/usr/sbin/sshd", "sshd")},
				TCPWrap: []TCPWrap{{PID: 90, Exe: "/usr/sbin/sshd", Daemon: "sshd", Libwrap: true, Needed: []string{"libwrap.so.0"},
					Deny: []AccessLine{{File: "/etc/hosts.deny", Line: 7, Text: "sshd: ALL", Daemons: []string{"sshd"}, Clients: []string{"ALL"}}}}}},
			wantSummary:  `sshd links libwrap.so.0 and /etc/hosts.deny:7 denies it: "sshd: ALL"`,
			wantCommands: []string{"echo 'sshd: 198.18.0.2' | sudo tee -a /etc/hosts.allow"},
			wantEvidence: "/etc/hosts.deny:7: sshd: ALL",
		},
		{
			name: "service refused, no libwrap: keep the external summary",
			r:    report(checks.VerdictServiceRefused, "198.18.0.1", 22),
			f: Facts{Query: Query{Port: 22, Proto: "tcp"}, Routes: withDef,
				TCPWrap: []TCPWrap{{PID: 90, Exe: "/usr/sbin/sshd", Daemon: "sshd",
					Deny: []AccessLine{{File: "/etc/hosts.deny", Line: 7, Text: "sshd: ALL"}}}}},
			wantSummary: "external summary",
		},
		{
			name: "open: facts only",
			r:    report(checks.VerdictOpen, "198.18.0.1", 443),
			f: Facts{Query: Query{Port: 443, Proto: "tcp"}, Routes: withDef,
				Listeners: []Listener{listener("0.0.0.0", 443, 5, "/usr/sbin/nginx", "nginx")},
				Unseen:    []Unseen{{What: "iptables rules", Why: "iptables-save -c needs CAP_NET_ADMIN"}}},
			wantSummary:  "external summary",
			wantEvidence: "route: default via 198.18.0.254 dev eth0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Merge(tt.r, tt.f)
			if got.Verdict != tt.r.Verdict {
				t.Errorf("verdict = %s, want %s (Merge keeps the external verdict)", got.Verdict, tt.r.Verdict)
			}
			if got.Summary != tt.wantSummary {
				t.Errorf("summary\n got %q\nwant %q", got.Summary, tt.wantSummary)
			}
			var cmds []string
			var texts []string
			for _, h := range got.Hints {
				cmds = append(cmds, h.Commands...)
				texts = append(texts, h.Text)
			}
			for _, c := range tt.wantCommands {
				if !contains(cmds, c) {
					t.Errorf("missing command %q in %q", c, cmds)
				}
			}
			if tt.wantHintText != "" && !strings.Contains(strings.Join(texts, "\n"), tt.wantHintText) {
				t.Errorf("hints lack %q: %q", tt.wantHintText, texts)
			}
			if tt.wantEvidence != "" && !contains(got.Evidence, tt.wantEvidence) {
				t.Errorf("evidence lacks %q: %q", tt.wantEvidence, got.Evidence)
			}
			if len(tt.f.Unseen) > 0 && len(got.Unseen) != len(tt.f.Unseen) {
				t.Errorf("unseen = %q", got.Unseen)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestWithoutAgent(t *testing.T) {
	tests := []struct {
		v        checks.Verdict
		port     int
		wantSubs []string
	}{
		{checks.VerdictClosed, 8443, []string{"`sudo ss -tlnp 'sport = :8443'`", "`netstat -tuln | grep 8443`", "`systemctl status SERVICE`"}},
		{checks.VerdictClosed, 22, []string{"`systemctl status ssh`"}},
		{checks.VerdictFilteredAtHost, 8443, []string{"`sudo iptables -L INPUT -v -n --line-numbers`", "`sudo nft list ruleset`", "`sudo ufw status verbose`", "`ip route show default`"}},
		{checks.VerdictRejectedByHost, 8443, []string{"`sudo iptables -L INPUT -v -n --line-numbers`"}},
		{checks.VerdictServiceRefused, 22, []string{"`ldd $(command -v sshd) | grep libwrap`", "`grep -v '^#' /etc/hosts.allow /etc/hosts.deny`", "`sudo journalctl -u ssh -n 50 --no-pager`"}},
		{checks.VerdictHostUnreachable, 80, []string{"`ip route show default`"}},
	}
	for _, tt := range tests {
		got := strings.Join(WithoutAgent(report(tt.v, "198.18.0.1", tt.port)), "\n")
		for _, s := range tt.wantSubs {
			if !strings.Contains(got, s) {
				t.Errorf("WithoutAgent(%s, %d) lacks %q:\n%s", tt.v, tt.port, s, got)
			}
		}
	}
	// Never a hint the evidence does not support: open needs nothing, a
	// filter or reject in the path is not the host's doing, and an
	// unreachable host is not explained by its firewall.
	for _, v := range []checks.Verdict{checks.VerdictOpen, checks.VerdictFilteredInPath, checks.VerdictRejectedInPath} {
		if got := WithoutAgent(report(v, "198.18.0.1", 443)); got != nil {
			t.Errorf("%s: %q", v, got)
		}
	}
	for _, v := range []checks.Verdict{checks.VerdictHostUnreachable, checks.VerdictNetworkUnreachable} {
		if got := strings.Join(WithoutAgent(report(v, "198.18.0.1", 443)), "\n"); strings.Contains(got, "iptables") {
			t.Errorf("%s suggests the host firewall: %q", v, got)
		}
	}
}
