package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The bot's Outbox (bot.Outbox): posts a chat refused for now, kept until
// due so they outlive the bot process that queued them. Each lane is a
// list, PREFIX:outbox:lane:LANE (its posts in order), and PREFIX:outbox:due
// is a sorted set of lanes by the unix milliseconds at which each is due.
// Take leases a lane by moving its time forward, in a transaction watched
// on the set, so two bot processes never post the same entry at once;
// Done watches the lane's list, so a post appended meanwhile is never left
// without a due time.

// outboxLaneTTL bounds a forgotten lane (its bot processes all gone): no
// post is worth making a day later.
const outboxLaneTTL = 24 * time.Hour

// maxTxRetries bounds the optimistic transactions' retries under contention.
const maxTxRetries = 16

// txBackoff waits a random while, growing with the attempt (1 ms up to
// 32 ms, the package's backoff), before an optimistic transaction that lost
// a race is tried again. Without it takers that all watch the due set retry
// in lockstep, and one of four could lose sixteen times in a row (1 run in
// 30 of the contract test).
func txBackoff(ctx context.Context, attempt int) error {
	return sleep(ctx, backoff(time.Millisecond, 32*time.Millisecond, attempt+1))
}

func (s *Store) outboxDue() string             { return s.key("outbox", "due") }
func (s *Store) outboxLane(lane string) string { return s.key("outbox", "lane", lane) }

func ms(t time.Time) float64 { return float64(t.UnixMilli()) }

// Append adds post at the end of lane; an empty lane becomes due at due.
func (s *Store) Append(ctx context.Context, lane string, post []byte, due time.Time) error {
	key := s.outboxLane(lane)
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.RPush(ctx, key, post)
		p.PExpire(ctx, key, outboxLaneTTL)
		p.ZAddNX(ctx, s.outboxDue(), goredis.Z{Score: ms(due), Member: lane})
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox append %q: %w", lane, err)
	}
	return nil
}

// Take returns the first post of the lane due first (at or before now)
// and leases the lane until now+lease.
func (s *Store) Take(ctx context.Context, now time.Time, lease time.Duration) (string, []byte, bool, error) {
	due := s.outboxDue()
	for attempt := range maxTxRetries {
		var lane string
		var post []byte
		err := s.client.Watch(ctx, func(tx *goredis.Tx) error {
			lanes, err := tx.ZRangeByScore(ctx, due, &goredis.ZRangeBy{Min: "-inf", Max: strconv.FormatFloat(ms(now), 'f', 0, 64), Count: 1}).Result()
			if err != nil || len(lanes) == 0 {
				return err
			}
			first, err := tx.LIndex(ctx, s.outboxLane(lanes[0]), 0).Bytes()
			if errors.Is(err, goredis.Nil) {
				// Emptied (or expired) under its time: forget it.
				_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
					p.ZRem(ctx, due, lanes[0])
					return nil
				})
				if err == nil {
					err = errEmptyLane
				}
				return err
			}
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
				p.ZAddXX(ctx, due, goredis.Z{Score: ms(now.Add(lease)), Member: lanes[0]})
				return nil
			})
			if err == nil {
				lane, post = lanes[0], first
			}
			return err
		}, due)
		switch {
		case errors.Is(err, goredis.TxFailedErr):
			if err := txBackoff(ctx, attempt); err != nil {
				return "", nil, false, fmt.Errorf("outbox take: %w", err)
			}
			continue
		case errors.Is(err, errEmptyLane):
			continue
		case err != nil:
			return "", nil, false, fmt.Errorf("outbox take: %w", err)
		}
		return lane, post, lane != "", nil
	}
	return "", nil, false, errors.New("outbox take: too much contention")
}

var errEmptyLane = errors.New("empty lane")

// Done removes the lane's first post; the rest are due at next, and an
// empty lane goes away.
func (s *Store) Done(ctx context.Context, lane string, next time.Time) error {
	key := s.outboxLane(lane)
	for attempt := range maxTxRetries {
		err := s.client.Watch(ctx, func(tx *goredis.Tx) error {
			n, err := tx.LLen(ctx, key).Result()
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
				p.LPop(ctx, key)
				if n <= 1 {
					p.ZRem(ctx, s.outboxDue(), lane)
				} else {
					p.ZAddXX(ctx, s.outboxDue(), goredis.Z{Score: ms(next), Member: lane})
				}
				return nil
			})
			return err
		}, key)
		if errors.Is(err, goredis.TxFailedErr) {
			if err := txBackoff(ctx, attempt); err != nil {
				return fmt.Errorf("outbox done %q: %w", lane, err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("outbox done %q: %w", lane, err)
		}
		return nil
	}
	return fmt.Errorf("outbox done %q: too much contention", lane)
}

// Later keeps the lane's first post and makes the lane due at due.
func (s *Store) Later(ctx context.Context, lane string, due time.Time) error {
	if err := s.client.ZAddXX(ctx, s.outboxDue(), goredis.Z{Score: ms(due), Member: lane}).Err(); err != nil {
		return fmt.Errorf("outbox later %q: %w", lane, err)
	}
	return nil
}
