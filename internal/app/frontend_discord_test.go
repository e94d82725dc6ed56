package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcheck/portcheck/bot"
)

type discordNopHandler struct{}

func (discordNopHandler) Handle(context.Context, bot.Chat, bot.Command) error { return nil }

func TestNewDiscordFrontend(t *testing.T) {
	const pub = "e5b8b2d4e0b1c7b4b8f6d8e0b0f1e2d3c4b5a6978877665544332211000fedcb"
	base := map[string]string{"DISCORD_BOT_TOKEN": "t", "DISCORD_APP_ID": "1100000000000000001"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name      string
		env       map[string]string
		ok        bool
		wantErr   string
		wantRoute int // status of an unsigned POST to /discord/interactions
	}{
		{name: "off", env: nil},
		{name: "half configured", env: map[string]string{"DISCORD_APP_ID": "1"}, ok: true, wantErr: "DISCORD_BOT_TOKEN"},
		{name: "gateway: no HTTP route", env: with(), ok: true, wantRoute: http.StatusNotFound},
		{name: "http mode", env: with("DISCORD_PUBLIC_KEY", pub), ok: true, wantRoute: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok, err := newDiscordFrontend(FrontendDeps{Getenv: func(k string) string { return tt.env[k] }, Handler: discordNopHandler{}, Log: slog.New(slog.DiscardHandler)})
			if ok != tt.ok {
				t.Errorf("ok = %v, want %v", ok, tt.ok)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			if f.Name() != "discord" || f.Chat() == nil {
				t.Errorf("frontend %q", f.Name())
			}
			mux := http.NewServeMux()
			f.Routes(mux)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/discord/interactions", strings.NewReader(`{"type":1}`)))
			if rec.Code != tt.wantRoute {
				t.Errorf("unsigned POST: %d, want %d", rec.Code, tt.wantRoute)
			}
		})
	}
}
