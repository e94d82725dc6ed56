package admission_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/admission"
	"github.com/portcheck/portcheck/admission/authz"
	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/config"
	"github.com/portcheck/portcheck/store/memory"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

// fakeClock is a settable clock for the rate limits.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func parse(t *testing.T, text string) bot.Request {
	t.Helper()
	req, err := bot.Parse(text, bot.GrammarLimits{MaxPorts: 1024})
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	return req
}

func slackCmd(user string, groups ...string) bot.Command {
	return bot.Command{ID: "c", Channel: wire.Channel{Chat: "slack", Team: "T0ACME", ID: "C0NETOPS"},
		User: wire.User{ID: user, Groups: groups}}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestSecurityGateAuthorization(t *testing.T) {
	cfg := config.Defaults()
	cfg.Authz = authz.Config{
		Teams: []string{"slack:T0ACME", "discord:810000000000000001"}, Channels: []string{"C0NETOPS", "900"},
		Check: []string{"slack:S0NETOPS", "discord:820000000000000001"}, Watch: []string{"S0SRE"},
		FromAll: []string{"S0NETOPS"}, Admins: []string{"U0BOSS"},
	}
	g, err := admission.New(cfg, nil, time.Now, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	discord := func(user string, roles ...string) bot.Command {
		return bot.Command{Channel: wire.Channel{Chat: "discord", Team: "810000000000000001", ID: "900"}, User: wire.User{ID: user, Groups: roles}}
	}
	cases := []struct {
		name string
		cmd  bot.Command
		text string
		want string // "" = allowed
	}{
		{"slack member checks", slackCmd("U1", "S0NETOPS"), "web01:443", ""},
		{"slack non-member", slackCmd("U2", "S0OTHER"), "web01:443", "not authorized: authz.check: you need to be in one of these groups/roles: S0NETOPS, 820000000000000001"},
		{"wrong workspace", bot.Command{Channel: wire.Channel{Chat: "slack", Team: "T0EVIL", ID: "C0NETOPS"}, User: wire.User{ID: "U1", Groups: []string{"S0NETOPS"}}}, "web01:443", "not authorized: authz.teams: workspace/guild T0EVIL is not one the bot serves"},
		{"wrong channel", bot.Command{Channel: wire.Channel{Chat: "slack", Team: "T0ACME", ID: "C0RANDOM"}, User: wire.User{ID: "U1", Groups: []string{"S0NETOPS"}}}, "web01:443", "not authorized: authz.channels: the bot is not enabled in channel C0RANDOM"},
		{"watch needs watch group", slackCmd("U1", "S0NETOPS"), "watch web01:443", "not authorized: authz.watch: you need to be in one of these groups/roles: S0SRE"},
		{"watch allowed", slackCmd("U3", "S0NETOPS", "S0SRE"), "watch web01:443", ""},
		{"from all needs from_all", slackCmd("U4", "S0SRE"), "web01:443 from all", "not authorized: authz.check: you need to be in one of these groups/roles: S0NETOPS, 820000000000000001"},
		{"from all allowed", slackCmd("U5", "S0NETOPS"), "web01:443 from all", ""},
		{"admin passes action gates", slackCmd("U0BOSS"), "watch web01:443 from all", ""},
		{"discord role", discord("1", "820000000000000001"), "web01:443", ""},
		{"discord role of slack id does not count", discord("1", "S0NETOPS"), "web01:443", "not authorized: authz.check: you need to be in one of these groups/roles: S0NETOPS, 820000000000000001"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := parse(t, c.text)
			d := g.Admit(context.Background(), c.cmd, req, req.Ports())
			if d.Allowed != (c.want == "") || d.Why != c.want {
				t.Errorf("Admit = %v %q, want %q", d.Allowed, d.Why, c.want)
			}
			if d.Done != nil {
				d.Done()
			}
		})
	}
}

func TestSecurityGateRateLimits(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)}
	cfg := config.Defaults()
	cfg.Limits.PerUserPerMinute, cfg.Limits.DistinctTargetsPerHour, cfg.Limits.ConcurrentPerUser = 4, 3, 8
	g, err := admission.New(cfg, nil, clock.Now, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	admit := func(user, text string) bot.GateDecision {
		req := parse(t, text)
		d := g.Admit(context.Background(), slackCmd(user), req, req.Ports())
		if d.Done != nil {
			d.Done()
		}
		return d
	}
	steps := []struct {
		advance time.Duration
		user    string
		text    string
		want    string
	}{
		{0, "U1", "web01:22,80", ""},
		{0, "U1", "web01:443,8443", ""},
		{0, "U1", "web01:443", "rate limit per user reached (4 per 1m0s); retry in 15s"},
		{0, "U2", "web01:443", ""}, // another user has their own allowance
		{15 * time.Second, "U1", "web01:443", ""},
		{time.Minute, "U1", "a:1 b:1", ""},
		{0, "U1", "c:1", "distinct-target budget reached (3 distinct targets per 1h0m0s); retry in 59m0s"},
		{0, "U1", "web01:1 a:2", ""}, // known targets are free
		{0, "U1", "e:1 f:1 g:1 h:1", "this command names more distinct targets than the whole budget (3 distinct targets per 1h0m0s)"},
		{time.Hour, "U1", "c:1", ""},
	}
	for i, s := range steps {
		clock.Add(s.advance)
		d := admit(s.user, s.text)
		if d.Allowed != (s.want == "") || d.Why != s.want {
			t.Errorf("step %d (%s %q): Admit = %v %q, want %q", i, s.user, s.text, d.Allowed, d.Why, s.want)
		}
	}
}

