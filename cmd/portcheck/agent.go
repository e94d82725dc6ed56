package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/portcheck/portcheck/adapters/cli"
	"github.com/portcheck/portcheck/agent"
	"github.com/portcheck/portcheck/internal/app"
	"github.com/portcheck/portcheck/wire"
)

// agentFlags are the parsed flags of `portcheck agent`.
type agentFlags struct {
	port                            int
	proto, peer, proc, etc, logRoot string
	config, hostname                string
	json, cmdline, logs, serve      bool
	timeout                         time.Duration
	aliases                         []string
}

// newAgentFlags defines agent's flags on a new FlagSet.
func newAgentFlags(a *agentFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("portcheck agent", flag.ContinueOnError)
	fs.IntVar(&a.port, "port", 0, "")
	fs.StringVar(&a.proto, "proto", "tcp", "")
	fs.StringVar(&a.peer, "peer", "", "")
	fs.BoolVar(&a.json, "json", false, "")
	fs.BoolVar(&a.cmdline, "share-cmdline", false, "")
	fs.BoolVar(&a.logs, "share-logs", false, "")
	fs.StringVar(&a.proc, "proc", "/proc", "")
	fs.StringVar(&a.etc, "etc", "/etc", "")
	fs.StringVar(&a.logRoot, "log-root", "/var/log", "")
	fs.DurationVar(&a.timeout, "timeout", 10*time.Second, "")
	fs.BoolVar(&a.serve, "serve", false, "")
	fs.StringVar(&a.config, "config", os.Getenv("PORTCHECK_CONFIG"), "")
	fs.StringVar(&a.hostname, "hostname", "", "")
	fs.Func("alias", "", func(s string) error {
		if err := agentName(s); err != nil {
			return err
		}
		a.aliases = append(a.aliases, s)
		return nil
	})
	return fs
}

// runAgent is `portcheck agent`: one-shot, gather the host-local facts for
// one port and print them; with --serve, answer jobs for this host's
// vantages from Redis.
func runAgent(ctx context.Context, args []string, io stdio) int {
	c := lookup("agent")
	var a agentFlags
	rest, err := c.parse(newAgentFlags(&a), args)
	if err != nil {
		return c.fail(io, "", "%v", err)
	}
	opts := agent.Options{
		Privacy: agent.Privacy{Cmdline: a.cmdline, Logs: a.logs},
		Proc:    a.proc,
		Etc:     a.etc,
		Log:     a.logRoot,
	}
	if a.serve {
		if a.port != 0 || a.peer != "" || a.json {
			return c.fail(io, "", "--serve takes jobs from Redis: --port, --peer and --json are for the one-shot mode")
		}
		if len(rest) > 0 {
			return c.fail(io, "", "unexpected argument %q", rest[0])
		}
		name := a.hostname
		if name == "" {
			h, err := os.Hostname()
			if err != nil {
				return c.fail(io, "", "hostname: %v (use --hostname)", err)
			}
			name = h
		}
		if err := agentName(name); err != nil {
			return c.fail(io, "", "hostname: %v (use --hostname)", err)
		}
		err := app.Agent(ctx, app.AgentOptions{ConfigPath: a.config, Vantages: agentVantages(name, a.aliases), Hostname: strings.ToLower(name), Options: opts, Timeout: a.timeout},
			appEnv(os.Getenv, io.err))
		return exitCode(io, "agent", err)
	}
	switch {
	case len(rest) > 0:
		return c.fail(io, "", "unexpected argument %q", rest[0])
	case a.port == 0:
		return c.fail(io, "", "say which port: --port N (or --serve to answer the bot)")
	case a.port < 1 || a.port > 65535:
		return c.fail(io, "", "--port %d: want 1-65535", a.port)
	case a.proto != "tcp" && a.proto != "udp":
		return c.fail(io, "", "--proto %s: want tcp or udp", a.proto)
	}
	q := agent.Query{Port: a.port, Proto: a.proto}
	if a.peer != "" {
		addr, err := netip.ParseAddr(a.peer)
		if err != nil {
			return c.fail(io, "", "--peer %s: not an IP address", a.peer)
		}
		q.Peer = addr
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	f := agent.Gather(ctx, q, opts)
	if a.json {
		enc := json.NewEncoder(io.out)
		if err := enc.Encode(f); err != nil {
			fmt.Fprintf(io.err, "portcheck agent: %v\n", err)
			return 1
		}
		return 0
	}
	cli.WriteFacts(io.out, f)
	return 0
}

// agentName checks a hostname or alias the agent registers: the chat
// grammar must be able to name it after "from" (host:NAME or the alias),
// so letters, digits, '-', '_' and '.' only, like a worker's vantage.
func agentName(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%q must be 1 to 64 characters", s)
	}
	for _, r := range strings.ToLower(s) {
		if !(r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return fmt.Errorf("%q: use letters, digits, '-', '_' and '.' (the agent adds the host: prefix itself)", s)
		}
	}
	return nil
}

// agentVantages is host:<hostname> plus the aliases, without duplicates,
// lower-cased: the chat grammar lower-cases the names typed after "from".
func agentVantages(hostname string, aliases []string) []string {
	out := []string{wire.AgentPrefix + strings.ToLower(hostname)}
	seen := map[string]bool{out[0]: true}
	for _, a := range aliases {
		a = strings.ToLower(strings.TrimSpace(a))
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}
