package redis_test

import (
	"context"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
)

type fakeDelivery struct{ j bot.Job }

func (f fakeDelivery) Job() bot.Job                  { return f.j }
func (f fakeDelivery) Ack(ctx context.Context) error { return nil }

func resultFor(d bot.Delivery) bot.Result {
	return bot.Result{Job: d.Job(), Report: checks.Report{Target: d.Job().Target}, Finished: time.Now()}
}
