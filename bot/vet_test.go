package bot_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/portcheck/portcheck/admission/policy"
	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/leaktest"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

// realPolicy presents a *policy.Policy as the bot's Policy, as serve does,
// with the optional AddrChecker and HopRedactor.
type realPolicy struct{ p *policy.Policy }

func (a realPolicy) Decide(ctx context.Context, _ bot.Command, t checks.Target) bot.PolicyDecision {
	d := a.p.Decide(ctx, t.Host, t.Ports)
	out := bot.PolicyDecision{Allowed: d.Allowed, Rule: d.Rule, Reason: d.Reason, DNSError: d.DNSError, NotFound: d.NotFound}
	for _, ip := range d.Addrs {
		out.Addrs = append(out.Addrs, ip.String())
	}
	return out
}

func (a realPolicy) CheckAddr(ip netip.Addr) (bool, string) { return a.p.CheckAddr(ip) }
func (a realPolicy) RedactHop(target, hop netip.Addr) bool  { return a.p.RedactHop(target, hop) }

// rebinder fails the first lookup of each name, then answers cloud
// metadata: the attack where the policy's lookup fails, the job goes
// through "to report dns_error", and the worker's own lookup lands on
// 169.254.169.254.
type rebinder struct {
	mu    sync.Mutex
	calls map[string]int
}

func (r *rebinder) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[host]++
	if r.calls[host] == 1 {
		return nil, errors.New("i/o timeout")
	}
	return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
}

func (r *rebinder) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[host]
}

func TestDNSFailureIsAnsweredWithoutAJob(t *testing.T) {
	res := &rebinder{calls: map[string]int{}}
	pol, err := policy.New(policy.Config{}, res)
	if err != nil {
		t.Fatal(err)
	}
	// The prober would resolve with the same rebinding resolver: count what
	// reaches it instead.
	var probed atomic.Int64
	checker := checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
		probed.Add(1)
		return report(req, checks.VerdictOpen)
	})
	h := newHarnessW(t, checker, func(w *worker.Params) { w.Vet = pol }, func(p *bot.Params) { p.Policy, p.Redact = realPolicy{pol}, realPolicy{pol} })
	h.say(t, "rebind.example:80", nil)
	h.settle(t)
	expect(t, h.chat.log(),
		"start #1 running: checking rebind.example:80 from local…",
		"reply #1 problem: rebind.example:80 from local: name does not resolve",
		"update #1 problem: rebind.example:80 — name does not resolve · 0ms",
	)
	if n := probed.Load(); n != 0 {
		t.Errorf("the checker ran %d times for a name whose lookup failed, want 0", n)
	}
	if n := res.count("rebind.example"); n != 1 {
		t.Errorf("rebind.example looked up %d times, want 1 (the policy's)", n)
	}
	recs, _ := h.audit.Query(context.Background(), audit.Query{Kind: audit.KindResult})
	if len(recs) != 1 || recs[0].Verdict != string(checks.VerdictDNSError) || recs[0].Address != "" {
		t.Errorf("result audit: %+v", recs)
	}

	// again: a fresh, checked lookup, which now answers metadata: refused
	// with the rule, still nothing probed.
	h.say(t, "again", &wire.Thread{Channel: wire.Channel{Chat: "fake", ID: "C1"}, ID: "1"})
	h.settle(t)
	log := strings.Join(h.chat.log(), "\n")
	t.Log(log)
	if !strings.Contains(log, "not allowed to check rebind.example:80") || !strings.Contains(log, "default deny: cloud metadata 169.254.169.254/32") {
		t.Errorf("again did not refuse the rebound name:\n%s", log)
	}
	if n := probed.Load(); n != 0 {
		t.Errorf("the checker ran %d times, want 0", n)
	}
}

func TestDNSNotFoundHints(t *testing.T) {
	pol, err := policy.New(policy.Config{}, resolverFunc(func(host string) ([]netip.Addr, error) {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessW(t, verdictChecker(checks.VerdictOpen), func(w *worker.Params) { w.Vet = pol }, func(p *bot.Params) { p.Policy, p.Redact = realPolicy{pol}, realPolicy{pol} })
	h.say(t, "nosuch.example:443", nil)
	h.settle(t)
	h.chat.mu.Lock()
	defer h.chat.mu.Unlock()
	var found bool
	for _, m := range h.chat.msgs {
		for _, b := range m.Blocks {
			if strings.Contains(b.Text, "does not resolve (no such name") {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no NXDOMAIN summary in the thread: %q", h.chat.events)
	}
}

// The network-unreachable hint quotes its router as "On 10.0.0.1:", which
// no pattern over the rendered text caught (issue 17): the bot redacts the
// evidence and has the texts written again from it, so a hidden router is
// in no sentence however it is punctuated, and a public hop stays.
func TestTraceHopsRedactedForPublicTargets(t *testing.T) {
	cases := []struct {
		name      string
		redact    *bool
		target    string
		wantHide  bool
		wantShown string
	}{
		{"public target", nil, "93.184.215.14", true, "4.69.0.1"},
		{"redact_hops false", new(bool), "93.184.215.14", false, "10.0.0.1"},
		{"internal target", nil, "10.9.9.9", false, "10.0.0.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pol, err := policy.New(policy.Config{AllowPrivate: true, RedactHops: c.redact}, nil)
			if err != nil {
				t.Fatal(err)
			}
			checker := checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
				a := req.Addrs[0].String()
				return leaktest.Report(checks.Evidence{Target: req.Target, Host: req.Host, Port: req.Port,
					Resolve: checks.ResolveResult{Addresses: []string{a}},
					Connect: &checks.ConnectResult{Address: a, Reason: checks.ReasonICMPNetUnreachable, ReportedBy: "10.0.0.1",
						ICMP: &checks.ICMP{Type: 3, Code: 0, From: "10.0.0.1"}},
					Trace: &checks.Trace{Proto: "tcp", Port: req.Port, Hops: []checks.Hop{
						{TTL: 1, Address: "4.69.0.1", ICMP: "time-exceeded"}, {TTL: 2, Address: "10.0.0.1", ICMP: "net-unreachable"}}},
				})
			})
			h := newHarnessW(t, checker, func(w *worker.Params) { w.Vet = pol }, func(p *bot.Params) { p.Policy, p.Redact = realPolicy{pol}, realPolicy{pol} })
			h.say(t, c.target+":22", nil)
			h.settle(t)
			h.chat.mu.Lock()
			var all strings.Builder
			for _, m := range h.chat.msgs {
				all.WriteString(bot.RenderText(m))
			}
			h.chat.mu.Unlock()
			out := all.String()
			if hidden := !strings.Contains(out, "10.0.0.1"); hidden != c.wantHide {
				t.Errorf("10.0.0.1 hidden = %v, want %v:\n%s", hidden, c.wantHide, out)
			}
			if c.wantHide {
				for _, want := range []string{"Router " + bot.Redacted + " has no route to " + c.target, "On " + bot.Redacted + ":", "2  " + bot.Redacted} {
					if !strings.Contains(out, want) {
						t.Errorf("want %q:\n%s", want, out)
					}
				}
			}
			if !strings.Contains(out, c.wantShown) {
				t.Errorf("%s should be shown:\n%s", c.wantShown, out)
			}
		})
	}
}

type resolverFunc func(host string) ([]netip.Addr, error)

func (f resolverFunc) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	return f(host)
}
