package slack

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "bot")
	if err := os.WriteFile(tokenFile, []byte("xoxb-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		ok      bool
		wantErr string
	}{
		{"not configured", map[string]string{}, Config{}, false, ""},
		{"api url alone is not configured", map[string]string{"SLACK_API_URL": "http://x/"}, Config{}, false, ""},
		{"socket mode", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"},
			Config{BotToken: "xoxb-1", AppToken: "xapp-1", APIURL: DefaultAPIURL}, true, ""},
		{"http mode", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"},
			Config{BotToken: "xoxb-1", SigningSecret: "s", APIURL: DefaultAPIURL}, true, ""},
		{"api url gets a trailing slash", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": "http://127.0.0.1:9/api"},
			Config{BotToken: "xoxb-1", SigningSecret: "s", APIURL: "http://127.0.0.1:9/api/"}, true, ""},
		{"token from file", map[string]string{"SLACK_BOT_TOKEN_FILE": tokenFile, "SLACK_APP_TOKEN": "xapp-1"},
			Config{BotToken: "xoxb-from-file", AppToken: "xapp-1", APIURL: DefaultAPIURL}, true, ""},
		{"missing bot token", map[string]string{"SLACK_APP_TOKEN": "xapp-1"}, Config{}, false, "SLACK_BOT_TOKEN (or SLACK_BOT_TOKEN_FILE) is required"},
		{"http mode without signing secret", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1"}, Config{}, false, "SLACK_SIGNING_SECRET (or SLACK_SIGNING_SECRET_FILE) is required in HTTP mode"},
		{"tokens swapped", map[string]string{"SLACK_BOT_TOKEN": "xapp-1", "SLACK_APP_TOKEN": "xoxb-1"}, Config{}, false, "SLACK_BOT_TOKEN does not look like a bot token"},
		{"app token wrong kind", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxp-1"}, Config{}, false, "SLACK_APP_TOKEN does not look like an app-level token"},
		{"both value and file", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_BOT_TOKEN_FILE": tokenFile}, Config{}, false, "set SLACK_BOT_TOKEN or SLACK_BOT_TOKEN_FILE, not both"},
		{"missing file", map[string]string{"SLACK_SIGNING_SECRET_FILE": filepath.Join(dir, "nope")}, Config{}, false, "reading SLACK_SIGNING_SECRET_FILE"},
		{"empty file", map[string]string{"SLACK_APP_TOKEN_FILE": empty}, Config{}, false, "SLACK_APP_TOKEN_FILE " + empty + " is empty"},
		{"bad api url", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "SLACK_API_URL": "slack.com/api"}, Config{}, false, "SLACK_API_URL must be an absolute http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				for k, v := range tt.env {
					if strings.HasSuffix(k, "_TOKEN") && strings.Contains(err.Error(), v) {
						t.Errorf("error leaks the value of %s: %v", k, err)
					}
				}
				return
			}
			if err != nil || ok != tt.ok || got != tt.want {
				t.Fatalf("got %+v %v %v, want %+v %v", got, ok, err, tt.want, tt.ok)
			}
		})
	}
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	c := Config{BotToken: "xoxb-SECRET1", AppToken: "xapp-SECRET2", SigningSecret: "SECRET3", APIURL: DefaultAPIURL}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "slack", c)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "slack", c)
	out := fmt.Sprintf("%v %+v %#v %s", c, c, c, c) + logged.String()
	if strings.Contains(out, "SECRET") {
		t.Fatalf("secret printed: %s", out)
	}
	if !strings.Contains(out, "mode=socket") || !strings.Contains(logged.String(), `"bot_token":"set"`) {
		t.Errorf("redacted form lacks detail: %s", out)
	}
}
