package agent

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portcheck/portcheck/checks"
)

// Finding is the external verdict explained with the host's own facts.
type Finding struct {
	Verdict  checks.Verdict `json:"verdict"`
	Summary  string         `json:"summary"`  // one sentence: the cause as the host sees it
	Evidence []string       `json:"evidence"` // quoted facts: listeners, rules, hosts.deny lines, routes
	Hints    []checks.Hint  `json:"hints"`
	Unseen   []string       `json:"unseen,omitempty"` // what the agent could not see, and why
}

// Merge combines what the probes saw from outside (r) with the agent's facts
// on the target host (f). The external verdict is kept; the summary and
// hints say why, in the host's terms, when the facts explain it.
func Merge(r checks.Report, f Facts) Finding {
	m := merger{r: r, f: f, port: r.Port, proto: f.Query.Proto}
	if m.port == 0 {
		m.port = f.Query.Port
	}
	if m.proto == "" {
		m.proto = "tcp"
	}
	m.addr, _ = netip.ParseAddr(r.Address)
	m.addr = m.addr.Unmap()
	return m.finding()
}

type merger struct {
	r     checks.Report
	f     Facts
	port  int
	proto string
	addr  netip.Addr // where the probes reached the host; may be zero
}

func (m merger) finding() Finding {
	out := Finding{Verdict: m.r.Verdict, Summary: m.r.Summary, Evidence: m.evidence()}
	for _, u := range m.f.Unseen {
		out.Unseen = append(out.Unseen, u.What+": "+u.Why)
	}
	var sum string
	var hints []checks.Hint
	switch m.r.Verdict {
	case checks.VerdictClosed:
		sum, hints = m.closed()
	case checks.VerdictFilteredAtHost, checks.VerdictRejectedByHost, checks.VerdictInconclusive:
		// Inconclusive from outside is where the agent settles it: a rule
		// that counts the SYNs, or none, says whether the host drops them.
		sum, hints = m.filtered()
		if r := m.blockingRule(); r != nil && m.r.Verdict == checks.VerdictInconclusive {
			out.Verdict = checks.VerdictFilteredAtHost
			if strings.EqualFold(r.Target, "REJECT") {
				out.Verdict = checks.VerdictRejectedByHost
			}
		}
	case checks.VerdictServiceRefused:
		sum, hints = m.refused()
	case checks.VerdictHostUnreachable, checks.VerdictFilteredInPath, checks.VerdictNetworkUnreachable:
		sum, hints = m.routeBack()
	}
	if sum != "" {
		out.Summary = sum
	}
	out.Hints = append(hints, m.r.Hints...)
	if out.Hints == nil {
		out.Hints = []checks.Hint{}
	}
	return out
}

// evidence quotes every fact that bears on the port, whatever the verdict.
func (m merger) evidence() []string {
	var ev []string
	if len(m.f.Listeners) == 0 {
		ev = append(ev, fmt.Sprintf("nothing listens on port %d/%s", m.port, m.proto))
	}
	for _, l := range m.f.Listeners {
		ev = append(ev, fmt.Sprintf("%s listens on %s/%s", who(l), l.Endpoint(), l.Proto))
	}
	for _, r := range m.f.Firewall.Rules {
		ev = append(ev, fmt.Sprintf("%s: %s", r.Describe(), r.Text))
	}
	for _, tw := range m.f.TCPWrap {
		if tw.Libwrap {
			ev = append(ev, fmt.Sprintf("%s links %s (tcp wrappers)", tw.Exe, strings.Join(tw.Needed, ", ")))
		}
		for _, a := range append(append([]AccessLine{}, tw.Allow...), tw.Deny...) {
			ev = append(ev, fmt.Sprintf("%s: %s", a.Where(), a.Text))
		}
	}
	switch {
	case m.f.Routes.Default != nil:
		ev = append(ev, "route: "+m.f.Routes.Default.String())
	default:
		ev = append(ev, "route: no IPv4 default route")
	}
	if m.f.Query.Peer.IsValid() {
		if b := m.f.Routes.Back; b != nil {
			ev = append(ev, fmt.Sprintf("route back to %s: %s", m.f.Query.Peer, b))
		} else {
			ev = append(ev, fmt.Sprintf("route back to %s: none", m.f.Query.Peer))
		}
	}
	for _, l := range m.f.Logs {
		ev = append(ev, "log "+l.Source+": "+l.Text)
	}
	return ev
}

