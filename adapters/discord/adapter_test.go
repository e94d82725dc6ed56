package discord

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/wire"
)

const (
	cmdToken = "aW50ZXJhY3Rpb246MTUwMDAwMDAwMDAwMDAwMDAwMTpjb21tYW5k"
	btnToken = "aW50ZXJhY3Rpb246MTUwMDAwMDAwMDAwMDAwMDAwMjpidXR0b24"
	verdict  = "1800000000000000001" // the fake's id for @original
	threadID = "2000000000000000001"
)

var (
	running = bot.Message{Status: bot.StatusRunning, Text: "Checking web01:443 from eu-1…",
		Fields: []bot.Field{{Name: "target", Value: "web01:443"}, {Name: "vantage", Value: "eu-1"}}}
	refused = bot.Message{Status: bot.StatusProblem, Text: "web01:443 refused from eu-1",
		Fields:  []bot.Field{{Name: "target", Value: "web01:443"}, {Name: "address", Value: "192.0.2.10"}, {Name: "vantage", Value: "eu-1"}, {Name: "elapsed", Value: "41ms"}},
		Buttons: []bot.Button{{ID: "again", Label: "Re-check"}}}
	evidence = bot.Message{Status: bot.StatusInfo, Text: "Evidence",
		Blocks: []bot.Block{{Kind: bot.BlockCode, Title: "tcp", Text: "SYN -> RST from 192.0.2.10 after 0.4 ms"}}}
	hints = bot.Message{Status: bot.StatusInfo, Text: "Hints",
		Blocks: []bot.Block{{Kind: bot.BlockCode, Title: "on web01", Text: "ss -ltnp 'sport = :443'"}}}
)

// conversation is what the bot core does for one check: the parent, the
// verdict, the evidence and the hints in the thread.
func conversation(ctx context.Context, chat bot.Chat, cmd bot.Command) error {
	th, err := chat.Start(ctx, cmd.Channel, running)
	if err != nil {
		return err
	}
	if err := chat.Update(ctx, th, refused); err != nil {
		return err
	}
	if err := chat.Reply(ctx, th, evidence); err != nil {
		return err
	}
	return chat.Reply(ctx, th, hints)
}

