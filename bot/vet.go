package bot

import (
	"context"
	"net/netip"
	"strings"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

// HopRedactor says which trace hops to hide from the chat (*policy.Policy
// has it). Params.Redact set to one has the bot redact, before rendering,
// hops of public targets that sit in private or denied ranges, so tracing
// 8.8.8.8 does not map the internal network for whoever asks.
type HopRedactor interface {
	RedactHop(target, hop netip.Addr) bool
}

// Redacted replaces a hidden hop address in chat output.
const Redacted = "redacted"

// dnsFailure is a target whose one policy lookup failed: it is answered
// with a dns_error verdict in the thread, and no job is queued for it, since
// a worker would look the name up again and that answer would be unchecked.
type dnsFailure struct {
	notFound bool
	reason   string
}

// dnsReport is the Report a failed policy lookup stands for, diagnosed and
// hinted like a worker's own dns_error.
func dnsReport(j wire.Job, f dnsFailure) checks.Report {
	ev := checks.Evidence{Target: j.Target, Host: j.Host, Port: j.Port,
		Resolve: checks.ResolveResult{Error: f.reason, NotFound: f.notFound}}
	d := checks.Diagnose(ev)
	rep := checks.Report{Target: j.Target, Host: j.Host, Port: j.Port, Addresses: []string{},
		Verdict: d.Verdict, Reason: d.Reason, Summary: d.Summary, Hints: d.Hints, Vantage: j.Vantage}
	if !f.notFound {
		rep.Error = f.reason
	}
	return rep
}

// revet decides again, for a re-run (again, a watch round), the targets
// whose lookup failed last time: the name may exist now. Each decision is
// one fresh, checked lookup; a denial now answers the jobs with the rule.
func (b *Bot) revet(ctx context.Context, ts *threadState, by wire.User) map[string]string {
	b.mu.Lock()
	var pending []checks.Target
	for _, t := range ts.req.Targets {
		if _, ok := ts.dns[t.Input]; ok {
			pending = append(pending, t)
		}
	}
	b.mu.Unlock()
	refused := map[string]string{}
	for _, t := range pending {
		d := b.p.Policy.Decide(ctx, Command{Channel: ts.thread.Channel, User: by, Thread: &ts.thread}, t)
		b.mu.Lock()
		switch {
		case d.DNSError:
			ts.dns[t.Input] = dnsFailure{notFound: d.NotFound, reason: d.Reason}
		case d.Allowed:
			delete(ts.dns, t.Input)
			if ts.addrs == nil {
				ts.addrs = map[string][]string{}
			}
			ts.addrs[t.Input] = d.Addrs
		default:
			// Kept in ts.dns: the next re-run decides it afresh again.
			refused[t.Input] = denialText(t, d)
		}
		b.mu.Unlock()
	}
	return refused
}

func denialText(t checks.Target, d PolicyDecision) string {
	msg := "not allowed to check " + t.String()
	if d.Reason != "" {
		msg += ": " + d.Reason
	}
	if d.Rule != "" {
		msg += " (rule: " + d.Rule + ")"
	}
	return msg
}

// answerLocally publishes the results of jobs that were never queued (the
// name did not resolve, or is refused now) through the results store, so
// they are posted in order with the rest of the thread.
func (b *Bot) answerLocally(ctx context.Context, res []wire.Result) {
	for _, r := range res {
		if err := b.p.Results.Publish(ctx, r); err != nil {
			b.log.Error("publishing a local answer failed; posting it directly", "job_id", r.Job.ID, "err", err)
			b.handleResult(context.WithoutCancel(ctx), r)
		}
	}
}

// redact hides trace hops for the chat: RedactHop decides per hop, given
// the probed address. The hidden addresses are also blanked out of the
// summary and hints, which quote the hop where packets stop.
func (b *Bot) redact(res wire.Result) wire.Result {
	hr := b.p.Redact
	if hr == nil {
		return res
	}
	rep := res.Report
	target, err := netip.ParseAddr(rep.Address)
	if err != nil {
		return res // nothing was probed: nothing to trace
	}
	hidden := map[string]bool{}
	hide := func(s string) string {
		a, err := netip.ParseAddr(s)
		if err != nil || !hr.RedactHop(target, a) {
			return s
		}
		hidden[s] = true
		return Redacted
	}
	if len(rep.Trace) > 0 {
		hops := make([]checks.Hop, len(rep.Trace))
		for i, h := range rep.Trace {
			h.Address, h.Router = hide(h.Address), hide(h.Router)
			hops[i] = h
		}
		rep.Trace = hops
	}
	if rep.ControlTrace != nil {
		ct := *rep.ControlTrace
		ct.Hops = make([]checks.Hop, len(rep.ControlTrace.Hops))
		for i, h := range rep.ControlTrace.Hops {
			h.Address = hide(h.Address)
			ct.Hops[i] = h
		}
		rep.ControlTrace = &ct
	}
	if rep.LastHop != nil {
		lh := *rep.LastHop
		lh.Address, lh.Router = hide(lh.Address), hide(lh.Router)
		rep.LastHop = &lh
	}
	rep.ReportedBy = hide(rep.ReportedBy)
	if rep.Connect != nil {
		c := *rep.Connect
		c.ReportedBy = hide(c.ReportedBy)
		if c.ICMP != nil {
			ic := *c.ICMP
			ic.From = hide(ic.From)
			c.ICMP = &ic
		}
		rep.Connect = &c
	}
	if len(hidden) == 0 {
		return res
	}
	rep.Summary = blankAddrs(rep.Summary, hidden)
	if len(rep.Hints) > 0 {
		hints := make([]checks.Hint, len(rep.Hints))
		for i, h := range rep.Hints {
			h.Text = blankAddrs(h.Text, hidden)
			if len(h.Commands) > 0 {
				cmds := make([]string, len(h.Commands))
				for k, c := range h.Commands {
					cmds[k] = blankAddrs(c, hidden)
				}
				h.Commands = cmds
			}
			hints[i] = h
		}
		rep.Hints = hints
	}
	res.Report = rep
	return res
}

// blankAddrs replaces each hidden address in s where it stands as a whole
// address ("10.0.0.1" but not inside "10.0.0.15").
func blankAddrs(s string, hidden map[string]bool) string {
	for a := range hidden {
		var out strings.Builder
		rest := s
		for {
			i := strings.Index(rest, a)
			if i < 0 {
				out.WriteString(rest)
				break
			}
			end := i + len(a)
			if (i > 0 && addrByte(rest[i-1])) || (end < len(rest) && addrByte(rest[end]) && !(rest[end] == '.' && (end+1 == len(rest) || !addrByte(rest[end+1])))) {
				out.WriteString(rest[:end])
				rest = rest[end:]
				continue
			}
			out.WriteString(rest[:i])
			out.WriteString(Redacted)
			rest = rest[end:]
		}
		s = out.String()
	}
	return s
}

// addrByte reports whether c can be part of an IP address literal.
func addrByte(c byte) bool {
	return c == '.' || c == ':' || '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
