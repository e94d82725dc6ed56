package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/store/memory"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

type openChecker struct{}

func (openChecker) Check(_ context.Context, req checks.Request) checks.Report {
	return checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Address: "198.18.3.10",
		Addresses: []string{"198.18.3.10"}, Verdict: checks.VerdictOpen, Reason: checks.ReasonSynAck, ElapsedMS: 3}
}

// slackE2E is the real bot behind the real adapter, talking to the
// protocol-level fake Slack over HTTP request URLs, every request signed
// with the signing secret.
type slackE2E struct {
	t   *testing.T
	f   *fakeSlack
	a   *Adapter
	b   *bot.Bot
	mux *http.ServeMux
}

func newSlackE2E(t *testing.T, mods ...func(*bot.Params)) *slackE2E {
	t.Helper()
	f := newFakeSlack(t)
	q, res := memory.NewQueue(), memory.NewResults()
	w, err := worker.New(worker.Params{Queue: q, Results: res, Checker: openChecker{}, Vantage: "local", Concurrency: 4, ProgressAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	bp := bot.Params{Queue: q, Results: res, Audit: memory.NewAudit(), Local: w,
		Limits: bot.Limits{DrainTimeout: time.Second, WatchesPerChannel: 5}}
	for _, m := range mods {
		m(&bp)
	}
	b, err := bot.New(bp)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := testAdapter(t, f, b)
	b.AddChat("slack", a)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e := &slackE2E{t: t, f: f, a: a, b: b, mux: http.NewServeMux()}
	a.Routes(e.mux)
	return e
}

func (e *slackE2E) post(r *http.Request) int {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, r)
	return rec.Code
}

func (e *slackE2E) mention(id, text, ts, threadTS string) {
	e.t.Helper()
	if code := e.post(signedJSON(e.t, "/slack/events", mentionBody(e.t, id, "<@U0BOT> "+text, ts, threadTS), time.Now().Unix())); code != http.StatusOK {
		e.t.Fatalf("mention %q: status %d", text, code)
	}
}

// waitCall waits for a Web API call matching ok and returns it.
func (e *slackE2E) waitCall(what string, ok func(apiCall) bool) apiCall {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, c := range e.f.Calls() {
			if ok(c) {
				return c
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("Slack never got %s; calls:\n%s", what, e.calls())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *slackE2E) calls() string {
	var b strings.Builder
	for _, c := range e.f.Calls() {
		fmt.Fprintf(&b, "  %s ts=%s thread_ts=%s %s\n", c.Method, c.Form.Get("ts"), c.Form.Get("thread_ts"), c.Form.Get("text"))
	}
	return b.String()
}

func inThread(method, thread, text string) func(apiCall) bool {
	return func(c apiCall) bool {
		return c.Method == method && c.Form.Get("thread_ts") == thread && strings.Contains(c.Form.Get("text"), text)
	}
}

func edit(ts, text string) func(apiCall) bool {
	return func(c apiCall) bool {
		return c.Method == "chat.update" && c.Form.Get("ts") == ts && strings.Contains(c.Form.Get("text"), text)
	}
}

// stopClick is the Stop button pressed on a watch's parent, which in a
// mention's thread is a reply (message_ts) in that thread (thread_ts).
func stopClick(t *testing.T, trigger, messageTS, threadTS string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"type": "block_actions", "trigger_id": trigger, "team": map[string]any{"id": "T1"},
		"user": map[string]any{"id": "U2", "name": "bob"}, "channel": map[string]any{"id": "C1", "name": "ops"},
		"container": map[string]any{"type": "message", "message_ts": messageTS, "thread_ts": threadTS, "channel_id": "C1"},
		"message":   map[string]any{"ts": messageTS, "thread_ts": threadTS, "text": "watching"},
		"actions": []any{map[string]any{"type": "button", "action_id": "stop", "block_id": "actions", "value": "stop",
			"action_ts": "1700000200.000001", "text": map[string]any{"type": "plain_text", "text": "Stop"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return url.Values{"payload": {string(b)}}.Encode()
}

// Issue 15's Slack e2e: a mention in the channel runs a check threaded on
// it; a mention of stop in a watch's thread stops that watch only; the
// Stop button stops the other; a bad signature is refused.
func TestMentionsEndToEnd(t *testing.T) {
	e := newSlackE2E(t)
	const w1, w2, chk = "1700000000.000001", "1700000000.000002", "1700000000.000003"

	// Two watches, each asked for in the channel, each answered in a thread on its mention.
	e.mention("Ev1", "watch web01:22 every 10m for 1h", w1, "")
	h1 := e.waitCall("the first watch's parent", inThread("chat.postMessage", w1, "watching web01:22")).TS
	e.mention("Ev2", "watch web01:80 every 10m for 1h", w2, "")
	h2 := e.waitCall("the second watch's parent", inThread("chat.postMessage", w2, "watching web01:80")).TS
	e.waitCall("the first watch's verdict", edit(h1, "watching every 10m"))
	upd := e.waitCall("the second watch's verdict", edit(h2, "watching every 10m"))
	if !strings.Contains(upd.Form.Get("blocks"), `"action_id":"stop"`) || !strings.Contains(upd.Form.Get("blocks"), `"action_id":"again"`) {
		t.Errorf("a watch's parent lacks Re-check and Stop: %s", upd.Form.Get("blocks"))
	}

	// A target mentioned in the channel: a check, threaded on the mention.
	e.mention("Ev3", "web01:443", chk, "")
	e.waitCall("the check's parent in the mention's thread", inThread("chat.postMessage", chk, "checking web01:443"))
	e.waitCall("the check's evidence in that thread", inThread("chat.postMessage", chk, "web01:443 from local: open"))

	// stop, mentioned in the first watch's thread: that watch only.
	e.mention("Ev4", "stop", "1700000000.000010", w1)
	e.waitCall("the first watch's end", inThread("chat.postMessage", w1, "watch ended: stopped by U1"))
	if _, watches := e.b.Busy(wire.Channel{Chat: "slack", Team: "T1", ID: "C1"}); watches != 1 {
		t.Fatalf("%d watches run after stopping one in its thread, want 1:\n%s", watches, e.calls())
	}

	// A bad signature on the Stop click: refused, nothing stops.
	body := stopClick(t, "trig-stop-2", h2, w2)
	forged := signedRequest(t, "/slack/interactions", body, time.Now().Unix())
	forged.Header.Set("X-Slack-Signature", sign("not-the-secret", time.Now().Unix(), body))
	if code := e.post(forged); code != http.StatusUnauthorized {
		t.Errorf("forged click: status %d, want 401", code)
	}
	time.Sleep(50 * time.Millisecond)
	if _, watches := e.b.Busy(wire.Channel{Chat: "slack", Team: "T1", ID: "C1"}); watches != 1 {
		t.Fatalf("a forged click stopped a watch")
	}

	// The Stop button on the second watch's parent.
	if code := e.post(signedRequest(t, "/slack/interactions", body, time.Now().Unix())); code != http.StatusOK {
		t.Fatalf("stop click: status %d", code)
	}
	e.waitCall("the second watch's end", inThread("chat.postMessage", w2, "watch ended: stopped by bob"))
	e.waitCall("the second watch's parent without Stop", func(c apiCall) bool {
		return edit(h2, "watch ended")(c) && !strings.Contains(c.Form.Get("blocks"), `"action_id":"stop"`)
	})
	if _, watches := e.b.Busy(wire.Channel{Chat: "slack", Team: "T1", ID: "C1"}); watches != 0 {
		t.Errorf("%d watches after the Stop button", watches)
	}
	// Nothing was ever posted outside the mentions' threads.
	for _, c := range e.f.Calls() {
		if c.Method == "chat.postMessage" && c.Form.Get("thread_ts") == "" {
			t.Errorf("a message outside the threads: %s", c.Form.Get("text"))
		}
	}
}
