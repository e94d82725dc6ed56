package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/internal/testkit"
	"github.com/portcheck/portcheck/wire"
)

// A command produces exactly one parent, then the replies and the update in
// the order the bot made them, all on the parent's thread.
func TestSlashCommandThreadFlow(t *testing.T) {
	f := newFakeSlack(t)
	h := newFakeHandler()
	h.script = func(ctx context.Context, chat bot.Chat, cmd bot.Command) error {
		th, err := chat.Start(ctx, cmd.Channel, bot.Message{Status: bot.StatusRunning, Text: "checking web01:443 from eu-1…"})
		if err != nil {
			return err
		}
		if err := chat.Reply(ctx, th, bot.Message{Text: "evidence", Blocks: []bot.Block{{Kind: bot.BlockCode, Title: "trace", Text: "1 10.0.0.1 0.4 ms\n2 * * *"}}}); err != nil {
			return err
		}
		if err := chat.Update(ctx, th, bot.Message{Status: bot.StatusProblem, Text: "web01:443 filtered", Buttons: []bot.Button{{ID: "again", Label: "Re-check", Value: "web01:443"}}}); err != nil {
			return err
		}
		return chat.Reply(ctx, th, bot.Message{Text: "hints", Blocks: []bot.Block{{Kind: bot.BlockCode, Title: "try", Text: "nc -vz web01 443"}}})
	}
	a, _ := testAdapter(t, f, h)

	rec := httptest.NewRecorder()
	a.CommandsHandler().ServeHTTP(rec, signedRequest(t, "/slack/commands", slashBody("trig-1", "web01:443", f.responseURL()), time.Now().Unix()))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("ack = %d %q, want empty 200", rec.Code, rec.Body.String())
	}
	cmd := h.wait(t)
	a.Wait()

	want := bot.Command{ID: "trig-1", Text: "web01:443", User: wire.User{ID: "U1", Name: "ada"},
		Channel: wire.Channel{Chat: "slack", Team: "T1", ID: "C1", Name: "ops", Ref: f.responseURL()}}
	cmd.At = time.Time{}
	if b1, b2 := mustJSON(t, cmd), mustJSON(t, want); b1 != b2 {
		t.Errorf("command\n got %s\nwant %s", b1, b2)
	}

	calls := f.Calls()
	type step struct{ method, ts, threadTS string }
	var got []step
	for _, c := range calls {
		got = append(got, step{c.Method, c.Form.Get("ts"), c.Form.Get("thread_ts")})
	}
	parent := "1700000000.000101"
	wantSteps := []step{
		{"chat.postMessage", "", ""},
		{"chat.postMessage", "", parent},
		{"chat.update", parent, ""},
		{"chat.postMessage", "", parent},
	}
	if mustJSON(t, got) != mustJSON(t, wantSteps) {
		t.Fatalf("calls\n got %+v\nwant %+v", got, wantSteps)
	}
	for _, c := range calls {
		if c.Form.Get("channel") != "C1" || c.Form.Get("text") == "" || c.Form.Get("blocks") == "" {
			t.Errorf("%s: channel=%q text=%q blocks set=%v", c.Method, c.Form.Get("channel"), c.Form.Get("text"), c.Form.Get("blocks") != "")
		}
	}
	if !strings.Contains(calls[2].Form.Get("blocks"), `"action_id":"again"`) {
		t.Errorf("update lacks the Re-check button: %s", calls[2].Form.Get("blocks"))
	}
}

