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

const agentUsage = `Usage:
  portcheck agent --port N [--proto tcp|udp] [--peer ADDR] [--json]   print this host's facts for a port
  portcheck agent --serve [--alias NAME]... [--config FILE]            answer host-local jobs from Redis
                                                                       (vantage host:<hostname> + aliases)
Read-only: the agent never changes a rule, a file or a service. Command lines
and log lines are shared only with --share-cmdline / --share-logs.

`

// runAgent is `portcheck agent`: one-shot, gather the host-local facts for
// one port and print them; with --serve, answer jobs for this host's
// vantages from Redis.
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
	logRoot := fs.String("log-root", "/var/log", "log directory searched with --share-logs")
	timeout := fs.Duration("timeout", 10*time.Second, "bound for one gathering (firewall listing tools, journal)")
	serve := fs.Bool("serve", false, "join Redis (REDIS_URL) and answer host-local jobs until stopped")
	configPath := fs.String("config", os.Getenv("PORTCHECK_CONFIG"), "YAML config file for --serve (env PORTCHECK_CONFIG)")
	hostname := fs.String("hostname", "", "name for the host:<hostname> vantage (default: the system hostname)")
	var aliases []string
	fs.Func("alias", "extra vantage name this agent answers for, e.g. web01 (repeatable)", func(s string) error {
		if err := agentName(s); err != nil {
			return err
		}
		aliases = append(aliases, s)
		return nil
	})
	fs.Usage = func() { fmt.Fprint(io.err, agentUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	opts := agent.Options{
		Privacy: agent.Privacy{Cmdline: *cmdline, Logs: *logs},
		Proc:    *proc,
		Etc:     *etc,
		Log:     *logRoot,
	}
	if *serve {
		if *port != 0 || *peer != "" || *asJSON || fs.NArg() > 0 {
			fmt.Fprintln(io.err, "portcheck agent: --serve takes jobs from Redis: --port, --peer and --json are for the one-shot mode")
			return 2
		}
		name := *hostname
		if name == "" {
			h, err := os.Hostname()
			if err != nil {
				fmt.Fprintf(io.err, "portcheck agent: hostname: %v (use --hostname)\n", err)
				return 2
			}
			name = h
		}
		if err := agentName(name); err != nil {
			fmt.Fprintf(io.err, "portcheck agent: hostname: %v (use --hostname)\n", err)
			return 2
		}
		err := app.Agent(ctx, app.AgentOptions{ConfigPath: *configPath, Vantages: agentVantages(name, aliases), Hostname: strings.ToLower(name), Options: opts, Timeout: *timeout},
			appEnv(os.Getenv, io.err))
		return exitCode(io, "agent", err)
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
	f := agent.Gather(ctx, q, opts)
	if *asJSON {
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
