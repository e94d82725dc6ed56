// Package e2e_test runs portcheck's distributed mode end to end: bot
// processes and workers at several vantages sharing a real redis-server,
// with the faults the mode promises to survive, and the differential
// diagnosis against the network lab with real probes.
//
// store/redis's own e2e tests already cover, with one bot process, a worker
// SIGKILLed mid-job, a crash between publishing and XACK and a poison job;
// this package adds what needs several processes: results routed to the bot
// process that opened the run, a dead bot process's results posted by
// another, Redis restarted with AOF under queued jobs, Redis down at
// ingress (with the audit trail), the vantage registry, and the merged
// verdict over vantages.
package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/netlab"
	"github.com/portcheck/portcheck/internal/redistest"
	"github.com/portcheck/portcheck/store/memory"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

func TestMain(m *testing.M) {
	netlab.ServeIfChild()
	if os.Getenv(workerEnv) != "" {
		os.Exit(helperWorker())
	}
	os.Exit(m.Run())
}

// chatLog is a fake chat: every post as "verb #thread status: text".
type chatLog struct {
	mu     sync.Mutex
	events []string
	msgs   []bot.Message // every message as posted
	n      int
	// refuseStart says "not now" (Retry-After 120 s) to that many Starts.
	refuseStart int
}

func (c *chatLog) add(verb, thread string, m bot.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	line := verb + " " + thread + " " + string(m.Status) + ": " + m.Text
	for _, b := range m.Blocks {
		line += "\n    " + strings.ReplaceAll(b.Text, "\n", "\n    ")
	}
	c.events = append(c.events, line)
}

func (c *chatLog) Start(_ context.Context, ch wire.Channel, m bot.Message) (wire.Thread, error) {
	c.mu.Lock()
	if c.refuseStart > 0 {
		c.refuseStart--
		c.mu.Unlock()
		c.add("refused start", "-", m)
		return wire.Thread{}, &bot.RetryLater{After: 120 * time.Second, Err: errors.New("rate limited")}
	}
	c.n++
	id := fmt.Sprint(c.n)
	c.mu.Unlock()
	c.add("start", "#"+id, m)
	return wire.Thread{Channel: ch, ID: id}, nil
}
func (c *chatLog) Reply(_ context.Context, t wire.Thread, m bot.Message) error {
	c.add("reply", "#"+t.ID, m)
	return nil
}
func (c *chatLog) Update(_ context.Context, t wire.Thread, m bot.Message) error {
	c.add("update", "#"+t.ID, m)
	return nil
}
func (c *chatLog) Ephemeral(_ context.Context, _ wire.Channel, _ wire.User, m bot.Message) error {
	c.add("ephemeral", "-", m)
	return nil
}

func (c *chatLog) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.events, "\n")
}

// count is how many posts contain s.
func (c *chatLog) count(s string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.events {
		if strings.Contains(e, s) {
			n++
		}
	}
	return n
}

