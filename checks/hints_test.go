package checks

import (
	"strings"
	"testing"
	"time"
)

// flatten joins every hint text and command, one per line, so a test can
// look for what must and must not be suggested.
func flatten(hs []Hint) string {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h.Text + "\n")
		for _, c := range h.Commands {
			b.WriteString("$ " + c + "\n")
		}
	}
	return b.String()
}

func TestHintsFor(t *testing.T) {
	trace := func(addrs ...string) *Trace {
		tr := &Trace{Proto: "tcp"}
		for i, a := range addrs {
			tr.Hops = append(tr.Hops, Hop{TTL: i + 1, Address: a})
		}
		return tr
	}
	tests := []struct {
		name string
		d    Diagnosis
		e    Evidence
		want []string // substrings that must appear
		not  []string // substrings that must not appear
	}{
		{
			name: "open, nothing to do",
			d:    Diagnosis{Verdict: VerdictOpen, Reason: ReasonSynAck},
			e:    Evidence{Host: "web01", Port: 22, Connect: &ConnectResult{Address: "198.18.1.10", Reason: ReasonSynAck}, Service: &Service{Name: "ssh", Banner: "SSH-2.0-OpenSSH_9.2"}},
			not:  []string{"ss -tlnp", "ufw", "hosts.deny", "certificate"},
		},
		{
			name: "open, certificate about to expire",
			d:    Diagnosis{Verdict: VerdictOpen, Reason: ReasonSynAck},
			e: Evidence{Host: "web01.example.com", Port: 443, Connect: &ConnectResult{Address: "198.18.1.10"},
				Service: &Service{Name: "https", TLS: &TLSInfo{Version: "TLS 1.3", Subject: "CN=web01.example.com", Issuer: "CN=R11,O=Let's Encrypt", NotAfter: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), DaysLeft: 6}}},
			want: []string{"expires in 6 days, on 2026-12-01", "openssl s_client -connect 198.18.1.10:443 -servername web01.example.com", "sudo certbot renew"},
		},
		{
			name: "open, certificate expired, not Let's Encrypt",
			d:    Diagnosis{Verdict: VerdictOpen, Reason: ReasonSynAck},
			e: Evidence{Host: "2001:db8::1", Port: 8443, Connect: &ConnectResult{Address: "2001:db8::1"},
				Service: &Service{Name: "https", TLS: &TLSInfo{Subject: "CN=x", NotAfter: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), DaysLeft: -23}}},
			want: []string{"expired 23 days ago", "-connect [2001:db8::1]:8443"},
			not:  []string{"certbot"},
		},
		{
			name: "open, certificate fine",
			d:    Diagnosis{Verdict: VerdictOpen, Reason: ReasonSynAck},
			e:    Evidence{Host: "web01", Port: 443, Service: &Service{TLS: &TLSInfo{NotAfter: time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC), DaysLeft: 189}}},
			not:  []string{"openssl", "renew"},
		},
		{
			name: "closed: listener, listen address, service, tcp-reset reject",
			d:    Diagnosis{Verdict: VerdictClosed, Reason: ReasonReset, ReportedBy: "198.18.1.10"},
			e:    Evidence{Host: "web01", Port: 8080, Connect: &ConnectResult{Address: "198.18.1.10", Reason: ReasonReset, ReportedBy: "198.18.1.10"}},
			want: []string{
				"sudo ss -tlnp 'sport = :8080'", "sudo netstat -tlnp | grep ':8080 '",
				"127.0.0.1", "nginx: listen 0.0.0.0:8080", "sudo systemctl status nginx", "sudo systemctl start nginx",
				"sudo iptables -L INPUT -v -n --line-numbers | grep -i reset",
			},
			not: []string{"ufw allow", "hosts.deny", "aws ec2", "ISP", "came from"},
		},
		{
			name: "closed ssh names sshd settings",
			d:    Diagnosis{Verdict: VerdictClosed, Reason: ReasonReset, ReportedBy: "198.18.1.10"},
			e:    Evidence{Host: "web01", Port: 22, Connect: &ConnectResult{Address: "198.18.1.10"}},
			want: []string{"ListenAddress", "sudo sshd -T | grep -iE '^(port|listenaddress) '", "sudo journalctl -u ssh -n 50 --no-pager"},
		},
		{
			name: "closed on loopback: no listen-address advice",
			d:    Diagnosis{Verdict: VerdictClosed, Reason: ReasonReset, ReportedBy: "127.0.0.1"},
			e:    Evidence{Host: "localhost", Port: 22, Connect: &ConnectResult{Address: "127.0.0.1"}},
			want: []string{"sudo ss -tlnp 'sport = :22'", "sudo systemctl status ssh"},
			not:  []string{"ListenAddress", "listens only on 127.0.0.1"},
		},
		{
			name: "closed unknown port: generic advice",
			d:    Diagnosis{Verdict: VerdictClosed, Reason: ReasonReset, ReportedBy: "198.18.1.10"},
			e:    Evidence{Host: "web01", Port: 7777, Connect: &ConnectResult{Address: "198.18.1.10"}},
			want: []string{"bind / listen address", "systemctl list-units --type=service --state=failed"},
			not:  []string{"nginx", "systemctl start"},
		},
		{
			name: "closed, reset from a middlebox",
			d:    Diagnosis{Verdict: VerdictClosed, Reason: ReasonReset, ReportedBy: "198.18.0.1"},
			e:    Evidence{Host: "web01", Port: 443, Connect: &ConnectResult{Address: "198.18.1.10"}},
			want: []string{"The reset came from 198.18.0.1, not from 198.18.1.10"},
		},
		{
			name: "rejected by host: firewall, temporary rule and removal, no cloud",
			d:    Diagnosis{Verdict: VerdictRejectedByHost, Reason: ReasonICMPAdminProhibited, ReportedBy: "198.18.1.10"},
			e:    Evidence{Host: "web01", Port: 5432, Connect: &ConnectResult{Address: "198.18.1.10", Reason: ReasonICMPAdminProhibited}},
			want: []string{
				"198.18.1.10 itself rejects port 5432 with ICMP admin-prohibited",
				"sudo iptables -L INPUT -v -n --line-numbers", "sudo nft list ruleset",
				"sudo iptables -I INPUT 1 -p tcp --dport 5432 -j ACCEPT", "portcheck check 198.18.1.10:5432", "sudo iptables -D INPUT 1",
				"sudo ufw allow 5432/tcp", "sudo firewall-cmd --permanent --add-port=5432/tcp", "sudo nft insert rule inet filter input tcp dport 5432 accept",
			},
			not: []string{"aws ec2", "gcloud", "hosts.deny", "ss -tlnp", "ISP", "forwards TCP port"},
		},
		{
			name: "rejected by host over IPv6 uses ip6tables",
			d:    Diagnosis{Verdict: VerdictRejectedByHost, Reason: ReasonICMPPortUnreachable, ReportedBy: "2001:db8::10"},
			e:    Evidence{Host: "2001:db8::10", Port: 443, Connect: &ConnectResult{Address: "2001:db8::10"}},
			want: []string{"sudo ip6tables -I INPUT 1 -p tcp --dport 443 -j ACCEPT", "portcheck check [2001:db8::10]:443", "ICMP port-unreachable"},
			not:  []string{"sudo iptables "},
		},
		{
			name: "filtered at host: firewall and cloud security groups",
			d:    Diagnosis{Verdict: VerdictFilteredAtHost, Reason: ReasonNoResponse, LastHop: &Hop{TTL: 2, Address: "198.18.0.2"}},
			e: Evidence{Host: "web01", Port: 8443, Connect: &ConnectResult{Address: "198.18.1.10", Reason: ReasonNoResponse},
				Ping: &PingResult{Sent: 3, Received: 3}, Trace: trace("198.18.0.1", "198.18.0.2", "")},
			want: []string{
				"up to 198.18.0.2 (hop 2) but 198.18.1.10 never answers, although it answers ping",
				"sudo iptables -I INPUT 1 -p tcp --dport 8443 -j ACCEPT", "sudo iptables -D INPUT 1", "sudo ufw allow 8443/tcp",
				"aws ec2 authorize-security-group-ingress --group-id SG_ID --protocol tcp --port 8443",
				"gcloud compute firewall-rules create allow-tcp-8443", "--allow tcp:8443",
				"az network nsg rule create", "--destination-port-ranges 8443",
			},
			not: []string{"hosts.deny", "ss -tlnp", "ISP", "forwards TCP port"}, // 198.18/15 is not public: no NAT advice
		},
		{
			name: "filtered at a public address adds port forwarding",
			d:    Diagnosis{Verdict: VerdictFilteredAtHost, Reason: ReasonNoResponse},
			e:    Evidence{Host: "home.example.net", Port: 8080, Connect: &ConnectResult{Address: "8.8.4.4"}},
			want: []string{"Probes to port 8080 get no answer from 8.8.4.4", "forwards TCP port 8080"},
			not:  []string{"answers ping"},
		},
		{
			name: "filtered in path names the hop, ISP for 445",
			d:    Diagnosis{Verdict: VerdictFilteredInPath, Reason: ReasonNoResponse, LastHop: &Hop{TTL: 1, Address: "198.18.0.1"}},
			e: Evidence{Host: "files", Port: 445, Connect: &ConnectResult{Address: "198.18.1.10"},
				Trace: trace("198.18.0.1", "", ""), ControlTrace: &Trace{Proto: "icmp", Reached: true}},
			want: []string{"die after 198.18.0.1 (hop 1) while icmp traffic reaches 198.18.1.10", "just past 198.18.0.1",
				"sudo traceroute -n -T -p 445 198.18.1.10", "sudo traceroute -n -I 198.18.1.10", "ISPs block port 445"},
			not: []string{"ufw", "INPUT", "hosts.deny", "aws ec2"},
		},
		{
			name: "filtered in path, uncommon port: no ISP line",
			d:    Diagnosis{Verdict: VerdictFilteredInPath, Reason: ReasonNoResponse, LastHop: &Hop{TTL: 3, Address: "198.18.0.9"}},
			e:    Evidence{Host: "web01", Port: 9000, Connect: &ConnectResult{Address: "198.18.1.10"}},
			not:  []string{"ISPs block"},
			want: []string{"die after 198.18.0.9 (hop 3)"},
		},
		{
			name: "filtered in path before the first hop: local OUTPUT",
			d:    Diagnosis{Verdict: VerdictFilteredInPath, Reason: ReasonNoResponse},
			e:    Evidence{Host: "web01", Port: 9000, Connect: &ConnectResult{Address: "198.18.1.10"}},
			want: []string{"before the first hop answers", "sudo iptables -L OUTPUT -v -n --line-numbers"},
		},
		{
			name: "rejected in path: router FORWARD rules",
			d:    Diagnosis{Verdict: VerdictRejectedInPath, Reason: ReasonICMPAdminProhibited, ReportedBy: "198.18.0.2"},
			e:    Evidence{Host: "web01", Port: 25, Connect: &ConnectResult{Address: "198.18.1.10", ICMP: &ICMP{Type: 3, Code: 13, From: "198.18.0.2"}}},
			want: []string{"Router 198.18.0.2 rejects port 25 with ICMP admin-prohibited", "sudo iptables -L FORWARD -v -n --line-numbers",
				"sudo iptables -I FORWARD 1 -p tcp -d 198.18.1.10 --dport 25 -j ACCEPT", "sudo iptables -D FORWARD 1", "ISPs block port 25"},
			not: []string{"INPUT", "hosts.deny", "ufw"},
		},
		{
			name: "service refused: tcp wrappers for the daemon",
			d:    Diagnosis{Verdict: VerdictServiceRefused, Reason: ReasonSynAck},
			e: Evidence{Host: "ftp01", Port: 21, Connect: &ConnectResult{Address: "198.18.1.10"},
				Service: &Service{Name: "ftp", Banner: "421 Service not available.", Refused: true}},
			want: []string{`(it said "421 Service not available.")`, "sudo grep -i vsftpd /etc/hosts.deny /etc/hosts.allow",
				"ldd $(command -v vsftpd || echo /usr/sbin/vsftpd) | grep libwrap", "comment the line out", "journalctl -u vsftpd", "max_per_ip"},
			not: []string{"ufw", "iptables", "ss -tlnp", "aws"},
		},
		{
			name: "service refused on an unknown port: generic deny list",
			d:    Diagnosis{Verdict: VerdictServiceRefused, Reason: ReasonSynAck},
			e:    Evidence{Host: "x", Port: 7000, Connect: &ConnectResult{Address: "198.18.1.10"}, Service: &Service{Refused: true, Detail: "closed without data"}},
			want: []string{"refused the service: TCP wrappers", "sudo grep -v '^#' /etc/hosts.deny", "sudo ss -tlnp 'sport = :7000'", "sudo ldd /proc/PID/exe | grep libwrap"},
			not:  []string{"closed without data"},
		},
		{
			name: "host unreachable from the last router: ARP",
			d:    Diagnosis{Verdict: VerdictHostUnreachable, Reason: ReasonICMPHostUnreachable, ReportedBy: "198.18.0.2"},
			e:    Evidence{Host: "db02.lab", Port: 5432, Connect: &ConnectResult{Address: "198.18.1.99"}},
			want: []string{"198.18.0.2, the last router before 198.18.1.99", "ip neigh show 198.18.1.99", "arping -c 3 198.18.1.99", "powered on", "getent hosts db02.lab"},
			not:  []string{"ufw", "hosts.deny", "ss -tlnp"},
		},
		{
			name: "host unreachable, nothing answers, literal address",
			d:    Diagnosis{Verdict: VerdictHostUnreachable, Reason: ReasonNoResponse},
			e:    Evidence{Host: "198.18.1.99", Port: 22, Connect: &ConnectResult{Address: "198.18.1.99"}, Ping: &PingResult{Sent: 3}},
			want: []string{"Nothing answered from 198.18.1.99 at all", "ping -c 3 198.18.1.99"},
			not:  []string{"getent", "arping"},
		},
		{
			name: "host unreachable on this machine's LAN (our own ARP failed)",
			d:    Diagnosis{Verdict: VerdictHostUnreachable, Reason: ReasonICMPHostUnreachable},
			e:    Evidence{Host: "198.18.1.99", Port: 22, Connect: &ConnectResult{Address: "198.18.1.99", Reason: ReasonICMPHostUnreachable}},
			want: []string{"on this machine's network but never answered ARP", "ip neigh show 198.18.1.99", "arping -c 3 198.18.1.99"},
			not:  []string{"Nothing answered", "last router"},
		},
		{
			name: "routing loop",
			d:    Diagnosis{Verdict: VerdictNetworkUnreachable, Reason: ReasonICMPTimeExceeded, ReportedBy: "198.18.0.2"},
			e:    Evidence{Host: "web01", Port: 443, Connect: &ConnectResult{Address: "198.18.1.10"}},
			want: []string{"routing loop", "time-exceeded from 198.18.0.2", "sudo traceroute -n -T -p 443 198.18.1.10"},
			not:  []string{"has no route", "GATEWAY_IP"},
		},
		{
			name: "local error",
			d:    Diagnosis{Verdict: VerdictNetworkUnreachable, Reason: ReasonLocalError},
			e:    Evidence{Host: "web01", Port: 443, Connect: &ConnectResult{Address: "198.18.1.10", Error: "operation not permitted"}},
			want: []string{"(operation not permitted)", "sudo iptables -L OUTPUT -v -n --line-numbers"},
			not:  []string{"GATEWAY_IP"},
		},
		{
			name: "network unreachable locally",
			d:    Diagnosis{Verdict: VerdictNetworkUnreachable, Reason: ReasonNoRoute},
			e:    Evidence{Host: "web01", Port: 443, Connect: &ConnectResult{Address: "198.51.100.7"}},
			want: []string{"ip route get 198.51.100.7", "ip route show default", "sudo ip route add default via GATEWAY_IP"},
		},
		{
			name: "network unreachable over IPv6 suggests the IPv4 address",
			d:    Diagnosis{Verdict: VerdictNetworkUnreachable, Reason: ReasonNoRoute},
			e:    Evidence{Host: "web01", Port: 443, Resolve: ResolveResult{Addresses: []string{"2001:db8::7", "198.51.100.7"}}, Connect: &ConnectResult{Address: "2001:db8::7"}},
			want: []string{"ip -6 route show default", "also has the IPv4 address 198.51.100.7", "portcheck check 198.51.100.7:443"},
		},
		{
			name: "network unreachable at a router",
			d:    Diagnosis{Verdict: VerdictNetworkUnreachable, Reason: ReasonICMPNetUnreachable, ReportedBy: "198.18.0.1"},
			e:    Evidence{Host: "web01", Port: 443, Connect: &ConnectResult{Address: "198.18.9.9"}},
			want: []string{"Router 198.18.0.1 has no route to 198.18.9.9's network"},
			not:  []string{"GATEWAY_IP"},
		},
		{
			name: "dns: no such name",
			d:    Diagnosis{Verdict: VerdictDNSError, Reason: ReasonDNSError},
			e:    Evidence{Host: "wbe01.example.com", Port: 443, Resolve: ResolveResult{NotFound: true}},
			want: []string{"wbe01.example.com does not exist in DNS", "getent hosts wbe01.example.com", "dig +short wbe01.example.com"},
			not:  []string{"search domain", "resolv.conf"},
		},
		{
			name: "dns: short name mentions search domains",
			d:    Diagnosis{Verdict: VerdictDNSError, Reason: ReasonDNSError},
			e:    Evidence{Host: "wbe01", Port: 443, Resolve: ResolveResult{NotFound: true}},
			want: []string{"search domain", "grep -w wbe01 /etc/hosts"},
		},
		{
			name: "dns: resolver failure",
			d:    Diagnosis{Verdict: VerdictDNSError, Reason: ReasonDNSError},
			e:    Evidence{Host: "web01.example.com", Port: 443, Resolve: ResolveResult{Error: "i/o timeout"}},
			want: []string{"(i/o timeout)", "cat /etc/resolv.conf", "dig web01.example.com"},
		},
		{
			name: "odd host values are quoted in commands",
			d:    Diagnosis{Verdict: VerdictDNSError, Reason: ReasonDNSError},
			e:    Evidence{Host: "a;reboot", Port: 443, Resolve: ResolveResult{NotFound: true}},
			want: []string{"getent hosts 'a;reboot'"},
			not:  []string{"getent hosts a;reboot"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs := HintsFor(tc.d, tc.e)
			if hs == nil {
				t.Fatal("HintsFor returned nil; want an empty slice at least")
			}
			got := flatten(hs)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("unsupported hint %q in:\n%s", n, got)
				}
			}
			for _, h := range hs {
				if h.Text == "" {
					t.Errorf("hint without text: %+v", h)
				}
				for _, c := range h.Commands {
					if strings.Contains(c, "PORT") || strings.Contains(c, "%!") {
						t.Errorf("command with an unfilled placeholder: %q", c)
					}
				}
			}
		})
	}
}

// Every verdict gets at least one hint except open, and the port always
// appears in the advice for port-specific verdicts.
func TestHintsForEveryVerdict(t *testing.T) {
	e := Evidence{Host: "web01", Port: 4321, Connect: &ConnectResult{Address: "198.18.1.10"}, Resolve: ResolveResult{NotFound: true}}
	for _, v := range []Verdict{VerdictServiceRefused, VerdictClosed, VerdictRejectedByHost, VerdictRejectedInPath,
		VerdictFilteredAtHost, VerdictFilteredInPath, VerdictHostUnreachable, VerdictNetworkUnreachable, VerdictDNSError} {
		hs := HintsFor(Diagnosis{Verdict: v}, e)
		if len(hs) == 0 {
			t.Errorf("%s: no hints", v)
		}
		switch v {
		case VerdictHostUnreachable, VerdictNetworkUnreachable, VerdictDNSError:
		default:
			if !strings.Contains(flatten(hs), "4321") {
				t.Errorf("%s: the port is not in the advice:\n%s", v, flatten(hs))
			}
		}
	}
	if hs := HintsFor(Diagnosis{Verdict: "something_new"}, e); hs == nil || len(hs) != 0 {
		t.Errorf("unknown verdict: %v", hs)
	}
}
