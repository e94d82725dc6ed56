package bot_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/store/memory"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

// fakeChat records every call as one line: "verb thread status: text".
type fakeChat struct {
	mu     sync.Mutex
	n      int
	events []string
	msgs   []bot.Message
	failOn string // a verb whose calls fail
	// refuse says "not now" (bot.RetryLater, with after) to the next
	// calls of a verb, as many as its count.
	refuse  map[string]int
	after   time.Duration
	changed chan struct{}
}

func newFakeChat() *fakeChat { return &fakeChat{changed: make(chan struct{}, 1000)} }

func (c *fakeChat) record(s string, m bot.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, s+" "+string(m.Status)+": "+m.Text)
	c.msgs = append(c.msgs, m)
	c.changed <- struct{}{}
	if c.failOn != "" && strings.HasPrefix(s, c.failOn) {
		return fmt.Errorf("fake %s failure", c.failOn)
	}
	for verb, n := range c.refuse {
		if n > 0 && strings.HasPrefix(s, verb) {
			c.refuse[verb] = n - 1
			c.events[len(c.events)-1] += " (refused)"
			return &bot.RetryLater{After: c.after, Err: fmt.Errorf("fake %s refused", verb)}
		}
	}
	return nil
}

func (c *fakeChat) Start(_ context.Context, ch wire.Channel, m bot.Message) (wire.Thread, error) {
	c.mu.Lock()
	c.n++
	id := fmt.Sprint(c.n)
	c.mu.Unlock()
	return wire.Thread{Channel: ch, ID: id}, c.record("start #"+id, m)
}

func (c *fakeChat) Reply(_ context.Context, t wire.Thread, m bot.Message) error {
	return c.record("reply #"+t.ID, m)
}

func (c *fakeChat) Update(_ context.Context, t wire.Thread, m bot.Message) error {
	return c.record("update #"+t.ID, m)
}

func (c *fakeChat) Ephemeral(_ context.Context, ch wire.Channel, u wire.User, m bot.Message) error {
	return c.record("ephemeral "+u.ID, m)
}

func (c *fakeChat) log() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.events...)
}

// waitFor waits until the chat has seen a line containing s.
func (c *fakeChat) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		for _, e := range c.log() {
			if strings.Contains(e, s) {
				return
			}
		}
		select {
		case <-c.changed:
		case <-deadline:
			t.Fatalf("chat never showed %q; got:\n%s", s, strings.Join(c.log(), "\n"))
		}
	}
}

type checkerFunc func(ctx context.Context, req checks.Request) checks.Report

func (f checkerFunc) Check(ctx context.Context, req checks.Request) checks.Report { return f(ctx, req) }

func report(req checks.Request, v checks.Verdict) checks.Report {
	r := checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Address: "198.18.3.10",
		Addresses: []string{"198.18.3.10"}, Verdict: v, ElapsedMS: 12}
	switch v {
	case checks.VerdictOpen:
		r.Reason = checks.ReasonSynAck
	case checks.VerdictClosed:
		r.Reason = checks.ReasonReset
		r.Hints = []checks.Hint{{Text: "Start the service or fix its listen address.", Commands: []string{"ss -ltnp 'sport = :" + fmt.Sprint(req.Port) + "'"}}}
	default:
		r.Reason = checks.ReasonNoResponse
	}
	return r
}

func verdictChecker(v checks.Verdict) worker.Checker {
	return checkerFunc(func(_ context.Context, req checks.Request) checks.Report { return report(req, v) })
}

type harness struct {
	bot   *bot.Bot
	chat  *fakeChat
	audit *memory.Audit
	stop  func()
	done  chan struct{}
}

var t0 = time.Date(2026, 11, 24, 14, 2, 0, 0, time.UTC)

func newHarness(t *testing.T, c worker.Checker, mod func(*bot.Params)) *harness {
	t.Helper()
	return newHarnessW(t, c, nil, mod)
}

