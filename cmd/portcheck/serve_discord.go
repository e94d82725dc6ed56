package main

import (
	"log/slog"

	"github.com/portcheck/portcheck/bot"
)

// newDiscordFrontend is a placeholder until the Discord adapter lands.
func newDiscordFrontend(getenv func(string) string, h bot.Handler, log *slog.Logger) (frontend, bool, error) {
	return nil, false, nil
}
