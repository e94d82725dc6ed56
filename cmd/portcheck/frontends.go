package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/portcheck/portcheck/bot"
)

// frontend is one chat adapter as `portcheck serve` runs it.
type frontend interface {
	Name() string                  // "slack", "discord"
	Chat() bot.Chat                // how the bot talks back in this chat
	Routes(mux *http.ServeMux)     // mount HTTP endpoints (none for pure websocket modes)
	Run(ctx context.Context) error // Socket Mode / gateway loop; return nil at once if there is none
}

// frontendFactory builds a frontend from the environment. ok is false when the
// chat is not configured at all; err is a configuration error to report at
// start (a half-configured chat is an error, not silently off).
type frontendFactory func(getenv func(string) string, h bot.Handler, log *slog.Logger) (f frontend, ok bool, err error)

// frontendFactories lists every chat serve knows, in start order.
func frontendFactories() []frontendFactory {
	return []frontendFactory{newSlackFrontend, newDiscordFrontend}
}