// newHarnessW is newHarness with the local worker's params adjusted too
// (wmod, after mod: the worker serves the bot's queue and vantage).
func newHarnessW(t *testing.T, c worker.Checker, wmod func(*worker.Params), mod func(*bot.Params)) *harness {
	t.Helper()
	var ids atomic.Int64
	p := bot.Params{
		Queue: memory.NewQueue(), Results: memory.NewResults(), Audit: memory.NewAudit(),
		Now:    func() time.Time { return t0 },
		NewID:  func() string { return fmt.Sprintf("r%d", ids.Add(1)) },
		Limits: bot.Limits{DrainTimeout: time.Second},
	}
	if mod != nil {
		mod(&p)
	}
	if c != nil {
		wp := worker.Params{Queue: p.Queue, Results: p.Results, Checker: c, Vantage: p.Limits.Vantage,
			Concurrency: 1, ProgressAfter: time.Hour, Now: p.Now}
		if wmod != nil {
			wmod(&wp)
		}
		w, err := worker.New(wp)
		if err != nil {
			t.Fatal(err)
		}
		p.Local = w
	}
	b, err := bot.New(p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{bot: b, chat: newFakeChat(), audit: p.Audit.(*memory.Audit), stop: cancel, done: make(chan struct{})}
	go func() { defer close(h.done); _ = b.Run(ctx) }()
	t.Cleanup(h.shutdown)
	return h
}

func (h *harness) shutdown() {
	h.stop()
	<-h.done
}

var cmdN atomic.Int64

func (h *harness) say(t *testing.T, text string, thread *wire.Thread) {
	t.Helper()
	cmd := bot.Command{
		ID: fmt.Sprintf("cmd%d", cmdN.Add(1)), Channel: wire.Channel{Chat: "fake", ID: "C1"},
		User: wire.User{ID: "U1", Name: "alice"}, Text: text, Thread: thread, At: t0,
	}
	if err := h.bot.Handle(context.Background(), h.chat, cmd); err != nil {
		t.Fatalf("Handle(%q): %v", text, err)
	}
}

func (h *harness) settle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.bot.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v\n%s", err, strings.Join(h.chat.log(), "\n"))
	}
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("chat saw:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheckOpen(t *testing.T) {
	h := newHarness(t, verdictChecker(checks.VerdictOpen), nil)
	h.say(t, "/portcheck web01:443", nil)
	h.settle(t)
	expect(t, h.chat.log(),
		"start #1 running: checking web01:443 from local…",
		"reply #1 ok: web01:443 from local: open",
		"update #1 ok: web01:443 — open · 198.18.3.10 · 12ms",
	)
	recs, _ := h.audit.Query(context.Background(), audit.Query{})
	if len(recs) != 3 || recs[0].Kind != "command" || recs[0].Decision != "queued" || recs[0].Targets[0] != "web01:443" ||
		recs[0].User != "alice (U1)" || recs[1].Kind != "thread" || recs[1].Thread != "1" || recs[1].CommandID != recs[0].CommandID ||
		recs[2].Kind != "result" || recs[2].Verdict != "open" || recs[2].Target != "web01:443" || recs[2].Thread != "1" {
		t.Errorf("audit trail: %+v", recs)
	}
}

func TestAuditBeforeAnythingRuns(t *testing.T) {
	var h *harness
	checked := make(chan []audit.Record, 1)
	h = newHarness(t, checkerFunc(func(ctx context.Context, req checks.Request) checks.Report {
		recs, _ := h.audit.Query(ctx, audit.Query{})
		checked <- recs
		return report(req, checks.VerdictOpen)
	}), nil)
	h.say(t, "web01:443", nil)
	h.settle(t)
	recs := <-checked
	if len(recs) == 0 || recs[0].Kind != audit.KindCommand {
		t.Errorf("when the probe ran the audit held %+v, want the command record first", recs)
	}
	for _, r := range recs {
		if r.Kind == audit.KindResult {
			t.Errorf("a result was recorded before the probe ran: %+v", r)
		}
	}
}

func TestBadInputIsCorrectedPrivately(t *testing.T) {
	h := newHarness(t, verdictChecker(checks.VerdictOpen), nil)
	h.say(t, "web01", nil)
	h.say(t, "watch web01:443 every 1s", nil)
	h.settle(t)
	expect(t, h.chat.log(),
		"ephemeral U1 info: web01: missing port (e.g. web01:443, web01:ssh or https://web01/)",
		"ephemeral U1 info: every 1s is too often; the shortest interval is 10s",
	)
	if m := h.chat.msgs[0]; len(m.Blocks) != 1 || m.Blocks[0].Text != "/portcheck web01:443" {
		t.Errorf("correction has no example: %+v", m)
	}
	recs, _ := h.audit.Query(context.Background(), audit.Query{})
	if len(recs) != 2 || recs[0].Decision != audit.DecisionInvalid || recs[0].Text != "web01" {
		t.Errorf("invalid commands not audited: %+v", recs)
	}
}

