package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/portcheck/portcheck/bot"
)

// fakeSlack is a protocol-level Slack: the Web API methods the adapter
// calls, response_url hooks and the Socket Mode websocket, on one httptest
// server reached through Config.APIURL as SLACK_API_URL would.
type fakeSlack struct {
	t   testing.TB
	srv *httptest.Server

	mu      sync.Mutex
	calls   []apiCall
	nextTS  int
	replies map[string][]cannedReply // per method, consumed in order before the normal answer
	ws      func(*websocket.Conn)    // Socket Mode session script
}

// apiCall is one request the fake received.
type apiCall struct {
	Method string     // chat.postMessage, chat.update, chat.postEphemeral, response_url, apps.connections.open
	Form   url.Values // Web API calls
	JSON   map[string]any
	At     time.Time
	TS     string // the ts the fake answered a post with
}

type cannedReply struct {
	status     int
	retryAfter string
	body       string
}

func newFakeSlack(t testing.TB) *fakeSlack {
	f := &fakeSlack{t: t, nextTS: 100, replies: map[string][]cannedReply{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSlack) apiURL() string      { return f.srv.URL + "/api/" }
func (f *fakeSlack) responseURL() string { return f.srv.URL + "/response/T1/abc" }

// fail queues a canned reply for method's next call.
func (f *fakeSlack) fail(method string, status int, retryAfter, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies[method] = append(f.replies[method], cannedReply{status, retryAfter, body})
}

func (f *fakeSlack) record(c apiCall) (cannedReply, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.At = time.Now()
	f.calls = append(f.calls, c)
	if q := f.replies[c.Method]; len(q) > 0 {
		f.replies[c.Method] = q[1:]
		return q[0], true
	}
	return cannedReply{}, false
}

func (f *fakeSlack) ts() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextTS++
	return fmt.Sprintf("1700000000.%06d", f.nextTS)
}

func (f *fakeSlack) Calls() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/ws":
		f.serveWS(w, r)
		return
	case strings.HasPrefix(r.URL.Path, "/response/"):
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if canned, ok := f.record(apiCall{Method: "response_url", JSON: m}); ok {
			writeCanned(w, canned)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
		return
	}
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if method != "apps.connections.open" && r.PostForm.Get("token") != "xoxb-test" {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	ts := ""
	if method == "chat.postMessage" || method == "chat.postEphemeral" {
		ts = f.ts()
	}
	if canned, ok := f.record(apiCall{Method: method, Form: r.PostForm, TS: ts}); ok {
		writeCanned(w, canned)
		return
	}
	switch method {
	case "chat.postMessage":
		writeJSON(w, map[string]any{"ok": true, "channel": r.PostForm.Get("channel"), "ts": ts})
	case "chat.update":
		// slacktest has no chat.update: this is the part the adapter needs.
		writeJSON(w, map[string]any{"ok": true, "channel": r.PostForm.Get("channel"), "ts": r.PostForm.Get("ts"), "text": r.PostForm.Get("text")})
	case "chat.postEphemeral":
		writeJSON(w, map[string]any{"ok": true, "message_ts": ts})
	case "apps.connections.open":
		if r.Header.Get("Authorization") != "Bearer xapp-test" {
			writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
		writeJSON(w, map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/ws"})
	default:
		writeJSON(w, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

func (f *fakeSlack) serveWS(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		f.t.Errorf("websocket upgrade: %v", err)
		return
	}
	defer conn.Close()
	if f.ws != nil {
		f.ws(conn)
	}
}

func writeCanned(w http.ResponseWriter, c cannedReply) {
	if c.retryAfter != "" {
		w.Header().Set("Retry-After", c.retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	if c.status == 0 {
		c.status = http.StatusOK
	}
	w.WriteHeader(c.status)
	io.WriteString(w, c.body)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// fakeHandler stands in for the bot core: it records commands and runs an
// optional script against the chat it is lent.
type fakeHandler struct {
	mu     sync.Mutex
	cmds   []bot.Command
	got    chan bot.Command
	script func(ctx context.Context, chat bot.Chat, cmd bot.Command) error
}

func newFakeHandler() *fakeHandler { return &fakeHandler{got: make(chan bot.Command, 4096)} }

func (h *fakeHandler) Handle(ctx context.Context, chat bot.Chat, cmd bot.Command) error {
	var err error
	if h.script != nil {
		err = h.script(ctx, chat, cmd)
	}
	h.mu.Lock()
	h.cmds = append(h.cmds, cmd)
	h.mu.Unlock()
	h.got <- cmd
	return err
}

func (h *fakeHandler) Commands() []bot.Command {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bot.Command(nil), h.cmds...)
}

func (h *fakeHandler) wait(t testing.TB) bot.Command {
	t.Helper()
	select {
	case c := <-h.got:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no command reached the handler")
		return bot.Command{}
	}
}

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// sign computes Slack's v0 signature the way Slack does, independently of
// slack-go, so the tests check the adapter against the protocol.
func sign(secret string, ts int64, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:%s", ts, body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

func signedRequest(t testing.TB, path, body string, ts int64) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Slack-Request-Timestamp", fmt.Sprint(ts))
	r.Header.Set("X-Slack-Signature", sign(testSecret, ts, body))
	return r
}

func slashBody(trigger, text, responseURL string) string {
	return url.Values{
		"token":        {"deprecated-verification-token"},
		"team_id":      {"T1"},
		"team_domain":  {"acme"},
		"channel_id":   {"C1"},
		"channel_name": {"ops"},
		"user_id":      {"U1"},
		"user_name":    {"ada"},
		"command":      {"/portcheck"},
		"text":         {text},
		"response_url": {responseURL},
		"trigger_id":   {trigger},
		"api_app_id":   {"A1"},
	}.Encode()
}

// testAdapter builds an adapter against f with fast, recorded retries.
func testAdapter(t testing.TB, f *fakeSlack, h bot.Handler, mutate ...func(*Options)) (*Adapter, *[]time.Duration) {
	t.Helper()
	var mu sync.Mutex
	waits := &[]time.Duration{}
	o := Options{
		Config:  Config{BotToken: "xoxb-test", SigningSecret: testSecret, APIURL: f.apiURL()},
		Handler: h,
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			*waits = append(*waits, d)
			mu.Unlock()
			return ctx.Err()
		},
	}
	for _, m := range mutate {
		m(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Wait)
	return a, waits
}
