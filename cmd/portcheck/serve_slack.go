package main

import (
	"log/slog"

	"github.com/portcheck/portcheck/bot"
)

// newSlackFrontend is a placeholder until the Slack adapter lands.
func newSlackFrontend(getenv func(string) string, h bot.Handler, log *slog.Logger) (frontend, bool, error) {
	return nil, false, nil
}