func TestDuplicateCommandIDRunsOnce(t *testing.T) {
	h := newHarness(t, verdictChecker(checks.VerdictOpen), nil)
	cmd := bot.Command{ID: "retry-me", Channel: wire.Channel{Chat: "fake", ID: "C1"}, User: wire.User{ID: "U1"}, Text: "web01:443"}
	for i := 0; i < 3; i++ {
		if err := h.bot.Handle(context.Background(), h.chat, cmd); err != nil {
			t.Fatal(err)
		}
	}
	h.settle(t)
	expect(t, h.chat.log(),
		"start #1 running: checking web01:443 from local…",
		"reply #1 ok: web01:443 from local: open",
		"update #1 ok: web01:443 — open · 198.18.3.10 · 12ms",
	)
}

// dupResults publishes every result twice, like a redelivery after a crash
// between posting and acking.
type dupResults struct{ wire.Results }

func (d dupResults) Publish(ctx context.Context, r wire.Result) error {
	if err := d.Results.Publish(ctx, r); err != nil {
		return err
	}
	return d.Results.Publish(ctx, r)
}

func TestDuplicateResultPostedOnce(t *testing.T) {
	h := newHarness(t, verdictChecker(checks.VerdictClosed), func(p *bot.Params) {
		p.Results = dupResults{memory.NewResults()}
	})
	h.say(t, "web01:22", nil)
	h.settle(t)
	time.Sleep(50 * time.Millisecond) // let the duplicate arrive
	expect(t, h.chat.log(),
		"start #1 running: checking web01:22 from local…",
		"reply #1 problem: web01:22 from local: closed (nothing listening)",
		"update #1 problem: web01:22 — closed (nothing listening) · 198.18.3.10 · 12ms",
	)
}

func TestProbePanicIsReportedInThread(t *testing.T) {
	h := newHarness(t, checkerFunc(func(context.Context, checks.Request) checks.Report { panic("boom") }), nil)
	h.say(t, "web01:443", nil)
	h.settle(t)
	expect(t, h.chat.log(),
		"start #1 running: checking web01:443 from local…",
		"reply #1 error: web01:443 from local: the check failed",
		"update #1 error: web01:443 — check failed: the check crashed (boom); this is a portcheck bug, the log has the stack",
	)
	// And the bot keeps working.
	h.say(t, "web01:80", nil)
	h.settle(t)
	if n := len(h.chat.log()); n != 6 {
		t.Errorf("after a panic the next check posted %d lines in all, want 6", n)
	}
}

func TestDeadline(t *testing.T) {
	h := newHarness(t, checkerFunc(func(ctx context.Context, req checks.Request) checks.Report {
		<-ctx.Done() // a DROP: nothing answers before the deadline
		return checks.Report{Target: req.Target}
	}), func(p *bot.Params) { p.Limits.JobTimeout = 50 * time.Millisecond })
	h.say(t, "web01:443", nil)
	h.settle(t)
	expect(t, h.chat.log(),
		"start #1 running: checking web01:443 from local…",
		"reply #1 error: web01:443 from local: the check failed",
		"update #1 error: web01:443 — check failed: timed out after 50ms",
	)
}

func TestShutdownMidJob(t *testing.T) {
	started := make(chan struct{})
	h := newHarness(t, checkerFunc(func(ctx context.Context, req checks.Request) checks.Report {
		close(started)
		<-ctx.Done()
		return checks.Report{Target: req.Target}
	}), nil)
	h.say(t, "web01:443", nil)
	<-started
	h.shutdown()
	expect(t, h.chat.log(),
		"start #1 running: checking web01:443 from local…",
		"reply #1 error: web01:443 from local: the check failed",
		"update #1 error: web01:443 — check failed: interrupted: portcheck is shutting down",
	)
}

