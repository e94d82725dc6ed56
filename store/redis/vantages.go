package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/wire"
)

var _ wire.Claims = (*Store)(nil)

// VantageInfo is one live worker's registration.
type VantageInfo struct {
	Name     string            `json:"name"`   // the vantage it serves, e.g. "office"
	Worker   string            `json:"worker"` // this worker process (default: the store's Consumer)
	Version  string            `json:"version,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	LastSeen time.Time         `json:"last_seen"` // set by Register
}

// Register records that a worker serves info.Name for the next
// HeartbeatTTL. Each registration is its own key with a TTL, so expiry is
// Redis's clock, not the hosts': a worker that stops refreshing disappears.
func (s *Store) Register(ctx context.Context, info VantageInfo) error {
	if err := validVantage(info.Name); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if info.Worker == "" {
		info.Worker = s.opts.Consumer
	}
	info.LastSeen = s.opts.Now().UTC()
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("register %s: %w", info.Name, err)
	}
	member := info.Name + ":" + info.Worker
	_, err = s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, s.key("vantage", member), b, s.opts.HeartbeatTTL)
		p.SAdd(ctx, s.key("vantages"), member)
		return nil
	})
	if err != nil {
		return fmt.Errorf("register %s: %w", info.Name, err)
	}
	return nil
}

// Unregister removes a worker's registration at once (a clean shutdown),
// instead of letting it expire.
func (s *Store) Unregister(ctx context.Context, name, worker string) error {
	if worker == "" {
		worker = s.opts.Consumer
	}
	member := name + ":" + worker
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, s.key("vantage", member))
		p.SRem(ctx, s.key("vantages"), member)
		return nil
	})
	if err != nil {
		return fmt.Errorf("unregister %s: %w", name, err)
	}
	return nil
}

// Vantages lists the names of the vantages at least one live worker
// serves, sorted (the bot's Vantages).
func (s *Store) Vantages(ctx context.Context) ([]string, error) {
	ws, err := s.Workers(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, w := range ws {
		if len(names) == 0 || names[len(names)-1] != w.Name {
			names = append(names, w.Name)
		}
	}
	return names, nil
}

// Workers lists the live worker registrations, sorted by vantage name then
// worker; several workers may serve one vantage. Expired members are pruned
// from the index on the way.
func (s *Store) Workers(ctx context.Context) ([]VantageInfo, error) {
	members, err := s.client.SMembers(ctx, s.key("vantages")).Result()
	if err != nil {
		return nil, fmt.Errorf("listing vantages: %w", err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	keys := make([]string, len(members))
	for i, m := range members {
		keys[i] = s.key("vantage", m)
	}
	vals, err := s.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("listing vantages: %w", err)
	}
	var live []VantageInfo
	var gone []any
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			gone = append(gone, members[i])
			continue
		}
		var info VantageInfo
		if err := json.Unmarshal([]byte(str), &info); err != nil {
			gone = append(gone, members[i])
			continue
		}
		live = append(live, info)
	}
	if len(gone) > 0 {
		// A worker that re-registered between MGET and here is re-added
		// by its next heartbeat: pruning is safe.
		if err := s.client.SRem(ctx, s.key("vantages"), gone...).Err(); err != nil && !s.health.noticed(err, "pruning expired vantages") {
			s.opts.Logger.Warn("pruning expired vantages", "err", err)
		}
	}
	slices.SortFunc(live, func(a, b VantageInfo) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Worker, b.Worker))
	})
	return live, nil
}

// Heartbeat registers info now and every HeartbeatTTL/3 until ctx is done,
// then unregisters. Failed refreshes are retried at the next tick; an
// outage is logged once, by the Store, however long it lasts. It returns ctx's error, or the first registration's error
// if that one fails for a reason retrying cannot fix.
func (s *Store) Heartbeat(ctx context.Context, info VantageInfo) error {
	if info.Worker == "" {
		info.Worker = s.opts.Consumer
	}
	if err := s.Register(ctx, info); err != nil {
		if !transient(err) && ctx.Err() == nil {
			return err
		}
		if !s.health.noticed(err, "heartbeat") {
			s.opts.Logger.Warn("heartbeat", "vantage", info.Name, "err", err)
		}
	} else {
		s.health.up()
	}
	t := time.NewTicker(s.opts.HeartbeatTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// Unregister with a fresh, short context: ours is done.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			if err := s.Unregister(uctx, info.Name, info.Worker); err != nil {
				s.opts.Logger.Warn("unregister", "vantage", info.Name, "err", err)
			}
			cancel()
			return fmt.Errorf("heartbeat %s: %w", info.Name, ctx.Err())
		case <-t.C:
			switch err := s.Register(ctx, info); {
			case err == nil:
				s.health.up()
			case errors.Is(err, context.Canceled), s.health.noticed(err, "heartbeat"):
				// shutting down, or part of an outage already logged
			default:
				s.opts.Logger.Warn("heartbeat", "vantage", info.Name, "err", err)
			}
		}
	}
}