func TestGatewayCommandConversation(t *testing.T) {
	r := newRig(t, Config{})
	r.h.script = conversation
	r.deliver(t, "interaction_command.json", nil)

	want := []string{
		"POST /interactions/1500000000000000001/" + cmdToken + "/callback",
		"PATCH /webhooks/" + testApp + "/" + cmdToken + "/messages/@original",
		"PATCH /webhooks/" + testApp + "/" + cmdToken + "/messages/@original",
		"POST /channels/" + testChan + "/messages/" + verdict + "/threads",
		"POST /channels/" + threadID + "/messages",
		"POST /channels/" + threadID + "/messages",
	}
	calls := r.api.Calls()
	if got := r.api.CallLines(); !slices.Equal(got, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if typ := calls[0].Body["type"]; typ != float64(5) {
		t.Errorf("first response type = %v, want 5 (deferred channel message)", typ)
	}
	if title := embedTitle(calls[1]); title != "⏳ Checking web01:443 from eu-1…" {
		t.Errorf("start title = %q", title)
	}
	if title := embedTitle(calls[2]); title != "🔴 web01:443 refused from eu-1" {
		t.Errorf("update title = %q", title)
	}
	if b, _ := json.Marshal(calls[2].Body["components"]); !strings.Contains(string(b), `"custom_id":"again"`) {
		t.Errorf("verdict has no again button: %s", b)
	}
	if name := calls[3].Body["name"]; name != "portcheck web01:443" {
		t.Errorf("thread name = %v", name)
	}
	if c := calls[4].Body["content"]; !strings.Contains(c.(string), "SYN -> RST") {
		t.Errorf("evidence post = %q", c)
	}
	for _, c := range calls[3:] {
		if c.Auth != "Bot bot-token-for-tests" {
			t.Errorf("%s: Authorization = %q, want the bot token", c, c.Auth)
		}
	}
	for _, c := range calls[:3] {
		if c.Auth != "Bot bot-token-for-tests" && c.Auth != "" {
			t.Errorf("%s: unexpected Authorization %q", c, c.Auth)
		}
	}

	cmds := r.h.Commands()
	if len(cmds) != 1 {
		t.Fatalf("Handle called %d times", len(cmds))
	}
	c := cmds[0]
	if c.ID != "discord:1500000000000000001" || c.Text != "web01:443" || c.Channel.Chat != "discord" ||
		c.Channel.ID != testChan || c.Channel.Team != testGuild || c.Thread != nil {
		t.Errorf("command = %+v", c)
	}
	if c.User.ID != "1700000000000000001" || c.User.Name != "Ada" || !slices.Equal(c.User.Groups, []string{"1600000000000000001", "1600000000000000002"}) {
		t.Errorf("user = %+v", c.User)
	}
}

func embedTitle(c apiCall) string {
	embeds, _ := c.Body["embeds"].([]any)
	if len(embeds) == 0 {
		return ""
	}
	title, _ := embeds[0].(map[string]any)["title"].(string)
	return title
}

func TestReplyFallsBackWhereThreadsAreNotAllowed(t *testing.T) {
	for _, tc := range []struct {
		name         string
		status, code int
	}{
		{"missing access", http.StatusForbidden, 50001},
		{"missing permissions", http.StatusForbidden, 50013},
		{"wrong channel type", http.StatusBadRequest, 50024},
		{"plain 403", http.StatusForbidden, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Config{})
			r.api.fail("thread", tc.status, tc.code)
			r.h.script = conversation
			r.deliver(t, "interaction_command.json", nil)

			calls := r.api.Calls()
			want := []string{
				"POST /interactions/1500000000000000001/" + cmdToken + "/callback",
				"PATCH /webhooks/" + testApp + "/" + cmdToken + "/messages/@original",
				"PATCH /webhooks/" + testApp + "/" + cmdToken + "/messages/@original",
				"POST /channels/" + testChan + "/messages/" + verdict + "/threads",
				"POST /webhooks/" + testApp + "/" + cmdToken + "?wait=true", // the note, once
				"POST /webhooks/" + testApp + "/" + cmdToken + "?wait=true", // evidence
				"POST /webhooks/" + testApp + "/" + cmdToken + "?wait=true", // hints: no second note, no second thread attempt
			}
			if got := r.api.CallLines(); !slices.Equal(got, want) {
				t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if c := calls[4].Body["content"].(string); !strings.Contains(c, "Threads are not available here") {
				t.Errorf("first follow-up does not explain the fallback: %q", c)
			}
			for _, c := range calls[5:] {
				if strings.Contains(c.Body["content"].(string), "Threads are not available") {
					t.Errorf("fallback explained twice: %q", c.Body["content"])
				}
			}
		})
	}
}

func TestReplyThreadAlreadyExists(t *testing.T) {
	r := newRig(t, Config{})
	r.api.fail("thread", http.StatusBadRequest, 160004)
	r.h.script = conversation
	r.deliver(t, "interaction_command.json", nil)
	got := r.api.CallLines()
	if want := "POST /channels/" + verdict + "/messages"; got[len(got)-1] != want || got[len(got)-2] != want {
		t.Errorf("posts should go to the existing thread (id = message id), got:\n%s", strings.Join(got, "\n"))
	}
}

func TestReplyThreadServerErrorIsReturned(t *testing.T) {
	r := newRig(t, Config{})
	r.api.fail("thread", http.StatusInternalServerError, 0)
	var replyErr error
	r.h.script = func(ctx context.Context, chat bot.Chat, cmd bot.Command) error {
		th, err := chat.Start(ctx, cmd.Channel, running)
		if err != nil {
			return err
		}
		replyErr = chat.Reply(ctx, th, evidence)
		return nil
	}
	r.deliver(t, "interaction_command.json", nil)
	if replyErr == nil || !strings.Contains(replyErr.Error(), "start thread") {
		t.Fatalf("Reply error = %v, want a wrapped thread-start error", replyErr)
	}
}

