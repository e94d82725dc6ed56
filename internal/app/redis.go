package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/config"
	rstore "github.com/portcheck/portcheck/store/redis"
)

// The one Redis wiring: serve, shell, worker and agent --serve open the
// store the same way, with the same options, so claim-idle and
// dead-lettering agree between every process sharing the streams.

// storeOptions maps the configuration onto the Redis store.
func storeOptions(cfg config.Config, getenv func(string) string, log *slog.Logger) rstore.Options {
	return rstore.Options{
		MaxDeliveries:  cfg.Redis.MaxDeliveries,
		MaxLen:         cfg.Redis.StreamMaxLen,
		SentinelMaster: cfg.Redis.SentinelMaster,
		SentinelAddrs:  cfg.Redis.SentinelAddrs,
		// The config holds no secrets: the sentinels' password comes from
		// the environment only.
		SentinelPassword: getenv("REDIS_SENTINEL_PASSWORD"),
		ClaimIdle:        claimIdle(cfg.Worker.Timeout.Std()),
		Logger:           log,
	}
}

// redisConfigured says whether the configuration moves the queue to Redis.
func redisConfigured(cfg config.Config) bool {
	return cfg.Redis.URL != "" || len(cfg.Redis.SentinelAddrs) > 0
}

// openRedis opens the Redis store and pings it once. A Redis that is merely
// unreachable is not fatal: the loops reconnect with backoff, so a process
// started before Redis still comes up (commands are refused meanwhile). A
// Redis that answers with an error retrying cannot fix (wrong password,
// wrong db) is. A store that cannot even be built is a ConfigError.
func openRedis(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) (*rstore.Store, error) {
	// go-redis's own log (dial failures) is process-wide: the store already
	// logs each outage once, so it goes to the debug level.
	goredis.SetLogger(rstore.GoRedisLogger{L: log})
	st, err := rstore.Open(ctx, cfg.Redis.URL, storeOptions(cfg, getenv, log))
	if err != nil {
		return nil, configErr(fmt.Errorf("redis: %w", err))
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err = st.Ping(pctx)
	cancel()
	switch {
	case err != nil && !rstore.Unavailable(err):
		_ = st.Close()
		return nil, fmt.Errorf("redis: %w", err)
	case err != nil:
		log.Warn("redis unreachable at start; retrying with backoff", "err", err)
	}
	return st, nil
}

// startHeartbeat registers info (a vantage this process serves) until the
// returned stop is called. It outlives ctx's cancellation on purpose:
// during a drain the vantage must stay listed while its jobs finish.
func startHeartbeat(ctx context.Context, st *rstore.Store, info rstore.VantageInfo, log *slog.Logger) (stop func()) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := st.Heartbeat(hctx, info); err != nil && hctx.Err() == nil {
			log.Error("vantage heartbeat stopped", "vantage", info.Name, "err", err)
		}
	}()
	return func() { cancel(); <-done }
}
