package admission_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/admission"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/config"
	"github.com/portcheck/portcheck/internal/redistest"
	"github.com/portcheck/portcheck/store/memory"
)

// After a traced job the user has less allowance left than after an open
// one: each trace costs CostTrace-CostConnect (4) more, charged after the
// fact, in memory and in Redis alike. 10 per minute, one port per command.
func TestSecurityGateChargesTraces(t *testing.T) {
	srv := redistest.Start(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	backends := []struct {
		name string
		rdb  goredis.UniversalClient
	}{{"memory", nil}, {"redis", rdb}}
	cases := []struct {
		name   string
		traced int // traced jobs of the first command
		more   int // commands admitted after it
		retry  string
	}{
		{name: "open", traced: 0, more: 9, retry: "retry in 6s"},
		{name: "one trace", traced: 1, more: 5, retry: "retry in 6s"},
		{name: "two traces", traced: 2, more: 1, retry: "retry in 6s"},
		// 1+12 units against 10: in debt, so even the next one waits 24s.
		{name: "three traces", traced: 3, more: 0, retry: "retry in 24s"},
		// Debt stops one allowance below empty: 20 units, a 1m6s wait.
		{name: "debt is capped", traced: 50, more: 0, retry: "retry in 1m6s"},
	}
	for _, be := range backends {
		for _, tc := range cases {
			t.Run(be.name+"/"+tc.name, func(t *testing.T) {
				if err := rdb.FlushAll(context.Background()).Err(); err != nil {
					t.Fatal(err)
				}
				clock := &fakeClock{t: time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)}
				cfg := config.Defaults()
				cfg.Limits.PerUserPerMinute = 10
				g, err := admission.New(cfg, be.rdb, clock.Now, quietLog())
				if err != nil {
					t.Fatal(err)
				}
				req := parse(t, "web01:443")
				admit := func() bot.GateDecision {
					d := g.Admit(context.Background(), slackCmd("U1"), req, 1)
					if d.Done != nil {
						d.Done()
					}
					return d
				}
				if d := admit(); !d.Allowed {
					t.Fatalf("first command refused: %q", d.Why)
				}
				g.ChargeTrace(context.Background(), slackCmd("U1"), tc.traced)
				more := 0
				var last bot.GateDecision
				for ; more < 20; more++ {
					if last = admit(); !last.Allowed {
						break
					}
				}
				if more != tc.more {
					t.Errorf("%d more commands admitted, want %d (refusal %q)", more, tc.more, last.Why)
				}
				// Redis runs GCRA on its own clock: the wait is rounded up
				// to whole seconds, so a few ms of real time do not show.
				if !strings.HasPrefix(last.Why, "rate limit per user reached (10 per 1m0s); "+tc.retry) {
					t.Errorf("refusal %q, want one saying %q", last.Why, tc.retry)
				}
			})
		}
	}
}

// With Redis down the trace goes uncharged: logged, never a panic or a
// refusal of anything (the job is done; Admit fails closed on its own).
func TestSecurityGateTraceChargeRedisDown(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	var logs strings.Builder
	g, err := admission.New(config.Defaults(), rdb, time.Now, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	g.ChargeTrace(context.Background(), slackCmd("U1"), 1)
	if !strings.Contains(logs.String(), "trace not charged to the rate limits") {
		t.Errorf("the uncharged trace was not logged: %s", logs.String())
	}
}

// checkerVerdict answers every check with v; the verdicts that localize a
// problem carry a trace, as the prober's do. No packet is sent.
type checkerVerdict checks.Verdict

func (c checkerVerdict) Check(_ context.Context, req checks.Request) checks.Report {
	r := checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Verdict: checks.Verdict(c), Reason: checks.ReasonSynAck}
	if checks.Verdict(c) != checks.VerdictOpen {
		r.Reason = checks.ReasonNoResponse
		r.Trace = []checks.Hop{{TTL: 1, Address: "127.0.0.1", ICMP: "time-exceeded"}, {TTL: 2}}
	}
	return r
}

// The whole bot with the real gate: after a filtered (traced) check the
// user's next commands are refused sooner, and for longer, than after open
// ones. 6 per minute, so one unit is 10s.
func TestBotChargesTracesAfterTheFact(t *testing.T) {
	for _, tc := range []struct {
		verdict checks.Verdict
		runs    int    // commands that ran before the first refusal
		refusal string // that refusal
	}{
		{checks.VerdictOpen, 6, "rate limit per user reached (6 per 1m0s); retry in 10s"},
		// 1+4 units for the first, 1+4 for the second (the debt stops at
		// one allowance below empty: 12 units), so the third waits 50s.
		{checks.VerdictFilteredAtHost, 2, "rate limit per user reached (6 per 1m0s); retry in 50s"},
	} {
		t.Run(string(tc.verdict), func(t *testing.T) {
			cfg := config.Defaults()
			cfg.Limits.PerUserPerMinute = 6
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
			q, rs := memory.NewQueue(), memory.NewResults()
			b, err := bot.New(bot.Params{
				Queue: q, Results: rs, Audit: memory.NewAudit(), Local: testLocal(t, q, rs, checkerVerdict(tc.verdict), pol),
				Policy: admission.Policy{P: pol}, Redact: pol, Gate: gate, ChargeTrace: gate, AuditAccess: gate, Now: clock.Now,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = b.Run(ctx) }()
			defer func() { cancel(); <-done }()
			chat := &recChat{}
			for i := 1; i <= 8; i++ {
				cmd := slackCmd("U1")
				cmd.ID, cmd.Text = fmt.Sprintf("c%d", i), "127.0.0.1:9"
				if err := b.Handle(context.Background(), chat, cmd); err != nil {
					t.Fatal(err)
				}
				wctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
				err := b.Wait(wctx) // the trace is charged before the run completes
				stop()
				if err != nil {
					t.Fatal(err)
				}
			}
			log := chat.log()
			if got := strings.Count(log, "start #"); got != tc.runs {
				t.Errorf("%d commands ran, want %d:\n%s", got, tc.runs, log)
			}
			first := strings.Index(log, "ephemeral U1: ")
			if first < 0 || !strings.HasPrefix(log[first:], "ephemeral U1: "+tc.refusal) {
				t.Errorf("first refusal is not %q:\n%s", tc.refusal, log)
			}
		})
	}
}
