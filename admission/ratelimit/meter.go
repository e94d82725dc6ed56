package ratelimit

import "context"

// Meter is the one call the admission gate makes per command: the distinct-targets
// budget first, then the rate limits. Targets go first because a command
// the budget refuses should not spend rate allowance, and a legitimate
// retry of the same targets after a rate denial costs no budget again
// (known targets are free). Either part may be nil to skip it.
type Meter struct {
	Limiter Limiter
	Targets Targets
}

// Charge admits the command or says why not. Errors come with a denial
// (fail closed); Result.Message is the text for the user either way.
func (g Meter) Charge(ctx context.Context, k Key, cost int, targets []string) (Result, error) {
	if g.Targets != nil {
		if r, err := g.Targets.Track(ctx, k, targets); err != nil || !r.Allowed {
			return r, err
		}
	}
	if g.Limiter != nil {
		return g.Limiter.Allow(ctx, k, cost)
	}
	return Result{Allowed: true}, nil
}

// ChargeAfter spends cost on the rate limits for work already done (a
// trace the prober chose to run): never a refusal, see Limiter.Consume.
// The distinct-targets budget is not involved: the targets were counted
// when the command was admitted.
func (g Meter) ChargeAfter(ctx context.Context, k Key, cost int) error {
	if g.Limiter == nil || cost < 1 {
		return nil
	}
	return g.Limiter.Consume(ctx, k, cost)
}
