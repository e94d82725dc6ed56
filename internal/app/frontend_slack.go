package app

import (
	"github.com/portcheck/portcheck/adapters/slack"
)

// newSlackFrontend builds the Slack adapter from SLACK_* variables: Socket
// Mode when SLACK_APP_TOKEN is set, HTTP request URLs (/slack/commands,
// /slack/interactions) when SLACK_SIGNING_SECRET is set, both when both are.
func newSlackFrontend(d FrontendDeps) (Frontend, bool, error) {
	cfg, ok, err := slack.ConfigFromEnv(d.Getenv)
	if err != nil || !ok {
		return nil, ok, err
	}
	var onRetry func(op string)
	if d.OnRetry != nil {
		onRetry = func(string) { d.OnRetry("slack") }
	}
	// UserGroups: authz lists Slack user group ids, which commands do not carry.
	a, err := slack.New(slack.Options{Config: cfg, Handler: d.Handler, Logger: d.Log, OnRetry: onRetry, UserGroups: true})
	if err != nil {
		return nil, true, err
	}
	d.Log.Info("slack configured", "config", cfg)
	return a, true, nil
}
