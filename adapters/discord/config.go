// Package discord connects portcheck to Discord: the /portcheck application
// command comes in over the gateway (default) or the HTTP interactions
// endpoint, answers go out as a deferred reply edited into a verdict embed
// and a thread holding the evidence. It implements bot.Chat; no discordgo
// type leaves this package.
package discord

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/portcheck/portcheck/internal/secret"
)

// DefaultAPIURL is the REST root discordgo's endpoints are built on.
const DefaultAPIURL = "https://discord.com/api/v9"

// Secret is a credential: it prints, logs and marshals as "[redacted]" so a
// stray %v or slog attribute cannot leak it.
type Secret string

func (Secret) String() string               { return "[redacted]" }
func (Secret) GoString() string             { return `"[redacted]"` }
func (Secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }
func (s Secret) reveal() string             { return string(s) }
func (s Secret) set() bool                  { return s != "" }

var _ slog.LogValuer = Secret("")

// Config is the Discord part of portcheck's configuration.
type Config struct {
	BotToken  Secret            // DISCORD_BOT_TOKEN: registers the command, opens the gateway, posts in threads
	AppID     string            // DISCORD_APP_ID: the application (client) id
	PublicKey ed25519.PublicKey // DISCORD_PUBLIC_KEY: set = HTTP interactions mode
	GuildID   string            // DISCORD_GUILD_ID: register the command in this guild only (instant)
	APIURL    string            // DISCORD_API_URL: REST root, default DefaultAPIURL
}

// HTTPMode reports whether interactions arrive on the HTTP endpoint instead
// of the gateway.
func (c Config) HTTPMode() bool { return len(c.PublicKey) != 0 }

// LogValue lets the config be logged whole without the token.
func (c Config) LogValue() slog.Value {
	mode := "gateway"
	if c.HTTPMode() {
		mode = "http"
	}
	return slog.GroupValue(
		slog.String("app_id", c.AppID),
		slog.String("guild_id", c.GuildID),
		slog.String("api_url", c.APIURL),
		slog.String("mode", mode),
		slog.Bool("bot_token_set", c.BotToken.set()),
	)
}

// String mirrors LogValue for %v.
func (c Config) String() string {
	return fmt.Sprintf("discord{app_id=%s guild_id=%s api_url=%s http_mode=%t bot_token=%s}",
		c.AppID, c.GuildID, c.APIURL, c.HTTPMode(), c.BotToken)
}

// ConfigFromEnv reads the DISCORD_* variables. ok is false when none of them
// is set (Discord is simply off); a half-configured Discord is an error so a
// typo does not silently disable the chat.
func ConfigFromEnv(getenv func(string) string) (Config, bool, error) {
	return configFromEnv(getenv, os.ReadFile)
}

func configFromEnv(getenv func(string) string, readFile func(string) ([]byte, error)) (Config, bool, error) {
	names := []string{"DISCORD_BOT_TOKEN", "DISCORD_BOT_TOKEN_FILE", "DISCORD_APP_ID",
		"DISCORD_PUBLIC_KEY", "DISCORD_PUBLIC_KEY_FILE", "DISCORD_GUILD_ID", "DISCORD_API_URL"}
	var set []string
	for _, n := range names {
		if strings.TrimSpace(getenv(n)) != "" {
			set = append(set, n)
		}
	}
	if len(set) == 0 {
		return Config{}, false, nil
	}

	var errs []error
	token, err := secretFromEnv(getenv, readFile, "DISCORD_BOT_TOKEN")
	errs = append(errs, err)
	// People paste the header form from examples; discordgo adds "Bot " itself.
	token = strings.TrimSpace(strings.TrimPrefix(token, "Bot "))
	key, err := secretFromEnv(getenv, readFile, "DISCORD_PUBLIC_KEY")
	errs = append(errs, err)

	cfg := Config{
		BotToken: Secret(token),
		AppID:    strings.TrimSpace(getenv("DISCORD_APP_ID")),
		GuildID:  strings.TrimSpace(getenv("DISCORD_GUILD_ID")),
		APIURL:   strings.TrimRight(strings.TrimSpace(getenv("DISCORD_API_URL")), "/"),
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	var missing []string
	if token == "" && errs[0] == nil {
		missing = append(missing, "DISCORD_BOT_TOKEN (or DISCORD_BOT_TOKEN_FILE)")
	}
	if cfg.AppID == "" {
		missing = append(missing, "DISCORD_APP_ID")
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("discord: %s set but %s missing", strings.Join(set, ", "), strings.Join(missing, " and ")))
	}
	if cfg.AppID != "" && !isSnowflake(cfg.AppID) {
		errs = append(errs, fmt.Errorf("discord: DISCORD_APP_ID %q is not a numeric application id", cfg.AppID))
	}
	if cfg.GuildID != "" && !isSnowflake(cfg.GuildID) {
		errs = append(errs, fmt.Errorf("discord: DISCORD_GUILD_ID %q is not a numeric guild id", cfg.GuildID))
	}
	if key != "" {
		b, err := hex.DecodeString(key)
		if err != nil || len(b) != ed25519.PublicKeySize {
			errs = append(errs, errors.New("discord: DISCORD_PUBLIC_KEY must be the application's public key: 64 hex digits"))
		} else {
			cfg.PublicKey = ed25519.PublicKey(b)
		}
	}
	if u, err := url.Parse(cfg.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("discord: DISCORD_API_URL %q must be an absolute http(s) URL like %s", cfg.APIURL, DefaultAPIURL))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, true, err
	}
	return cfg, true, nil
}

// secretFromEnv reads NAME or the file named by NAME_FILE (secret.FromEnv).
func secretFromEnv(getenv func(string) string, readFile func(string) ([]byte, error), name string) (string, error) {
	v, err := secret.FromEnv(getenv, readFile, name)
	if err != nil {
		return "", fmt.Errorf("discord: %w", err)
	}
	return v, nil
}

func isSnowflake(s string) bool {
	if len(s) == 0 || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
