package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/wire"
)

const botUser = "U0BOT"

// mentionBody is an Events API event_callback carrying an app_mention, as
// Slack sends it.
func mentionBody(t testing.TB, eventID, text, ts, threadTS string, mod ...func(ev map[string]any)) string {
	t.Helper()
	ev := map[string]any{
		"type": "app_mention", "user": "U1", "text": text, "ts": ts, "channel": "C1", "event_ts": ts, "team": "T1",
	}
	if threadTS != "" {
		ev["thread_ts"] = threadTS
	}
	for _, m := range mod {
		m(ev)
	}
	b, err := json.Marshal(map[string]any{
		"token": "deprecated", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event_id": eventID,
		"event_time": 1700000000, "event": ev,
		"authorizations": []any{map[string]any{"team_id": "T1", "user_id": botUser, "is_bot": true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func signedJSON(t testing.TB, path, body string, ts int64) *http.Request {
	t.Helper()
	r := signedRequest(t, path, body, ts)
	r.Header.Set("Content-Type", "application/json")
	return r
}

func TestMentionText(t *testing.T) {
	for _, tc := range []struct{ in, self, want string }{
		{"<@U0BOT> web01:443", botUser, "web01:443"},
		{"<@U0BOT>   stop ", botUser, "stop"},
		{"hey <@U0BOT|portcheck> again please", botUser, "hey again please"},
		{"<@U0BOT> <https://web01.example.com/|web01.example.com> from office", botUser, "web01.example.com from office"},
		{"<@U0BOT> <http://web01:8443>", botUser, "http://web01:8443"},
		{"<@U0BOT> history <#C9|ops>", botUser, "history #ops"},
		{"<@U0BOT> ask <@U7> about db01:5432 &amp; web01:443", botUser, "ask <@U7> about db01:5432 & web01:443"},
		{"<@U0OTHER> web01:443", "", "web01:443"}, // who the bot is unknown: the first mention is it
		{"<@U0BOT>", botUser, ""},
	} {
		if got := mentionText(tc.in, tc.self); got != tc.want {
			t.Errorf("mentionText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// /slack/events: signed like commands, the url_verification challenge
// answered, app_mention turned into a command (the mention taken out; in a
// channel answered in a thread on it, in a thread on that thread),
// retries and replays run once, and what is not a person's mention is
// ignored.
func TestEventsOverHTTP(t *testing.T) {
	f := newFakeSlack(t)
	h := newFakeHandler()
	a, _ := testAdapter(t, f, h)
	mux := http.NewServeMux()
	a.Routes(mux)
	now := time.Now().Unix()
	post := func(r *http.Request) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		return rec
	}

	// Saving the request URL: Slack's challenge, signed too.
	rec := post(signedJSON(t, "/slack/events", `{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`, now))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"`) {
		t.Fatalf("url_verification: %d %q", rec.Code, rec.Body.String())
	}

	// A bad signature is refused before anything reads the body.
	bad := signedJSON(t, "/slack/events", mentionBody(t, "Ev0", "<@U0BOT> web01:443", "1700000000.000001", ""), now)
	bad.Header.Set("X-Slack-Signature", sign("another-secret", now, mentionBody(t, "Ev0", "<@U0BOT> web01:443", "1700000000.000001", "")))
	if rec := post(bad); rec.Code != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d", rec.Code)
	}

	// In the channel.
	body := mentionBody(t, "Ev1", "<@U0BOT> web01:443", "1700000000.000001", "")
	if rec := post(signedJSON(t, "/slack/events", body, now)); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("ack %d %q", rec.Code, rec.Body.String())
	}
	cmd := h.wait(t)
	want := bot.Command{ID: "event:Ev1", Text: "web01:443", User: wire.User{ID: "U1"},
		Channel: wire.Channel{Chat: "slack", Team: "T1", ID: "C1", Ref: "thread:1700000000.000001"}}
	cmd.At = time.Time{}
	if mustJSON(t, cmd) != mustJSON(t, want) {
		t.Errorf("channel mention\n got %s\nwant %s", mustJSON(t, cmd), mustJSON(t, want))
	}
	// Slack's retry of the same event (no 200 in time), and a replay of
	// the same request: neither runs it again.
	retry := signedJSON(t, "/slack/events", body, now+1)
	retry.Header.Set("X-Slack-Retry-Num", "1")
	retry.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	post(retry)
	post(signedJSON(t, "/slack/events", body, now))

	// In a thread: stop, on that thread.
	post(signedJSON(t, "/slack/events", mentionBody(t, "Ev2", "<@U0BOT> stop", "1700000000.000009", "1700000000.000002"), now))
	cmd = h.wait(t)
	if cmd.Text != "stop" || cmd.Thread == nil || cmd.Thread.ID != "1700000000.000002" || cmd.Channel.Ref != "thread:1700000000.000002" {
		t.Errorf("thread mention: %s", mustJSON(t, cmd))
	}

	// Not a person's mention: the bot itself, another bot, an edit, another event.
	for i, mod := range []func(map[string]any){
		func(ev map[string]any) { ev["user"] = botUser },
		func(ev map[string]any) { ev["bot_id"] = "B1" },
		func(ev map[string]any) { ev["edited"] = map[string]any{"user": "U1", "ts": "1700000001.000000"} },
		func(ev map[string]any) { ev["type"] = "message" },
		func(ev map[string]any) { ev["subtype"] = "bot_message" },
	} {
		post(signedJSON(t, "/slack/events", mentionBody(t, fmt.Sprintf("EvX%d", i), "<@U0BOT> web01:22", "1700000000.000100", "", mod), now))
	}
	a.Wait()
	if got := len(h.Commands()); got != 2 {
		t.Errorf("%d commands reached the bot, want 2: %s", got, mustJSON(t, h.Commands()))
	}
}

// A mention's check answers in the mention's thread: the parent is the
// first reply there, the verdict edits that reply, further replies go in
// the same thread, and what only the caller sees is ephemeral in it.
func TestMentionThreadPosts(t *testing.T) {
	f := newFakeSlack(t)
	a, _ := testAdapter(t, f, newFakeHandler())
	ctx := context.Background()
	ch := wire.Channel{Chat: "slack", Team: "T1", ID: "C1", Ref: "thread:1700000000.000001"}
	th, err := a.Start(ctx, ch, bot.Message{Status: bot.StatusRunning, Text: "checking web01:443 from local…"})
	if err != nil {
		t.Fatal(err)
	}
	if th.ID != "1700000000.000001" || th.Ref != "1700000000.000101" {
		t.Fatalf("thread %+v: want the mention's ts and the first reply as the head", th)
	}
	if err := a.Reply(ctx, th, bot.Message{Text: "evidence"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Update(ctx, th, bot.Message{Status: bot.StatusOK, Text: "web01:443 — open"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Ephemeral(ctx, ch, wire.User{ID: "U1"}, bot.Message{Text: "only you"}); err != nil {
		t.Fatal(err)
	}
	type step struct{ method, ts, threadTS string }
	var got []step
	for _, c := range f.Calls() {
		got = append(got, step{c.Method, c.Form.Get("ts"), c.Form.Get("thread_ts")})
	}
	want := []step{
		{"chat.postMessage", "", "1700000000.000001"},
		{"chat.postMessage", "", "1700000000.000001"},
		{"chat.update", "1700000000.000101", ""},
		{"chat.postEphemeral", "", "1700000000.000001"},
	}
	if mustJSON(t, got) != mustJSON(t, want) {
		t.Errorf("calls\n got %+v\nwant %+v", got, want)
	}
}

// The Stop button comes back as `stop` on the clicked parent's thread.
func TestStopButton(t *testing.T) {
	f := newFakeSlack(t)
	h := newFakeHandler()
	a, _ := testAdapter(t, f, h)
	rec := httptest.NewRecorder()
	a.InteractionsHandler().ServeHTTP(rec, signedRequest(t, "/slack/interactions", interactionBody(t, "trig-stop", "stop"), time.Now().Unix()))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	cmd := h.wait(t)
	if cmd.Text != "stop" || cmd.Thread == nil || cmd.Thread.ID != "1700000000.000101" {
		t.Errorf("stop click: %s", mustJSON(t, cmd))
	}
}

// Socket Mode delivers mentions as events_api envelopes: acked at once,
// run once however often Slack redelivers them.
func TestMentionOverSocketMode(t *testing.T) {
	f := newFakeSlack(t)
	h := newFakeHandler()
	var payload map[string]any
	if err := json.Unmarshal([]byte(mentionBody(t, "EvS", "<@U0BOT> web01:443", "1700000000.000001", "")), &payload); err != nil {
		t.Fatal(err)
	}
	envelopes := []map[string]any{
		{"envelope_id": "env-e1", "type": "events_api", "payload": payload, "accepts_response_payload": false},
		{"envelope_id": "env-e1", "type": "events_api", "payload": payload, "retry_attempt": 1, "retry_reason": "timeout"},
		{"envelope_id": "env-e2", "type": "events_api", "payload": payload, "retry_attempt": 2, "retry_reason": "timeout"},
	}
	acks := make(chan string, len(envelopes))
	f.ws = func(c *websocket.Conn) {
		if err := c.WriteJSON(map[string]any{"type": "hello", "num_connections": 1}); err != nil {
			return
		}
		for _, env := range envelopes {
			if err := c.WriteJSON(env); err != nil {
				return
			}
			var ack struct {
				EnvelopeID string `json:"envelope_id"`
			}
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if err := c.ReadJSON(&ack); err != nil {
				return
			}
			acks <- ack.EnvelopeID
		}
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
	for i := range envelopes {
		select {
		case <-acks:
		case <-time.After(5 * time.Second):
			t.Fatalf("envelope %d not acked", i)
		}
	}
	cmd := h.wait(t)
	cancel()
	<-done
	if cmd.Text != "web01:443" || cmd.ID != "event:EvS" || cmd.Channel.Ref != "thread:1700000000.000001" {
		t.Errorf("command %s", mustJSON(t, cmd))
	}
	if n := len(h.Commands()); n != 1 {
		t.Errorf("%d commands, want 1", n)
	}
}
