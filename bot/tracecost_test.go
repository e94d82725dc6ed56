package bot_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/store/memory"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

// chargingGate admits everything and records every ChargeTrace.
type chargingGate struct {
	mu      sync.Mutex
	charges []traceCharge
}

type traceCharge struct {
	chat, channel, user string
	traced              int
}

func (g *chargingGate) Admit(context.Context, bot.Command, bot.Request, int) bot.GateDecision {
	return bot.GateDecision{Allowed: true}
}

func (g *chargingGate) ChargeTrace(_ context.Context, cmd bot.Command, traced int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.charges = append(g.charges, traceCharge{cmd.Channel.Chat, cmd.Channel.ID, cmd.User.ID, traced})
}

func (g *chargingGate) total() (n int, all []traceCharge) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.charges {
		n += c.traced
	}
	return n, append([]traceCharge(nil), g.charges...)
}

var _ bot.TraceCharger = (*chargingGate)(nil)

// tracingChecker answers like the prober: open needs no trace; the other
// verdicts carry the path trace it ran (or only a control trace).
func tracingChecker(v checks.Verdict, controlOnly bool) worker.Checker {
	return checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
		r := report(req, v)
		if v == checks.VerdictOpen || v == checks.VerdictClosed {
			return r
		}
		if controlOnly {
			r.ControlTrace = &checks.Trace{Proto: "icmp", Reached: true}
			return r
		}
		r.Trace = []checks.Hop{{TTL: 1, Address: "198.18.0.1", ICMP: "time-exceeded"}, {TTL: 2}}
		return r
	})
}

func TestTraceChargedAfterTheFact(t *testing.T) {
	thread1 := &wire.Thread{Channel: wire.Channel{Chat: "fake", ID: "C1"}, ID: "1"}
	for _, tc := range []struct {
		name        string
		verdict     checks.Verdict
		controlOnly bool
		dup         bool // every result delivered twice
		say         []string
		want        int // trace charges in all
	}{
		{name: "open is not charged", verdict: checks.VerdictOpen, say: []string{"web01:443"}, want: 0},
		{name: "closed is not charged", verdict: checks.VerdictClosed, say: []string{"web01:22"}, want: 0},
		{name: "filtered with a trace", verdict: checks.VerdictFilteredAtHost, say: []string{"web01:443"}, want: 1},
		{name: "a control trace alone counts", verdict: checks.VerdictFilteredAtHost, controlOnly: true, say: []string{"web01:443"}, want: 1},
		{name: "once per traced job", verdict: checks.VerdictFilteredAtHost, say: []string{"web01:22,80,443"}, want: 3},
		// Three jobs, so the duplicates of the first ones arrive while the
		// run is still open (the last one's arrives after, as an orphan).
		{name: "a duplicate result is not charged twice", verdict: checks.VerdictFilteredAtHost, dup: true, say: []string{"web01:22,80,443"}, want: 3},
		{name: "again traces and is charged again", verdict: checks.VerdictFilteredAtHost, say: []string{"web01:443", "again"}, want: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &chargingGate{}
			h := newHarness(t, tracingChecker(tc.verdict, tc.controlOnly), func(p *bot.Params) {
				p.Gate, p.ChargeTrace = g, g
				if tc.dup {
					p.Results = dupResults{memory.NewResults()}
				}
			})
			for i, text := range tc.say {
				var th *wire.Thread
				if i > 0 {
					th = thread1
				}
				h.say(t, text, th)
				h.settle(t) // Wait covers the charge: it is made before the run completes
			}
			if tc.dup {
				time.Sleep(50 * time.Millisecond) // let the duplicate arrive, as TestDuplicateResultPostedOnce
			}
			n, all := g.total()
			if n != tc.want {
				t.Fatalf("charged %d traces (%+v), want %d", n, all, tc.want)
			}
			for _, c := range all {
				if c != (traceCharge{"fake", "C1", "U1", 1}) {
					t.Errorf("charge %+v, want one trace to fake/C1/U1", c)
				}
			}
		})
	}
}

// Without Params.ChargeTrace traces are simply not charged.
func TestTraceChargeIsOptional(t *testing.T) {
	g := &countingGate{allow: true}
	h := newHarness(t, tracingChecker(checks.VerdictFilteredAtHost, false), func(p *bot.Params) { p.Gate = g })
	h.say(t, "web01:443", nil)
	h.settle(t)
	if g.admits.Load() != 1 {
		t.Fatalf("admits %d, want 1", g.admits.Load())
	}
}
