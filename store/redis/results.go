package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/wire"
)

// Results is wire.Results with routing for several bot processes.
//
// A result goes back to the bot process that opened the run (Job.ReplyTo,
// which the bot sets to its Instance): it holds the run's state — the
// answers so far, a 1024-port range's aggregation, the watch schedule, the
// Gate's release — so another process posting it would complete nothing.
// Each process therefore reads its own stream PREFIX:results:INSTANCE
// (plus PREFIX:results, for results addressed to nobody), with one blocking
// XREADGROUP over both.
//
// A process that dies leaves its stream behind: every process keeps a
// liveness key PREFIX:bot:INSTANCE (refreshed from Next, TTL HeartbeatTTL)
// and, every ClaimInterval, sweeps the streams of instances whose key
// expired (PREFIX:bots lists every instance ever published to). Their
// results — and those the dead process held unacked, after ResultClaimIdle
// — are then posted by whichever process finds them, on their own (the bot
// posts a result for a run it does not know as a standalone answer).
type Results struct {
	s      *Store
	shared string  // PREFIX:results: results with no ReplyTo
	own    string  // PREFIX:results:INSTANCE
	r      *reader // own stream, also reading shared

	mu        sync.Mutex
	orphans   map[string]*reader // by instance
	nextBeat  time.Time
	nextSweep time.Time
}

var _ wire.Results = (*Results)(nil)

func newResults(s *Store) *Results {
	rs := &Results{s: s, shared: s.key("results"), own: s.key("results", s.opts.Consumer), orphans: map[string]*reader{}}
	rs.r = newReader(s, rs.own, s.opts.BotGroup, "result", s.opts.ResultClaimIdle)
	rs.r.also = []*reader{newReader(s, rs.shared, s.opts.BotGroup, "result", s.opts.ResultClaimIdle)}
	rs.r.between = rs.between
	return rs
}

// Instance is this process's name for Job.ReplyTo (the store's Consumer):
// The bot names itself with it (Params.Instance), so results come back here.
func (rs *Results) Instance() string { return rs.s.opts.Consumer }

// streamFor is where a result for replyTo goes.
func (rs *Results) streamFor(replyTo string) string {
	if replyTo == "" {
		return rs.shared
	}
	return rs.s.key("results", replyTo)
}

// route adds, to a pipeline that publishes a result, the bookkeeping that
// lets the other processes find it should its addressee be dead.
func (rs *Results) route(ctx context.Context, p goredis.Pipeliner, replyTo string) {
	if replyTo != "" {
		p.SAdd(ctx, rs.s.key("bots"), replyTo)
	}
}

// Publish appends r to the stream of the bot process that opened its run
// (XADD MAXLEN ~), or to the shared stream when the job names none.
func (rs *Results) Publish(ctx context.Context, r wire.Result) error {
	replyTo := r.Job.ReplyTo // the closure captures this, not a heap copy of r
	stream := rs.streamFor(replyTo)
	if _, err := rs.s.addWith(ctx, stream, &r, rs.s.opts.ResultMaxAge, func(p goredis.Pipeliner) {
		rs.route(ctx, p, replyTo)
	}); err != nil {
		return fmt.Errorf("publish result of job %s: %w", r.Job.ID, err)
	}
	return nil
}

// Next blocks until a result for this process (or for nobody, or for a
// dead process) is available, or ctx is done. A result whose bot process
// died before Ack is redelivered after ResultClaimIdle: post it through
// MarkPosted so it is not posted twice.
func (rs *Results) Next(ctx context.Context) (wire.ResultDelivery, error) {
	for {
		e, err := rs.r.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("next result: %w", err)
		}
		from := e.from
		if from == nil {
			from = rs.r
		}
		var res wire.Result
		if err := json.Unmarshal([]byte(e.payload), &res); err != nil {
			if err := from.deadLetter(ctx, e, "undecodable result: "+err.Error(), ""); err != nil {
				return nil, fmt.Errorf("next result: %w", err)
			}
			continue
		}
		return &resultDelivery{r: from, id: e.id, res: res}, nil
	}
}