// await waits until the chat shows want.
func (c *chatLog) await(t *testing.T, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(c.text(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("chat never showed %q:\n%s", want, c.text())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// fast are store settings that keep the tests quick.
func fast(prefix, consumer string) rstore.Options {
	return rstore.Options{
		Prefix: prefix, Consumer: consumer, Block: 100 * time.Millisecond, ClaimInterval: 100 * time.Millisecond,
		ClaimIdle: 2 * time.Second, ResultClaimIdle: 500 * time.Millisecond, HeartbeatTTL: 600 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	}
}

func openStore(t testing.TB, url string, o rstore.Options) *rstore.Store {
	t.Helper()
	st, err := rstore.Open(context.Background(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// botProc is one bot process: its own Redis client, chat and audit trail.
type botProc struct {
	b     *bot.Bot
	chat  *chatLog
	audit *memory.Audit
	stop  func()
}

func startBot(t *testing.T, url string, o rstore.Options, mods ...func(*bot.Params)) *botProc {
	t.Helper()
	st := openStore(t, url, o)
	p := &botProc{chat: &chatLog{}, audit: memory.NewAudit()}
	bp := bot.Params{
		Queue: st.Queue(), Results: st.Results(), Claims: st, Others: st, Workers: st, Instance: st.Results().Instance(), Threads: st, Outbox: st, Audit: p.audit,
		KeepPendingOnShutdown: true, Limits: bot.Limits{JobTimeout: 20 * time.Second, DrainTimeout: 300 * time.Millisecond},
	}
	for _, m := range mods {
		m(&bp)
	}
	b, err := bot.New(bp)
	if err != nil {
		t.Fatal(err)
	}
	b.AddChat("e2e", p.chat)
	p.b = b
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	var once sync.Once
	p.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(p.stop)
	return p
}

// ask types text in the chat and returns Handle's error.
func (p *botProc) ask(t *testing.T, id, text string) error {
	t.Helper()
	return p.b.Handle(ctxFor(t, 5*time.Second), p.chat, bot.Command{
		ID: id, Channel: wire.Channel{Chat: "e2e", ID: "C1"}, User: wire.User{ID: "U1", Name: "ana"}, Text: text, At: time.Now(),
	})
}

// wait waits until every run the bot started has every answer.
func (p *botProc) wait(t *testing.T, d time.Duration) {
	t.Helper()
	if err := p.b.Wait(ctxFor(t, d)); err != nil {
		t.Fatalf("runs did not complete: %v\nchat:\n%s", err, p.chat.text())
	}
}

// startWorker runs a worker.Worker for vantage in this process, on a Redis
// client of its own, registered like `portcheck worker` (heartbeat).
func startWorker(t *testing.T, url string, o rstore.Options, vantage string, c worker.Checker) {
	t.Helper()
	st := openStore(t, url, o)
	w, err := worker.New(worker.Params{Queue: st.Queue(), Results: st.Results(), Checker: c, Vantage: vantage,
		ProgressAfter: -1, KeepInterrupted: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.Run(ctx) }()
	go func() {
		defer wg.Done()
		_ = st.Heartbeat(ctx, rstore.VantageInfo{Name: vantage, Version: "v-test", Labels: map[string]string{"site": vantage}})
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

type checkFunc func(ctx context.Context, req checks.Request) checks.Report

func (f checkFunc) Check(ctx context.Context, req checks.Request) checks.Report { return f(ctx, req) }

// sees is a stub prober: every port looks like v from this vantage.
func sees(v checks.Verdict) checkFunc {
	return func(_ context.Context, req checks.Request) checks.Report {
		return checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Address: "198.18.3.10", Verdict: v, ElapsedMS: 7}
	}
}

// Two bot processes share Redis and two vantages. Each run's results come
// back to the process that opened it, so both threads complete there (the
// runs finish, Wait returns), each with the merged verdict, and nothing
// lands in the other process's chat. The registry lists the workers and a
// vantage nobody serves is refused at once with the list.
func TestTwoBotProcessesTwoVantages(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL(0)
	startWorker(t, url, fast("multi", "w-office"), "office", sees(checks.VerdictOpen))
	startWorker(t, url, fast("multi", "w-internet"), "internet", sees(checks.VerdictFilteredAtHost))
	a := startBot(t, url, fast("multi", "botA"))
	b := startBot(t, url, fast("multi", "botB"))
	time.Sleep(300 * time.Millisecond) // heartbeats registered

	if err := a.ask(t, "a1", "web01:443 from office,internet"); err != nil {
		t.Fatal(err)
	}
	if err := b.ask(t, "b1", "db1:5432 from all"); err != nil {
		t.Fatal(err)
	}
	a.wait(t, 15*time.Second)
	b.wait(t, 15*time.Second)

	perimeter := "update #1 problem: %s — open from office but filtered at host (firewall DROP) from internet → " +
		"a perimeter firewall, security group or missing port forward blocks internet"
	if a.chat.count(fmt.Sprintf(perimeter, "web01:443")) != 1 || a.chat.count("db1") != 0 {
		t.Errorf("bot A's chat:\n%s", a.chat.text())
	}
	if b.chat.count(fmt.Sprintf(perimeter, "db1:5432")) != 1 || b.chat.count("web01") != 0 {
		t.Errorf("bot B's chat:\n%s", b.chat.text())
	}
	for _, p := range []*botProc{a, b} {
		if n := p.chat.count("reply #1 "); n != 3 { // one evidence reply per vantage, then the comparison
			t.Errorf("%d replies, want 3:\n%s", n, p.chat.text())
		}
	}
	t.Logf("bot A:\n%s", a.chat.text())

	if err := b.ask(t, "b2", "vantages"); err != nil {
		t.Fatal(err)
	}
	b.chat.await(t, "ephemeral - info: 2 vantages: internet, office", time.Second)
	for _, want := range []string{"internet  w-internet  v-test  site=internet", "office    w-office    v-test  site=office"} {
		if !strings.Contains(b.chat.text(), want) {
			t.Errorf("vantages lack %q:\n%s", want, b.chat.text())
		}
	}
	start := time.Now()
	if err := b.ask(t, "b3", "web01:443 from mars"); err != nil {
		t.Fatal(err)
	}
	b.chat.await(t, "ephemeral - info: no worker serves mars; available: internet, office", time.Second)
	if el := time.Since(start); el > time.Second {
		t.Errorf("refusal took %v", el)
	}
}

// A bot process that dies with a run in flight: its results, published
// after it is gone, are posted by a live bot process — each evidence once,
// and, when the run's last answer is in, the parent with the merged verdict
// (rebuilt from what this process recorded), not whichever vantage
// answered last.
func TestDeadBotProcessResultsPostedByAnother(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL(0)
	reg := openStore(t, url, fast("orphan", "registry"))
	for _, v := range []string{"office", "internet"} {
		if err := reg.Register(ctxFor(t, 5*time.Second), rstore.VantageInfo{Name: v, Worker: "soon"}); err != nil {
			t.Fatal(err)
		}
	}
	a := startBot(t, url, fast("orphan", "botA"))
	if err := a.ask(t, "a1", "web01:443 from office,internet"); err != nil {
		t.Fatal(err)
	}
	a.stop() // dies before any worker ran the jobs

	b := startBot(t, url, fast("orphan", "botB"))
	startWorker(t, url, fast("orphan", "w1"), "office", sees(checks.VerdictOpen))
	startWorker(t, url, fast("orphan", "w2"), "internet", sees(checks.VerdictFilteredAtHost))
	merged := "update #1 problem: web01:443 — open from office but filtered at host (firewall DROP) from internet → " +
		"a perimeter firewall, security group or missing port forward blocks internet"
	b.chat.await(t, merged, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // a duplicate would land by now
	for _, want := range []string{"reply #1 ok: web01:443 from office: open", "reply #1 problem: web01:443 from internet: filtered", merged, "compared from 2 vantages"} {
		if n := b.chat.count(want); n != 1 {
			t.Errorf("%q posted %d times, want once", want, n)
		}
	}
	if n := b.chat.count("update #1"); n != 1 {
		t.Errorf("the parent was updated %d times, want once, with the merged verdict:\n%s", n, b.chat.text())
	}
	t.Logf("bot B:\n%s", b.chat.text())
}

// Redis killed and restarted (AOF, appendfsync always) while jobs wait in
// the queue: none is lost, every thread gets its answer once, and the bot
// and worker reconnect on their own.
func TestRedisRestartWithAOFWhileQueued(t *testing.T) {
	srv := redistest.Start(t, redistest.AppendOnly("always"))
	url := srv.URL(0)
	reg := openStore(t, url, fast("aof", "registry"))
	if err := reg.Register(ctxFor(t, 5*time.Second), rstore.VantageInfo{Name: "office", Worker: "soon"}); err != nil {
		t.Fatal(err)
	}
	p := startBot(t, url, fast("aof", "bot"))
	for i := 1; i <= 3; i++ {
		if err := p.ask(t, fmt.Sprint("c", i), fmt.Sprintf("web0%d:443 from office", i)); err != nil {
			t.Fatal(err)
		}
	}
	srv.Kill()
	srv.Restart()
	startWorker(t, url, fast("aof", "w"), "office", sees(checks.VerdictOpen))
	p.wait(t, 20*time.Second)
	for i := 1; i <= 3; i++ {
		if n := p.chat.count(fmt.Sprintf("update #%d ok: web0%d:443 — open", i, i)); n != 1 {
			t.Errorf("thread %d answered %d times:\n%s", i, n, p.chat.text())
		}
	}
}

// Redis stopped at ingress: the user hears at once that the queue is
// unavailable, the command is in the audit trail as denied (the trail is
// SQLite in production, up when Redis is not), nothing panics, and the same
// bot answers once Redis is back.
func TestRedisDownAtIngress(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL(0)
	startWorker(t, url, fast("down", "w"), "office", sees(checks.VerdictOpen))
	p := startBot(t, url, fast("down", "bot"))
	time.Sleep(200 * time.Millisecond)
	srv.Stop()

	start := time.Now()
	if err := p.ask(t, "c-down", "web01:443 from office"); err != nil {
		t.Errorf("Handle: %v (the user was answered; the adapter needs no error)", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("answer took %v, over the chat's 3 s", el)
	}
	p.chat.await(t, "ephemeral - error: portcheck cannot reach its job queue right now; nothing was started — try again in a minute", time.Second)
	recs, err := p.audit.Query(context.Background(), audit.Query{Kind: audit.KindCommand})
	if err != nil || len(recs) != 1 || recs[0].Decision != audit.DecisionDenied || recs[0].CommandID != "c-down" || recs[0].Text != "web01:443 from office" {
		t.Errorf("audit: %+v %v", recs, err)
	}

	srv.Restart()
	time.Sleep(300 * time.Millisecond) // the worker's heartbeat re-registers office
	if err := p.ask(t, "c-up", "web01:443 from office"); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 10*time.Second)
	p.chat.await(t, "update #1 ok: web01:443 — open", time.Second)
}
