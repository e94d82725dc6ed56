package redis_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/redistest"
	"github.com/portcheck/portcheck/store/memory"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

// End to end through the real bot core: a bot process and workers sharing
// Redis, with the faults the distributed mode promises to survive. Each
// fault run's chat transcript is compared with a clean run's.

// chatLog records posts as "verb status: text" lines.
type chatLog struct {
	mu     sync.Mutex
	events []string
	n      int
}

func (c *chatLog) add(verb string, m bot.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, verb+" "+string(m.Status)+": "+m.Text)
}

func (c *chatLog) Start(_ context.Context, ch wire.Channel, m bot.Message) (wire.Thread, error) {
	c.add("start", m)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return wire.Thread{Channel: ch, ID: fmt.Sprint(c.n)}, nil
}
func (c *chatLog) Reply(_ context.Context, _ wire.Thread, m bot.Message) error {
	c.add("reply", m)
	return nil
}
func (c *chatLog) Update(_ context.Context, _ wire.Thread, m bot.Message) error {
	c.add("update", m)
	return nil
}
func (c *chatLog) Ephemeral(_ context.Context, _ wire.Channel, _ wire.User, m bot.Message) error {
	c.add("ephemeral", m)
	return nil
}

func (c *chatLog) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.events...)
}

// settle waits until the log contains want and then stays unchanged for a
// while (a duplicate post would arrive within that time), returning it.
func (c *chatLog) settle(t *testing.T, want string, quiet time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(strings.Join(c.lines(), "\n"), want) {
		if time.Now().After(deadline) {
			t.Fatalf("chat never showed %q:\n%s", want, strings.Join(c.lines(), "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		before := len(c.lines())
		time.Sleep(quiet)
		if after := c.lines(); len(after) == before {
			t.Logf("transcript:\n%s", strings.Join(after, "\n"))
			return after
		}
	}
}

type checkFunc func(ctx context.Context, req checks.Request) checks.Report

func (f checkFunc) Check(ctx context.Context, req checks.Request) checks.Report { return f(ctx, req) }

func openCheck(_ context.Context, req checks.Request) checks.Report {
	return checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Address: "198.18.3.10",
		Verdict: checks.VerdictOpen, Reason: checks.ReasonSynAck, ElapsedMS: 3, Vantage: "office"}
}

// e2e is a bot process on Redis; the vantage "office" is registered as if
// its workers heartbeat.
type e2e struct {
	srv    *redistest.Server
	prefix string
	bot    *bot.Bot
	chat   *chatLog
	opts   rstore.Options
}

func newE2E(t *testing.T, prefix string) *e2e {
	t.Helper()
	srv := redistest.Start(t)
	o := rstore.Options{Prefix: prefix, ClaimIdle: 400 * time.Millisecond, MaxDeliveries: 2}
	st := open(t, srv, withConsumer(o, "bot"))
	if err := st.Register(ctxFor(t, 5*time.Second), rstore.VantageInfo{Name: "office", Worker: "fleet"}); err != nil {
		t.Fatal(err)
	}
	b, err := bot.New(bot.Params{
		Queue: st.Queue(), Results: st.Results(), Audit: memory.NewAudit(),
		Claims: st, Others: st, Workers: st, Instance: st.Results().Instance(), KeepPendingOnShutdown: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	return &e2e{srv: srv, prefix: prefix, bot: b, chat: &chatLog{}, opts: o}
}

func (e *e2e) ask(t *testing.T, id, text string) {
	t.Helper()
	err := e.bot.Handle(ctxFor(t, 5*time.Second), e.chat, bot.Command{
		ID: id, Channel: wire.Channel{Chat: "shell", ID: "C1"}, User: wire.User{ID: "U1"}, Text: text, At: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// worker starts an in-process worker.Worker for "office" on a store of its own.
func (e *e2e) worker(t *testing.T, name string, c worker.Checker) {
	t.Helper()
	st := open(t, e.srv, withConsumer(e.opts, name))
	w, err := worker.New(worker.Params{Queue: st.Queue(), Results: st.Results(), Checker: c,
		Vantage: "office", ProgressAfter: -1, KeepInterrupted: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
}

const question = "web01:443 from office"

// cleanRun is the transcript of the question answered without faults.
func cleanRun(t *testing.T) []string {
	t.Helper()
	e := newE2E(t, "clean")
	e.worker(t, "w", checkFunc(openCheck))
	e.ask(t, "c1", question)
	return e.chat.settle(t, "update ok", 700*time.Millisecond)
}

func sameTranscript(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("transcript differs from a clean run:\n--- got\n%s\n--- clean\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A worker process SIGKILLed mid-job: another worker completes the job and
// the thread gets exactly the answer a clean run gets.
func TestE2EWorkerKilledMidJob(t *testing.T) {
	want := cleanRun(t)
	e := newE2E(t, "e2ekill")
	e.ask(t, "c1", question)
	if took := killWorkerMidJob(t, e.srv.URL(0), e.prefix); took == "" {
		t.Fatal("no job taken")
	}
	e.worker(t, "survivor", checkFunc(openCheck))
	sameTranscript(t, e.chat.settle(t, "update ok", time.Second), want)
}

// A worker that publishes its result and dies before XACK: the job runs
// again elsewhere and publishes a second result, which is not posted.
func TestE2ECrashAfterPublishBeforeAck(t *testing.T) {
	want := cleanRun(t)
	e := newE2E(t, "e2eack")
	e.ask(t, "c1", question)

	crashing := open(t, e.srv, withConsumer(e.opts, "crashing"))
	d := mustNext(t, crashing.Queue(), "office", 5*time.Second)
	res := wire.Result{Job: d.Job(), Report: openCheck(context.Background(), checks.Request{Target: d.Job().Target, Host: d.Job().Host, Port: d.Job().Port}), Finished: time.Now()}
	if err := crashing.Results().Publish(ctxFor(t, 5*time.Second), res); err != nil {
		t.Fatal(err)
	}
	_ = crashing.Close() // dies before Ack

	var runs sync.WaitGroup
	runs.Add(1)
	var once sync.Once
	e.worker(t, "survivor", checkFunc(func(ctx context.Context, req checks.Request) checks.Report {
		once.Do(runs.Done)
		return openCheck(ctx, req)
	}))
	runs.Wait() // the job really ran a second time
	sameTranscript(t, e.chat.settle(t, "update ok", time.Second), want)
}

// A poison job whose workers die every time is dead-lettered after
// MaxDeliveries and the thread says the check failed and why.
func TestE2EPoisonJobDeadLettered(t *testing.T) {
	e := newE2E(t, "e2epoison")
	e.ask(t, "c1", question)
	for i := range 2 { // MaxDeliveries: each delivery's worker dies
		crashing := open(t, e.srv, withConsumer(e.opts, fmt.Sprintf("crash%d", i)))
		mustNext(t, crashing.Queue(), "office", 5*time.Second)
		_ = crashing.Close()
	}
	// The next worker to look finds the job over its limit.
	e.worker(t, "healthy", checkFunc(openCheck))
	got := e.chat.settle(t, "gave up after 2 attempts", 700*time.Millisecond)
	for _, l := range got {
		if strings.Contains(l, " ok:") {
			t.Errorf("a dead-lettered job must not be answered as open: %q", l)
		}
	}
}

// Redis stopped at ingress: Handle returns within the chat's deadline
// without panicking, and once Redis is back the same bot answers.
func TestE2ERedisDownAtIngress(t *testing.T) {
	e := newE2E(t, "e2edown")
	e.worker(t, "w", checkFunc(openCheck))
	e.srv.Stop()
	start := time.Now()
	err := e.bot.Handle(ctxFor(t, 3*time.Second), e.chat, bot.Command{
		ID: "c-down", Channel: wire.Channel{Chat: "shell", ID: "C1"}, User: wire.User{ID: "U1"}, Text: question, At: time.Now(),
	})
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Handle took %v with Redis down, over the chat's 3 s", el)
	}
	t.Logf("Handle with Redis down: err=%v, chat:\n%s", err, strings.Join(e.chat.lines(), "\n"))
	if err == nil && len(e.chat.lines()) == 0 {
		t.Error("Redis down: Handle neither failed nor told the user")
	}

	e.srv.Restart() // no persistence: registry and groups are gone, as after a crash
	if err := open(t, e.srv, e.opts).Register(ctxFor(t, 5*time.Second), rstore.VantageInfo{Name: "office", Worker: "fleet"}); err != nil {
		t.Fatal(err)
	}
	// Same chat: the bot keeps the first Chat it saw for "shell".
	e.ask(t, "c-up", question)
	e.chat.settle(t, "update ok", 500*time.Millisecond)
}
