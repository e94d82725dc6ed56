package ratelimit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/internal/redistest"
)

// TestRedis runs the shared suite against a real redis-server (skipped
// without one, except under CI=true). GCRA runs on Redis's clock, so rate
// tests sleep for real with short periods; the targets tracker takes the
// bot's clock, so it gets the fake one.
func TestRedis(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	runSuite(t, func(t *testing.T) harness {
		clk := newFakeClock()
		prefix := "test:" + t.Name() + ":"
		return harness{
			limiter: func(t *testing.T, l Limits) Limiter { return NewRedis(rdb, l, prefix) },
			targets: func(t *testing.T, b TargetBudget) Targets { return NewRedisTargets(rdb, b, prefix, clk.Now) },
			sleep:   time.Sleep,
			advance: clk.Advance,
			tol:     400 * time.Millisecond, // generous: CI shares its CPUs
			unit:    3 * time.Second,
		}
	})
}

// TestRedisFailsClosed stops Redis under a live limiter: every answer must
// be a denial with an error and a message saying why.
func TestRedisFailsClosed(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	k := Key{Chat: "slack", Team: "T", Channel: "C", User: "U"}
	l := NewRedis(rdb, Limits{User: PerMinute(20), Global: PerMinute(600)}, "fc:")
	tr := NewRedisTargets(rdb, TargetBudget{Max: 50}, "fc:", nil)
	if r, err := l.Allow(ctx, k, 1); err != nil || !r.Allowed {
		t.Fatalf("healthy: %+v %v", r, err)
	}
	if r, err := tr.Track(ctx, k, []string{"web01"}); err != nil || !r.Allowed {
		t.Fatalf("healthy: %+v %v", r, err)
	}
	srv.Stop()
	r, err := l.Allow(ctx, k, 1)
	if err == nil || r.Allowed || r.Which != WhichUnavailable || !strings.Contains(r.Message(), "unavailable") {
		t.Fatalf("Redis down: %+v %v, want a fail-closed denial", r, err)
	}
	// After the fact there is nothing to refuse, but the caller must hear
	// that the trace went uncharged.
	if err := l.Consume(ctx, k, 4); err == nil || !strings.HasPrefix(err.Error(), "ratelimit: redis user limit: ") {
		t.Fatalf("Consume with Redis down: %v, want a wrapped error naming the limit", err)
	}
	r, err = tr.Track(ctx, k, []string{"web01"})
	if err == nil || r.Allowed || r.Which != WhichUnavailable {
		t.Fatalf("Redis down: %+v %v, want a fail-closed denial", r, err)
	}
	if !strings.HasPrefix(err.Error(), "ratelimit: redis targets: ") {
		t.Fatalf("error %q does not say where it failed", err)
	}
}

// TestRedisKeysExpire checks nothing is left behind forever: GCRA keys carry
// redis_rate's TTL and target sets their window.
func TestRedisKeysExpire(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	k := Key{Chat: "discord", Team: "G", Channel: "C", User: "U"}
	NewRedis(rdb, Limits{User: PerMinute(20)}, "ttl:").Allow(ctx, k, 1)
	// Debt from Consume expires with it too (at most two minutes here).
	NewRedis(rdb, Limits{User: PerMinute(20)}, "ttl:").Consume(ctx, k, 100)
	NewRedisTargets(rdb, TargetBudget{Max: 5}, "ttl:", nil).Track(ctx, k, []string{"a"})
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v %v", keys, err)
	}
	for _, key := range keys {
		ttl, err := rdb.PTTL(ctx, key).Result()
		if err != nil || ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s: ttl %v %v", key, ttl, err)
		}
		if strings.HasPrefix(key, "rate:") && (ttl <= time.Minute || ttl > 2*time.Minute) {
			t.Errorf("%s: ttl %v, want the debt's (1m, 2m]", key, ttl)
		}
	}
}
