package slack

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/internal/testkit"
)

var outboxT0 = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

// slash sends a signed /portcheck command whose response_url is the fake's.
func (e *slackE2E) slash(trigger, text string) {
	e.t.Helper()
	if code := e.post(signedRequest(e.t, "/slack/commands", slashBody(trigger, text, e.f.responseURL()), time.Now().Unix())); code != http.StatusOK {
		e.t.Fatalf("command %q: status %d", text, code)
	}
}

func (e *slackE2E) count(method string) int {
	n := 0
	for _, c := range e.f.Calls() {
		if c.Method == method {
			n++
		}
	}
	return n
}

// note is a response_url post containing text, checked against Slack's
// limits for a message (the adapter renders it like any other).
func (e *slackE2E) note(text string) apiCall {
	e.t.Helper()
	c := e.waitCall("a response_url note with "+text, func(c apiCall) bool {
		b, _ := json.Marshal(c.JSON)
		return c.Method == "response_url" && strings.Contains(string(b), text)
	})
	if c.JSON["response_type"] != "ephemeral" {
		e.t.Errorf("note is %v, want ephemeral", c.JSON["response_type"])
	}
	s, _ := c.JSON["text"].(string)
	blocks, _ := c.JSON["blocks"].([]any)
	if utf8.RuneCountInString(s) > maxFallback || len(blocks) > maxBlocks {
		e.t.Errorf("note over Slack's limits: %d characters, %d blocks", utf8.RuneCountInString(s), len(blocks))
	}
	for _, b := range blocks {
		if txt, _ := b.(map[string]any)["text"].(map[string]any); txt != nil {
			if n := utf8.RuneCountInString(txt["text"].(string)); n > maxSectionText {
				e.t.Errorf("a section of %d characters", n)
			}
		}
	}
	return c
}

// Issue 17: chat.postMessage keeps failing (5xx). The thread cannot be
// opened, so the user hears at once through the command's response_url that
// the check waits, and again, when portcheck gives up, that it did not run;
// before, the command was dropped with a log line and nobody in chat heard.
func TestThreadThatCannotOpenIsToldThroughResponseURL(t *testing.T) {
	clock := testkit.NewStepClock(outboxT0)
	e := newSlackE2E(t, func(p *bot.Params) {
		p.Now, p.After = clock.Now, clock.After
		p.Limits.RetryPostsFor = 10 * time.Minute
	})
	for range 1000 {
		e.f.fail("chat.postMessage", http.StatusInternalServerError, "", "oops")
	}
	e.slash("trig-down", "web01:443 db1:5432")
	e.note("Your check of web01:443, db1:5432 waits: its thread cannot be opened yet")
	e.note("The chat is not taking portcheck's posts right now: portcheck tries again in 2s, and portcheck keeps trying for 10m.")
	for d := time.Duration(0); d <= 11*time.Minute; d += 15 * time.Second {
		clock.At(t, d)
	}
	e.note("Your check of web01:443, db1:5432 did not run: its thread could not be opened")
	e.note("portcheck tried for 10m; the chat kept refusing its posts. Try again in a few minutes.")
	if n := e.count("response_url"); n != 2 {
		t.Errorf("%d response_url posts, want 2 (waiting, given up):\n%s", n, e.calls())
	}
	if n := e.count("chat.postMessage"); n < 8 {
		t.Errorf("chat.postMessage tried %d times in 10 minutes", n)
	}
}

// Issue 17: a Retry-After of 120 s (past the 60 s after which the adapter
// used to drop the post) is honoured: the user is told the thread opens in
// 2m0s, nothing is posted before, and the thread, its evidence and its
// verdict land after it.
func TestRetryAfter120IsHonoured(t *testing.T) {
	clock := testkit.NewStepClock(outboxT0)
	e := newSlackE2E(t, func(p *bot.Params) { p.Now, p.After = clock.Now, clock.After })
	e.f.fail("chat.postMessage", http.StatusTooManyRequests, "120", `{"ok":false,"error":"ratelimited"}`)
	e.slash("trig-429", "web01:443")
	e.note("The chat asked portcheck to wait 2m: the thread opens then")
	clock.At(t, 119*time.Second)
	if n := e.count("chat.postMessage"); n != 1 {
		t.Fatalf("chat.postMessage called %d times before Retry-After ran out:\n%s", n, e.calls())
	}
	clock.At(t, 120*time.Second)
	e.waitCall("the thread parent", func(c apiCall) bool {
		return c.Method == "chat.postMessage" && c.Form.Get("thread_ts") == "" && strings.Contains(c.Form.Get("text"), "checking web01:443")
	})
	ev := e.waitCall("the evidence in the thread", func(c apiCall) bool {
		return c.Method == "chat.postMessage" && c.Form.Get("thread_ts") != "" && strings.Contains(c.Form.Get("text"), "web01:443 from local: open")
	})
	e.waitCall("the verdict on the parent", edit(ev.Form.Get("thread_ts"), "web01:443 — open"))
	if n := e.count("chat.postMessage"); n != 3 {
		t.Errorf("chat.postMessage called %d times, want the refused parent, the parent and the evidence:\n%s", n, e.calls())
	}
}
