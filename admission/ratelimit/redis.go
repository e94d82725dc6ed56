package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Redis is the distributed limiter: GCRA in Redis via go-redis/redis_rate,
// so every bot replica shares one allowance and Redis's own clock.
type Redis struct {
	rl     *redis_rate.Limiter
	limits Limits
	prefix string
}

// NewRedis builds a Redis limiter. prefix namespaces the keys (e.g.
// "portcheck:rl:"); redis_rate adds its own "rate:" in front.
func NewRedis(rdb redis.UniversalClient, l Limits, prefix string) *Redis {
	return &Redis{rl: redis_rate.NewLimiter(rdb), limits: l, prefix: prefix}
}

// Allow implements Limiter. redis_rate has no multi-key transaction, so it
// first peeks at every limit (a cost-0 call that changes nothing) and
// charges only when all have room. Two requests racing between peek and
// charge can, rarely, charge the user's limit and then be denied by a
// later one: that errs towards denying, never towards over-admitting.
// Any Redis error denies (fail closed).
func (r *Redis) Allow(ctx context.Context, k Key, cost int) (Result, error) {
	if cost < 1 {
		cost = 1
	}
	ls := r.limits.applicable(k)
	worst := Result{Allowed: true}
	for _, l := range ls {
		lim := r.rateLimit(l.rate)
		c := min(cost, lim.Burst) // see Limiter: big commands need, and take, a full allowance
		res, err := r.rl.AllowN(ctx, r.prefix+l.key, lim, 0)
		if err != nil {
			return unavailable(), fmt.Errorf("ratelimit: redis %s limit: %w", l.which, err)
		}
		// ResetAfter is TAT-now; the request fits once
		// TAT + cost*emission - burst*emission <= now. Remaining is not
		// used: the script computes it in float seconds since 2017 and
		// truncates, so a full bucket of 1 can read as 0.
		emission := l.rate.Per / time.Duration(l.rate.Events)
		if wait := res.ResetAfter + emission*time.Duration(c-lim.Burst); wait > floatSlack {
			if worst.Allowed || wait > worst.RetryAfter {
				worst = Result{Which: l.which, Limit: l.rate.String(), RetryAfter: wait}
			}
		}
	}
	if !worst.Allowed {
		return worst, nil
	}
	for _, l := range ls {
		lim := r.rateLimit(l.rate)
		c := min(cost, lim.Burst)
		res, err := r.rl.AllowN(ctx, r.prefix+l.key, lim, c)
		if err != nil {
			return unavailable(), fmt.Errorf("ratelimit: redis %s limit: %w", l.which, err)
		}
		if res.Allowed < c {
			return Result{Which: l.which, Limit: l.rate.String(), RetryAfter: max(res.RetryAfter, time.Millisecond)}, nil
		}
	}
	return worst, nil
}

// Consume implements Limiter with redis_rate's AllowAtMost ("take what is
// left") called with the burst enlarged by debtAllowances: the TAT is the
// only state, so a larger burst on this one call lets it move past "empty"
// into debt, and the ordinary Allow then waits the debt out. Limits are
// charged one by one; a Redis error on one does not stop the others.
func (r *Redis) Consume(ctx context.Context, k Key, cost int) error {
	if cost < 1 {
		return nil
	}
	var errs []error
	for _, l := range r.limits.applicable(k) {
		lim := r.rateLimit(l.rate)
		lim.Burst *= 1 + debtAllowances
		if _, err := r.rl.AllowAtMost(ctx, r.prefix+l.key, lim, cost); err != nil {
			errs = append(errs, fmt.Errorf("ratelimit: redis %s limit: %w", l.which, err))
		}
	}
	return errors.Join(errs...)
}

func (r *Redis) rateLimit(rt Rate) redis_rate.Limit {
	return redis_rate.Limit{Rate: rt.Events, Period: rt.Per, Burst: rt.burst()}
}

// floatSlack absorbs the rounding of redis_rate's float arithmetic.
const floatSlack = time.Millisecond

func unavailable() Result { return Result{Which: WhichUnavailable, RetryAfter: -1} }

// RedisTargets is the distributed distinct-targets tracker: one sorted set
// per user (member = target, score = last asked, in ms), trimmed to the
// window and expiring with it. A set rather than a HyperLogLog because the
// set never holds more than the budget and the answer must be exact.
type RedisTargets struct {
	rdb    redis.UniversalClient
	budget TargetBudget
	prefix string
	now    func() time.Time
	script *redis.Script
}

// NewRedisTargets builds a Redis tracker. now stamps entries (the bot's
// clock: a few seconds of skew between replicas is noise against an hour).
func NewRedisTargets(rdb redis.UniversalClient, b TargetBudget, prefix string, now func() time.Time) *RedisTargets {
	if now == nil {
		now = time.Now
	}
	return &RedisTargets{rdb: rdb, budget: b, prefix: prefix, now: now, script: redis.NewScript(trackScript)}
}

// trackScript admits all targets or none, atomically.
// KEYS[1] the user's set; ARGV: now_ms, window_ms, max, targets...
// Returns {1, 0} when admitted, {0, retry_ms} when not (-1: never).
const trackScript = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
redis.call("ZREMRANGEBYSCORE", key, "-inf", now - win)
local count = redis.call("ZCARD", key)
local fresh = 0
for i = 4, #ARGV do
  if not redis.call("ZSCORE", key, ARGV[i]) then fresh = fresh + 1 end
end
if fresh > max then return {0, -1} end
local over = count + fresh - max
if over > 0 then
  local oldest = redis.call("ZRANGE", key, over - 1, over - 1, "WITHSCORES")
  return {0, tonumber(oldest[2]) + win - now}
end
for i = 4, #ARGV do redis.call("ZADD", key, now, ARGV[i]) end
if #ARGV >= 4 then redis.call("PEXPIRE", key, win) end
return {1, 0}
`

// Track implements Targets. Any Redis error denies (fail closed).
func (r *RedisTargets) Track(ctx context.Context, k Key, targets []string) (Result, error) {
	if r.budget.Max <= 0 {
		return Result{Allowed: true}, nil
	}
	targets = normalizeTargets(targets)
	args := make([]any, 0, 3+len(targets))
	args = append(args, r.now().UnixMilli(), r.budget.window().Milliseconds(), r.budget.Max)
	for _, t := range targets {
		args = append(args, t)
	}
	v, err := r.script.Run(ctx, r.rdb, []string{r.prefix + targetKey(k)}, args...).Int64Slice()
	if err != nil {
		return unavailable(), fmt.Errorf("ratelimit: redis targets: %w", err)
	}
	if len(v) != 2 {
		return unavailable(), fmt.Errorf("ratelimit: redis targets: unexpected reply %v", v)
	}
	if v[0] == 1 {
		return Result{Allowed: true}, nil
	}
	retry := time.Duration(-1)
	if v[1] >= 0 {
		retry = max(time.Duration(v[1])*time.Millisecond, time.Millisecond)
	}
	return Result{Which: WhichTargets, Limit: r.budget.String(), RetryAfter: retry}, nil
}
