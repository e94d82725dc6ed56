package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/portcheck/portcheck/agent"
)

// WriteFacts is the human view of a host's facts (`portcheck agent --port`):
// one fact per line, gaps last.
func WriteFacts(w io.Writer, f agent.Facts) {
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
