package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/wire"
)

// The bot side keeps each run's thread, with the chat's private refs (a
// Slack response_url, a Discord interaction token), here by run id, so
// jobs and results on the streams carry none: a bot process posting the
// result of a run another one opened reads them back (bot.Threads).

// PutThread keeps t as run's thread for ttl: one hash, PREFIX:thread:RUN.
func (s *Store) PutThread(ctx context.Context, run string, t wire.Thread, ttl time.Duration) error {
	if run == "" || ttl <= 0 {
		return fmt.Errorf("put thread %q: want a run id and a positive ttl", run)
	}
	key := s.key("thread", run)
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, key, map[string]any{
			"chat": t.Channel.Chat, "team": t.Channel.Team, "channel": t.Channel.ID, "channel_name": t.Channel.Name,
			"channel_ref": t.Channel.Ref, "id": t.ID, "ref": t.Ref,
		})
		p.PExpire(ctx, key, ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("put thread %q: %w", run, err)
	}
	return nil
}

// Thread reads run's thread back; ok is false once it has expired.
func (s *Store) Thread(ctx context.Context, run string) (wire.Thread, bool, error) {
	m, err := s.client.HGetAll(ctx, s.key("thread", run)).Result()
	if err != nil {
		return wire.Thread{}, false, fmt.Errorf("thread %q: %w", run, err)
	}
	if len(m) == 0 {
		return wire.Thread{}, false, nil
	}
	return wire.Thread{
		Channel: wire.Channel{Chat: m["chat"], Team: m["team"], ID: m["channel"], Name: m["channel_name"], Ref: m["channel_ref"]},
		ID:      m["id"], Ref: m["ref"],
	}, true, nil
}
