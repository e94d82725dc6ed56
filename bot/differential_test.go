package bot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

// seen builds one vantage's result for web01:443.
func seen(vantage string, v checks.Verdict, opts ...func(*wire.Result)) wire.Result {
	r := wire.Result{
		Job:    wire.Job{ID: vantage, Host: "web01", Port: 443, Vantage: vantage},
		Report: checks.Report{Host: "web01", Port: 443, Address: "198.18.3.10", Verdict: v, ElapsedMS: 12},
	}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func egress(v checks.Verdict) func(*wire.Result) {
	return func(r *wire.Result) {
		r.Report.Egress = &checks.EgressCheck{Control: "ctl.example", Port: 443, Verdict: v}
	}
}

func addr(a string) func(*wire.Result) { return func(r *wire.Result) { r.Report.Address = a } }

func failed(r *wire.Result) { r.Report = checks.Report{}; r.Error = "timed out after 15s" }

func TestDifferentiate(t *testing.T) {
	const (
		open     = checks.VerdictOpen
		closed   = checks.VerdictClosed
		filtered = checks.VerdictFilteredAtHost
		inPath   = checks.VerdictFilteredInPath
		rejected = checks.VerdictRejectedByHost
	)
	tests := []struct {
		name    string
		rs      []wire.Result
		kind    bot.DiffKind
		status  bot.Status
		verdict string
		blame   []string
	}{
		{
			name: "open everywhere",
			rs:   []wire.Result{seen("office", open), seen("internet", open)},
			kind: bot.DiffOpen, status: bot.StatusOK,
			verdict: "open from every vantage (office and internet)",
		},
		{
			name: "open inside, filtered outside: the perimeter",
			rs:   []wire.Result{seen("office", open), seen("internet", filtered)},
			kind: bot.DiffPerimeter, status: bot.StatusProblem, blame: []string{"internet"},
			verdict: "open from office but filtered at host (firewall DROP) from internet → a perimeter firewall, security group or missing port forward blocks internet",
		},
		{
			name: "perimeter, egress proven fine",
			rs:   []wire.Result{seen("office", open), seen("internet", filtered, egress(open))},
			kind: bot.DiffPerimeter, status: bot.StatusProblem, blame: []string{"internet"},
			verdict: "open from office but filtered at host (firewall DROP) from internet → a perimeter firewall, security group or missing port forward blocks internet (their own egress is fine: the control target answers)",
		},
		{
			name: "rejected from two outside vantages",
			rs:   []wire.Result{seen("vpc", open), seen("internet", rejected), seen("partner", rejected)},
			kind: bot.DiffPerimeter, status: bot.StatusProblem, blame: []string{"internet", "partner"},
			verdict: "open from vpc but rejected at host (firewall REJECT) from internet and partner → a perimeter firewall, security group or missing port forward blocks internet and partner",
		},
		{
			name: "filtered from one vantage only, others open: its egress",
			rs:   []wire.Result{seen("vpc", open), seen("office", inPath), seen("internet", open)},
			kind: bot.DiffEgress, status: bot.StatusProblem, blame: []string{"office"},
			verdict: "filtered in path from office only (open from vpc and internet) → office's own egress (outbound firewall, proxy or its security group) likely blocks port 443",
		},
		{
			name: "one vantage filtered but its egress passes: the perimeter after all",
			rs:   []wire.Result{seen("vpc", open), seen("office", filtered, egress(closed)), seen("internet", open)},
			kind: bot.DiffPerimeter, status: bot.StatusProblem, blame: []string{"office"},
			verdict: "open from vpc and internet but filtered at host (firewall DROP) from office → a perimeter firewall, security group or missing port forward blocks office (their own egress is fine: the control target answers)",
		},
		{
			name: "egress self-check proves the vantage's own network",
			rs:   []wire.Result{seen("office", open), seen("cafe", filtered, egress(filtered))},
			kind: bot.DiffEgress, status: bot.StatusProblem, blame: []string{"cafe"},
			verdict: "open from office; cafe's own network blocks outbound port 443 (the control target is unreachable too)",
		},
		{
			name: "only egress-blocked vantages",
			rs:   []wire.Result{seen("cafe", filtered, egress(filtered)), seen("hotel", inPath, egress(inPath))},
			kind: bot.DiffEgress, status: bot.StatusProblem, blame: []string{"cafe", "hotel"},
			verdict: "cafe and hotel's own network blocks outbound port 443 (the control target is unreachable too) — the target was not tested from anywhere else",
		},
		{
			name: "refused everywhere: the service",
			rs:   []wire.Result{seen("office", closed), seen("internet", closed), seen("vpc", closed)},
			kind: bot.DiffService, status: bot.StatusProblem, blame: []string{"office", "internet", "vpc"},
			verdict: "refused (closed) from every vantage (office, internet and vpc) → the service: nothing listens on port 443",
		},
		{
			name: "filtered everywhere: that verdict",
			rs:   []wire.Result{seen("office", filtered), seen("internet", filtered)},
			kind: bot.DiffSame, status: bot.StatusProblem, blame: []string{"office", "internet"},
			verdict: "filtered at host (firewall DROP) from every vantage (office and internet)",
		},
		{
			name: "filtered everywhere, egress fine: the target's side",
			rs:   []wire.Result{seen("office", filtered, egress(open)), seen("internet", filtered, egress(open))},
			kind: bot.DiffSame, status: bot.StatusProblem, blame: []string{"office", "internet"},
			verdict: "filtered at host (firewall DROP) from every vantage (office and internet); the vantages' own egress is fine, so it is the target's side",
		},
		{
			name: "not open anywhere, for different reasons",
			rs:   []wire.Result{seen("office", closed), seen("internet", filtered)},
			kind: bot.DiffMixed, status: bot.StatusProblem, blame: []string{"office", "internet"},
			verdict: "not open from any vantage: closed (nothing listening) from office, filtered at host (firewall DROP) from internet → office reached the host and nothing listens: start with the service",
		},
		{
			name: "different addresses: split view, not a firewall",
			rs:   []wire.Result{seen("office", open, addr("10.0.0.5")), seen("internet", filtered, addr("203.0.113.5"))},
			kind: bot.DiffSplitView, status: bot.StatusProblem, blame: []string{"internet"},
			verdict: "open from office but filtered at host (firewall DROP) from internet — they reached different addresses (office: 10.0.0.5, internet: 203.0.113.5)",
		},
		{
			name: "a failed vantage is left out and said",
			rs:   []wire.Result{seen("office", open), seen("internet", filtered), seen("vpn", "", failed)},
			kind: bot.DiffPerimeter, status: bot.StatusProblem, blame: []string{"internet"},
			verdict: "open from office but filtered at host (firewall DROP) from internet → a perimeter firewall, security group or missing port forward blocks internet (vpn: the check failed)",
		},
		{
			name: "every vantage failed",
			rs:   []wire.Result{seen("office", "", failed), seen("internet", "", failed)},
			kind: bot.DiffIncomplete, status: bot.StatusError,
			verdict: "no vantage could check it (office and internet failed)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := bot.Differentiate("web01:443", tt.rs)
			if d.Kind != tt.kind || d.Status != tt.status || d.Verdict != tt.verdict {
				t.Errorf("got kind %q status %q\n  %s\nwant kind %q status %q\n  %s", d.Kind, d.Status, d.Verdict, tt.kind, tt.status, tt.verdict)
			}
			if strings.Join(d.Blame, ",") != strings.Join(tt.blame, ",") {
				t.Errorf("blame %v, want %v", d.Blame, tt.blame)
			}
			if len(d.Rows) != len(tt.rs) {
				t.Errorf("%d rows for %d vantages", len(d.Rows), len(tt.rs))
			}
		})
	}
}