func TestShutdownWithQueuedJobs(t *testing.T) {
	// No local worker: the job stays queued until shutdown.
	h := newHarness(t, nil, nil)
	h.say(t, "web01:443", nil)
	h.shutdown()
	expect(t, h.chat.log(),
		"start #1 running: checking web01:443 from local…",
		"reply #1 error: web01:443 from local: the check failed",
		"update #1 error: web01:443 — check failed: interrupted: portcheck stopped before this check ran",
	)
}

func TestSeveralPortsOneReplyEach(t *testing.T) {
	h := newHarness(t, checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
		if req.Port == 443 {
			return report(req, checks.VerdictOpen)
		}
		return report(req, checks.VerdictClosed)
	}), nil)
	h.say(t, "web01:22,80,443", nil)
	h.settle(t)
	expect(t, h.chat.log(),
		"start #1 running: checking web01:22,80,443 from local…",
		"reply #1 problem: web01:22 from local: closed (nothing listening)",
		"reply #1 problem: web01:80 from local: closed (nothing listening)",
		"reply #1 ok: web01:443 from local: open",
		"update #1 problem: web01 — open 443 · closed (nothing listening) 22, 80",
	)
}

func TestPortRangeIsGrouped(t *testing.T) {
	h := newHarnessW(t, checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
		if req.Port == 22 || req.Port == 80 {
			return report(req, checks.VerdictOpen)
		}
		return report(req, checks.VerdictClosed)
	}), func(p *worker.Params) { p.Concurrency = 4 }, nil)
	h.say(t, "web01:1-1024", nil)
	h.settle(t)
	got := h.chat.log()
	expect(t, got,
		"start #1 running: checking web01:1-1024 from local…",
		"update #1 running: checking web01:1-1024 from local… 256/1024 done",
		"update #1 running: checking web01:1-1024 from local… 512/1024 done",
		"update #1 running: checking web01:1-1024 from local… 768/1024 done",
		"update #1 problem: web01 — open 22, 80 · closed (nothing listening) 1-21, 23-79, 81-1024",
		"reply #1 problem: 1024 ports checked from local",
	)
	grouped := h.chat.msgs[len(h.chat.msgs)-1]
	if len(grouped.Blocks) < 3 || !strings.Contains(grouped.Blocks[2].Text, "ss -ltnp") {
		t.Errorf("grouped reply lacks the closed ports' hint: %+v", grouped.Blocks)
	}
}

func TestAgainSaysWhatChanged(t *testing.T) {
	var calls atomic.Int64
	h := newHarness(t, checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
		if calls.Add(1) == 1 {
			return report(req, checks.VerdictFilteredAtHost)
		}
		return report(req, checks.VerdictOpen)
	}), nil)
	h.say(t, "web01:443", nil)
	h.settle(t)
	th := &wire.Thread{Channel: wire.Channel{Chat: "fake", ID: "C1"}, ID: "1"}
	h.say(t, "again", th)
	h.settle(t)
	h.say(t, "again", th)
	h.settle(t)
	expect(t, h.chat.log(),
		"start #1 running: checking web01:443 from local…",
		"reply #1 problem: web01:443 from local: filtered at host (firewall DROP)",
		"update #1 problem: web01:443 — filtered at host (firewall DROP) · 198.18.3.10 · 12ms",
		"reply #1 running: re-checking, asked by alice…",
		"update #1 running: checking web01:443 from local…",
		"reply #1 ok: web01:443 from local: open",
		"update #1 ok: web01:443 — open · 198.18.3.10 · 12ms",
		"reply #1 ok: web01:443 now open — first seen 14:02",
		"reply #1 running: re-checking, asked by alice…",
		"update #1 running: checking web01:443 from local…",
		"reply #1 ok: web01:443 from local: open",
		"update #1 ok: web01:443 — open · 198.18.3.10 · 12ms",
		"reply #1 info: no change since 14:02: web01:443 still open",
	)
}

func TestAgainOutsideAThread(t *testing.T) {
	h := newHarness(t, verdictChecker(checks.VerdictOpen), nil)
	h.say(t, "again", nil)
	h.say(t, "again", &wire.Thread{Channel: wire.Channel{Chat: "fake", ID: "C1"}, ID: "404"})
	h.settle(t)
	expect(t, h.chat.log(),
		"ephemeral U1 info: again re-runs a check: type it in the check's thread (or press its Re-check button)",
		"ephemeral U1 info: I don't remember the check in this thread (portcheck may have restarted): type the target again",
	)
}

