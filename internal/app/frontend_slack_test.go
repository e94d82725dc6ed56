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

type slackNopHandler struct{}

func (slackNopHandler) Handle(context.Context, bot.Chat, bot.Command) error { return nil }

func TestNewSlackFrontend(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		ok      bool
		wantErr string
	}{
		{"off", nil, false, ""},
		{"half configured", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1"}, false, "SLACK_SIGNING_SECRET"},
		{"http", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": "http://127.0.0.1:1/api"}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok, err := newSlackFrontend(FrontendDeps{Getenv: func(k string) string { return tt.env[k] }, Handler: slackNopHandler{}, Log: slog.New(slog.DiscardHandler)})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || ok != tt.ok {
				t.Fatalf("ok=%v err=%v", ok, err)
			}
			if !ok {
				return
			}
			if f.Name() != "slack" || f.Chat() == nil {
				t.Errorf("frontend %q", f.Name())
			}
			mux := http.NewServeMux()
			f.Routes(mux)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader("x=1")))
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("unsigned request: %d, want 401", rec.Code)
			}
			if err := f.Run(context.Background()); err != nil {
				t.Errorf("Run in HTTP mode: %v", err)
			}
		})
	}
}
