package slack

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The app manifest asks for what the adapter uses: /portcheck, mentions
// (app_mention with app_mentions:read), the buttons; and the request URLs
// it documents are the routes the adapter serves.
func TestManifestMatchesTheAdapter(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/slack/manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			SlashCommands []struct {
				Command string `yaml:"command"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Events struct {
				BotEvents []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				Enabled bool `yaml:"is_enabled"`
			} `yaml:"interactivity"`
			SocketMode bool `yaml:"socket_mode_enabled"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/portcheck" {
		t.Errorf("slash commands %+v", m.Features.SlashCommands)
	}
	for _, s := range []string{"chat:write", "commands", "app_mentions:read"} {
		if !slices.Contains(m.OAuth.Scopes.Bot, s) {
			t.Errorf("the manifest lacks the %s scope (has %q)", s, m.OAuth.Scopes.Bot)
		}
	}
	if slices.Contains(m.OAuth.Scopes.Bot, "chat:write.public") || slices.ContainsFunc(m.OAuth.Scopes.Bot, func(s string) bool { return strings.HasSuffix(s, ":history") }) {
		t.Errorf("the manifest asks for more than the bot uses: %q", m.OAuth.Scopes.Bot)
	}
	if !slices.Equal(m.Settings.Events.BotEvents, []string{"app_mention"}) {
		t.Errorf("bot events %q, want [app_mention]", m.Settings.Events.BotEvents)
	}
	if !m.Settings.Interactivity.Enabled || !m.Settings.SocketMode {
		t.Errorf("interactivity %v, socket mode %v", m.Settings.Interactivity.Enabled, m.Settings.SocketMode)
	}
	// The commented request URLs, for HTTP mode: each is a route served.
	f := newFakeSlack(t)
	a, _ := testAdapter(t, f, newFakeHandler())
	mux := http.NewServeMux()
	a.Routes(mux)
	urls := regexp.MustCompile(`# (?:url|request_url): (https://\S+)`).FindAllStringSubmatch(string(raw), -1)
	if len(urls) != 3 {
		t.Fatalf("want 3 request URLs (commands, interactions, events) in the manifest, found %d", len(urls))
	}
	for _, u := range urls {
		p, err := url.Parse(u[1])
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, p.Path, strings.NewReader("")))
		if rec.Code != http.StatusUnauthorized { // served, and unsigned: refused
			t.Errorf("POST %s: %d, want 401 from a route the adapter serves", p.Path, rec.Code)
		}
	}
}
