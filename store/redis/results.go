package redis

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/portcheck/portcheck/bot"
)

// Results is bot.Results on one stream read by the bot processes' consumer
// group: each result goes to one bot process.
type Results struct {
	s      *Store
	stream string
	r      *reader
}

var _ bot.Results = (*Results)(nil)

func newResults(s *Store) *Results {
	stream := s.key("results")
	return &Results{s: s, stream: stream, r: newReader(s, stream, s.opts.BotGroup, "result", s.opts.ResultClaimIdle)}
}

// Publish appends r to the results stream (XADD MAXLEN ~).
func (rs *Results) Publish(ctx context.Context, r bot.Result) error {
	if _, err := rs.s.add(ctx, rs.stream, r, rs.s.opts.ResultMaxAge); err != nil {
		return fmt.Errorf("publish result of job %s: %w", r.Job.ID, err)
	}
	return nil
}

// Next blocks until a result is available or ctx is done. A result whose
// bot process died before Ack is redelivered after ResultClaimIdle: post it
// through MarkPosted so it is not posted twice.
func (rs *Results) Next(ctx context.Context) (bot.ResultDelivery, error) {
	for {
		e, err := rs.r.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("next result: %w", err)
		}
		var res bot.Result
		if err := json.Unmarshal([]byte(e.payload), &res); err != nil {
			if err := rs.r.deadLetter(ctx, e, "undecodable result: "+err.Error()); err != nil {
				return nil, fmt.Errorf("next result: %w", err)
			}
			continue
		}
		return &resultDelivery{r: rs.r, id: e.id, res: res}, nil
	}
}

type resultDelivery struct {
	r   *reader
	id  string
	res bot.Result
}

func (d *resultDelivery) Result() bot.Result { return d.res }

func (d *resultDelivery) Ack(ctx context.Context) error {
	if err := d.r.ack(ctx, d.id); err != nil {
		return fmt.Errorf("ack result of job %s: %w", d.res.Job.ID, err)
	}
	return nil
}
