package e2e_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/wire"
)

// The chat's credentials of a command: what Slack (response_url) and
// Discord (interaction token) hand the adapter, kept in Channel.Ref and
// Thread.Ref.
const (
	responseURL = "https://hooks.slack.com/commands/T0001/1234567890/SeCrEtSeCrEtSeCrEt"
	threadToken = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpTZUNyRXQ"
)

// refChat is a chat whose threads carry a private ref, as Discord's do,
// and which records the refs it is asked to post with.
type refChat struct {
	*chatLog
	mu   sync.Mutex
	refs []string // "channel-ref|thread-ref" of every Reply and Update
}

func (c *refChat) Start(ctx context.Context, ch wire.Channel, m bot.Message) (wire.Thread, error) {
	t, err := c.chatLog.Start(ctx, ch, m)
	t.Ref = threadToken
	return t, err
}

func (c *refChat) record(t wire.Thread) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs = append(c.refs, t.Channel.Ref+"|"+t.Ref)
}

func (c *refChat) Reply(ctx context.Context, t wire.Thread, m bot.Message) error {
	c.record(t)
	return c.chatLog.Reply(ctx, t, m)
}

func (c *refChat) Update(ctx context.Context, t wire.Thread, m bot.Message) error {
	c.record(t)
	return c.chatLog.Update(ctx, t, m)
}

// secretIn reports which credential an encoded job or result holds.
func secretIn(s string) string {
	for _, c := range []string{responseURL, threadToken, "hooks.slack.com", "SeCrEt"} {
		if strings.Contains(s, c) {
			return c
		}
	}
	return ""
}

// Jobs and results travel through Redis to every vantage's workers and
// back: neither carries the chat's credentials. They stay on the bot side,
// by run, so another bot process posting the results of a run whose own
// process died still posts in the thread with them.
func TestNoChatCredentialsOnTheWire(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL(0)
	reg := openStore(t, url, fast("cred", "registry"))
	ctx := ctxFor(t, 30*time.Second)
	if err := reg.Register(ctx, rstore.VantageInfo{Name: "office", Worker: "soon"}); err != nil {
		t.Fatal(err)
	}
	rdb := reg.Client()

	a := startBot(t, url, fast("cred", "botA"))
	chatA := &refChat{chatLog: a.chat}
	a.b.AddChat("e2e", chatA)
	cmd := bot.Command{ID: "cred1", Channel: wire.Channel{Chat: "e2e", ID: "C1", Ref: responseURL},
		User: wire.User{ID: "U1", Name: "ana"}, Text: "web01:443 from office", At: time.Now()}
	if err := a.b.Handle(ctx, chatA, cmd); err != nil {
		t.Fatal(err)
	}
	a.stop() // dies with the run in flight: bot B will post its result

	// The queued job, as a worker at the vantage would read it.
	entries, err := rdb.XRange(ctx, "cred:jobs:office", "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("queued jobs: %v %v", entries, err)
	}
	raw, _ := entries[0].Values["data"].(string)
	if !strings.Contains(raw, `"command_id"`) {
		t.Fatalf("not a job: %q", raw)
	}
	if c := secretIn(raw); c != "" {
		t.Errorf("the queued job carries %q:\n%s", c, raw)
	}

	// The result, as the worker publishes it for bot A.
	startWorker(t, url, fast("cred", "w1"), "office", sees(checks.VerdictOpen))
	var res []string
	for {
		es, err := rdb.XRange(ctx, "cred:results:botA", "-", "+").Result()
		if err == nil && len(es) > 0 {
			for _, e := range es {
				s, _ := e.Values["data"].(string)
				res = append(res, s)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the worker published no result")
		case <-time.After(20 * time.Millisecond):
		}
	}
	for _, r := range res {
		if !strings.Contains(r, `"report"`) {
			t.Fatalf("not a result: %q", r)
		}
		if c := secretIn(r); c != "" {
			t.Errorf("the published result carries %q:\n%s", c, r)
		}
	}

	// Bot B posts it, in the thread as the chat gave it.
	b := startBot(t, url, fast("cred", "botB"))
	chatB := &refChat{chatLog: b.chat}
	b.b.AddChat("e2e", chatB)
	b.chat.await(t, "update #1 ok: web01:443 — open", 10*time.Second)
	chatB.mu.Lock()
	defer chatB.mu.Unlock()
	if len(chatB.refs) == 0 {
		t.Fatal("bot B posted nothing")
	}
	for _, r := range chatB.refs {
		if r != responseURL+"|"+threadToken {
			t.Errorf("bot B posted with refs %q, want the thread's own", r)
		}
	}
}
