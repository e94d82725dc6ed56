package discord

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/testkit"
	"github.com/portcheck/portcheck/store/memory"
	"github.com/portcheck/portcheck/worker"
)

type openChecker struct{}

func (openChecker) Check(_ context.Context, req checks.Request) checks.Report {
	return checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Address: "198.18.3.10",
		Addresses: []string{"198.18.3.10"}, Verdict: checks.VerdictOpen, Reason: checks.ReasonSynAck, ElapsedMS: 3}
}

// botRig is the real bot behind the real adapter and the fake Discord;
// the bot's clock is the test's (its queued posts), the adapter's fixed
// (the interaction token stays valid).
func botRig(t *testing.T, clock *testkit.StepClock, lim bot.Limits) *rig {
	t.Helper()
	api := newFakeDiscord(t)
	q, res := memory.NewQueue(), memory.NewResults()
	w, err := worker.New(worker.Params{Queue: q, Results: res, Checker: openChecker{}, Vantage: "local", Concurrency: 2, ProgressAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	lim.DrainTimeout = time.Second
	b, err := bot.New(bot.Params{Queue: q, Results: res, Audit: memory.NewAudit(), Local: w, Now: clock.Now, After: clock.After, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	fixed := &fakeClock{t: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	a, err := New(Config{AppID: testApp, BotToken: "bot-token-for-tests", APIURL: api.srv.URL + "/api/v9"},
		Options{Handler: b, Client: api.srv.Client(), Now: fixed.Now})
	if err != nil {
		t.Fatal(err)
	}
	b.AddChat("discord", a)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &rig{a: a, api: api, clock: fixed}
}

// followups are the interaction follow-ups posted so far: private (flag
// 64) or public, as JSON.
func (r *rig) followups(private bool) []string {
	var out []string
	for _, c := range r.api.Calls() {
		if c.Method != http.MethodPost || !strings.HasPrefix(c.Path, "/webhooks/"+testApp+"/"+cmdToken) {
			continue
		}
		flags, _ := c.Body["flags"].(float64)
		if (int(flags)&int(discordgo.MessageFlagsEphemeral) != 0) == private {
			b, _ := json.Marshal(c.Body)
			out = append(out, string(b))
		}
	}
	return out
}

func (r *rig) waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Discord never got %s; calls:\n%s", what, strings.Join(r.api.CallLines(), "\n"))
		}
	}
}

// withinLimits checks a follow-up's embed against Discord's limits.
func withinLimits(t *testing.T, body string) {
	t.Helper()
	var m struct {
		Embeds []struct {
			Title       string `json:"title"`
			Description string `json:"description"`
		} `json:"embeds"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Embeds {
		if utf8.RuneCountInString(e.Title) > 256 || utf8.RuneCountInString(e.Description) > 4096 {
			t.Errorf("embed over Discord's limits: title %d, description %d", len(e.Title), len(e.Description))
		}
	}
}

// Issue 17 on Discord: filling the deferred reply keeps failing (5xx), so
// the thread cannot be opened: the user hears through a private
// interaction follow-up that the check waits, and again when portcheck
// gives up that it did not run.
func TestThreadThatCannotOpenIsToldThroughAFollowUp(t *testing.T) {
	clock := testkit.NewStepClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	r := botRig(t, clock, bot.Limits{RetryPostsFor: 10 * time.Minute})
	r.api.fail("webhook-edit", http.StatusInternalServerError, 0) // the deferred reply
	r.api.failPublic("followup", http.StatusInternalServerError)  // and a new public message: the thread cannot open
	r.deliver(t, "interaction_command.json", nil)
	r.waitFor(t, "a private note", func() bool { return len(r.followups(true)) == 1 })
	note := r.followups(true)[0]
	if !strings.Contains(note, "Your check of web01:443 waits: its thread cannot be opened yet") || !strings.Contains(note, "portcheck tries again in 2s, and portcheck keeps trying for 10m.") {
		t.Errorf("note %s", note)
	}
	withinLimits(t, note)
	for d := time.Duration(0); d <= 11*time.Minute; d += 15 * time.Second {
		clock.At(t, d)
	}
	r.waitFor(t, "the note that it gave up", func() bool { return len(r.followups(true)) == 2 })
	gaveUp := r.followups(true)[1]
	if !strings.Contains(gaveUp, "Your check of web01:443 did not run: its thread could not be opened") || !strings.Contains(gaveUp, "portcheck tried for 10m") {
		t.Errorf("note %s", gaveUp)
	}
	withinLimits(t, gaveUp)
}

// Issue 17 on Discord: a 429 with retry_after 120 on the deferred reply is
// honoured: a private note says when the thread opens, nothing is posted
// before, and the parent, the thread and the verdict land after it.
func TestRetryAfter120IsHonouredOnDiscord(t *testing.T) {
	clock := testkit.NewStepClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	r := botRig(t, clock, bot.Limits{})
	r.api.rateLimit("webhook-edit", 120)
	r.deliver(t, "interaction_command.json", nil)
	r.waitFor(t, "a private note", func() bool { return len(r.followups(true)) == 1 })
	if note := r.followups(true)[0]; !strings.Contains(note, "The chat asked portcheck to wait 2m: the thread opens then") {
		t.Errorf("note %s", note)
	}
	before := len(r.api.Calls())
	clock.At(t, 119*time.Second)
	if n := len(r.api.Calls()); n != before {
		t.Fatalf("posted before retry_after ran out:\n%s", strings.Join(r.api.CallLines()[before:], "\n"))
	}
	clock.At(t, 120*time.Second)
	r.waitFor(t, "the verdict", func() bool {
		for _, c := range r.api.Calls() {
			if c.Method == http.MethodPatch && !strings.HasSuffix(c.Path, "@original") && strings.Contains(embedTitle(c), "web01:443") && !strings.Contains(embedTitle(c), "checking") {
				return true
			}
		}
		return false
	})
	if pub := r.followups(false); len(pub) != 1 || !strings.Contains(pub[0], "checking web01:443") {
		t.Errorf("public follow-ups %q, want the parent", pub)
	}
}
