package bot_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

// fakeMerger records what the bot hands to the agent package.
type fakeMerger struct {
	mu     sync.Mutex
	merged []string // "verdict vantage facts"
}

func (m *fakeMerger) Merge(r checks.Report, facts json.RawMessage) (bot.HostFinding, error) {
	m.mu.Lock()
	m.merged = append(m.merged, string(r.Verdict)+" "+r.Vantage+" "+string(facts))
	m.mu.Unlock()
	return bot.HostFinding{Summary: "merged " + string(facts), Evidence: []string{"fact"},
		Hints: []checks.Hint{{Text: "host hint", Commands: []string{"sudo fix"}}}}, nil
}

func (m *fakeMerger) WithoutAgent(r checks.Report) []string {
	return []string{"what port " + strconv.Itoa(r.Port) + " looks like: `lookie`"}
}

type vantageList []string

func (v vantageList) Vantages(context.Context) ([]string, error) { return v, nil }

// factsAgent is a host agent answering from fixed facts.
type factsAgent string

func (a factsAgent) CheckFacts(_ context.Context, req checks.Request) (checks.Report, json.RawMessage) {
	return checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Verdict: checks.VerdictClosed, Summary: "host view"}, json.RawMessage(a)
}

func TestHostAgentMerged(t *testing.T) {
	m := &fakeMerger{}
	var q wire.Queue
	var res wire.Results
	h := newHarness(t, verdictChecker(checks.VerdictClosed), func(p *bot.Params) {
		p.HostFacts, p.Others = m, vantageList{"host:web01", "office"}
		q, res = p.Queue, p.Results
	})
	w, err := worker.New(worker.Params{Queue: q, Results: res, Facts: factsAgent(`{"host":"web01"}`), Vantage: "host:web01", ProgressAfter: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	h.say(t, "web01:8443", nil)
	h.settle(t)
	expect(t, h.chat.log(),
		"start #1 running: checking web01:8443 from local…",
		"reply #1 problem: web01:8443 from local: closed (nothing listening)",
		"update #1 problem: web01:8443 — closed (nothing listening) · 198.18.3.10 · 12ms",
		"reply #1 problem: web01:8443 on the host, as its agent host:web01 sees it",
	)
	if want := []string{`closed local {"host":"web01"}`}; strings.Join(m.merged, "|") != strings.Join(want, "|") {
		t.Errorf("merged %q, want %q", m.merged, want)
	}
	last := h.chat.msgs[len(h.chat.msgs)-1]
	text := bot.RenderText(last)
	for _, s := range []string{`merged {"host":"web01"}`, "│ fact", "host hint", "│ sudo fix"} {
		if !strings.Contains(text, s) {
			t.Errorf("merged reply lacks %q:\n%s", s, text)
		}
	}
	// The external hint was in the evidence reply; the merged one does
	// not repeat it.
	if strings.Contains(text, "Start the service or fix its listen address.") {
		t.Errorf("merged reply repeats the external hint:\n%s", text)
	}
}

func TestWithoutAgentSaysWhatWasNotSeen(t *testing.T) {
	m := &fakeMerger{}
	h := newHarness(t, verdictChecker(checks.VerdictClosed), func(p *bot.Params) {
		p.HostFacts, p.Others = m, vantageList{"host:web01"}
	})
	h.say(t, "web02:8443,22", nil)
	h.settle(t)
	got := h.chat.log()
	if want := "reply #1 info: no portcheck agent on web02, so the bot could not see this; run on the host:"; got[len(got)-1] != want {
		t.Fatalf("last line %q, want %q\n%s", got[len(got)-1], want, strings.Join(got, "\n"))
	}
	text := bot.RenderText(h.chat.msgs[len(h.chat.msgs)-1])
	for _, s := range []string{"web02:8443: • what port 8443 looks like: `lookie`", "web02:22: • what port 22 looks like: `lookie`"} {
		if !strings.Contains(text, s) {
			t.Errorf("lacks %q:\n%s", s, text)
		}
	}
	if len(m.merged) != 0 {
		t.Errorf("merged without an agent: %q", m.merged)
	}

	// Open ports need no explanation.
	h2 := newHarness(t, verdictChecker(checks.VerdictOpen), func(p *bot.Params) { p.HostFacts = m })
	h2.say(t, "web02:443", nil)
	h2.settle(t)
	if n := len(h2.chat.log()); n != 3 {
		t.Errorf("open port: %d messages, want 3:\n%s", n, strings.Join(h2.chat.log(), "\n"))
	}
}

// `from all` means every external vantage; host agents answer only for
// their own host, beside the external probes.
func TestFromAllSkipsAgents(t *testing.T) {
	h := newHarness(t, verdictChecker(checks.VerdictOpen), func(p *bot.Params) {
		p.HostFacts, p.Others = &fakeMerger{}, vantageList{"host:db1", "host:web01"}
	})
	h.say(t, "web01:443 from all", nil)
	h.chat.waitFor(t, "start #1")
	if got := h.chat.log()[0]; got != "start #1 running: checking web01:443 from local…" {
		t.Errorf("started %q", got)
	}
}

func TestGrammarHostVantage(t *testing.T) {
	r, err := bot.Parse("web01:443 from host:web01,office", bot.GrammarLimits{})
	if err != nil || strings.Join(r.Vantages, ",") != "host:web01,office" {
		t.Errorf("Parse = %+v, %v", r.Vantages, err)
	}
	for _, bad := range []string{"web01:443 from host:", "web01:443 from a:b"} {
		if _, err := bot.Parse(bad, bot.GrammarLimits{}); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// An agent that is registered but does not answer (dead before its
// heartbeat expired) must not hold back the external verdict.
func TestSilentAgentDoesNotHoldTheThread(t *testing.T) {
	m := &fakeMerger{}
	h := newHarness(t, verdictChecker(checks.VerdictClosed), func(p *bot.Params) {
		p.HostFacts, p.Others = m, vantageList{"host:web01"}
		p.Limits.AgentWait = 50 * time.Millisecond
	})
	h.say(t, "web01:8443", nil)
	h.settle(t)
	expect(t, h.chat.log(),
		"start #1 running: checking web01:8443 from local…",
		"reply #1 problem: web01:8443 from local: closed (nothing listening)",
		"update #1 problem: web01:8443 — closed (nothing listening) · 198.18.3.10 · 12ms",
		"reply #1 problem: web01:8443 — the agent host:web01 did not answer",
	)
	text := bot.RenderText(h.chat.msgs[len(h.chat.msgs)-1])
	for _, s := range []string{"no answer within 50ms of the external checks", "Run these on the host", "what port 8443 looks like: `lookie`"} {
		if !strings.Contains(text, s) {
			t.Errorf("lacks %q:\n%s", s, text)
		}
	}
}

// An agent asked by name (from host:web01) answers as a vantage; the thread
// must not then claim there is no agent on web01.
func TestAgentAskedByName(t *testing.T) {
	m := &fakeMerger{}
	var q wire.Queue
	var res wire.Results
	h := newHarness(t, verdictChecker(checks.VerdictClosed), func(p *bot.Params) {
		p.HostFacts, p.Others = m, vantageList{"host:web01"}
		q, res = p.Queue, p.Results
	})
	w, err := worker.New(worker.Params{Queue: q, Results: res, Facts: factsAgent(`{}`), Vantage: "host:web01", ProgressAfter: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	h.say(t, "web01:8443 from host:web01", nil)
	h.settle(t)
	expect(t, h.chat.log(),
		"start #1 running: checking web01:8443 from host:web01…",
		"reply #1 problem: web01:8443 from host:web01: closed (nothing listening)",
		"update #1 problem: web01:8443 — closed (nothing listening) · 0ms",
	)
	if len(m.merged) != 0 {
		t.Errorf("merged %q", m.merged)
	}
}
