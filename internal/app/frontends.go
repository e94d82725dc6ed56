package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/portcheck/portcheck/bot"
)

// Frontend is one chat adapter as `portcheck serve` runs it.
type Frontend interface {
	Name() string                    // "slack", "discord"
	Chat() bot.Chat                  // how the bot talks back in this chat
	Routes(mux *http.ServeMux)       // mount HTTP endpoints (none for pure websocket modes)
	Run(ctx context.Context) error   // Socket Mode / gateway loop; return nil at once if there is none
	Ready(ctx context.Context) error // for /readyz: a chat whose connection is down takes no commands
}

// FrontendDeps is what a frontend is built from.
type FrontendDeps struct {
	Getenv  func(string) string
	Handler bot.Handler
	Log     *slog.Logger
	OnRetry func(chat string) // a call to that chat's API was retried (metrics); nil: nobody is told
}

// FrontendFactory builds a frontend from the environment. ok is false when
// the chat is not configured at all; err is a configuration error to report
// at start (a half-configured chat is an error, not silently off).
type FrontendFactory func(d FrontendDeps) (f Frontend, ok bool, err error)

// Frontends lists every chat serve knows, in start order.
func Frontends() []FrontendFactory {
	return []FrontendFactory{newSlackFrontend, newDiscordFrontend}
}

// forwardHandler lets the frontends be built (and the no-chat case caught)
// before the bot and its stores exist.
type forwardHandler struct{ h bot.Handler }

func (f *forwardHandler) Handle(ctx context.Context, c bot.Chat, cmd bot.Command) error {
	if f.h == nil {
		return errors.New("portcheck serve: not ready yet")
	}
	return f.h.Handle(ctx, c, cmd)
}