func TestSignatureVerification(t *testing.T) {
	now := time.Now().Unix()
	body := slashBody("trig-sig", "web01:443", "")
	tests := []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"valid", func() *http.Request { return signedRequest(t, "/slack/commands", body, now) }, http.StatusOK},
		{"bad hmac", func() *http.Request {
			r := signedRequest(t, "/slack/commands", body, now)
			r.Header.Set("X-Slack-Signature", sign("another-secret", now, body))
			return r
		}, http.StatusUnauthorized},
		{"one body byte changed", func() *http.Request {
			r := signedRequest(t, "/slack/commands", body, now)
			changed := []byte(body)
			changed[len(changed)-1] ^= 1
			r.Body = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(changed))).Body
			return r
		}, http.StatusUnauthorized},
		{"stale timestamp", func() *http.Request {
			return signedRequest(t, "/slack/commands", body, now-6*60)
		}, http.StatusUnauthorized},
		{"future timestamp", func() *http.Request {
			return signedRequest(t, "/slack/commands", body, now+6*60)
		}, http.StatusUnauthorized},
		{"timestamp header changed", func() *http.Request {
			r := signedRequest(t, "/slack/commands", body, now)
			r.Header.Set("X-Slack-Request-Timestamp", fmt.Sprint(now+1)) // signed for now
			return r
		}, http.StatusUnauthorized},
		{"missing signature", func() *http.Request {
			r := signedRequest(t, "/slack/commands", body, now)
			r.Header.Del("X-Slack-Signature")
			return r
		}, http.StatusUnauthorized},
		{"missing timestamp", func() *http.Request {
			r := signedRequest(t, "/slack/commands", body, now)
			r.Header.Del("X-Slack-Request-Timestamp")
			return r
		}, http.StatusUnauthorized},
		{"wrong version prefix", func() *http.Request {
			r := signedRequest(t, "/slack/commands", body, now)
			r.Header.Set("X-Slack-Signature", "v1="+strings.TrimPrefix(r.Header.Get("X-Slack-Signature"), "v0="))
			return r
		}, http.StatusUnauthorized},
		{"truncated signature", func() *http.Request {
			r := signedRequest(t, "/slack/commands", body, now)
			r.Header.Set("X-Slack-Signature", r.Header.Get("X-Slack-Signature")[:20])
			return r
		}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		for _, path := range []string{"/slack/commands", "/slack/interactions"} {
			t.Run(tt.name+path, func(t *testing.T) {
				f := newFakeSlack(t)
				h := newFakeHandler()
				a, _ := testAdapter(t, f, h)
				mux := http.NewServeMux()
				a.Routes(mux)
				r := tt.req()
				r.URL.Path = path
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, r)
				a.Wait()
				want := tt.want
				if path == "/slack/interactions" && want == http.StatusOK {
					want = http.StatusBadRequest // a verified body that is not an interaction payload
				}
				if rec.Code != want {
					t.Fatalf("status = %d, want %d", rec.Code, want)
				}
				wantCmds := 0
				if path == "/slack/commands" && tt.want == http.StatusOK {
					wantCmds = 1
				}
				if n := len(h.Commands()); n != wantCmds {
					t.Errorf("handler saw %d commands, want %d", n, wantCmds)
				}
				if n := len(f.Calls()); n != 0 {
					t.Errorf("%d calls to Slack for a request that must not be handled", n)
				}
			})
		}
	}
}

// Slack retries (X-Slack-Retry-Num) and replays of a captured request never
// reach the bot twice.
func TestRetriesAndReplaysAreDeduplicated(t *testing.T) {
	f := newFakeSlack(t)
	h := newFakeHandler()
	a, _ := testAdapter(t, f, h)
	now := time.Now().Unix()
	body := slashBody("trig-dup", "web01:443", "")
	send := func(r *http.Request) {
		t.Helper()
		rec := httptest.NewRecorder()
		a.CommandsHandler().ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
	}
	send(signedRequest(t, "/slack/commands", body, now))
	retry := signedRequest(t, "/slack/commands", body, now)
	retry.Header.Set("X-Slack-Retry-Num", "1")
	retry.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	send(retry)
	send(signedRequest(t, "/slack/commands", body, now))   // byte-identical replay
	send(signedRequest(t, "/slack/commands", body, now+1)) // re-signed, same trigger_id
	send(signedRequest(t, "/slack/commands", slashBody("trig-other", "web01:443", ""), now))
	a.Wait()
	var ids []string
	for _, c := range h.Commands() {
		ids = append(ids, c.ID)
	}
	if len(ids) != 2 {
		t.Fatalf("handled %v, want trig-dup once and trig-other once", ids)
	}
}