// who is "nginx (pid 812, /usr/sbin/nginx)" or "an unknown process".
func who(l Listener) string {
	switch {
	case l.PID != 0 && l.Exe != "":
		return fmt.Sprintf("%s (pid %d, %s)", daemonName(l), l.PID, l.Exe)
	case l.PID != 0:
		return fmt.Sprintf("%s (pid %d)", daemonName(l), l.PID)
	}
	return "a process the agent may not see (uid " + strconv.Itoa(l.UID) + ")"
}

func daemonName(l Listener) string {
	if l.Comm != "" {
		return l.Comm
	}
	if i := strings.LastIndexByte(l.Exe, '/'); i >= 0 {
		return l.Exe[i+1:]
	}
	return l.Exe
}

// reachable says whether a listener accepts connections arriving at addr.
// An IPv6 wildcard also takes IPv4 unless bindv6only, the Linux default.
func (m merger) reachable(l Listener) bool {
	if l.Scope == "any" {
		return !(l.Address.Is4() && m.addr.Is6())
	}
	return m.addr.IsValid() && l.Address == m.addr
}

// closed: the host answered RST. Stopped, or bound elsewhere.
func (m merger) closed() (string, []checks.Hint) {
	var mine, elsewhere []Listener
	for _, l := range m.f.Listeners {
		if m.reachable(l) {
			mine = append(mine, l)
		} else {
			elsewhere = append(elsewhere, l)
		}
	}
	switch {
	case len(mine) > 0:
		if r := m.blockingRule(); r != nil {
			return m.ruleSummary(*r, "rejects it"), m.ruleHints(*r)
		}
		return fmt.Sprintf("the host sees %s listening on %s, yet the probe got a reset: another box answers for %s (NAT, port forward, load balancer) or a firewall resets it",
			who(mine[0]), mine[0].Endpoint(), m.r.Address), nil
	case len(elsewhere) > 0:
		l := elsewhere[0]
		only := "only"
		if len(elsewhere) > 1 {
			only = "and " + elsewhere[1].Endpoint() + " only"
		}
		if l.Scope == "any" { // 0.0.0.0 while the probe came over IPv6
			return fmt.Sprintf("%s listens on %s (IPv4 only), so %s over IPv6 is refused; make it listen on [::] too",
				who(l), l.Endpoint(), m.targetPort()), []checks.Hint{listenHint(daemonName(l), m.port, m.addr)}
		}
		where := "from this host"
		if l.Scope == "specific" {
			where = "on that one address"
		}
		return fmt.Sprintf("%s listens on %s %s: it accepts connections %s, so %s is refused; change its listen address",
			who(l), l.Endpoint(), only, where, m.targetPort()), []checks.Hint{listenHint(daemonName(l), m.port, m.addr)}
	}
	svc := serviceGuess(m.port, m.r.Service)
	return fmt.Sprintf("nothing listens on port %d/%s on the host: the service is stopped (or configured for another port); start it", m.port, m.proto),
		[]checks.Hint{{
			Text: "Start the service, then check it stays up and listens on the port.",
			Commands: []string{
				"sudo systemctl start " + svc,
				"systemctl status " + svc,
				"sudo journalctl -u " + svc + " -n 50 --no-pager",
				fmt.Sprintf("sudo ss -tlnp 'sport = :%d'", m.port),
			},
		}}
}

// targetPort is where the probes knocked: "198.18.0.1:8443", "[2001:db8::1]:8443".
func (m merger) targetPort() string {
	if m.addr.IsValid() {
		return netip.AddrPortFrom(m.addr, uint16(m.port)).String()
	}
	return net.JoinHostPort(m.r.Host, strconv.Itoa(m.port))
}

