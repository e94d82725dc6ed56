package agent

import (
	"fmt"

	"github.com/portcheck/portcheck/checks"
)

// WithoutAgent lists, for a report on a host with no agent, what the bot
// could not see from outside and the command the user can run on the host
// to see it. Each line is "what: `command`". nil when nothing is missing
// (the port is open).
func WithoutAgent(r checks.Report) []string {
	p := r.Port
	svc := serviceGuess(p, r.Service)
	listen := fmt.Sprintf("whether anything listens on port %d and on which address (stopped and bound to 127.0.0.1 look the same from outside): `sudo ss -tlnp 'sport = :%d'` (or `netstat -tuln | grep %d`)", p, p, p)
	running := fmt.Sprintf("whether the service runs: `systemctl status %s`", svc)
	fw := fmt.Sprintf("the host's firewall rules for port %d with packet counters: `sudo iptables -L INPUT -v -n --line-numbers` (also `sudo nft list ruleset`, `sudo ufw status verbose`)", p)
	route := "the host's default route and its route back to the vantage: `ip route show default` and `ip route get VANTAGE_IP`"
	switch r.Verdict {
	case checks.VerdictClosed:
		return []string{listen, running}
	case checks.VerdictFilteredAtHost, checks.VerdictRejectedByHost, checks.VerdictInconclusive:
		return []string{fw, route, listen}
	case checks.VerdictServiceRefused:
		return []string{
			fmt.Sprintf("whether the daemon uses tcp wrappers: `ldd $(command -v %s) | grep libwrap`", daemonGuess(svc)),
			"the tcp wrappers lines naming it: `grep -v '^#' /etc/hosts.allow /etc/hosts.deny`",
			fmt.Sprintf("why it hung up, in its logs: `sudo journalctl -u %s -n 50 --no-pager`", svc),
		}
	case checks.VerdictHostUnreachable, checks.VerdictNetworkUnreachable:
		// Whether the host is up and on the address the name gives; its
		// firewall cannot explain an unreachable host, so it is not listed.
		return []string{route}
	case checks.VerdictFilteredInPath, checks.VerdictRejectedInPath:
		// The evidence points at the network before the host: nothing on
		// the host would explain it, so suggest nothing there.
		return nil
	}
	return nil
}

// daemonGuess maps a unit name to its executable for ldd.
func daemonGuess(svc string) string {
	switch svc {
	case "ssh":
		return "sshd"
	case "SERVICE":
		return "DAEMON"
	case "mysql":
		return "mysqld"
	case "redis-server", "nginx", "postfix":
		return svc
	case "postgresql":
		return "postgres"
	}
	return svc
}
