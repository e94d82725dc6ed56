package slack

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/portcheck/portcheck/internal/secret"
)

// DefaultAPIURL is Slack's Web API base. slack-go appends method names to it,
// so it must end with a slash.
const DefaultAPIURL = "https://slack.com/api/"

// Config is the Slack part of portcheck's environment. Its String, GoString
// and LogValue redact the secrets so that printing or logging a Config can
// never leak a token.
type Config struct {
	BotToken      string // xoxb-…: posts and updates messages
	AppToken      string // xapp-…: Socket Mode; empty means HTTP mode
	SigningSecret string // verifies HTTP requests; required in HTTP mode
	APIURL        string // Web API base with a trailing slash
}

// SocketMode reports whether commands arrive over Socket Mode rather than
// HTTP request URLs.
func (c Config) SocketMode() bool { return c.AppToken != "" }

// HTTP reports whether the HTTP endpoints can verify requests and so may be
// mounted. Socket Mode deployments may set a signing secret too.
func (c Config) HTTP() bool { return c.SigningSecret != "" }

func (c Config) mode() string {
	if c.SocketMode() {
		return "socket"
	}
	return "http"
}

func redacted(s string) string {
	if s == "" {
		return "unset"
	}
	return "set"
}

// String never includes a secret.
func (c Config) String() string {
	return fmt.Sprintf("slack{mode=%s bot_token=%s app_token=%s signing_secret=%s api_url=%s}",
		c.mode(), redacted(c.BotToken), redacted(c.AppToken), redacted(c.SigningSecret), c.APIURL)
}

// GoString keeps %#v as safe as %v.
func (c Config) GoString() string { return c.String() }

// LogValue makes slog print the redacted form.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mode", c.mode()),
		slog.String("bot_token", redacted(c.BotToken)),
		slog.String("app_token", redacted(c.AppToken)),
		slog.String("signing_secret", redacted(c.SigningSecret)),
		slog.String("api_url", c.APIURL),
	)
}

// ConfigFromEnv reads SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET
// (each also as *_FILE, a path whose content is the secret) and SLACK_API_URL.
// ok is false when none of the secrets is set: Slack is simply not in use. A
// half-configured Slack is an error naming the missing variable, because a
// chat that silently stays off is harder to debug than a failed start.
func ConfigFromEnv(getenv func(string) string) (Config, bool, error) {
	var c Config
	var err error
	if c.BotToken, err = secretFromEnv(getenv, "SLACK_BOT_TOKEN"); err != nil {
		return Config{}, false, err
	}
	if c.AppToken, err = secretFromEnv(getenv, "SLACK_APP_TOKEN"); err != nil {
		return Config{}, false, err
	}
	if c.SigningSecret, err = secretFromEnv(getenv, "SLACK_SIGNING_SECRET"); err != nil {
		return Config{}, false, err
	}
	if c.BotToken == "" && c.AppToken == "" && c.SigningSecret == "" {
		return Config{}, false, nil
	}
	if c.APIURL, err = apiURL(getenv("SLACK_API_URL")); err != nil {
		return Config{}, false, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, false, err
	}
	return c, true, nil
}

// Validate reports the first thing missing or malformed. Messages name the
// variable, never its value.
func (c Config) Validate() error {
	switch {
	case c.BotToken == "":
		return errors.New("slack: SLACK_BOT_TOKEN (or SLACK_BOT_TOKEN_FILE) is required: the bot token (xoxb-…) from the app's OAuth & Permissions page")
	case !strings.HasPrefix(c.BotToken, "xoxb-"):
		return errors.New("slack: SLACK_BOT_TOKEN does not look like a bot token (it should start with xoxb-)")
	case c.AppToken != "" && !strings.HasPrefix(c.AppToken, "xapp-"):
		return errors.New("slack: SLACK_APP_TOKEN does not look like an app-level token (it should start with xapp-)")
	case c.AppToken == "" && c.SigningSecret == "":
		return errors.New("slack: SLACK_SIGNING_SECRET (or SLACK_SIGNING_SECRET_FILE) is required in HTTP mode; set SLACK_APP_TOKEN instead to use Socket Mode")
	case c.APIURL == "":
		return errors.New("slack: API URL is empty")
	}
	return nil
}

// secretFromEnv reads NAME or the file named by NAME_FILE (secret.FromEnv).
func secretFromEnv(getenv func(string) string, name string) (string, error) {
	v, err := secret.FromEnv(getenv, nil, name) // the files are read from disk
	if err != nil {
		return "", fmt.Errorf("slack: %w", err)
	}
	return v, nil
}

func apiURL(raw string) (string, error) {
	if raw == "" {
		return DefaultAPIURL, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("slack: SLACK_API_URL must be an absolute http(s) URL, got %q", raw)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u.String(), nil
}
