package admission

import (
	"context"

	"github.com/portcheck/portcheck/admission/policy"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
)

// Decider is the target policy as the bot asks it: *policy.Policy, or a
// *policy.Live that SIGHUP swaps.
type Decider interface {
	Decide(ctx context.Context, host string, ports []int) policy.Decision
}

// Policy presents the target policy as the bot's Policy.
type Policy struct{ P Decider }

var _ bot.Policy = Policy{}

// Decide implements bot.Policy: the addresses the policy checked are the
// ones the jobs carry, so workers probe exactly those.
func (a Policy) Decide(ctx context.Context, _ bot.Command, t checks.Target) bot.PolicyDecision {
	d := a.P.Decide(ctx, t.Host, t.Ports)
	out := bot.PolicyDecision{Allowed: d.Allowed, Rule: d.Rule, Reason: d.Reason, DNSError: d.DNSError, NotFound: d.NotFound}
	for _, ip := range d.Addrs {
		out.Addrs = append(out.Addrs, ip.String())
	}
	return out
}
