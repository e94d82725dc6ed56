package e2e_test

import (
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/redistest"
	"github.com/portcheck/portcheck/internal/testkit"
)

// A post the chat refused for now is kept in Redis (the Outbox), not in
// the bot process that queued it: bot A's chat refuses the thread parent
// with Retry-After 120 s and A stops; bot B, on the same Redis, opens the
// thread once the 120 s are up and the check runs.
func TestQueuedPostOutlivesItsBotProcess(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL(0)
	startWorker(t, url, fast("outbox", "w"), "local", sees(checks.VerdictOpen))
	base := time.Now()
	clockA, clockB := testkit.NewStepClock(base), testkit.NewStepClock(base)
	a := startBot(t, url, fast("outbox", "botA"), func(p *bot.Params) { p.Now, p.After = clockA.Now, clockA.After })
	a.chat.refuseStart = 1
	time.Sleep(300 * time.Millisecond) // the worker's heartbeat registered
	if err := a.ask(t, "ob1", "web01:443"); err != nil {
		t.Fatal(err)
	}
	a.chat.await(t, "ephemeral - info: Your check of web01:443 waits: its thread cannot be opened yet", 5*time.Second)
	a.stop()

	b := startBot(t, url, fast("outbox", "botB"), func(p *bot.Params) { p.Now, p.After = clockB.Now, clockB.After })
	clockB.At(t, 119*time.Second)
	if n := b.chat.count("start"); n != 0 {
		t.Fatalf("opened before Retry-After:\n%s", b.chat.text())
	}
	clockB.At(t, 120*time.Second)
	b.chat.await(t, "update #1 ok: web01:443 — open", 10*time.Second)
	if n := a.chat.count("start #"); n != 0 {
		t.Errorf("bot A posted after it stopped:\n%s", a.chat.text())
	}
}