// A captured request replayed with its signature re-cased ("v0=ABCD…":
// the same HMAC, which slack-go accepts) is the same signature: it is
// dropped as a replay at the signature, not left for a later key to catch.
func TestReplayWithRecasedSignature(t *testing.T) {
	f := newFakeSlack(t)
	h := newFakeHandler()
	var logged testkit.Buffer
	a, _ := testAdapter(t, f, h, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
	now := time.Now().Unix()
	send := func(handler http.Handler, r *http.Request, want int) {
		t.Helper()
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, r)
		if rec.Code != want {
			t.Fatalf("status %d, want %d", rec.Code, want)
		}
	}
	recase := func(r *http.Request, f func(string) string) *http.Request {
		sig := r.Header.Get("X-Slack-Signature")
		r.Header.Set("X-Slack-Signature", "v0="+f(strings.TrimPrefix(sig, "v0=")))
		return r
	}
	mixed := func(s string) string { // every other hex letter upper-cased
		b := []byte(s)
		for i := range b {
			if i%2 == 0 {
				b[i] = strings.ToUpper(string(b[i]))[0]
			}
		}
		return string(b)
	}

	cmd := slashBody("trig-case", "web01:443", "")
	send(a.CommandsHandler(), signedRequest(t, "/slack/commands", cmd, now), http.StatusOK)
	send(a.CommandsHandler(), recase(signedRequest(t, "/slack/commands", cmd, now), strings.ToUpper), http.StatusOK)
	send(a.CommandsHandler(), recase(signedRequest(t, "/slack/commands", cmd, now), mixed), http.StatusOK)
	// The prefix is not hex: slack-go wants "v0=" exactly, so this one is
	// refused before any key.
	upperPrefix := signedRequest(t, "/slack/commands", cmd, now)
	upperPrefix.Header.Set("X-Slack-Signature", "V0="+strings.TrimPrefix(upperPrefix.Header.Get("X-Slack-Signature"), "v0="))
	send(a.CommandsHandler(), upperPrefix, http.StatusUnauthorized)

	click := interactionBody(t, "trig-case-click", "again")
	send(a.InteractionsHandler(), signedRequest(t, "/slack/interactions", click, now), http.StatusOK)
	send(a.InteractionsHandler(), recase(signedRequest(t, "/slack/interactions", click, now), strings.ToUpper), http.StatusOK)
	a.Wait()

	if got := strings.Count(logged.String(), "dropping replayed request"); got != 3 {
		t.Errorf("%d requests dropped as replays at the signature, want 3 (a command upper and mixed case, a click upper case)\n%s", got, logged.String())
	}
	if strings.Contains(logged.String(), "dropping retried command") {
		t.Errorf("a re-cased replay got past the signature key:\n%s", logged.String())
	}
	if n := len(h.Commands()); n != 2 {
		t.Errorf("handled %d commands, want the command and the click once each", n)
	}
	for _, c := range []struct{ in, want string }{
		{"v0=ABCDEF0123", "sig:v0=abcdef0123"},
		{"v0=abcdef0123", "sig:v0=abcdef0123"},
		{"v0=AbCdEf0123", "sig:v0=abcdef0123"},
	} {
		if got := replayKey(c.in); got != c.want {
			t.Errorf("replayKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func interactionBody(t *testing.T, trigger, actionID string) string {
	t.Helper()
	payload := map[string]any{
		"type":         "block_actions",
		"trigger_id":   trigger,
		"team":         map[string]any{"id": "T1"},
		"user":         map[string]any{"id": "U2", "name": "bob"},
		"channel":      map[string]any{"id": "C1", "name": "ops"},
		"container":    map[string]any{"type": "message", "message_ts": "1700000000.000101", "channel_id": "C1"},
		"message":      map[string]any{"ts": "1700000000.000101", "text": "web01:443 filtered"},
		"response_url": "https://hooks.slack.com/actions/T1/1/x",
		"actions": []any{map[string]any{
			"type": "button", "action_id": actionID, "block_id": "actions", "value": "web01:443",
			"action_ts": "1700000100.000001", "text": map[string]any{"type": "plain_text", "text": "Re-check"},
		}},
	}
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return url.Values{"payload": {string(b)}}.Encode()
}

func TestRecheckButton(t *testing.T) {
	f := newFakeSlack(t)
	h := newFakeHandler()
	a, _ := testAdapter(t, f, h)
	now := time.Now().Unix()
	for _, r := range []*http.Request{
		signedRequest(t, "/slack/interactions", interactionBody(t, "trig-btn", "again"), now),
		signedRequest(t, "/slack/interactions", interactionBody(t, "trig-btn", "again"), now+1), // redelivery
		signedRequest(t, "/slack/interactions", interactionBody(t, "trig-x", "something_else"), now),
	} {
		rec := httptest.NewRecorder()
		a.InteractionsHandler().ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
	}
	a.Wait()
	cmds := h.Commands()
	if len(cmds) != 1 {
		t.Fatalf("handled %d commands, want 1: %+v", len(cmds), cmds)
	}
	c := cmds[0]
	if c.ID != "trig-btn" || c.Text != "again" || c.Thread == nil || c.Thread.ID != "1700000000.000101" ||
		c.Thread.Channel.ID != "C1" || c.User.ID != "U2" || c.Channel.Ref != "https://hooks.slack.com/actions/T1/1/x" {
		t.Errorf("command = %+v thread=%+v", c, c.Thread)
	}
}

// The ack must not wait for the bot: a slow Handle still gets an immediate
// 200, and Handle's context outlives the request.
func TestAckDoesNotWaitForHandler(t *testing.T) {
	f := newFakeSlack(t)
	h := newFakeHandler()
	release := make(chan struct{})
	h.script = func(ctx context.Context, _ bot.Chat, _ bot.Command) error {
		<-release
		return ctx.Err()
	}
	a, _ := testAdapter(t, f, h)
	start := time.Now()
	rec := httptest.NewRecorder()
	a.CommandsHandler().ServeHTTP(rec, signedRequest(t, "/slack/commands", slashBody("trig-slow", "x:1", ""), time.Now().Unix()))
	if el := time.Since(start); rec.Code != http.StatusOK || el > time.Second {
		t.Fatalf("ack %d after %s", rec.Code, el)
	}
	close(release)
	a.Wait()
	if len(h.Commands()) != 1 {
		t.Fatal("command lost")
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		name       string
		cfg        func(*Config)
		wantStatus int
	}{
		{"http mode", func(*Config) {}, http.StatusOK},
		{"socket mode with signing secret", func(c *Config) { c.AppToken = "xapp-test" }, http.StatusOK},
		{"socket mode only: nothing mounted", func(c *Config) { c.AppToken, c.SigningSecret = "xapp-test", "" }, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSlack(t)
			h := newFakeHandler()
			a, _ := testAdapter(t, f, h, func(o *Options) { tt.cfg(&o.Config) })
			mux := http.NewServeMux()
			a.Routes(mux)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, signedRequest(t, "/slack/commands", slashBody("trig-r", "x:1", ""), time.Now().Unix()))
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			rec = httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/slack/commands", nil))
			if rec.Code == http.StatusOK {
				t.Error("GET accepted")
			}
		})
	}
}

func TestSSLCheckIsNotACommand(t *testing.T) {
	f := newFakeSlack(t)
	h := newFakeHandler()
	a, _ := testAdapter(t, f, h)
	rec := httptest.NewRecorder()
	a.CommandsHandler().ServeHTTP(rec, signedRequest(t, "/slack/commands", "ssl_check=1&token=x", time.Now().Unix()))
	a.Wait()
	if rec.Code != http.StatusOK || len(h.Commands()) != 0 {
		t.Fatalf("status %d, %d commands", rec.Code, len(h.Commands()))
	}
}

func TestOversizedBodyRefused(t *testing.T) {
	f := newFakeSlack(t)
	h := newFakeHandler()
	a, _ := testAdapter(t, f, h)
	body := slashBody("trig-big", strings.Repeat("a", maxBody), "")
	rec := httptest.NewRecorder()
	a.CommandsHandler().ServeHTTP(rec, signedRequest(t, "/slack/commands", body, time.Now().Unix()))
	a.Wait()
	if rec.Code != http.StatusRequestEntityTooLarge || len(h.Commands()) != 0 {
		t.Fatalf("status %d, %d commands", rec.Code, len(h.Commands()))
	}
}