func TestSecurityGateConcurrentJobs(t *testing.T) {
	cfg := config.Defaults()
	cfg.Limits.ConcurrentPerUser = 4
	cfg.Limits.PerUserPerMinute, cfg.Limits.PerChannelPerMinute = 1000, 1000 // slots, not rates
	g, err := admission.New(cfg, nil, time.Now, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	req := parse(t, "web01:1-3")
	first := g.Admit(context.Background(), slackCmd("U1"), req, 3)
	if !first.Allowed {
		t.Fatalf("first: %q", first.Why)
	}
	if d := g.Admit(context.Background(), slackCmd("U1"), req, 3); d.Allowed || d.Why != "you already have the most jobs running (4 jobs at once); wait for them to finish" {
		t.Errorf("second while the first runs: %v %q", d.Allowed, d.Why)
	}
	first.Done()
	// A range bigger than the cap runs alone, taking every slot.
	big := parse(t, "web01:1-64")
	d := g.Admit(context.Background(), slackCmd("U1"), big, 64)
	if !d.Allowed {
		t.Fatalf("64 ports against 4 at once: %q", d.Why)
	}
	if d2 := g.Admit(context.Background(), slackCmd("U1"), req, 1); d2.Allowed {
		t.Error("a command ran beside one holding every slot")
	}
	d.Done()
}

func TestSecurityGateRedisDownFailsClosed(t *testing.T) {
	// Nothing listens on port 1 of loopback: every Redis call fails.
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	var logs strings.Builder
	cfg := config.Defaults()
	cfg.Limits.ConcurrentPerUser = 1
	g, err := admission.New(cfg, rdb, time.Now, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	req := parse(t, "web01:443")
	d := g.Admit(context.Background(), slackCmd("U1"), req, 1)
	if d.Allowed || !strings.Contains(d.Why, "rate limiting is unavailable right now") {
		t.Errorf("Admit with Redis down = %v %q, want a fail-closed refusal", d.Allowed, d.Why)
	}
	if !strings.Contains(logs.String(), "rate limiting unavailable") {
		t.Errorf("the refusal was not logged: %s", logs.String())
	}
	// The in-flight slot taken before the limiter failed was given back
	// (the cap is 1, so a leaked slot shows on the next command).
	for i := 0; i < 2; i++ {
		if d := g.Admit(context.Background(), slackCmd("U1"), req, 1); strings.Contains(d.Why, "jobs running") {
			t.Fatal("in-flight slots leaked on a fail-closed refusal")
		}
	}
}

// recChat records what the bot says, for the whole-bot gate test.
type recChat struct {
	mu     sync.Mutex
	n      int
	events []string
}

func (c *recChat) add(s string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, s)
	return nil
}
func (c *recChat) Start(_ context.Context, ch wire.Channel, m bot.Message) (wire.Thread, error) {
	c.mu.Lock()
	c.n++
	id := fmt.Sprint(c.n)
	c.mu.Unlock()
	return wire.Thread{Channel: ch, ID: id}, c.add("start #" + id + ": " + m.Text)
}
func (c *recChat) Reply(_ context.Context, t wire.Thread, m bot.Message) error {
	return c.add("reply #" + t.ID + ": " + m.Text)
}
func (c *recChat) Update(_ context.Context, t wire.Thread, m bot.Message) error {
	return c.add("update #" + t.ID + ": " + m.Text)
}
func (c *recChat) Ephemeral(_ context.Context, _ wire.Channel, u wire.User, m bot.Message) error {
	return c.add("ephemeral " + u.ID + ": " + m.Text)
}
func (c *recChat) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.events, "\n")
}

