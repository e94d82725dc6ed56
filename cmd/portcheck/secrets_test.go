package main

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/app"
	"github.com/portcheck/portcheck/internal/testkit"
)

// fakeChatAPI stands in for slack.com/api and discord.com/api: it answers
// every call with success and remembers what it was sent.
type fakeChatAPI struct {
	mu    sync.Mutex
	calls []string // "METHOD path auth"
	body  strings.Builder
}

func (f *fakeChatAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
	f.body.Write(b)
	f.body.WriteString("\n")
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasPrefix(r.URL.Path, "/discord/"):
		if r.Method == http.MethodPut {
			fmt.Fprint(w, `[]`)
			return
		}
		fmt.Fprint(w, `{"id":"1200000000000000001","channel_id":"1300000000000000001"}`)
	default:
		fmt.Fprint(w, `{"ok":true,"channel":"C0NETOPS","ts":"1732456800.000100","message_ts":"1732456800.000200"}`)
	}
}

func (f *fakeChatAPI) seen() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, "\n")
}

// A full run of serve at debug level (Slack and Discord configured, commands
// checked, refused and answered) logs none of the secrets it was given.
func TestServeLogsNoSecrets(t *testing.T) {
	api := &fakeChatAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()

	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"SLACK_BOT_TOKEN":      "xoxb-1111-2222-SECRETslackBOTtoken",
		"SLACK_SIGNING_SECRET": "5ecret5lack5igning5ecret0123456789",
		"DISCORD_BOT_TOKEN":    "MTEwMDAwMDAwMDAwMDAwMDAwMQ.SECRET.discordBOTtokenXYZ",
	}
	dir := t.TempDir()
	addr := freePort(t)
	env := map[string]string{
		"HOME": dir, "PORTCHECK_AUDIT_DB": filepath.Join(dir, "audit.db"),
		"PORTCHECK_LISTEN": addr, "PORTCHECK_LOG_LEVEL": "debug", "PORTCHECK_TIMEOUT": "1s",
		"PORTCHECK_ALLOW": "127.0.0.0/8",
		"SLACK_API_URL":   srv.URL + "/slack/api/",
		"DISCORD_APP_ID":  "1100000000000000001", "DISCORD_PUBLIC_KEY": hex.EncodeToString(pub),
		"DISCORD_API_URL": srv.URL + "/discord",
	}
	for k, v := range secrets {
		env[k] = v
	}
	closed := closedLoopbackPort(t)

	var logs testkit.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- serve(ctx, nil, stdio{strings.NewReader(""), io.Discard, &logs}, func(k string) string { return env[k] }, app.Frontends())
	}()
	base := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i == 200 {
			t.Fatalf("serve never listened: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	slash := func(trigger, text string) {
		t.Helper()
		form := url.Values{"command": {"/portcheck"}, "text": {text}, "team_id": {"T0ACME"}, "channel_id": {"C0NETOPS"},
			"user_id": {"U0ALICE"}, "user_name": {"alice"}, "trigger_id": {trigger},
			"response_url": {srv.URL + "/slack/response/" + trigger}}
		body := form.Encode()
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte(secrets["SLACK_SIGNING_SECRET"]))
		fmt.Fprintf(mac, "v0:%s:%s", ts, body)
		req, _ := http.NewRequest(http.MethodPost, base+"/slack/commands", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("slash command %q: %v %v", text, resp, err)
		}
		resp.Body.Close()
	}
	slash("t1", fmt.Sprintf("127.0.0.1:%d", closed)) // runs: thread, evidence, verdict
	slash("t2", "169.254.169.254:80")                // refused by the policy
	slash("t3", "web01")                             // invalid input
	slash("t4", "help")

	// Wait for the verdict to be posted (chat.update) before stopping.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(api.seen(), "chat.update") {
		if time.Now().After(deadline) {
			t.Fatalf("the verdict was never posted; API calls:\n%s\nlog:\n%s", api.seen(), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}

	api.mu.Lock()
	sent := strings.Join(api.calls, "\n") + api.body.String()
	api.mu.Unlock()
	if !strings.Contains(sent, secrets["SLACK_BOT_TOKEN"]) || !strings.Contains(sent, secrets["DISCORD_BOT_TOKEN"]) {
		t.Errorf("the chat APIs never got the bot tokens, so this run proves little; calls:\n%s", api.seen())
	}
	out := logs.String()
	if !strings.Contains(out, "level=DEBUG") {
		t.Errorf("no debug lines: the log level was not applied, so this run proves little:\n%s", out)
	}
	// Slack's response_url is a bearer capability too (anyone holding it
	// can post in the channel for 30 minutes).
	if strings.Contains(out, "/slack/response/") {
		t.Errorf("the log contains a response_url:\n%s", out)
	}
	for name, v := range secrets {
		for _, piece := range []string{v, v[len(v)/2:], v[:len(v)/2]} {
			if strings.Contains(out, piece) {
				t.Errorf("the log contains %s (%q):\n%s", name, piece, out)
			}
		}
	}
}

// closedLoopbackPort is a loopback port nothing listens on.
func closedLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}