func TestDirectMessageUsesFollowups(t *testing.T) {
	r := newRig(t, Config{})
	r.h.script = conversation
	r.deliver(t, "interaction_dm.json", nil)
	for _, l := range r.api.CallLines() {
		if strings.Contains(l, "/threads") {
			t.Errorf("tried a thread in a DM: %s", l)
		}
	}
	if n := len(r.api.Calls()); n != 6 { // ack, 2 edits, note + 2 follow-ups
		t.Errorf("%d calls, want 6:\n%s", n, strings.Join(r.api.CallLines(), "\n"))
	}
}

func TestDuplicateInteractionHandledOnce(t *testing.T) {
	r := newRig(t, Config{})
	r.h.script = conversation
	r.deliver(t, "interaction_command.json", nil)
	n := len(r.api.Calls())
	r.deliver(t, "interaction_command.json", nil) // a resumed gateway replays it
	if got := len(r.h.Commands()); got != 1 {
		t.Errorf("Handle called %d times, want 1", got)
	}
	if got := len(r.api.Calls()); got != n {
		t.Errorf("replay made %d more API calls", got-n)
	}
	// A different interaction still goes through.
	r.deliver(t, "interaction_command.json", func(m map[string]any) { m["id"] = "1500000000000000009" })
	if got := len(r.h.Commands()); got != 2 {
		t.Errorf("Handle called %d times after a new interaction, want 2", got)
	}
}

func TestAgainButton(t *testing.T) {
	r := newRig(t, Config{})
	var got bot.Command
	r.h.script = func(ctx context.Context, chat bot.Chat, cmd bot.Command) error {
		got = cmd
		if err := chat.Update(ctx, *cmd.Thread, running); err != nil {
			return err
		}
		return chat.Reply(ctx, *cmd.Thread, evidence)
	}
	r.deliver(t, "interaction_button.json", nil)
	if got.Text != "again" || got.Thread == nil || got.Thread.ID != verdict || got.Thread.Channel.ID != testChan {
		t.Fatalf("command = %+v", got)
	}
	if got.User.Name != "grace" {
		t.Errorf("user name = %q, want the username when there is no global name", got.User.Name)
	}
	calls := r.api.Calls()
	want := []string{
		"POST /interactions/1500000000000000002/" + btnToken + "/callback",
		"PATCH /webhooks/" + testApp + "/" + btnToken + "/messages/@original", // the clicked message, via the new token
		"POST /channels/" + testChan + "/messages/" + verdict + "/threads",
		"POST /channels/" + threadID + "/messages",
	}
	if lines := r.api.CallLines(); !slices.Equal(lines, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if typ := calls[0].Body["type"]; typ != float64(6) {
		t.Errorf("button ack type = %v, want 6 (deferred update: no placeholder)", typ)
	}
	if name := calls[2].Body["name"]; name != "🔴 web01:443 refused from eu-1" {
		t.Errorf("thread name from the clicked verdict = %v", name)
	}
}

// The Stop button on a watch's parent comes back as stop on that thread.
func TestStopButton(t *testing.T) {
	r := newRig(t, Config{})
	var got bot.Command
	r.h.script = func(ctx context.Context, chat bot.Chat, cmd bot.Command) error {
		got = cmd
		return nil
	}
	r.deliver(t, "interaction_button.json", func(m map[string]any) {
		m["id"] = "1500000000000000012"
		m["data"] = map[string]any{"component_type": 2, "custom_id": "stop"}
	})
	if got.Text != "stop" || got.Thread == nil || got.Thread.ID != verdict || got.Thread.Channel.ID != testChan {
		t.Fatalf("command = %+v", got)
	}
}

func TestEphemeral(t *testing.T) {
	helpMsg := bot.Message{Status: bot.StatusInfo, Text: "Usage: /portcheck host:port"}
	for _, tc := range []struct {
		name, text string
		ackFlags   any
		want       []string
		lastFlags  any
	}{
		{
			name: "help defers privately and fills it", text: "help", ackFlags: float64(64),
			want: []string{
				"POST /interactions/1500000000000000001/" + cmdToken + "/callback",
				"PATCH /webhooks/" + testApp + "/" + cmdToken + "/messages/@original",
			},
		},
		{
			name: "input error replaces the public placeholder", text: "web01:99999", ackFlags: nil,
			want: []string{
				"POST /interactions/1500000000000000001/" + cmdToken + "/callback",
				"DELETE /webhooks/" + testApp + "/" + cmdToken + "/messages/@original",
				"POST /webhooks/" + testApp + "/" + cmdToken,
			},
			lastFlags: float64(64),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Config{})
			r.h.script = func(ctx context.Context, chat bot.Chat, cmd bot.Command) error {
				return chat.Ephemeral(ctx, cmd.Channel, cmd.User, helpMsg)
			}
			r.deliver(t, "interaction_command.json", func(m map[string]any) {
				m["data"].(map[string]any)["options"] = []any{map[string]any{"name": "target", "type": 3, "value": tc.text}}
			})
			calls := r.api.Calls()
			if got := r.api.CallLines(); !slices.Equal(got, tc.want) {
				t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			var flags any
			if d, ok := calls[0].Body["data"].(map[string]any); ok {
				flags = d["flags"]
			}
			if flags != tc.ackFlags {
				t.Errorf("ack flags = %v, want %v", flags, tc.ackFlags)
			}
			if tc.lastFlags != nil && calls[len(calls)-1].Body["flags"] != tc.lastFlags {
				t.Errorf("follow-up flags = %v, want %v", calls[len(calls)-1].Body["flags"], tc.lastFlags)
			}
		})
	}
}