// filtered: silence or an admin-prohibited ICMP from the host itself.
func (m merger) filtered() (string, []checks.Hint) {
	if r := m.blockingRule(); r != nil {
		verb := "drops it"
		if strings.EqualFold(r.Target, "REJECT") {
			verb = "rejects it"
		}
		return m.ruleSummary(*r, verb), m.ruleHints(*r)
	}
	if s, h := m.routeBack(); s != "" {
		return s, h
	}
	return "", nil
}

// ruleSummary is `DROP rule #3 in INPUT has 14 packets: -A INPUT ... -j DROP`.
func (m merger) ruleSummary(r Rule, verb string) string {
	what := "matches port " + strconv.Itoa(m.port) + "/" + m.proto
	if r.Policy {
		what = "applies: no rule accepts port " + strconv.Itoa(m.port) + "/" + m.proto
	} else if !r.Matches(m.port, m.proto) {
		what = "catches all " + m.proto + " traffic"
	}
	return fmt.Sprintf("the host firewall %s: %s %s (%s)", verb, r.Describe(), what, r.Text)
}

// blockingRule picks the rule that explains a block: an explicit DROP or
// REJECT for the port (the one whose counter moved first), then a blocking
// catch-all, then a blocking inbound policy. A rule shadowed by an ACCEPT
// for the port earlier in its chain is not the cause and is skipped.
func (m merger) blockingRule() *Rule {
	rules := m.f.Firewall.Rules
	pick := func(ok func(Rule) bool) *Rule {
		var first *Rule
		for i := range rules {
			r := rules[i]
			if !ok(r) || m.shadowed(r) {
				continue
			}
			if r.Packets > 0 {
				return &r
			}
			if first == nil {
				first = &r
			}
		}
		return first
	}
	if r := pick(func(r Rule) bool { return r.Blocks() && r.Matches(m.port, m.proto) }); r != nil {
		return r
	}
	if r := pick(func(r Rule) bool { return r.Blocks() && r.Hook && r.CatchAll(m.proto) }); r != nil {
		return r
	}
	return pick(func(p Rule) bool { return p.Policy && p.Blocks() && p.Hook })
}

// shadowed says whether an ACCEPT for the port comes first in r's chain.
// Before a rule only an unconditional ACCEPT counts (a source-restricted
// one lets other peers fall through to r); before a policy any does, since
// the agent cannot tell whether the asking peer matches it.
func (m merger) shadowed(r Rule) bool {
	for _, a := range m.f.Firewall.Rules {
		if a.Source != r.Source || a.Family != r.Family || a.Table != r.Table || a.Chain != r.Chain ||
			!a.Accepts() || !a.Matches(m.port, m.proto) {
			continue
		}
		if r.Policy || (a.Position < r.Position && !a.Conditional) {
			return true
		}
	}
	return false
}

// routeBack explains silence by the host having no way to answer.
func (m merger) routeBack() (string, []checks.Hint) {
	rt := m.f.Routes
	peer := m.f.Query.Peer
	switch {
	case peer.IsValid() && rt.NoRoute && peer.Is4() && rt.Default == nil,
		peer.IsValid() && rt.NoRoute && peer.Is6() && rt.Default6 == nil:
		return fmt.Sprintf("the host has no route back to %s and no default route: the SYNs arrive but the replies cannot leave", peer),
			[]checks.Hint{defaultRouteHint(peer)}
	case peer.IsValid() && rt.NoRoute:
		return fmt.Sprintf("the host has no route back to %s: the replies cannot leave", peer), []checks.Hint{defaultRouteHint(peer)}
	case !peer.IsValid() && rt.Default == nil && (m.addr.Is4() || !m.addr.IsValid()):
		return "the host has no IPv4 default route: it cannot answer anyone outside its own subnets",
			[]checks.Hint{defaultRouteHint(netip.Addr{})}
	}
	return "", nil
}

func defaultRouteHint(peer netip.Addr) checks.Hint {
	cmds := []string{"ip route show default"}
	if peer.IsValid() {
		cmds = append(cmds, "ip route get "+peer.String())
	}
	cmds = append(cmds, "sudo ip route add default via GATEWAY_IP  # temporary; make it permanent in the network config")
	return checks.Hint{Text: "Restore the default route (or a route to the asking network).", Commands: cmds}
}

