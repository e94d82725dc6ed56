package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/portcheck/portcheck/agent"
)

// runAgent is `portcheck agent`: gather the host-local facts for one port
// and print them (one-shot). Read-only; it never changes a rule, file or
// service. The queue-joined mode (vantage host:<hostname>) is not wired yet.
func runAgent(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("portcheck agent", flag.ContinueOnError)
	fs.SetOutput(io.err)
	port := fs.Int("port", 0, "port to explain (required)")
	proto := fs.String("proto", "tcp", "tcp or udp")
	peer := fs.String("peer", "", "address of whoever cannot connect, for the route back")
	asJSON := fs.Bool("json", false, "print the facts as JSON")
	cmdline := fs.Bool("share-cmdline", false, "include process command lines (may hold secrets)")
	logs := fs.Bool("share-logs", false, "include recent log lines mentioning the port or daemon (redacted)")
	proc := fs.String("proc", "/proc", "procfs root")
	etc := fs.String("etc", "/etc", "etc root (hosts.allow, hosts.deny, ufw)")
	timeout := fs.Duration("timeout", 10*time.Second, "bound for the firewall listing tools")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: portcheck agent --port N [--proto tcp|udp] [--peer ADDR] [--json] [--share-cmdline] [--share-logs]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *port < 1 || *port > 65535 || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *proto != "tcp" && *proto != "udp" {
		fmt.Fprintf(io.err, "portcheck agent: --proto %q: want tcp or udp\n", *proto)
		return 2
	}
	q := agent.Query{Port: *port, Proto: *proto}
	if *peer != "" {
		a, err := netip.ParseAddr(*peer)
		if err != nil {
			fmt.Fprintf(io.err, "portcheck agent: --peer: %v\n", err)
			return 2
		}
		q.Peer = a
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	f := agent.Gather(ctx, q, agent.Options{
		Privacy: agent.Privacy{Cmdline: *cmdline, Logs: *logs},
		Proc:    *proc,
		Etc:     *etc,
	})
	if *asJSON {
		enc := json.NewEncoder(io.out)
		if err := enc.Encode(f); err != nil {
			fmt.Fprintf(io.err, "portcheck agent: %v\n", err)
			return 1
		}
		return 0
	}
	printFacts(io.out, f)
	return 0
}

// printFacts is the human view: one fact per line, gaps last.
func printFacts(w io.Writer, f agent.Facts) {
	fmt.Fprintf(w, "host %s, port %d/%s", f.Host, f.Query.Port, f.Query.Proto)
	if f.Query.Peer.IsValid() {
		fmt.Fprintf(w, ", peer %s", f.Query.Peer)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "listening:")
	if len(f.Listeners) == 0 {
		fmt.Fprintln(w, "  nothing listens on this port")
	}
	for _, l := range f.Listeners {
		owner := l.OwnerUnknown
		if l.PID != 0 {
			owner = fmt.Sprintf("pid %d %s %s", l.PID, l.Comm, l.Exe)
		}
		fmt.Fprintf(w, "  %-5s %-24s %-9s %s\n", l.Proto, l.Endpoint(), l.Scope, owner)
		if l.Cmdline != "" {
			fmt.Fprintf(w, "        cmdline: %s\n", l.Cmdline)
		}
	}
	fmt.Fprintf(w, "firewall (read: %s):\n", strings.Join(f.Firewall.Read, ", "))
	if len(f.Firewall.Rules) == 0 {
		fmt.Fprintln(w, "  no rule names this port; no blocking policy")
	}
	for _, r := range f.Firewall.Rules {
		fmt.Fprintf(w, "  %s: %s\n", r.Describe(), r.Text)
	}
	for _, tw := range f.TCPWrap {
		fmt.Fprintf(w, "tcp wrappers: %s libwrap=%t\n", tw.Exe, tw.Libwrap)
		for _, a := range append(append([]agent.AccessLine{}, tw.Allow...), tw.Deny...) {
			fmt.Fprintf(w, "  %s: %s\n", a.Where(), a.Text)
		}
	}
	fmt.Fprintln(w, "routes:")
	if f.Routes.Default != nil {
		fmt.Fprintf(w, "  %s\n", f.Routes.Default)
	} else {
		fmt.Fprintln(w, "  no IPv4 default route")
	}
	if f.Routes.Default6 != nil {
		fmt.Fprintf(w, "  %s\n", f.Routes.Default6)
	}
	if f.Query.Peer.IsValid() {
		if f.Routes.Back != nil {
			fmt.Fprintf(w, "  back to %s: %s\n", f.Query.Peer, f.Routes.Back)
		} else {
			fmt.Fprintf(w, "  back to %s: no route\n", f.Query.Peer)
		}
	}
	if len(f.Logs) > 0 {
		fmt.Fprintln(w, "logs:")
		for _, l := range f.Logs {
			fmt.Fprintf(w, "  %s: %s\n", l.Source, l.Text)
		}
	}
	if len(f.Unseen) > 0 {
		fmt.Fprintln(w, "could not see:")
		for _, u := range f.Unseen {
			fmt.Fprintf(w, "  %s: %s\n", u.What, u.Why)
		}
	}
}
