package main

// The command table: every subcommand, its verbs and its flags, written
// once. The help of every subcommand, the top-level usage, the shell
// completions (completion.go) and the manual page (man.go) are all rendered
// from it, so they cannot disagree; a test (TestFlagTableMatchesParsers)
// holds each subcommand's real flag parser to its row.

// flagDoc is one flag as people read it.
type flagDoc struct {
	Name   string   // without dashes
	Arg    string   // the value's placeholder (DURATION, N, FILE, ADDR, NAME, k=v); "" for a switch
	Help   string   // what it does; wrapped when rendered
	Values []string // the values it takes (completion offers them)
	File   bool     // its value is a path: completion offers files
	Verbs  []string // the verbs it applies to (audit, config); nil: all
}

// verbDoc is one verb of a subcommand with verbs (audit export, config check).
type verbDoc struct {
	Name, Args, Summary string
}

// commandDoc is one subcommand.
type commandDoc struct {
	Name    string
	Args    string // after the name: "[flags] TARGET..." (commands with verbs: per verb)
	Summary string // one line, for the list of commands
	About   string // paragraphs, wrapped at 76 columns
	Verbs   []verbDoc
	Flags   []flagDoc
	More    string // after the flags: exit status, examples
}

// flag returns the row of the flag named name, or nil.
func (c *commandDoc) flag(name string) *flagDoc {
	for i := range c.Flags {
		if c.Flags[i].Name == name {
			return &c.Flags[i]
		}
	}
	return nil
}

func (c *commandDoc) verb(name string) *verbDoc {
	for i := range c.Verbs {
		if c.Verbs[i].Name == name {
			return &c.Verbs[i]
		}
	}
	return nil
}

const checkAbout = `Runs the troubleshooting chain on every port (resolve, TCP connect, ping,
traceroute toward the port, banner) and says why it is or is not reachable,
with the commands to fix it.

Targets:
  web01:443            one port            web01:22,80,443     a list
  web01:8000-8100      a range             web01:ssh           a service name
  https://web01/path   port from scheme    [2001:db8::1]:443   IPv6`

const shellAbout = `The chat bot in your terminal: type what you would type after /portcheck in
Slack or Discord (web01:443, watch web01:443 every 30s, history, help). Answers
print as threads: #N is a thread, "└" its replies, "↻ updated" an edit of its
first line. "#N again" re-checks thread N, "#N stop" ends its watch. Loopback
and private targets are allowed (it is your machine); cloud metadata and
other never-useful addresses are refused. PORTCHECK_ALLOW / PORTCHECK_DENY
(comma-separated) adjust it.

On a terminal: Ctrl-C clears the line, or cancels the checks running (twice
in a row: quit); Ctrl-D or exit quits, stopping your watches and saying so;
clear (Ctrl-L) clears the screen. The limits (watch.*, policy.max_ports) are
the configuration's, as in serve.

With stdin not a terminal it reads commands until EOF, waits for every check
to finish, prints, and exits 0:

  printf '/portcheck 127.0.0.1:22\n' | portcheck shell`

const serveAbout = `Runs the configured chat adapters, the job queue, the local workers and the
audit trail in one process. Configure at least one chat:

  Slack    SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode: no public URL)
           or SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP /slack/commands,
           /slack/interactions and /slack/events)
  Discord  DISCORD_BOT_TOKEN and DISCORD_APP_ID (gateway), plus
           DISCORD_PUBLIC_KEY for the HTTP interactions endpoint

HTTP endpoints (chat webhooks, /healthz, /readyz, /metrics) listen on
PORTCHECK_LISTEN (:8080). REDIS_URL switches the queue to Redis (workers
elsewhere: portcheck worker). The audit trail is SQLite at PORTCHECK_AUDIT_DB
(default $XDG_STATE_HOME/portcheck/audit.db). Other settings: docs/bot.md.`

const workerAbout = `Serves the jobs of one vantage point from Redis (REDIS_URL, required) and
publishes their results for the bot processes; it never talks to a chat.
It registers itself with a heartbeat so /portcheck vantages lists it.`

const agentAbout = `Run on the target host. One-shot (--port): what listens on the port and on
which address, the firewall rules that match, tcp wrappers, the routes.
With --serve: join Redis (REDIS_URL) and answer the bot's host-local jobs as
vantage host:<hostname> (and every --alias) until stopped.

Read-only: the agent never changes a rule, a file or a service. Command lines
and log lines are shared only with --share-cmdline / --share-logs.`