func TestPlaceholderNotLeftThinking(t *testing.T) {
	for _, tc := range []struct {
		name   string
		handle error
		want   string
	}{
		{"handler answered elsewhere", nil, "DELETE /webhooks/" + testApp + "/" + cmdToken + "/messages/@original"},
		{"handler failed", errors.New("queue full"), "PATCH /webhooks/" + testApp + "/" + cmdToken + "/messages/@original"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Config{})
			r.h.script = func(context.Context, bot.Chat, bot.Command) error { return tc.handle }
			r.deliver(t, "interaction_command.json", nil)
			got := r.api.CallLines()
			if len(got) != 2 || got[1] != tc.want {
				t.Fatalf("calls:\n%s\nwant the ack then %s", strings.Join(got, "\n"), tc.want)
			}
		})
	}
}

func TestAfterTokenExpiryUsesBotToken(t *testing.T) {
	r := newRig(t, Config{})
	var th wire.Thread
	r.h.script = func(ctx context.Context, chat bot.Chat, cmd bot.Command) error {
		var err error
		th, err = chat.Start(ctx, cmd.Channel, running)
		return err
	}
	r.deliver(t, "interaction_command.json", nil)
	r.clock.Advance(20 * time.Minute) // a watch outlives the interaction token
	ctx := context.Background()
	if err := r.a.Update(ctx, th, refused); err != nil {
		t.Fatal(err)
	}
	if err := r.a.Reply(ctx, th, evidence); err != nil {
		t.Fatal(err)
	}
	got := r.api.CallLines()[2:]
	want := []string{
		"PATCH /channels/" + testChan + "/messages/" + verdict,
		"POST /channels/" + testChan + "/messages/" + verdict + "/threads",
		"POST /channels/" + threadID + "/messages",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestFallbackAfterTokenExpiryRepliesWithBotToken(t *testing.T) {
	r := newRig(t, Config{})
	r.api.fail("thread", http.StatusForbidden, 50001)
	var th wire.Thread
	r.h.script = func(ctx context.Context, chat bot.Chat, cmd bot.Command) error {
		var err error
		th, err = chat.Start(ctx, cmd.Channel, running)
		return err
	}
	r.deliver(t, "interaction_command.json", nil)
	r.clock.Advance(16 * time.Minute)
	if err := r.a.Reply(context.Background(), th, evidence); err != nil {
		t.Fatal(err)
	}
	calls := r.api.Calls()
	last := calls[len(calls)-1]
	if last.String() != "POST /channels/"+testChan+"/messages" {
		t.Fatalf("last call = %s", last)
	}
	ref, _ := last.Body["message_reference"].(map[string]any)
	if ref["message_id"] != verdict {
		t.Errorf("reply does not reference the verdict: %v", last.Body["message_reference"])
	}
}

func TestAutocomplete(t *testing.T) {
	r := newRig(t, Config{})
	r.deliver(t, "interaction_command.json", nil) // web01:443 becomes a recent target
	r.deliver(t, "interaction_command.json", func(m map[string]any) {
		m["id"] = "1500000000000000010"
		m["data"].(map[string]any)["options"] = []any{map[string]any{"name": "target", "type": 3, "value": "db01:5432 from all"}}
	})
	r.deliver(t, "interaction_autocomplete.json", nil)
	calls := r.api.Calls()
	last := calls[len(calls)-1]
	if last.Body["type"] != float64(8) {
		t.Fatalf("autocomplete response type = %v", last.Body["type"])
	}
	var names []string
	for _, c := range last.Body["data"].(map[string]any)["choices"].([]any) {
		names = append(names, c.(map[string]any)["name"].(string))
	}
	want := []string{"web", "web01:443", "web from eu-1", "web from us-1", "web from all"}
	if !slices.Equal(names, want) {
		t.Errorf("choices = %q, want %q", names, want)
	}
	if len(r.h.Commands()) != 2 {
		t.Errorf("autocomplete reached the bot")
	}
}

func TestRegister(t *testing.T) {
	for _, tc := range []struct {
		guild, want string
	}{
		{testGuild, "POST /applications/" + testApp + "/guilds/" + testGuild + "/commands"},
		{"", "POST /applications/" + testApp + "/commands"},
	} {
		r := newRig(t, Config{GuildID: tc.guild})
		if err := r.a.Register(context.Background()); err != nil {
			t.Fatal(err)
		}
		calls := r.api.Calls()
		if len(calls) != 1 || calls[0].String() != tc.want {
			t.Fatalf("calls = %v, want %s", r.api.CallLines(), tc.want)
		}
		b := calls[0].Body
		opt := b["options"].([]any)[0].(map[string]any)
		if b["name"] != "portcheck" || opt["name"] != "target" || opt["type"] != float64(3) || opt["autocomplete"] != true || opt["required"] != true {
			t.Errorf("command = %v", b)
		}
	}
}

func TestRegisterErrorIsWrapped(t *testing.T) {
	r := newRig(t, Config{GuildID: testGuild})
	r.api.fail("register", http.StatusForbidden, 50001)
	err := r.a.Register(context.Background())
	if err == nil || !strings.Contains(err.Error(), "register /portcheck in guild "+testGuild) || restCode(err) != 50001 {
		t.Fatalf("err = %v", err)
	}
}

func TestRunHTTPModeRegistersAndReturns(t *testing.T) {
	r := newRig(t, Config{PublicKey: make([]byte, 32)})
	if err := r.a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.api.CallLines(); len(got) != 1 || !strings.Contains(got[0], "/commands") {
		t.Errorf("calls = %v", got)
	}
}

// Without an acknowledgement Discord shows "interaction failed" and the
// token is useless: the command must not run.
func TestGatewayAckFailureSkipsHandle(t *testing.T) {
	r := newRig(t, Config{})
	r.api.fail("callback", http.StatusBadRequest, 40060)
	r.deliver(t, "interaction_command.json", nil)
	if n := len(r.h.Commands()); n != 0 {
		t.Errorf("Handle called %d times after a failed acknowledgement", n)
	}
}