func watchParams(p *bot.Params) {
	p.Limits.Grammar.MinEvery = time.Millisecond
	p.After = func(time.Duration) <-chan time.Time { return time.After(5 * time.Millisecond) }
}

func TestWatchUntilChange(t *testing.T) {
	var calls atomic.Int64
	h := newHarness(t, checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
		if calls.Add(1) <= 3 {
			return report(req, checks.VerdictFilteredAtHost)
		}
		return report(req, checks.VerdictOpen)
	}), watchParams)
	h.say(t, "watch web01:443 every 30s for 1h", nil)
	h.settle(t)
	expect(t, h.chat.log(),
		"start #1 running: watching web01:443 from local every 30s until 15:02…",
		"reply #1 problem: web01:443 from local: filtered at host (firewall DROP)",
		"update #1 problem: web01:443 — filtered at host (firewall DROP) · 198.18.3.10 · 12ms · watching every 30s until 15:02",
		"reply #1 ok: web01:443 now open — first seen 14:02",
		"reply #1 ok: web01:443 from local: open",
		"update #1 ok: web01:443 — open · 198.18.3.10 · 12ms · watch ended: changed at 14:02",
	)
	if calls.Load() != 4 {
		t.Errorf("checked %d times, want 4", calls.Load())
	}
}

func TestWatchStopAndLimit(t *testing.T) {
	h := newHarness(t, verdictChecker(checks.VerdictFilteredAtHost), func(p *bot.Params) {
		watchParams(p)
		p.Limits.WatchesPerChannel = 1
	})
	h.say(t, "watch web01:443", nil)
	h.chat.waitFor(t, "watching every")
	h.say(t, "watch db1:5432", nil)
	h.say(t, "stop", &wire.Thread{Channel: wire.Channel{Chat: "fake", ID: "C1"}, ID: "1"})
	h.settle(t)
	h.say(t, "stop", nil)
	expect(t, h.chat.log(),
		"start #1 running: watching web01:443 from local every 30s until 15:02…",
		"reply #1 problem: web01:443 from local: filtered at host (firewall DROP)",
		"update #1 problem: web01:443 — filtered at host (firewall DROP) · 198.18.3.10 · 12ms · watching every 30s until 15:02",
		"ephemeral U1 info: this channel already has 1 watch running (the limit); type `/portcheck stop` in a watch's thread to end one",
		"update #1 problem: web01:443 — filtered at host (firewall DROP) · 198.18.3.10 · 12ms · watch ended: stopped by alice",
		"reply #1 info: watch ended: stopped by alice — still filtered at host (firewall DROP)",
		"ephemeral U1 info: no watch is running here",
	)
}

func TestWatchTimeUp(t *testing.T) {
	now := t0
	var mu sync.Mutex
	h := newHarness(t, verdictChecker(checks.VerdictClosed), func(p *bot.Params) {
		watchParams(p)
		p.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(20 * time.Minute); return now }
	})
	h.say(t, "watch web01:22 every 10m for 30m", nil)
	h.settle(t)
	got := h.chat.log()
	if last := got[len(got)-1]; last != "reply #1 info: watch ended: time is up — still closed (nothing listening)" {
		t.Errorf("last post %q; all:\n%s", last, strings.Join(got, "\n"))
	}
}

func TestHistoryVantagesHelp(t *testing.T) {
	h := newHarness(t, verdictChecker(checks.VerdictOpen), nil)
	h.say(t, "web01:443", nil)
	h.settle(t)
	h.say(t, "history web01", nil)
	h.say(t, "vantages", nil)
	h.say(t, "web01:443 from office", nil)
	h.say(t, "web01:443 from all", nil)
	h.say(t, "help", nil)
	h.settle(t)
	got := h.chat.log()
	expect(t, got[3:7],
		"ephemeral U1 info: Recent checks in this channel for web01",
		"ephemeral U1 info: only the local vantage is available: local",
		"ephemeral U1 info: no worker serves office: only the local vantage is available (local)",
		"start #2 running: checking web01:443 from local…",
	)
	if hist := h.chat.msgs[3]; !strings.Contains(hist.Blocks[0].Text, "11-24 14:02  alice (U1)   web01:443                open") {
		t.Errorf("history block: %q", hist.Blocks[0].Text)
	}
	if !strings.Contains(strings.Join(got, "\n"), "ephemeral U1 info: portcheck answers “why can't I reach this port?”") {
		t.Errorf("no help in %q", got)
	}
}