func TestDifferentialsOnlyForSeveralVantages(t *testing.T) {
	rs := []wire.Result{seen("office", checks.VerdictOpen), seen("internet", checks.VerdictFilteredAtHost)}
	other := seen("office", checks.VerdictOpen)
	other.Job.Port, other.Report.Port = 22, 22
	ds := bot.Differentials(append(rs, other))
	if len(ds) != 1 || ds[0].Target != "web01:443" {
		t.Fatalf("got %+v, want one differential for web01:443 (port 22 was checked from one vantage)", ds)
	}
}

func TestDifferentialMessage(t *testing.T) {
	ds := bot.Differentials([]wire.Result{
		seen("office", checks.VerdictOpen),
		seen("internet", checks.VerdictFilteredAtHost, egress(checks.VerdictOpen)),
	})
	got := bot.RenderText(bot.DifferentialMessage(ds))
	for _, want := range []string{
		"🟢 office    open · 198.18.3.10 · 12ms",
		"🔴 internet  filtered at host (firewall DROP) · 198.18.3.10 · 12ms · egress ok (control ctl.example:443 open)",
		"→ a perimeter firewall, security group or missing port forward blocks internet",
		"Open TCP 443 for internet",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("message lacks %q:\n%s", want, got)
		}
	}
}

type checkFn func(ctx context.Context, req checks.Request) checks.Report

func (f checkFn) Check(ctx context.Context, req checks.Request) checks.Report { return f(ctx, req) }
