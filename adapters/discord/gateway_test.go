package discord

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/internal/testkit"
)

// fakeGateway speaks just enough of Discord's gateway: Hello, expects an
// Identify, sends READY, then one INTERACTION_CREATE with a real payload.
func fakeGateway(t *testing.T, interaction []byte, identified chan<- map[string]any) *httptest.Server {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		defer c.Close()
		send := func(v any) {
			if err := c.WriteJSON(v); err != nil {
				t.Errorf("gateway write: %v", err)
			}
		}
		send(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": 45000}})
		var ident map[string]any
		if err := c.ReadJSON(&ident); err != nil {
			t.Errorf("read identify: %v", err)
			return
		}
		identified <- ident
		send(map[string]any{"op": 0, "t": "READY", "s": 1, "d": map[string]any{
			"v": 9, "session_id": "fake-session", "resume_gateway_url": "ws://" + r.Host,
			"user":        map[string]any{"id": testApp, "username": "portcheck", "bot": true},
			"guilds":      []any{map[string]any{"id": testGuild, "unavailable": true}},
			"application": map[string]any{"id": testApp, "flags": 0},
		}})
		send(map[string]any{"op": 0, "t": "INTERACTION_CREATE", "s": 2, "d": json.RawMessage(interaction)})
		for { // until the client closes
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRunGatewayEndToEnd(t *testing.T) {
	identified := make(chan map[string]any, 1)
	gw := fakeGateway(t, payload(t, "interaction_command.json", nil), identified)
	r := newRig(t, Config{GuildID: testGuild})
	// GET /gateway tells the client where the websocket is.
	r.api.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")
	handled := make(chan bot.Command, 1)
	r.h.script = func(ctx context.Context, chat bot.Chat, cmd bot.Command) error {
		_, err := chat.Start(ctx, cmd.Channel, running)
		handled <- cmd
		return err
	}

	if err := r.a.Ready(context.Background()); err == nil {
		t.Error("Ready before the gateway is open: want an error for /readyz")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.a.Run(ctx) }()

	select {
	case ident := <-identified:
		d := ident["d"].(map[string]any)
		if ident["op"] != float64(2) || d["token"] != "Bot bot-token-for-tests" || d["intents"] != float64(0) {
			t.Errorf("identify = op %v intents %v", ident["op"], d["intents"])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no identify")
	}
	select {
	case cmd := <-handled:
		if cmd.Text != "web01:443" {
			t.Errorf("command text = %q", cmd.Text)
		}
		if err := r.a.Ready(context.Background()); err != nil {
			t.Errorf("Ready with the gateway up: %v", err)
		}
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("interaction never reached the handler")
	}
	cancel()
	testkit.Returns(t, done, 10*time.Second)
	if err := r.a.Ready(context.Background()); err == nil {
		t.Error("Ready after the gateway closed: want an error")
	}
	want := []string{
		"POST /applications/" + testApp + "/guilds/" + testGuild + "/commands",
		"GET /gateway",
		"POST /interactions/1500000000000000001/" + cmdToken + "/callback",
		"PATCH /webhooks/" + testApp + "/" + cmdToken + "/messages/@original",
	}
	if got := r.api.CallLines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
