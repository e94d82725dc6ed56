package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/testkit"
)

// lastBlock is the first block's text of the last ephemeral message.
func (c *fakeChat) lastBlock() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.events) - 1; i >= 0; i-- {
		if strings.HasPrefix(c.events[i], "ephemeral") && len(c.msgs[i].Blocks) > 0 {
			return c.msgs[i].Blocks[0].Text
		}
	}
	return ""
}

func withClock(c *testkit.StepClock, lim func(*bot.Limits)) func(*bot.Params) {
	return func(p *bot.Params) {
		p.Now, p.After = c.Now, c.After
		// The clock jumps minutes at a step: no "still listening" edit
		// should land in the middle of the posts these tests pin down.
		p.Limits.StillListening = 24 * time.Hour
		if lim != nil {
			lim(&p.Limits)
		}
	}
}

// A thread parent the chat refuses for now (Retry-After 120 s, beyond
// what an adapter waits in line) is queued: the user hears at once through
// the command's other channel (Ephemeral) that the check waits, nothing is
// posted before Retry-After, and the check runs once the parent lands.
func TestRefusedParentWaitsItsRetryAfter(t *testing.T) {
	clock := testkit.NewStepClock(t0)
	h := newHarness(t, verdictChecker(checks.VerdictOpen), withClock(clock, nil))
	h.chat.refuse, h.chat.after = map[string]int{"start": 1}, 120*time.Second
	h.say(t, "web01:443", nil)
	expect(t, h.chat.log(),
		"start #1 running: checking web01:443 from local… (refused)",
		"ephemeral U1 info: Your check of web01:443 waits: its thread cannot be opened yet",
	)
	if got := h.chat.lastBlock(); got != "The chat asked portcheck to wait 2m: the thread opens then, and portcheck keeps trying for 15m." {
		t.Errorf("note says %q", got)
	}
	clock.At(t, 119*time.Second)
	if n := len(h.chat.log()); n != 2 {
		t.Fatalf("posted before Retry-After:\n%s", strings.Join(h.chat.log(), "\n"))
	}
	clock.At(t, 120*time.Second)
	h.chat.waitFor(t, "update #2")
	h.settle(t)
	expect(t, h.chat.log()[2:],
		"start #2 running: checking web01:443 from local…",
		"reply #2 ok: web01:443 from local: open",
		"update #2 ok: web01:443 — open · 198.18.3.10 · 12ms",
	)
}

// Replies behind a refused one wait in its lane and keep their order: the
// run completes, and its posts follow when the chat takes them again.
func TestQueuedRepliesKeepTheirOrder(t *testing.T) {
	clock := testkit.NewStepClock(t0)
	h := newHarness(t, verdictChecker(checks.VerdictClosed), withClock(clock, nil))
	h.chat.refuse = map[string]int{"reply": 1} // no Retry-After: the bot's own backoff (2 s)
	h.say(t, "web01:22,80", nil)
	h.settle(t)
	before := len(h.chat.log())
	clock.At(t, time.Second)
	if n := len(h.chat.log()); n != before {
		t.Fatalf("posted before the backoff:\n%s", strings.Join(h.chat.log(), "\n"))
	}
	clock.At(t, 2*time.Second)
	h.chat.waitFor(t, "update #1 problem")
	expect(t, h.chat.log(),
		"start #1 running: checking web01:22,80 from local…",
		"reply #1 problem: web01:22 from local: closed (nothing listening) (refused)",
		"reply #1 problem: web01:22 from local: closed (nothing listening)",
		"reply #1 problem: web01:80 from local: closed (nothing listening)",
		"update #1 problem: web01 — closed (nothing listening) 22, 80",
	)
}

// A parent the chat keeps refusing is tried with a growing backoff until
// Limits.RetryPostsFor, then given up on: the user is told through the
// command's other channel that the check did not run, and the audit trail
// has the post_error.
func TestRefusedParentGivenUpTellsTheUser(t *testing.T) {
	clock := testkit.NewStepClock(t0)
	h := newHarness(t, verdictChecker(checks.VerdictOpen), withClock(clock, func(l *bot.Limits) { l.RetryPostsFor = time.Minute }))
	h.chat.refuse = map[string]int{"start": 1000}
	h.say(t, "web01:443", nil)
	for _, at := range []time.Duration{2, 4, 8, 16, 32} { // each wait as long as the post has waited
		clock.At(t, at*time.Second)
	}
	if got := strings.Count(strings.Join(h.chat.log(), "\n"), "(refused)"); got != 6 {
		t.Fatalf("%d tries by 32s, want 6:\n%s", got, strings.Join(h.chat.log(), "\n"))
	}
	clock.At(t, time.Minute) // the last try, at RetryPostsFor
	h.chat.waitFor(t, "did not run")
	log := h.chat.log()
	if last := log[len(log)-1]; last != "ephemeral U1 error: Your check of web01:443 did not run: its thread could not be opened" {
		t.Errorf("last post %q", last)
	}
	if got := h.chat.lastBlock(); got != "portcheck tried for 1m; the chat kept refusing its posts. Try again in a few minutes." {
		t.Errorf("note says %q", got)
	}
	recs, _ := h.audit.Query(context.Background(), audit.Query{Kind: audit.KindPostError})
	if len(recs) != 1 || recs[0].CommandID == "" || !strings.Contains(recs[0].Why, "gave up after 1m0s") {
		t.Errorf("post error audit: %+v", recs)
	}
	clock.At(t, time.Hour)
	if n := len(h.chat.log()); n != len(log) {
		t.Errorf("tried again after giving up:\n%s", strings.Join(h.chat.log(), "\n"))
	}
}

// A reply that fails for good is not silent either: the user is told once
// per thread, however many of its posts fail.
func TestFailedRepliesTellTheUserOnce(t *testing.T) {
	h := newHarness(t, verdictChecker(checks.VerdictOpen), nil)
	h.chat.failOn = "reply"
	h.say(t, "web01:22,443", nil)
	h.settle(t)
	var notes []string
	for _, e := range h.chat.log() {
		if strings.HasPrefix(e, "ephemeral") {
			notes = append(notes, e)
		}
	}
	if len(notes) != 1 || notes[0] != "ephemeral U1 error: portcheck could not post in the thread of your check" {
		t.Errorf("notes %q", notes)
	}
	if got := h.chat.lastBlock(); got != "The chat refused the post. Every result is in `/portcheck history`." {
		t.Errorf("note says %q", got)
	}
}