// refused: the host accepted and then hung up.
func (m merger) refused() (string, []checks.Hint) {
	for _, tw := range m.f.TCPWrap {
		if !tw.Libwrap || len(tw.Deny) == 0 {
			continue
		}
		d := tw.Deny[0]
		sum := fmt.Sprintf("%s links %s and %s denies it: %q", tw.Daemon, strings.Join(tw.Needed, ", "), d.Where(), d.Text)
		if len(tw.Allow) > 0 {
			sum += fmt.Sprintf(" (%s allows some clients: %q)", tw.Allow[0].Where(), tw.Allow[0].Text)
		}
		client := "CLIENT_IP"
		if m.f.Query.Peer.IsValid() {
			client = m.f.Query.Peer.String()
		}
		return sum, []checks.Hint{{
			Text: "tcp wrappers refuse the client: allow it in hosts.allow (checked before hosts.deny), or narrow the hosts.deny line.",
			Commands: []string{
				fmt.Sprintf("grep -n -e '%s' -e ALL /etc/hosts.allow /etc/hosts.deny", tw.Daemon),
				fmt.Sprintf("echo '%s: %s' | sudo tee -a /etc/hosts.allow", tw.Daemon, client),
			},
		}}
	}
	return "", nil
}

// ruleHints are the commands to inspect the rule and to let the port in
// temporarily, in the syntax of the tool that owns the rule.
func (m merger) ruleHints(r Rule) []checks.Hint {
	src := ""
	if m.f.Query.Peer.IsValid() {
		src = m.f.Query.Peer.String()
	}
	switch r.Source {
	case "iptables", "ip6tables", "iptables-legacy", "ip6tables-legacy":
		if strings.HasPrefix(r.Chain, "ufw") { // ufw owns the chain and would overwrite a hand-made rule
			h := m.ufwHint(src)
			h.Commands = append([]string{fmt.Sprintf("sudo %s -L %s -v -n --line-numbers", r.Source, r.Chain)}, h.Commands...)
			return []checks.Hint{h}
		}
		tool := r.Source
		t := ""
		if r.Table != "" && r.Table != "filter" {
			t = " -t " + r.Table
		}
		pos := r.Position
		if r.Policy || pos == 0 {
			pos = 1
		}
		match := fmt.Sprintf("-p %s --dport %d", m.proto, m.port)
		if src != "" {
			match = "-s " + src + " " + match
		}
		return []checks.Hint{{
			Text: r.Describe() + ". Inspect the chain, then insert an ACCEPT above that rule to test; remove it afterwards and make the real change in your firewall config.",
			Commands: []string{
				fmt.Sprintf("sudo %s%s -L %s -v -n --line-numbers", tool, t, r.Chain),
				fmt.Sprintf("sudo %s%s -I %s %d %s -j ACCEPT", tool, t, r.Chain, pos, match),
				fmt.Sprintf("sudo %s%s -D %s %s -j ACCEPT", tool, t, r.Chain, match),
			},
		}}
	case "nft":
		chain := fmt.Sprintf("%s %s %s", r.Family, r.Table, r.Chain)
		where := ""
		if r.Handle > 0 {
			where = " position " + strconv.Itoa(r.Handle)
		}
		match := fmt.Sprintf("%s dport %d", m.proto, m.port)
		if src != "" {
			fam := "ip"
			if m.f.Query.Peer.Unmap().Is6() {
				fam = "ip6"
			}
			match = fam + " saddr " + src + " " + match
		}
		return []checks.Hint{{
			Text: r.Describe() + ". Inspect the chain, then insert an ACCEPT before that rule to test; delete it by its handle afterwards.",
			Commands: []string{
				"sudo nft -a list chain " + chain,
				fmt.Sprintf("sudo nft insert rule %s%s %s accept", chain, where, match),
				"sudo nft -a list chain " + chain + "  # then: sudo nft delete rule " + chain + " handle NEW_HANDLE",
			},
		}}
	case "ufw":
		return []checks.Hint{m.ufwHint(src)}
	}
	return nil
}

