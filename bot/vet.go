package bot

import (
	"context"
	"net/netip"

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
const Redacted = checks.Redaction

// dnsFailure is a target whose one policy lookup failed: it is answered
// with a dns_error verdict in the thread, and no job is queued for it, since
// a worker would look the name up again and that answer would be unchecked.
type dnsFailure struct {
	NotFound bool   `json:"not_found,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// dnsReport is the Report a failed policy lookup stands for, diagnosed and
// hinted like a worker's own dns_error.
func dnsReport(j wire.Job, f dnsFailure) checks.Report {
	ev := checks.Evidence{Target: j.Target, Host: j.Host, Port: j.Port,
		Resolve: checks.ResolveResult{Error: f.Reason, NotFound: f.NotFound}}
	d := checks.Diagnose(ev)
	rep := checks.Report{Target: j.Target, Host: j.Host, Port: j.Port, Addresses: []string{},
		Verdict: d.Verdict, Reason: d.Reason, Summary: d.Summary, Hints: d.Hints, Vantage: j.Vantage}
	if !f.NotFound {
		rep.Error = f.Reason
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
			ts.dns[t.Input] = dnsFailure{NotFound: d.NotFound, Reason: d.Reason}
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

// redact hides trace hops for the chat (see RedactHops).
func (b *Bot) redact(res wire.Result) wire.Result {
	if b.p.Redact != nil {
		res.Report = RedactHops(b.p.Redact, res.Report)
	}
	return res
}

// RedactHops hides, for the chat, the hop and sender addresses of rep that
// hr says to hide given the probed address, and has the summary and hints
// written again from the redacted evidence (checks.Redacted): the texts
// quote the hop where packets stop, and only evidence without the address
// can be sure to leave it out, however a sentence punctuates it.
func RedactHops(hr HopRedactor, rep checks.Report) checks.Report {
	target, err := netip.ParseAddr(rep.Address)
	if err != nil {
		return rep // nothing was probed: nothing to trace
	}
	return checks.Redacted(rep, func(s string) bool {
		a, err := netip.ParseAddr(s)
		if err != nil {
			ap, perr := netip.ParseAddrPort(s)
			if perr != nil {
				return false
			}
			a = ap.Addr()
		}
		return hr.RedactHop(target, a)
	})
}