type denyPolicy struct{}

func (denyPolicy) Decide(_ context.Context, _ bot.Command, t checks.Target) bot.PolicyDecision {
	return bot.PolicyDecision{Rule: "deny 169.254.0.0/16", Reason: "link-local addresses are off limits"}
}

func TestPolicyDenial(t *testing.T) {
	h := newHarness(t, verdictChecker(checks.VerdictOpen), func(p *bot.Params) { p.Policy = denyPolicy{} })
	h.say(t, "169.254.169.254:80", nil)
	h.settle(t)
	expect(t, h.chat.log(),
		"ephemeral U1 info: not allowed to check 169.254.169.254:80: link-local addresses are off limits (rule: deny 169.254.0.0/16)")
	recs, _ := h.audit.Query(context.Background(), audit.Query{})
	if len(recs) != 1 || recs[0].Decision != audit.DecisionDenied || !strings.Contains(recs[0].Why, "deny 169.254.0.0/16") {
		t.Errorf("denial audit: %+v", recs)
	}
}

func TestPostFailureIsAudited(t *testing.T) {
	h := newHarness(t, verdictChecker(checks.VerdictOpen), nil)
	h.chat.failOn = "update"
	h.say(t, "web01:443", nil)
	h.settle(t)
	recs, _ := h.audit.Query(context.Background(), audit.Query{Kind: audit.KindPostError})
	if len(recs) != 1 || !strings.Contains(recs[0].Why, "fake update failure") || recs[0].JobID != "r1.1" {
		t.Errorf("post error audit: %+v", recs)
	}
}

func TestResultFromAnotherProcessUsesAddChat(t *testing.T) {
	results := memory.NewResults()
	h := newHarness(t, nil, func(p *bot.Params) { p.Results = results })
	other := newFakeChat()
	h.bot.AddChat("slack", other)
	j := wire.Job{ID: "x.1", CommandID: "x", Host: "web01", Port: 443, Vantage: "office",
		Thread: wire.Thread{Channel: wire.Channel{Chat: "slack", ID: "C9"}, ID: "171.1"}}
	_ = results.Publish(context.Background(), wire.Result{Job: j, Report: report(checks.Request{Host: "web01", Port: 443}, checks.VerdictOpen)})
	other.waitFor(t, "update #171.1")
	expect(t, other.log(),
		"reply #171.1 ok: web01:443 from office: open",
		"update #171.1 ok: web01:443 — open · 198.18.3.10 · 12ms",
	)
}

func TestProgressLine(t *testing.T) {
	release := make(chan struct{})
	h := newHarnessW(t, checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
		<-release
		return report(req, checks.VerdictOpen)
	}), func(p *worker.Params) { p.ProgressAfter = 20 * time.Millisecond }, nil)
	h.say(t, "web01:443", nil)
	h.chat.waitFor(t, "still checking")
	close(release)
	h.settle(t)
	expect(t, h.chat.log(),
		"start #1 running: checking web01:443 from local…",
		"reply #1 running: still checking web01:443 from local (20ms so far: waiting for answers, tracing the path)…",
		"reply #1 ok: web01:443 from local: open",
		"update #1 ok: web01:443 — open · 198.18.3.10 · 12ms",
	)
}

type countingGate struct {
	allow         bool
	admits, dones atomic.Int64
	jobs          atomic.Int64
}

func (g *countingGate) Admit(_ context.Context, _ bot.Command, _ bot.Request, jobs int) bot.GateDecision {
	g.admits.Add(1)
	g.jobs.Store(int64(jobs))
	if !g.allow {
		return bot.GateDecision{Why: "rate limit: 20 per 1m0s for you", RetryAfter: 42 * time.Second}
	}
	return bot.GateDecision{Allowed: true, Done: func() { g.dones.Add(1) }}
}

