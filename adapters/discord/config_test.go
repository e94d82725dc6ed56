package discord

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
)

const testPubHex = "e5b8b2d4e0b1c7b4b8f6d8e0b0f1e2d3c4b5a6978877665544332211000fedcb"

func TestConfigFromEnv(t *testing.T) {
	files := map[string]string{"/run/secrets/token": "file-token\n", "/run/secrets/empty": " \n"}
	readFile := func(name string) ([]byte, error) {
		if v, ok := files[name]; ok {
			return []byte(v), nil
		}
		return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		ok      bool
		wantErr string // substring of each line expected, "" = no error
		check   func(t *testing.T, c Config)
	}{
		{name: "nothing set: Discord is off", env: map[string]string{}, ok: false},
		{
			name: "gateway mode", ok: true,
			env: map[string]string{"DISCORD_BOT_TOKEN": "Bot abc.def", "DISCORD_APP_ID": "1100000000000000001"},
			check: func(t *testing.T, c Config) {
				if c.BotToken.reveal() != "abc.def" || c.HTTPMode() || c.APIURL != DefaultAPIURL {
					t.Errorf("config = %v token=%q", c, c.BotToken.reveal())
				}
			},
		},
		{
			name: "HTTP mode, token from file, guild, API URL", ok: true,
			env: map[string]string{"DISCORD_BOT_TOKEN_FILE": "/run/secrets/token", "DISCORD_APP_ID": "1100000000000000001",
				"DISCORD_PUBLIC_KEY": testPubHex, "DISCORD_GUILD_ID": "1200000000000000001", "DISCORD_API_URL": "http://proxy:8080/api/v10/"},
			check: func(t *testing.T, c Config) {
				if c.BotToken.reveal() != "file-token" || !c.HTTPMode() || c.GuildID != "1200000000000000001" || c.APIURL != "http://proxy:8080/api/v10" {
					t.Errorf("config = %v token=%q", c, c.BotToken.reveal())
				}
			},
		},
		{
			name: "only a guild id: half-configured", ok: true,
			env:     map[string]string{"DISCORD_GUILD_ID": "1200000000000000001"},
			wantErr: "discord: DISCORD_GUILD_ID set but DISCORD_BOT_TOKEN (or DISCORD_BOT_TOKEN_FILE) and DISCORD_APP_ID missing",
		},
		{
			name: "token without app id", ok: true,
			env:     map[string]string{"DISCORD_BOT_TOKEN": "abc"},
			wantErr: "discord: DISCORD_BOT_TOKEN set but DISCORD_APP_ID missing",
		},
		{
			name: "token and token file", ok: true,
			env:     map[string]string{"DISCORD_BOT_TOKEN": "abc", "DISCORD_BOT_TOKEN_FILE": "/run/secrets/token", "DISCORD_APP_ID": "1"},
			wantErr: "discord: set DISCORD_BOT_TOKEN or DISCORD_BOT_TOKEN_FILE, not both",
		},
		{
			name: "token file missing", ok: true,
			env:     map[string]string{"DISCORD_BOT_TOKEN_FILE": "/run/secrets/nope", "DISCORD_APP_ID": "1"},
			wantErr: "discord: reading DISCORD_BOT_TOKEN_FILE: open /run/secrets/nope: file does not exist",
		},
		{
			name: "token file empty", ok: true,
			env:     map[string]string{"DISCORD_BOT_TOKEN_FILE": "/run/secrets/empty", "DISCORD_APP_ID": "1"},
			wantErr: "discord: DISCORD_BOT_TOKEN_FILE /run/secrets/empty is empty",
		},
		{
			name: "bad public key", ok: true,
			env:     map[string]string{"DISCORD_BOT_TOKEN": "abc", "DISCORD_APP_ID": "1", "DISCORD_PUBLIC_KEY": "abcd"},
			wantErr: "discord: DISCORD_PUBLIC_KEY must be the application's public key: 64 hex digits",
		},
		{
			name: "bad ids and URL", ok: true,
			env:     map[string]string{"DISCORD_BOT_TOKEN": "abc", "DISCORD_APP_ID": "my-app", "DISCORD_GUILD_ID": "ops", "DISCORD_API_URL": "discord.local"},
			wantErr: `discord: DISCORD_APP_ID "my-app" is not a numeric application id` + "\n" + `discord: DISCORD_GUILD_ID "ops" is not a numeric guild id` + "\n" + `discord: DISCORD_API_URL "discord.local" must be an absolute http(s) URL like https://discord.com/api/v9`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ok, err := configFromEnv(func(k string) string { return tc.env[k] }, readFile)
			if ok != tc.ok {
				t.Errorf("ok = %v, want %v", ok, tc.ok)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Fatalf("err = %v\nwant %s", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, cfg)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	cfg := Config{BotToken: "super-secret-token", AppID: "1"}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "config", cfg, "token", cfg.BotToken)
	log.Info("y", "config_text", fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg.BotToken))
	if err := errors.New(fmt.Sprint(cfg)); strings.Contains(err.Error(), "super-secret") {
		t.Error("fmt leaks the token")
	}
	if strings.Contains(buf.String(), "super-secret") {
		t.Errorf("token leaked:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "[redacted]") {
		t.Errorf("no redaction marker:\n%s", buf.String())
	}
}
