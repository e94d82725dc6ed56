package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/portcheck/portcheck/internal/app"
)

const serveHelp = `Usage: portcheck serve [--config FILE] [--db PATH] [--listen ADDR]

Runs the configured chat adapters, the job queue, the local workers and the
audit trail in one process. Configure at least one chat:

  Slack    SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode: no public URL)
           or SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP /slack/commands)
  Discord  DISCORD_BOT_TOKEN and DISCORD_APP_ID (gateway), plus
           DISCORD_PUBLIC_KEY for the HTTP interactions endpoint

HTTP endpoints (chat webhooks, /healthz, /readyz, /metrics) listen on PORTCHECK_LISTEN (:8080).
REDIS_URL switches the queue to Redis (workers elsewhere: portcheck worker).
The audit trail is SQLite at PORTCHECK_AUDIT_DB (default
$XDG_STATE_HOME/portcheck/audit.db). Other settings: docs/bot.md.
`

const noChatConfigured = `portcheck serve: no chat is configured, so there is nobody to answer.
  Slack:   set SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode),
           or SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP request URLs)
  Discord: set DISCORD_BOT_TOKEN and DISCORD_APP_ID
Meanwhile the same bot runs in your terminal now: portcheck shell
`

func runServe(ctx context.Context, args []string, io stdio) int {
	return serve(ctx, args, io, os.Getenv, nil)
}

// serve is runServe with its environment and chats passed in (tests; nil
// chats: every chat serve knows).
func serve(ctx context.Context, args []string, io stdio, getenv func(string) string, chats []app.FrontendFactory) int {
	fs := flag.NewFlagSet("portcheck serve", flag.ContinueOnError)
	fs.SetOutput(discard{})
	fs.Usage = func() {}
	o := app.ServeOptions{Frontends: chats}
	fs.StringVar(&o.ConfigPath, "config", getenv("PORTCHECK_CONFIG"), "YAML config file")
	fs.StringVar(&o.DB, "db", "", "audit database path")
	fs.StringVar(&o.Listen, "listen", "", "HTTP listen address")
	if wantsHelp(args) {
		fmt.Fprint(io.out, serveHelp)
		return 0
	}
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(io.err, "portcheck serve: %v\n(see portcheck serve --help)\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "portcheck serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	err := app.Serve(ctx, o, appEnv(getenv, io.err))
	if errors.Is(err, app.ErrNoChat) {
		fmt.Fprint(io.err, noChatConfigured)
		return 1
	}
	return exitCode(io, "serve", err)
}