func TestGate(t *testing.T) {
	g := &countingGate{}
	h := newHarness(t, verdictChecker(checks.VerdictOpen), func(p *bot.Params) { p.Gate = g })
	h.say(t, "web01:22,80", nil)
	h.settle(t)
	expect(t, h.chat.log(), "ephemeral U1 info: rate limit: 20 per 1m0s for you — try again in 42s")
	if g.jobs.Load() != 2 {
		t.Errorf("gate saw %d jobs, want 2", g.jobs.Load())
	}
	g.allow = true
	h.say(t, "web01:22", nil)
	h.settle(t)
	h.say(t, "again", &wire.Thread{Channel: wire.Channel{Chat: "fake", ID: "C1"}, ID: "1"})
	h.settle(t)
	if g.admits.Load() != 3 || g.dones.Load() != 2 {
		t.Errorf("admits %d dones %d, want 3 and 2", g.admits.Load(), g.dones.Load())
	}
	recs, _ := h.audit.Query(context.Background(), audit.Query{Kind: audit.KindCommand, Limit: 3})
	if recs[0].Decision != audit.DecisionDenied || !strings.Contains(recs[0].Why, "rate limit") {
		t.Errorf("gate denial audit: %+v", recs[0])
	}
}

// silentGate refuses without saying why.
type silentGate struct{ allow atomic.Bool }

func (g *silentGate) Admit(context.Context, bot.Command, bot.Request, int) bot.GateDecision {
	return bot.GateDecision{Allowed: g.allow.Load()}
}

// A check and an again are admitted the same way: a refusal without a
// reason still says "not allowed" on both.
func TestGateRefusalReadsTheSameForCheckAndAgain(t *testing.T) {
	g := &silentGate{}
	h := newHarness(t, verdictChecker(checks.VerdictOpen), func(p *bot.Params) { p.Gate = g })
	h.say(t, "web01:22", nil)
	h.settle(t)
	g.allow.Store(true)
	h.say(t, "web01:22", nil)
	h.settle(t)
	g.allow.Store(false)
	h.say(t, "again", &wire.Thread{Channel: wire.Channel{Chat: "fake", ID: "C1"}, ID: "1"})
	h.settle(t)
	log := h.chat.log()
	if log[0] != "ephemeral U1 info: not allowed" || log[len(log)-1] != "ephemeral U1 info: not allowed" {
		t.Errorf("refusals:\n%s", strings.Join(log, "\n"))
	}
}

func TestForgottenThreadIsRecoveredFromTheAudit(t *testing.T) {
	var calls atomic.Int64
	checker := checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
		if calls.Add(1) == 1 {
			return report(req, checks.VerdictFilteredAtHost)
		}
		return report(req, checks.VerdictOpen)
	})
	trail := memory.NewAudit()
	first := newHarness(t, checker, func(p *bot.Params) { p.Audit = trail })
	first.say(t, "web01:443", nil)
	first.settle(t)
	first.shutdown()

	// A new process (a restart, or another bot behind the same chat) gets
	// the Re-check button press for a thread it never saw.
	second := newHarness(t, checker, func(p *bot.Params) { p.Audit = trail })
	second.say(t, "again", &wire.Thread{Channel: wire.Channel{Chat: "fake", ID: "C1"}, ID: "1"})
	second.settle(t)
	expect(t, second.chat.log(),
		"reply #1 running: re-checking, asked by alice…",
		"update #1 running: checking web01:443 from local…",
		"reply #1 ok: web01:443 from local: open",
		"update #1 ok: web01:443 — open · 198.18.3.10 · 12ms",
		"reply #1 ok: web01:443 now open — first seen 14:02",
	)
}

func TestOldThreadsAreForgotten(t *testing.T) {
	// Room for 2 (swept past 2+2/4): after 3 threads the first is forgotten
	// in memory, and found again in the audit trail.
	h := newHarness(t, verdictChecker(checks.VerdictOpen), func(p *bot.Params) { p.Limits.Threads = 2 })
	for i := 0; i < 3; i++ {
		h.say(t, "web01:443", nil)
		h.settle(t)
	}
	h.say(t, "again", &wire.Thread{Channel: wire.Channel{Chat: "fake", ID: "C1"}, ID: "1"})
	h.settle(t)
	got := h.chat.log()
	if got[len(got)-1] != "reply #1 info: no change since 14:02: web01:443 still open" {
		t.Errorf("after 3 threads with room for 2:\n%s", strings.Join(got, "\n"))
	}
}

