package redis_test

import (
	"context"
	"time"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

type fakeDelivery struct{ j wire.Job }

func (f fakeDelivery) Job() wire.Job                     { return f.j }
func (f fakeDelivery) Ack(ctx context.Context) error     { return nil }
func (f fakeDelivery) Release(ctx context.Context) error { return nil }

func resultFor(d wire.Delivery) wire.Result {
	return wire.Result{Job: d.Job(), Report: checks.Report{Target: d.Job().Target}, Finished: time.Now()}
}
