// Package agent answers, on the target host itself, the half of the
// troubleshooting chain that cannot be seen from outside: what listens on the
// port and on which address, which firewall rules match it, whether the
// daemon links libwrap and what hosts.allow/deny say about it, the routes
// back, and (when allowed) recent log lines.
//
// Everything is read-only. Facts are gathered from /proc, /etc and /var/log
// with Go, plus the firewall tools' own read-only listings run with fixed
// arguments (never through a shell). What could not be seen is data, not an
// error: every gap lands in Facts.Unseen with the reason.
package agent

import (
	"context"
	"net/netip"
	"os"
	"time"
)

// Query is the host-local question: one port, a protocol, and optionally the
// address of whoever is asking (for the route back).
type Query struct {
	Port  int        `json:"port"`
	Proto string     `json:"proto,omitempty"` // "tcp" (default) or "udp"
	Peer  netip.Addr `json:"peer,omitzero"`
}

// Privacy says which sensitive facts may leave the host. The zero value
// shares neither command lines nor log lines: they can hold secrets.
type Privacy struct {
	Cmdline bool `json:"cmdline"`
	Logs    bool `json:"logs"`
}

// Options carries the privacy settings and every dependency Gather touches,
// so tests can point it at fixture trees and a fake runner.
type Options struct {
	Privacy Privacy
	Proc    string // procfs root; "" means /proc
	Etc     string // etc root (hosts.allow, hosts.deny, ufw); "" means /etc
	Log     string // log root; "" means /var/log
	Runner  Runner // runs the firewall listing tools; nil means ExecRunner
	// LogLines caps the log lines returned; 0 means 5.
	LogLines int
}

func (o Options) withDefaults() Options {
	if o.Proc == "" {
		o.Proc = "/proc"
	}
	if o.Etc == "" {
		o.Etc = "/etc"
	}
	if o.Log == "" {
		o.Log = "/var/log"
	}
	if o.Runner == nil {
		o.Runner = ExecRunner{}
	}
	if o.LogLines <= 0 {
		o.LogLines = 5
	}
	return o
}

// Unseen is one fact the agent could not gather, and why.
type Unseen struct {
	What string `json:"what"` // "owner of 127.0.0.1:8443", "iptables rules", ...
	Why  string `json:"why"`  // "iptables listing needs CAP_NET_ADMIN (run the agent as root)"
}

// Facts is everything the agent saw for one Query. It is the JSON the agent
// publishes, so fields are added, never renamed.
type Facts struct {
	Host      string     `json:"host"`
	Query     Query      `json:"query"`
	At        time.Time  `json:"at"`
	Listeners []Listener `json:"listeners"`
	Firewall  Firewall   `json:"firewall"`
	TCPWrap   []TCPWrap  `json:"tcp_wrappers,omitempty"` // one per distinct listening executable
	Routes    Routes     `json:"routes"`
	Logs      []LogLine  `json:"logs,omitempty"`
	Unseen    []Unseen   `json:"unseen,omitempty"`
	Privacy   Privacy    `json:"privacy"`
	ElapsedMS int64      `json:"elapsed_ms"`
}

func (f *Facts) unseen(what, why string) {
	f.Unseen = append(f.Unseen, Unseen{What: what, Why: why})
}

// Gather collects the facts for q. It never fails: anything it cannot read
// is listed in Facts.Unseen. ctx bounds the firewall listing tools.
func Gather(ctx context.Context, q Query, o Options) Facts {
	start := time.Now()
	o = o.withDefaults()
	if q.Proto == "" {
		q.Proto = "tcp"
	}
	f := Facts{Query: q, At: start.UTC(), Privacy: o.Privacy, Listeners: []Listener{}}
	f.Host, _ = os.Hostname()

	gatherListeners(&f, q, o)
	gatherFirewall(ctx, &f, q, o)
	gatherTCPWrap(&f, o)
	gatherRoutes(&f, q, o)
	if o.Privacy.Logs {
		gatherLogs(ctx, &f, q, o)
	}
	f.ElapsedMS = time.Since(start).Milliseconds()
	return f
}