// The gate in the real bot: denials are ephemeral, cite the rule or limit,
// and land in the audit trail with Why; input limits are enforced before
// anything runs.
func TestBotWithSecurityGate(t *testing.T) {
	cfg := config.Defaults()
	cfg.Authz.Check = []string{"S0NETOPS"}
	cfg.Limits.PerUserPerMinute = 2
	cfg.Limits.MaxCommandLength, cfg.Limits.MaxTargets, cfg.Policy.MaxPorts = 60, 2, 4
	cfg.Policy.Allow = []string{"127.0.0.0/8"}
	clock := &fakeClock{t: time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)}
	gate, err := admission.New(cfg, nil, clock.Now, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	pol, err := admission.TargetPolicy(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	trail := memory.NewAudit()
	q, rs := memory.NewQueue(), memory.NewResults()
	b, err := bot.New(bot.Params{
		Queue: q, Results: rs, Audit: trail, Local: testLocal(t, q, rs, checkerOK{}, pol),
		Policy: admission.Policy{P: pol}, Redact: pol, Gate: gate, ChargeTrace: gate, AuditAccess: gate, Now: clock.Now,
		Limits: bot.Limits{Grammar: bot.GrammarLimits{MaxText: cfg.Limits.MaxCommandLength, MaxTargets: cfg.Limits.MaxTargets, MaxPorts: cfg.Policy.MaxPorts}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	defer func() { cancel(); <-done }()
	chat := &recChat{}
	n := 0
	say := func(user, text string, groups ...string) {
		n++
		cmd := slackCmd(user, groups...)
		cmd.ID, cmd.Text = fmt.Sprintf("c%d", n), text
		if err := b.Handle(context.Background(), chat, cmd); err != nil {
			t.Fatal(err)
		}
		wctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		_ = b.Wait(wctx)
	}
	say("U9", "127.0.0.1:9")
	say("U1", "127.0.0.1:9", "S0NETOPS")
	say("U1", "127.0.0.1:9,10", "S0NETOPS")
	say("U1", "127.0.0.1:1-5", "S0NETOPS")
	say("U1", "a:1 b:1 c:1", "S0NETOPS")
	say("U1", strings.Repeat("x", 61), "S0NETOPS")
	log := chat.log()
	for _, want := range []string{
		"ephemeral U9: not authorized: authz.check: you need to be in one of these groups/roles: S0NETOPS",
		"start #1: checking 127.0.0.1:9 from local…",
		"ephemeral U1: rate limit per user reached (2 per 1m0s); retry in 30s",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("chat lacks %q:\n%s", want, log)
		}
	}
	if strings.Count(log, "start #") != 1 {
		t.Errorf("only one command should have run:\n%s", log)
	}
	// Input limits (command length, targets, ports) refuse before the gate.
	for _, want := range []string{"more than 4 ports", "3 targets in one command; the limit is 2", "61 characters long; the limit is 60"} {
		if !strings.Contains(log, want) {
			t.Errorf("no input-limit refusal mentioning %q:\n%s", want, log)
		}
	}
	recs, _ := trail.Query(context.Background(), audit.Query{Kind: audit.KindCommand})
	var denied []string
	for _, r := range recs {
		if r.Decision == audit.DecisionDenied {
			denied = append(denied, r.Why)
		}
	}
	if len(denied) != 2 || !strings.HasPrefix(denied[0], "not authorized: authz.check") || !strings.HasPrefix(denied[1], "rate limit per user") {
		t.Errorf("denials audited: %q", denied)
	}
}

type checkerOK struct{}

func (checkerOK) Check(_ context.Context, req checks.Request) checks.Report {
	return checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Verdict: checks.VerdictOpen, Reason: checks.ReasonSynAck}
}

// history all: the whole trail for admins, a refusal (audited) for others.
func TestHistoryAllForAdminsOnly(t *testing.T) {
	cfg := config.Defaults()
	cfg.Authz.Admins = []string{"U0BOSS"}
	gate, err := admission.New(cfg, nil, time.Now, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	trail := memory.NewAudit()
	at := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	for _, r := range []audit.Record{
		{At: at, Kind: audit.KindResult, Chat: "slack", Channel: "C0NETOPS", User: "alice", Target: "web01:443", Verdict: "open"},
		{At: at, Kind: audit.KindResult, Chat: "slack", Channel: "C0OTHER", User: "bob", Target: "db1:5432", Verdict: "closed"},
	} {
		if err := trail.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	b, err := bot.New(bot.Params{Queue: memory.NewQueue(), Results: memory.NewResults(), Audit: trail, Gate: gate, AuditAccess: gate})
	if err != nil {
		t.Fatal(err)
	}
	chat := &recChat{}
	for i, user := range []string{"U1", "U0BOSS"} {
		cmd := slackCmd(user)
		cmd.ID, cmd.Text = fmt.Sprint("h", i), "history all"
		if err := b.Handle(context.Background(), chat, cmd); err != nil {
			t.Fatal(err)
		}
	}
	log := chat.log()
	if !strings.Contains(log, "ephemeral U1: not authorized: authz.admins: only admins may query the whole audit trail") ||
		!strings.Contains(log, "ephemeral U0BOSS: Recent checks in every channel") {
		t.Errorf("chat:\n%s", log)
	}
	recs, _ := trail.Query(context.Background(), audit.Query{Kind: audit.KindCommand})
	if len(recs) != 2 || recs[0].Decision != audit.DecisionDenied || !strings.Contains(recs[0].Why, "authz.admins") || recs[1].Decision != audit.DecisionAnswer {
		t.Errorf("audit: %+v", recs)
	}
}

// testLocal is the bot's local worker pool on q and rs, as serve and shell
// build it (vet: the policy's second look at each job's addresses).
func testLocal(t *testing.T, q wire.Queue, rs wire.Results, c worker.Checker, vet worker.AddrChecker) *worker.Worker {
	t.Helper()
	w, err := worker.New(worker.Params{Queue: q, Results: rs, Checker: c, Vet: vet, Concurrency: 1, ProgressAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return w
}
