package main

import (
	"log/slog"

	"github.com/portcheck/portcheck/adapters/slack"
	"github.com/portcheck/portcheck/bot"
)

// newSlackFrontend builds the Slack adapter from SLACK_* variables: Socket
// Mode when SLACK_APP_TOKEN is set, HTTP request URLs (/slack/commands,
// /slack/interactions) when SLACK_SIGNING_SECRET is set, both when both are.
func newSlackFrontend(getenv func(string) string, h bot.Handler, log *slog.Logger) (frontend, bool, error) {
	cfg, ok, err := slack.ConfigFromEnv(getenv)
	if err != nil || !ok {
		return nil, ok, err
	}
	// UserGroups: authz lists Slack user group ids, which commands do not carry.
	a, err := slack.New(slack.Options{Config: cfg, Handler: h, Logger: log, OnRetry: onChatRetry(h, "slack"), UserGroups: true})
	if err != nil {
		return nil, true, err
	}
	log.Info("slack configured", "config", cfg)
	return a, true, nil
}