// ufwHint: on a ufw host, change rules through ufw, never under it.
func (m merger) ufwHint(src string) checks.Hint {
	allow := fmt.Sprintf("sudo ufw insert 1 allow %d/%s", m.port, m.proto)
	if src != "" {
		allow = fmt.Sprintf("sudo ufw insert 1 allow from %s to any port %d proto %s", src, m.port, m.proto)
	}
	return checks.Hint{
		Text:     "Inspect the ufw rules, then allow the port (remove it again with `ufw delete` if it was only a test).",
		Commands: []string{"sudo ufw status numbered", allow},
	}
}

// listenHint says how to change the listen address for common servers.
func listenHint(daemon string, port int, addr netip.Addr) checks.Hint {
	to := "0.0.0.0 (every interface)"
	if addr.IsValid() && !addr.IsLoopback() {
		to = addr.String() + " (the address clients use) or 0.0.0.0 (every interface)"
	}
	p := strconv.Itoa(port)
	switch {
	case strings.HasPrefix(daemon, "nginx"):
		return checks.Hint{Text: "Make nginx listen on " + to + ": in the server block use `listen 0.0.0.0:" + p + ";` (and `listen [::]:" + p + ";` for IPv6).",
			Commands: []string{"sudo grep -rn 'listen' /etc/nginx/", "sudo nginx -t && sudo systemctl reload nginx"}}
	case daemon == "sshd":
		return checks.Hint{Text: "Make sshd listen on " + to + ": set `ListenAddress 0.0.0.0` (or remove the loopback ListenAddress) in /etc/ssh/sshd_config.",
			Commands: []string{"sudo sshd -T | grep -i listenaddress", "sudo sshd -t && sudo systemctl restart ssh"}}
	case daemon == "apache2" || daemon == "httpd":
		return checks.Hint{Text: "Make Apache listen on " + to + ": `Listen 0.0.0.0:" + p + "` (ports.conf / httpd.conf).",
			Commands: []string{"sudo grep -rn '^Listen' /etc/apache2/ /etc/httpd/ 2>/dev/null", "sudo apachectl configtest && sudo systemctl reload " + daemon}}
	case daemon == "mysqld" || daemon == "mariadbd":
		return checks.Hint{Text: "Make the database listen on " + to + ": `bind-address = 0.0.0.0` under [mysqld].",
			Commands: []string{"sudo grep -rn bind-address /etc/mysql/", "sudo systemctl restart " + daemon}}
	case strings.HasPrefix(daemon, "postgres"):
		return checks.Hint{Text: "Make PostgreSQL listen on " + to + ": `listen_addresses = '*'` in postgresql.conf (and a pg_hba.conf line for the clients).",
			Commands: []string{"sudo -u postgres psql -c 'SHOW listen_addresses'", "sudo systemctl restart postgresql"}}
	case strings.HasPrefix(daemon, "redis"):
		return checks.Hint{Text: "Make Redis listen on " + to + ": `bind 0.0.0.0` in redis.conf (mind protected-mode and requirepass).",
			Commands: []string{"grep -n '^bind' /etc/redis/redis.conf", "sudo systemctl restart redis-server"}}
	}
	return checks.Hint{Text: "Change " + daemon + "'s listen/bind address to " + to + " in its configuration (often `bind`, `listen`, `host` or `--bind`), then restart it.",
		Commands: []string{fmt.Sprintf("sudo ss -tlnp 'sport = :%d'", port)}}
}

// serviceGuess names a likely systemd unit for the port, for copy-paste.
func serviceGuess(port int, svc *checks.Service) string {
	if svc != nil && svc.Name != "" {
		if svc.Name == "ssh" {
			return "ssh"
		}
	}
	switch port {
	case 22:
		return "ssh"
	case 80, 443:
		return "nginx"
	case 3306:
		return "mysql"
	case 5432:
		return "postgresql"
	case 6379:
		return "redis-server"
	case 25, 587:
		return "postfix"
	}
	return "SERVICE"
}
