package ratelimit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/portcheck/portcheck/admission/ratelimit"
)

// The bot charges each command once, before enqueueing: cost from ports,
// vantages and trace; targets for the distinct-target budget (a trace the
// prober chooses to run is charged later, with Meter.ChargeAfter).
// Distributed mode swaps in NewRedis / NewRedisTargets with the same Meter.
func Example() {
	clock := func() time.Time { return time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) }
	gate := ratelimit.Meter{
		Limiter: ratelimit.NewMemory(ratelimit.Limits{
			User:    ratelimit.PerMinute(20),
			Channel: ratelimit.PerMinute(60),
			Global:  ratelimit.PerMinute(600),
		}, clock),
		Targets: ratelimit.NewMemoryTargets(ratelimit.TargetBudget{Max: 50}, clock),
	}
	k := ratelimit.Key{Chat: "slack", Team: "T0ACME", Channel: "C0NETOPS", User: "U1"}
	for i := 0; i < 3; i++ {
		cost := ratelimit.Cost(2, 1, true) // 2 ports traced from 1 vantage = 10
		r, err := gate.Charge(context.Background(), k, cost, []string{"web01"})
		if err != nil || !r.Allowed {
			fmt.Println(r.Message()) // err != nil always comes with a denial: fail closed
			continue
		}
		fmt.Println("queued")
	}
	// Output:
	// queued
	// queued
	// rate limit per user reached (20 per 1m0s); retry in 30s
}
