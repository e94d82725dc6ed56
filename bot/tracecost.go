package bot

import (
	"github.com/portcheck/portcheck/wire"

	"context"
	"time"
)

// TraceCharger charges traces after the fact (Params.ChargeTrace; the
// admission gate has it).
// The prober decides by itself when to trace (only when the verdict needs
// the path), so a command is admitted at the price of its connects and the
// extra of each trace is only known when its result comes back.
// ChargeTrace must not fail the job, which is already done: it only spends
// cmd's allowance so their next command waits sooner. cmd carries the
// channel and user the run was admitted for (its ID is the run's).
type TraceCharger interface {
	ChargeTrace(ctx context.Context, cmd Command, traced int)
}

// traceChargeTimeout bounds ChargeTrace: it runs in the thread's posting
// lane, and a slow or unreachable limiter must not hold up the next answer.
const traceChargeTimeout = 2 * time.Second

// chargeTrace charges a traced result to the user and channel its run was
// admitted for. handleResult calls it once per job: after the dedupe claim,
// so a redelivered result is not charged twice; after the job's own
// evidence is posted; and before the run completes, so the debt is in place
// by the time the user sees the verdict and types their next command (and
// Bot.Wait covers it). traceChargeTimeout bounds what that can cost. Only
// runs the Gate admitted are charged (a check, an again, a watch's first
// round): later watch rounds are not charged for their connects either.
// Results of runs this process does not know (orphans) are not charged:
// their user is unknown.
func (b *Bot) chargeTrace(ctx context.Context, r *run, res wire.Result) {
	tc := b.p.ChargeTrace
	if tc == nil || r == nil || res.Job.HostLocal || !traced(res) || (r.kind == VerbWatch && r.round > 0) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), traceChargeTimeout)
	defer cancel()
	tc.ChargeTrace(ctx, Command{ID: r.id, Channel: r.ts.thread.Channel, User: r.by}, 1)
}

// traced says whether the prober ran a path trace for res.
func traced(res wire.Result) bool {
	return len(res.Report.Trace) > 0 || res.Report.ControlTrace != nil
}