// between runs before each blocking read: it keeps this process's liveness
// key fresh and, when due, polls the streams of dead processes.
func (rs *Results) between(ctx context.Context) (entry, bool) {
	now := time.Now() // pacing uses the real clock, like the claim scans
	rs.mu.Lock()
	beat := !now.Before(rs.nextBeat)
	if beat {
		rs.nextBeat = now.Add(rs.s.opts.HeartbeatTTL / 3)
	}
	sweep := !now.Before(rs.nextSweep)
	if sweep {
		rs.nextSweep = now.Add(rs.s.opts.ClaimInterval)
	}
	rs.mu.Unlock()
	if beat {
		if err := rs.beat(ctx); err != nil {
			if !rs.s.health.noticed(err, "results liveness") {
				rs.s.opts.Logger.Warn("results liveness", "err", err)
			}
			rs.mu.Lock()
			rs.nextBeat = time.Time{} // retry at the next read
			rs.mu.Unlock()
		}
	}
	if !sweep {
		return entry{}, false
	}
	e, ok, err := rs.sweep(ctx)
	if err != nil && ctx.Err() == nil && !rs.s.health.noticed(err, "sweeping results of dead bot processes") {
		rs.s.opts.Logger.Warn("sweeping results of dead bot processes", "err", err)
	}
	if ok {
		// More may be waiting there: look again before the next block.
		rs.mu.Lock()
		rs.nextSweep = time.Time{}
		rs.mu.Unlock()
	}
	return e, ok
}

// beat marks this process alive for HeartbeatTTL and lifts any expiry a
// sweep put on its stream while it was thought dead.
func (rs *Results) beat(ctx context.Context) error {
	me := rs.Instance()
	_, err := rs.s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, rs.s.key("bot", me), rs.s.opts.Now().UTC().Format(time.RFC3339), rs.s.opts.HeartbeatTTL)
		p.SAdd(ctx, rs.s.key("bots"), me)
		p.Persist(ctx, rs.own)
		return nil
	})
	if err != nil {
		return fmt.Errorf("bot liveness: %w", err)
	}
	return nil
}

// sweep takes one entry from the stream of a dead bot process, if any. A
// dead process's empty stream is forgotten: removed from PREFIX:bots and
// set to expire after ResultMaxAge (a late publish re-adds it to the set,
// so it is swept again before it could expire unread).
func (rs *Results) sweep(ctx context.Context) (entry, bool, error) {
	members, err := rs.s.client.SMembers(ctx, rs.s.key("bots")).Result()
	if err != nil {
		return entry{}, false, fmt.Errorf("listing bot processes: %w", err)
	}
	var others []string
	for _, m := range members {
		if m != rs.Instance() {
			others = append(others, m)
		}
	}
	if len(others) == 0 {
		return entry{}, false, nil
	}
	keys := make([]string, len(others))
	for i, m := range others {
		keys[i] = rs.s.key("bot", m)
	}
	alive, err := rs.s.client.MGet(ctx, keys...).Result()
	if err != nil {
		return entry{}, false, fmt.Errorf("checking bot processes: %w", err)
	}
	for i, m := range others {
		if alive[i] != nil {
			continue
		}
		r := rs.orphan(m)
		e, ok, err := r.try(ctx)
		if goredis.HasErrorPrefix(err, "NOGROUP") {
			r.forgetGroup()
			continue
		}
		if err != nil {
			return entry{}, false, err
		}
		if ok {
			return e, true, nil
		}
		n, err := rs.s.client.XLen(ctx, r.stream).Result()
		if err != nil {
			return entry{}, false, fmt.Errorf("orphaned results of %s: %w", m, err)
		}
		if n == 0 {
			_, err := rs.s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
				p.SRem(ctx, rs.s.key("bots"), m)
				p.PExpire(ctx, r.stream, rs.s.opts.ResultMaxAge)
				return nil
			})
			if err != nil {
				return entry{}, false, fmt.Errorf("forgetting bot process %s: %w", m, err)
			}
			rs.mu.Lock()
			delete(rs.orphans, m)
			rs.mu.Unlock()
		}
	}
	return entry{}, false, nil
}

func (rs *Results) orphan(instance string) *reader {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r, ok := rs.orphans[instance]
	if !ok {
		r = newReader(rs.s, rs.streamFor(instance), rs.s.opts.BotGroup, "result", rs.s.opts.ResultClaimIdle)
		r.noBlock = true
		// Claim scans are paced by the sweep itself.
		r.nextClaim = time.Time{}
		rs.orphans[instance] = r
	}
	return r
}

type resultDelivery struct {
	r   *reader
	id  string
	res wire.Result
}

func (d *resultDelivery) Result() wire.Result { return d.res }

func (d *resultDelivery) Ack(ctx context.Context) error {
	if err := d.r.ack(ctx, d.id); err != nil {
		return fmt.Errorf("ack result of job %s: %w", d.res.Job.ID, err)
	}
	return nil
}
