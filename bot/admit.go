package bot

import (
	"context"
	"fmt"
	"time"
)

// This file is the one admission path: a check, a watch, an `again` and a
// thread recovered from the audit trail all go through the same steps, so
// they cannot drift apart. vet is where a request may run from and what it
// may probe; admit is whether this user may run it now.

// vetted is what the policy allowed for a request's targets.
type vetted struct {
	vantages []string
	addrs    map[string][]string   // vetted addresses by target input
	dns      map[string]dnsFailure // targets whose policy lookup failed: answered dns_error, never queued
}

// vet picks the request's vantages and judges each target by the policy.
// why, when not empty, is the refusal to say (and audit).
func (b *Bot) vet(ctx context.Context, cmd Command, req Request) (v vetted, why string) {
	v.vantages, why = b.pickVantages(ctx, req)
	if why != "" {
		return v, why
	}
	v.addrs, v.dns = map[string][]string{}, map[string]dnsFailure{}
	for _, t := range req.Targets {
		d := b.p.Policy.Decide(ctx, cmd, t)
		switch {
		case d.DNSError:
			v.dns[t.Input] = dnsFailure{NotFound: d.NotFound, Reason: d.Reason}
		case !d.Allowed:
			return v, denialText(t, d)
		default:
			v.addrs[t.Input] = d.Addrs
		}
	}
	return v, ""
}

// admit asks the Gate (authorization, rate limits) whether cmd may start a
// run of req from vantages. done, when not nil, is to be called once that
// run completes; why, when not empty, is the refusal.
func (b *Bot) admit(ctx context.Context, cmd Command, req Request, vantages []string) (done func(), why string) {
	if b.p.Gate == nil {
		return nil, ""
	}
	d := b.p.Gate.Admit(ctx, cmd, req, req.Ports()*len(vantages))
	if d.Allowed {
		return d.Done, ""
	}
	why = d.Why
	if why == "" {
		why = "not allowed"
	}
	if d.RetryAfter > 0 {
		why += fmt.Sprintf(" — try again in %s", d.RetryAfter.Round(time.Second))
	}
	return nil, why
}
