package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/portcheck/portcheck/internal/app"
)

const noChatConfigured = `portcheck serve: no chat is configured, so there is nobody to answer.
  Slack:   set SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode),
           or SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP request URLs)
  Discord: set DISCORD_BOT_TOKEN and DISCORD_APP_ID
Meanwhile the same bot runs in your terminal now: portcheck shell
`

func runServe(ctx context.Context, args []string, io stdio) int {
	return serve(ctx, args, io, os.Getenv, nil)
}

// newServeFlags defines serve's flags on a new FlagSet.
func newServeFlags(o *app.ServeOptions, getenv func(string) string) *flag.FlagSet {
	fs := flag.NewFlagSet("portcheck serve", flag.ContinueOnError)
	fs.StringVar(&o.ConfigPath, "config", getenv("PORTCHECK_CONFIG"), "")
	fs.StringVar(&o.DB, "db", "", "")
	fs.StringVar(&o.Listen, "listen", "", "")
	return fs
}

// serve is runServe with its environment and chats passed in (tests; nil
// chats: every chat serve knows).
func serve(ctx context.Context, args []string, io stdio, getenv func(string) string, chats []app.FrontendFactory) int {
	c := lookup("serve")
	o := app.ServeOptions{Frontends: chats}
	rest, err := c.parse(newServeFlags(&o, getenv), args)
	if err != nil {
		return c.fail(io, "", "%v", err)
	}
	if len(rest) > 0 {
		return c.fail(io, "", "unexpected argument %q", rest[0])
	}
	err = app.Serve(ctx, o, appEnv(getenv, io.err))
	if errors.Is(err, app.ErrNoChat) {
		fmt.Fprint(io.err, noChatConfigured)
		return 1
	}
	return exitCode(io, "serve", err)
}
