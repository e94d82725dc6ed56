package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
)

// Both ways of asking for Sentinel reach the master through go-redis's
// failover client and carry jobs.
func TestSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master, "mymaster")
	for _, tc := range []struct {
		name string
		url  string
		opts rstore.Options
	}{
		{"url master_name", "redis://" + sentinel.Addr + "/0?master_name=mymaster", rstore.Options{}},
		{"env options", "redis://unused:1/0", rstore.Options{SentinelMaster: "mymaster", SentinelAddrs: []string{sentinel.Addr}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Block = 100 * time.Millisecond
			s, err := rstore.Open(context.Background(), tc.url, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := ctxFor(t, 5*time.Second)
			if err := s.Queue().Enqueue(ctx, job("via-sentinel", "office")); err != nil {
				t.Fatalf("Enqueue through sentinel: %v", err)
			}
			d, err := s.Queue().Next(ctx, "office")
			if err != nil {
				t.Fatal(err)
			}
			_ = d.Ack(ctx)
		})
	}
}