type downClaims struct{}

func (downClaims) Claim(context.Context, string, time.Duration) (bool, error) {
	return false, fmt.Errorf("dial tcp 127.0.0.1:6379: connection refused")
}

type downQueue struct{ wire.Queue }

func (downQueue) Enqueue(context.Context, wire.Job) error {
	return fmt.Errorf("dial tcp 127.0.0.1:6379: connection refused")
}

func TestStoreDownAtIngress(t *testing.T) {
	h := newHarness(t, verdictChecker(checks.VerdictOpen), func(p *bot.Params) { p.Claims = downClaims{} })
	h.say(t, "web01:443", nil)
	h.settle(t)
	expect(t, h.chat.log(),
		"ephemeral U1 error: portcheck cannot reach its job queue right now; nothing was started — try again in a minute")
	recs, _ := h.audit.Query(context.Background(), audit.Query{})
	if len(recs) != 1 || recs[0].Decision != audit.DecisionDenied || !strings.Contains(recs[0].Why, "connection refused") {
		t.Errorf("audit: %+v", recs)
	}

	q := newHarness(t, verdictChecker(checks.VerdictOpen), func(p *bot.Params) { p.Queue = downQueue{memory.NewQueue()} })
	cmd := bot.Command{ID: "down", Channel: wire.Channel{Chat: "fake", ID: "C1"}, User: wire.User{ID: "U1"}, Text: "web01:443"}
	if err := q.bot.Handle(context.Background(), q.chat, cmd); err == nil {
		t.Error("Handle hid the enqueue failure from the adapter")
	}
	q.settle(t)
	expect(t, q.chat.log(),
		"start #1 running: checking web01:443 from local…",
		"reply #1 error: web01:443 from local: the check failed",
		"update #1 error: web01:443 — check failed: the job queue is unavailable, try again in a minute (nothing ran): dial tcp 127.0.0.1:6379: connection refused",
	)
}

func TestWatchEndsAtShutdown(t *testing.T) {
	var calls atomic.Int64
	started := make(chan struct{}, 10)
	h := newHarness(t, checkerFunc(func(ctx context.Context, req checks.Request) checks.Report {
		if calls.Add(1) == 1 {
			return report(req, checks.VerdictFilteredAtHost)
		}
		started <- struct{}{}
		<-ctx.Done()
		return checks.Report{}
	}), watchParams)
	h.say(t, "watch web01:443", nil)
	<-started // the second round is in flight
	h.shutdown()
	got := h.chat.log()
	want := []string{
		"start #1 running: watching web01:443 from local every 30s until 15:02…",
		"reply #1 problem: web01:443 from local: filtered at host (firewall DROP)",
		"update #1 problem: web01:443 — filtered at host (firewall DROP) · 198.18.3.10 · 12ms · watching every 30s until 15:02",
		"update #1 problem: web01:443 — filtered at host (firewall DROP) · 198.18.3.10 · 12ms · watch ended: portcheck is shutting down",
		"reply #1 info: watch ended: portcheck is shutting down — still filtered at host (firewall DROP)",
	}
	expect(t, got, want...)
}

// A check still silent after Limits.StillListening says so on its parent,
// then gets its verdict as usual.
func TestStillListening(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
		<-release
		return report(req, checks.VerdictFilteredAtHost)
	}), func(p *bot.Params) { p.Limits.StillListening = 10 * time.Millisecond })
	h.say(t, "web01:443", nil)
	deadline := time.Now().Add(5 * time.Second)
	for !slices.ContainsFunc(h.chat.log(), func(l string) bool { return strings.Contains(l, "still listening") }) {
		if time.Now().After(deadline) {
			t.Fatalf("no still-listening update: %q", h.chat.log())
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	h.settle(t)
	expect(t, h.chat.log(),
		"start #1 running: checking web01:443 from local…",
		"update #1 running: checking web01:443 from local… no answer yet, still listening (a silent port gets a few seconds: a rate-limited router answers the SYN's retransmission, a gateway's late ICMP comes after ~3 s)",
		"reply #1 problem: web01:443 from local: filtered at host (firewall DROP)",
		"update #1 problem: web01:443 — filtered at host (firewall DROP) · 198.18.3.10 · 12ms",
	)
}
