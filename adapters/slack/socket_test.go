package slack

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/internal/testkit"
	"github.com/slack-go/slack/socketmode"
)

// A fake Socket Mode session: Slack delivers a slash command, redelivers it
// (retry_attempt), replays it under a new envelope, then sends a Re-check
// click. Every envelope is acked at once, even while the bot is still busy,
// and the bot sees the command once and the click once.
func TestSocketMode(t *testing.T) {
	f := newFakeSlack(t)
	h := newFakeHandler()
	release := make(chan struct{})
	h.script = func(ctx context.Context, _ bot.Chat, _ bot.Command) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	slash := map[string]any{
		"token": "x", "team_id": "T1", "channel_id": "C1", "channel_name": "ops", "user_id": "U1", "user_name": "ada",
		"command": "/portcheck", "text": "db01:5432", "response_url": "https://hooks.slack.com/commands/T1/1/x",
		"trigger_id": "trig-sock", "api_app_id": "A1", "is_enterprise_install": "false",
	}
	var click map[string]any
	if err := json.Unmarshal([]byte(mustQueryPayload(t, interactionBody(t, "trig-sock-btn", "again"))), &click); err != nil {
		t.Fatal(err)
	}
	envelopes := []map[string]any{
		{"envelope_id": "env-1", "type": "slash_commands", "payload": slash, "accepts_response_payload": true},
		{"envelope_id": "env-1", "type": "slash_commands", "payload": slash, "accepts_response_payload": true, "retry_attempt": 1, "retry_reason": "timeout"},
		{"envelope_id": "env-2", "type": "slash_commands", "payload": slash, "accepts_response_payload": true},
		{"envelope_id": "env-3", "type": "interactive", "payload": click, "accepts_response_payload": false},
	}
	acks := make(chan string, len(envelopes))
	scriptErr := make(chan error, 1)
	f.ws = func(c *websocket.Conn) {
		scriptErr <- func() error {
			if err := c.WriteJSON(map[string]any{"type": "hello", "num_connections": 1, "connection_info": map[string]any{"app_id": "A1"}}); err != nil {
				return err
			}
			for _, env := range envelopes {
				if err := c.WriteJSON(env); err != nil {
					return err
				}
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				var ack struct {
					EnvelopeID string `json:"envelope_id"`
				}
				if err := c.ReadJSON(&ack); err != nil {
					return err
				}
				acks <- ack.EnvelopeID
			}
			return nil
		}()
		// Keep the session open until the client leaves.
		c.SetReadDeadline(time.Time{})
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}
	a, _ := testAdapter(t, f, h, func(o *Options) { o.Config.AppToken = "xapp-test" })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	select {
	case err := <-scriptErr:
		if err != nil {
			t.Fatalf("socket script: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("socket session did not finish")
	}
	close(acks)
	var got []string
	for id := range acks {
		got = append(got, id)
	}
	if mustJSON(t, got) != `["env-1","env-1","env-2","env-3"]` {
		t.Errorf("acks %v", got) // acked although the handler was still blocked
	}
	close(release)
	cancel()
	testkit.Returns(t, done, 5*time.Second)
	cmds := h.Commands()
	if len(cmds) != 2 {
		t.Fatalf("handled %d commands, want 2: %+v", len(cmds), cmds)
	}
	byID := map[string]bot.Command{}
	for _, c := range cmds {
		byID[c.ID] = c
	}
	if c := byID["trig-sock"]; c.Text != "db01:5432" || c.Channel.ID != "C1" || c.Channel.Ref == "" {
		t.Errorf("slash command = %+v", c)
	}
	if c := byID["trig-sock-btn"]; c.Text != "again" || c.Thread == nil || c.Thread.ID != "1700000000.000101" {
		t.Errorf("click = %+v", c)
	}
}

func mustQueryPayload(t *testing.T, body string) string {
	t.Helper()
	v, err := url.ParseQuery(body)
	if err != nil {
		t.Fatal(err)
	}
	return v.Get("payload")
}

// A revoked or wrong app token is a startup error, not an endless retry loop.
func TestSocketModeInvalidAuth(t *testing.T) {
	f := newFakeSlack(t)
	a, _ := testAdapter(t, f, newFakeHandler(), func(o *Options) { o.Config.AppToken = "xapp-wrong" })
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "invalid_auth") {
			t.Fatalf("Run = %v, want invalid_auth", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run kept retrying an invalid token")
	}
}

// /readyz follows the Socket Mode link: down until Slack says connected, down
// again on disconnect, reconnect or a bad token; HTTP mode is always ready
// (Slack calls us, there is no link of ours to lose).
func TestReadyFollowsSocketMode(t *testing.T) {
	f := newFakeSlack(t)
	a, _ := testAdapter(t, f, newFakeHandler(), func(o *Options) { o.Config.AppToken = "xapp-test" })
	ctx := context.Background()
	steps := []struct {
		evt   socketmode.EventType
		ready bool
	}{
		{"", false},
		{socketmode.EventTypeConnecting, false},
		{socketmode.EventTypeConnected, true},
		{socketmode.EventTypeHello, true},
		{socketmode.EventTypeDisconnect, false},
		{socketmode.EventTypeConnected, true},
		{socketmode.EventTypeConnectionError, false},
		{socketmode.EventTypeConnected, true},
		{socketmode.EventTypeInvalidAuth, false},
	}
	for i, st := range steps {
		if st.evt != "" {
			a.onEvent(ctx, nil, socketmode.Event{Type: st.evt})
		}
		if err := a.Ready(ctx); (err == nil) != st.ready {
			t.Errorf("step %d after %q: Ready() = %v, want ready=%v", i, st.evt, err, st.ready)
		}
	}
	h, _ := testAdapter(t, f, newFakeHandler())
	if err := h.Ready(ctx); err != nil {
		t.Errorf("HTTP mode: Ready() = %v, want nil", err)
	}
}
