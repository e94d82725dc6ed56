package app

import (
	"context"
	"net/http"
	"strings"

	"github.com/portcheck/portcheck/adapters/discord"
	"github.com/portcheck/portcheck/bot"
)

// discordFrontend runs the Discord adapter under `portcheck serve`: the
// gateway by default, the HTTP interactions endpoint when
// DISCORD_PUBLIC_KEY is set.
type discordFrontend struct {
	a    *discord.Adapter
	http bool
}

func (f *discordFrontend) Name() string   { return "discord" }
func (f *discordFrontend) Chat() bot.Chat { return f.a }

// Routes mounts /discord/interactions in HTTP mode only: in gateway mode an
// open endpoint would be an unauthenticated way in for nothing.
func (f *discordFrontend) Routes(mux *http.ServeMux) {
	if f.http {
		mux.Handle("POST "+discord.InteractionsPath, f.a.InteractionsHandler())
	}
}

// Ready is the gateway's state for /readyz (always ready in HTTP mode).
func (f *discordFrontend) Ready(ctx context.Context) error { return f.a.Ready(ctx) }

// Run registers /portcheck and, in gateway mode, holds the gateway open.
func (f *discordFrontend) Run(ctx context.Context) error { return f.a.Run(ctx) }

// newDiscordFrontend builds the Discord frontend from DISCORD_* variables.
func newDiscordFrontend(d FrontendDeps) (Frontend, bool, error) {
	cfg, ok, err := discord.ConfigFromEnv(d.Getenv)
	if !ok || err != nil {
		return nil, ok, err
	}
	var vantages []string
	if v := strings.TrimSpace(d.Getenv("PORTCHECK_VANTAGE")); v != "" {
		vantages = append(vantages, v) // offered by autocomplete as "<target> from <vantage>"
	}
	log := d.Log.With("chat", "discord")
	a, err := discord.New(cfg, discord.Options{Handler: d.Handler, Logger: log, Vantages: vantages})
	if err != nil {
		return nil, true, err
	}
	log.Info("discord configured", "config", cfg)
	return &discordFrontend{a: a, http: cfg.HTTPMode()}, true, nil
}
