package worker

import (
	"github.com/portcheck/portcheck/wire"

	"context"
	"time"
)

// drainContext returns the context jobs run under: it ends grace after ctx
// does (or at once when grace <= 0), so a draining worker stops taking new
// jobs when ctx ends but lets those in flight finish within the grace.
// Values of ctx are kept. stop releases the timer.
func drainContext(ctx context.Context, grace time.Duration) (jobs context.Context, stop func()) {
	if grace <= 0 {
		return context.WithCancel(ctx)
	}
	jobs, cancel := context.WithCancel(context.WithoutCancel(ctx))
	unhook := context.AfterFunc(ctx, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-jobs.Done():
		}
	})
	return jobs, func() { unhook(); cancel() }
}

// handBack returns an interrupted delivery to its queue; should that
// fail, the queue's own redelivery takes care of it.
func (w *Worker) handBack(d wire.Delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	j := d.Job()
	if err := d.Release(ctx); err != nil {
		w.p.Log.Warn("handing back an interrupted job failed; the queue redelivers it later", "job_id", j.ID, "vantage", j.Vantage, "err", err)
		return
	}
	w.p.Log.Info("handed back an interrupted job", "job_id", j.ID, "vantage", j.Vantage)
}
