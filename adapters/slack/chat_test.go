package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/wire"
)

var testChannel = wire.Channel{Chat: "slack", Team: "T1", ID: "C1"}

func methods(calls []apiCall) []string {
	var m []string
	for _, c := range calls {
		m = append(m, c.Method)
	}
	return m
}

// A 429 is retried after Retry-After, measured on the wire with the real
// timer (the default Sleep).
func TestRateLimitHonoursRetryAfter(t *testing.T) {
	f := newFakeSlack(t)
	f.fail("chat.postMessage", http.StatusTooManyRequests, "1", `{"ok":false,"error":"ratelimited"}`)
	a, _ := testAdapter(t, f, newFakeHandler(), func(o *Options) { o.Sleep = nil })
	th, err := a.Start(context.Background(), testChannel, bot.Message{Text: "checking"})
	if err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	if len(calls) != 2 || th.ID == "" {
		t.Fatalf("calls %v, thread %+v", methods(calls), th)
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < time.Second {
		t.Errorf("retried after %s, Retry-After said 1s", gap)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		canned    []cannedReply
		wantErr   string
		wantCalls int
		wantWaits []time.Duration
	}{
		{"5xx then ok", []cannedReply{{500, "", "oops"}, {502, "", "bad gateway"}}, "", 3, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}},
		{"5xx forever", []cannedReply{{500, "", ""}, {503, "", ""}, {500, "", ""}, {500, "", ""}}, "slack server error: 500", 4, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}},
		{"429 retry-after", []cannedReply{{429, "3", ""}}, "", 2, []time.Duration{3 * time.Second}},
		{"429 without retry-after", []cannedReply{{429, "", ""}}, "", 2, []time.Duration{time.Second}},
		{"429 longer than the cap", []cannedReply{{429, "600", ""}}, "retry after 10m0s", 1, nil},
		{"slack error is final", []cannedReply{{200, "", `{"ok":false,"error":"invalid_blocks"}`}}, "invalid_blocks", 1, nil},
		{"transient slack error", []cannedReply{{200, "", `{"ok":false,"error":"internal_error"}`}}, "", 2, []time.Duration{250 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSlack(t)
			for _, c := range tt.canned {
				f.fail("chat.postMessage", c.status, c.retryAfter, c.body)
			}
			a, waits := testAdapter(t, f, newFakeHandler())
			_, err := a.Start(context.Background(), testChannel, bot.Message{Text: "checking"})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if n := len(f.Calls()); n != tt.wantCalls {
				t.Errorf("%d calls, want %d", n, tt.wantCalls)
			}
			if fmt.Sprint(*waits) != fmt.Sprint(tt.wantWaits) {
				t.Errorf("waits %v, want %v", *waits, tt.wantWaits)
			}
		})
	}
}

func TestUpdateFailureSurfaces(t *testing.T) {
	f := newFakeSlack(t)
	f.fail("chat.update", 200, "", `{"ok":false,"error":"message_not_found"}`)
	a, _ := testAdapter(t, f, newFakeHandler())
	err := a.Update(context.Background(), wire.Thread{Channel: testChannel, ID: "1700000000.000001"}, bot.Message{Status: bot.StatusOK, Text: "open"})
	var se slackgo.SlackErrorResponse
	if err == nil || !errors.As(err, &se) || se.Err != "message_not_found" || !strings.Contains(err.Error(), "chat.update") {
		t.Fatalf("err = %v", err)
	}
	if errors.Is(err, ErrNotInChannel) {
		t.Error("message_not_found is not not_in_channel")
	}
}

// When the bot is not in the channel the caller is told, through the
// command's response_url (which works without membership), how to invite it.
func TestNotInChannelTellsCaller(t *testing.T) {
	for _, slackErr := range []string{"not_in_channel", "channel_not_found"} {
		t.Run(slackErr, func(t *testing.T) {
			f := newFakeSlack(t)
			f.fail("chat.postMessage", 200, "", `{"ok":false,"error":"`+slackErr+`"}`)
			a, _ := testAdapter(t, f, newFakeHandler())
			c := testChannel
			c.Ref = f.responseURL()
			_, err := a.Start(context.Background(), c, bot.Message{Text: "checking"})
			if !errors.Is(err, ErrNotInChannel) {
				t.Fatalf("err = %v, want ErrNotInChannel", err)
			}
			calls := f.Calls()
			if got := strings.Join(methods(calls), ","); got != "chat.postMessage,response_url" {
				t.Fatalf("calls %s", got)
			}
			j := calls[1].JSON
			if j["response_type"] != "ephemeral" || !strings.Contains(j["text"].(string), "/invite @portcheck") {
				t.Errorf("ephemeral = %v", j)
			}
		})
	}
}

func TestEphemeral(t *testing.T) {
	user := wire.User{ID: "U1"}
	tests := []struct {
		name   string
		ref    func(f *fakeSlack) string
		canned []cannedReply // for response_url
		want   string
	}{
		{"response_url", func(f *fakeSlack) string { return f.responseURL() }, nil, "response_url"},
		{"no response_url", func(*fakeSlack) string { return "" }, nil, "chat.postEphemeral"},
		{"expired response_url", func(f *fakeSlack) string { return f.responseURL() }, []cannedReply{{404, "", "expired_url"}}, "response_url,chat.postEphemeral"},
		{"foreign host refused", func(*fakeSlack) string { return "https://evil.example/hook" }, nil, "chat.postEphemeral"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSlack(t)
			for _, c := range tt.canned {
				f.fail("response_url", c.status, c.retryAfter, c.body)
			}
			a, _ := testAdapter(t, f, newFakeHandler())
			c := testChannel
			c.Ref = tt.ref(f)
			if err := a.Ephemeral(context.Background(), c, user, bot.Message{Status: bot.StatusInfo, Text: "usage: /portcheck host:port"}); err != nil {
				t.Fatal(err)
			}
			calls := f.Calls()
			if got := strings.Join(methods(calls), ","); got != tt.want {
				t.Fatalf("calls %s, want %s", got, tt.want)
			}
			last := calls[len(calls)-1]
			if last.Method == "chat.postEphemeral" && (last.Form.Get("user") != "U1" || last.Form.Get("channel") != "C1") {
				t.Errorf("postEphemeral form %v", last.Form)
			}
		})
	}
}

// A reply over Slack's limits is posted as several messages, in order, all
// in the thread, each within the limits.
func TestLongReplyIsSplit(t *testing.T) {
	f := newFakeSlack(t)
	a, _ := testAdapter(t, f, newFakeHandler())
	var blocks []bot.Block
	for i := range 70 {
		blocks = append(blocks, bot.Block{Kind: bot.BlockCode, Title: "hop", Text: strings.Repeat("10.0.0.1 ", i%5+1)})
	}
	th := wire.Thread{Channel: testChannel, ID: "1700000000.000001"}
	if err := a.Reply(context.Background(), th, bot.Message{Text: "evidence", Blocks: blocks}); err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d posts, want 2", len(calls))
	}
	for i, c := range calls {
		var bs []json.RawMessage
		if err := json.Unmarshal([]byte(c.Form.Get("blocks")), &bs); err != nil {
			t.Fatal(err)
		}
		if c.Form.Get("thread_ts") != th.ID || len(bs) > maxBlocks || len(bs) == 0 {
			t.Errorf("post %d: thread_ts=%q blocks=%d", i, c.Form.Get("thread_ts"), len(bs))
		}
		if want := []string{"evidence (1/2)", "evidence (2/2)"}[i]; c.Form.Get("text") != want {
			t.Errorf("post %d text %q, want %q", i, c.Form.Get("text"), want)
		}
	}
}
