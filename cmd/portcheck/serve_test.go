package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/internal/app"
	"github.com/portcheck/portcheck/wire"
)

func TestServeWithoutChatSaysHowToConfigure(t *testing.T) {
	var out, errb strings.Builder
	env := func(k string) string {
		if k == "HOME" {
			return t.TempDir()
		}
		return ""
	}
	code := serve(context.Background(), nil, stdio{strings.NewReader(""), &out, &errb}, env, app.Frontends())
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, errb.String())
	}
	for _, want := range []string{"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_BOT_TOKEN", "DISCORD_APP_ID", "portcheck shell"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("message lacks %s:\n%s", want, errb.String())
		}
	}
}

// fakeFrontend is a chat whose "webhook" is POST /fake?text=...
type fakeFrontend struct {
	h    bot.Handler
	mu   sync.Mutex
	msgs []string
	got  chan string
	down atomic.Bool // its "connection" is lost: /readyz must say so
}

func (f *fakeFrontend) Ready(context.Context) error {
	if f.down.Load() {
		return errors.New("fake chat disconnected")
	}
	return nil
}

func (f *fakeFrontend) Name() string   { return "fake" }
func (f *fakeFrontend) Chat() bot.Chat { return f }
func (f *fakeFrontend) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
func (f *fakeFrontend) Routes(mux *http.ServeMux) {
	n := 0
	mux.HandleFunc("POST /fake", func(w http.ResponseWriter, r *http.Request) {
		n++
		cmd := bot.Command{ID: fmt.Sprint("c", n), Channel: wire.Channel{Chat: "fake", ID: "C1"}, User: wire.User{ID: "U1"}, Text: r.URL.Query().Get("text")}
		if err := f.h.Handle(r.Context(), f, cmd); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
}
func (f *fakeFrontend) rec(s string) error {
	f.got <- s
	return nil
}
func (f *fakeFrontend) Start(_ context.Context, c wire.Channel, m bot.Message) (wire.Thread, error) {
	return wire.Thread{Channel: c, ID: "1"}, f.rec("start " + m.Text)
}
func (f *fakeFrontend) Reply(_ context.Context, _ wire.Thread, m bot.Message) error {
	return f.rec("reply " + m.Text)
}
func (f *fakeFrontend) Update(_ context.Context, _ wire.Thread, m bot.Message) error {
	return f.rec("update " + m.Text)
}
func (f *fakeFrontend) Ephemeral(_ context.Context, _ wire.Channel, _ wire.User, m bot.Message) error {
	return f.rec("ephemeral " + m.Text)
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestServeRunsFrontendsBotAndPolicy(t *testing.T) {
	open, _ := loopbackPorts(t)
	addr := freePort(t)
	dir := t.TempDir()
	env := map[string]string{"HOME": dir, "PORTCHECK_LISTEN": addr, "PORTCHECK_LOG_LEVEL": "error",
		"PORTCHECK_ALLOW": "127.0.0.2/32", "PORTCHECK_TIMEOUT": "2s"}
	ff := &fakeFrontend{got: make(chan string, 100)}
	factory := func(d app.FrontendDeps) (app.Frontend, bool, error) {
		ff.h = d.Handler
		return ff, true, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var errb strings.Builder
	go func() {
		done <- serve(ctx, nil, stdio{strings.NewReader(""), io.Discard, &errb}, func(k string) string { return env[k] }, []app.FrontendFactory{factory})
	}()
	base := "http://" + addr
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(base + "/healthz"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, path := range []string{"/readyz", "/metrics"} {
		if resp, err = http.Get(base + path); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	// A chat whose connection drops makes the process unready, by name.
	ff.down.Store(true)
	if resp, err = http.Get(base + "/readyz"); err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"fake":"fake chat disconnected"`) {
		t.Errorf("/readyz with the chat down: %d %s", resp.StatusCode, body)
	}
	ff.down.Store(false)
	next := func() string {
		select {
		case s := <-ff.got:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no post from the bot")
			return ""
		}
	}
	post := func(text string) {
		r, err := http.Post(base+"/fake?text="+text, "text/plain", nil)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("POST /fake: %v %v", r, err)
		}
		r.Body.Close()
	}
	// The chat bot's default policy refuses loopback...
	post(fmt.Sprintf("127.0.0.1:%d", open))
	if s := next(); !strings.HasPrefix(s, "ephemeral not allowed to check 127.0.0.1:") {
		t.Errorf("loopback not refused: %q", s)
	}
	// ...and allows what PORTCHECK_ALLOW opens (127.0.0.2 is loopback too on Linux).
	l := greeter(t, "127.0.0.2:0")
	post(l.Addr().String())
	if s := next(); !strings.HasPrefix(s, "start checking 127.0.0.2:") {
		t.Errorf("allowed target: %q", s)
	}
	if s := next(); !strings.HasPrefix(s, "reply 127.0.0.2:") || !strings.Contains(s, "open") {
		t.Errorf("evidence: %q", s)
	}
	if s := next(); !strings.HasPrefix(s, "update 127.0.0.2:") || !strings.Contains(s, "open") {
		t.Errorf("verdict: %q", s)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`portcheck_commands_total{chat="fake",outcome="denied"} 1`, `portcheck_commands_total{chat="fake",outcome="queued"} 1`,
		`portcheck_jobs_done_total{result="ok",vantage="local"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after shutdown: %s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
}