const auditAbout = `export writes the audit trail (every request, decision and result, oldest
first) for a post-incident review: jsonl (one record per line, the default)
or csv (with a header; cells a spreadsheet would run as a formula are
prefixed with ').

verify recomputes the hash chain and reports the first record that was
changed, removed or inserted. --checkpoint (repeatable) also checks that the
trail still holds a head posted earlier by serve (audit.checkpoint_channel),
which catches records cut off the end.

The trail is --db, else PORTCHECK_AUDIT_DB, else
$XDG_STATE_HOME/portcheck/audit.db (or ~/.local/state/portcheck/audit.db).`

const configAbout = `check validates FILE (or PORTCHECK_CONFIG) and the environment without
starting anything; show prints the effective settings (defaults < file <
environment), with the Redis URL hidden. The keys, their environment
variables and defaults are in docs/operations.md.`

// commands is the table, in the order the usage lists them.
var commands = []commandDoc{
	{
		Name: "check", Args: "[flags] TARGET...", Summary: "run the troubleshooting chain now (one-shot CLI)",
		About: checkAbout,
		Flags: []flagDoc{
			{Name: "timeout", Arg: "DURATION", Help: "deadline for each port (default 5s: long enough to hear a router's host-unreachable after its ARP gives up)"},
			{Name: "json", Help: "one JSON object per port, one per line (docs/json.md)"},
			{Name: "trace", Help: "always run the traceroute, not only when the verdict needs it"},
			{Name: "max-ports", Arg: "N", Help: "refuse runs of more than N ports (default 1024)"},
			{Name: "color", Arg: "WHEN", Values: []string{"auto", "always", "never"}, Help: "verdicts in colour: auto (default: when stdout is a terminal and NO_COLOR is not set), always, never"},
		},
		More: `On a terminal, a status line on stderr shows the port being waited for, its
step and the time, from the first fraction of a second; it is never written
to a pipe or a file.

Exit status: 0 every port open, 1 a port not open (or interrupted), 2 usage error.`,
	},
	{
		Name: "shell", Args: "[flags]", Summary: "the chat bot in your terminal (embedded queue and store)",
		About: shellAbout,
		Flags: []flagDoc{
			{Name: "db", Arg: "PATH", File: true, Help: "audit trail (default PORTCHECK_AUDIT_DB, then $XDG_STATE_HOME/portcheck/audit.db or ~/.local/state/portcheck/audit.db)"},
			{Name: "timeout", Arg: "DURATION", Help: "deadline for each port (default 5s)"},
			{Name: "concurrency", Arg: "N", Help: "ports checked at once (default 8)"},
		},
	},
	{
		Name: "serve", Args: "[flags]", Summary: "run the configured chat adapters (Slack, Discord)",
		About: serveAbout,
		Flags: []flagDoc{
			{Name: "config", Arg: "FILE", File: true, Help: "YAML config file (default PORTCHECK_CONFIG)"},
			{Name: "db", Arg: "PATH", File: true, Help: "audit database (overrides audit.path / PORTCHECK_AUDIT_DB)"},
			{Name: "listen", Arg: "ADDR", Help: "HTTP listen address (overrides PORTCHECK_LISTEN, default :8080)"},
		},
	},
	{
		Name: "worker", Args: "[--vantage NAME] [flags]", Summary: "serve jobs for one vantage point from Redis",
		About: workerAbout,
		Flags: []flagDoc{
			{Name: "vantage", Arg: "NAME", Help: "vantage name this worker serves (default: config vantage / PORTCHECK_VANTAGE)"},
			{Name: "config", Arg: "FILE", File: true, Help: "YAML config file (default PORTCHECK_CONFIG)"},
			{Name: "listen", Arg: "ADDR", Help: "serve /healthz, /readyz and /metrics on ADDR (e.g. :8080); default none"},
			{Name: "label", Arg: "k=v", Help: "label shown in /portcheck vantages (repeatable)"},
		},
	},
	{
		Name: "agent", Args: "--port N [flags] | --serve [flags]", Summary: "this host's facts for a port (run it on the target)",
		About: agentAbout,
		Flags: []flagDoc{
			{Name: "port", Arg: "N", Help: "the port to explain (one-shot mode)"},
			{Name: "proto", Arg: "PROTO", Values: []string{"tcp", "udp"}, Help: "tcp or udp (default tcp)"},
			{Name: "peer", Arg: "ADDR", Help: "address of whoever cannot connect, for the route back"},
			{Name: "json", Help: "print the facts as JSON"},
			{Name: "share-cmdline", Help: "include process command lines (may hold secrets)"},
			{Name: "share-logs", Help: "include recent log lines mentioning the port or daemon (redacted)"},
			{Name: "timeout", Arg: "DURATION", Help: "bound for one gathering: firewall listing tools, journal (default 10s)"},
			{Name: "serve", Help: "join Redis (REDIS_URL) and answer host-local jobs until stopped"},
			{Name: "alias", Arg: "NAME", Help: "with --serve: another vantage name this agent answers for, e.g. web01 (repeatable)"},
			{Name: "hostname", Arg: "NAME", Help: "with --serve: the name of the host:<hostname> vantage (default: the system hostname)"},
			{Name: "config", Arg: "FILE", File: true, Help: "with --serve: YAML config file (default PORTCHECK_CONFIG)"},
			{Name: "proc", Arg: "DIR", File: true, Help: "procfs root (default /proc)"},
			{Name: "etc", Arg: "DIR", File: true, Help: "etc root: hosts.allow, hosts.deny, ufw (default /etc)"},
			{Name: "log-root", Arg: "DIR", File: true, Help: "log directory searched with --share-logs (default /var/log)"},
		},
	},
	{
		Name: "audit", Summary: "read the audit trail", About: auditAbout,
		Verbs: []verbDoc{
			{Name: "export", Args: "[flags]", Summary: "write the trail as jsonl or csv"},
			{Name: "verify", Args: "[flags]", Summary: "check the hash chain and checkpoints"},
		},
		Flags: []flagDoc{
			{Name: "format", Arg: "FORMAT", Values: []string{"jsonl", "csv"}, Verbs: []string{"export"}, Help: "jsonl (default) or csv"},
			{Name: "since", Arg: "WHEN", Verbs: []string{"export"}, Help: "records from the last 24h (a duration, 7d) or since a time (2026-11-24T14:00:00Z, 2026-11-24)"},
			{Name: "channel", Arg: "ID", Verbs: []string{"export"}, Help: "one channel's records (its id: C0123ABCD, the Discord channel id, shell)"},
			{Name: "checkpoint", Arg: "SEQ:HASH", Verbs: []string{"verify"}, Help: "a head posted earlier, which the trail must still hold (repeatable)"},
			{Name: "db", Arg: "PATH", File: true, Help: "the audit trail (default PORTCHECK_AUDIT_DB, then the state directory)"},
		},
	},
	{
		Name: "config", Summary: "validate or print the configuration", About: configAbout,
		Verbs: []verbDoc{
			{Name: "check", Args: "[FILE]", Summary: "validate FILE and the environment; exit 1 on problems"},
			{Name: "show", Args: "[FILE]", Summary: "print the effective settings"},
		},
		Flags: []flagDoc{
			{Name: "config", Arg: "FILE", File: true, Help: "YAML config file (default PORTCHECK_CONFIG; or give FILE after the verb)"},
		},
	},
	{
		Name: "version", Summary: "print build information",
		About: "Prints the version, the VCS revision and the Go version this binary was built with (also: portcheck -v, portcheck --version).",
	},
	{
		Name: "completion", Args: "bash|zsh|fish", Summary: "print a shell completion script",
		About: `Prints the completion script for your shell:

  bash   source <(portcheck completion bash)        (or put it in /etc/bash_completion.d/)
  zsh    portcheck completion zsh > "${fpath[1]}/_portcheck"
  fish   portcheck completion fish > ~/.config/fish/completions/portcheck.fish`,
	},
	{
		Name: "man", Summary: "print the manual page (roff)",
		About: "Prints portcheck(1) in roff, from the same table as this help: portcheck man | man -l -",
	},
	{
		Name: "help", Args: "[COMMAND]", Summary: "this list, or a command's help",
		About: "Prints the list of commands, or COMMAND's help (the same as portcheck COMMAND --help).",
	},
}

// lookup returns the row of the command named name, or nil.
func lookup(name string) *commandDoc {
	for i := range commands {
		if commands[i].Name == name {
			return &commands[i]
		}
	}
	return nil
}
