package redis

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/wire"
)

var (
	_ wire.QueueStatser = (*Queue)(nil)
)

// Release hands an unfinished job back (a worker draining on SIGTERM):
// Redis has no NACK, so the entry is re-claimed by its own consumer with
// its idle time set to ClaimIdle, which makes it due for the very next
// XAUTOCLAIM scan of any other worker instead of minutes later. JUSTID
// leaves the delivery counter alone: the next claim counts the attempt.
func (d *delivery) Release(ctx context.Context) error {
	r := d.r
	idle := r.claimIdle.Milliseconds() + 1
	err := r.s.client.Do(ctx, "XCLAIM", r.stream, r.group, r.s.opts.Consumer, 0, d.e.id,
		"IDLE", idle, "JUSTID").Err()
	if err != nil && err != goredis.Nil {
		return fmt.Errorf("hand back job %s: %w", d.job.ID, err)
	}
	return nil
}

// QueueStats reports, per vantage stream, the jobs not yet acked (waiting
// plus in flight: acked entries are deleted) and the age of the oldest,
// read from its entry id's millisecond timestamp.
func (q *Queue) QueueStats(ctx context.Context) ([]wire.QueueStat, error) {
	prefix := q.stream("")
	var streams []string
	iter := q.s.client.ScanType(ctx, 0, prefix+"*", 100, "stream").Iterator()
	for iter.Next(ctx) {
		streams = append(streams, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("listing job streams: %w", err)
	}
	sort.Strings(streams)
	now := q.s.opts.Now()
	out := make([]wire.QueueStat, 0, len(streams))
	for _, s := range streams {
		var n *goredis.IntCmd
		var first *goredis.XMessageSliceCmd
		_, err := q.s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			n = p.XLen(ctx, s)
			first = p.XRangeN(ctx, s, "-", "+", 1)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", s, err)
		}
		st := wire.QueueStat{Vantage: strings.TrimPrefix(s, prefix), Depth: int(n.Val())}
		if msgs := first.Val(); len(msgs) > 0 {
			ms, _, _ := strings.Cut(msgs[0].ID, "-")
			if t, err := strconv.ParseInt(ms, 10, 64); err == nil {
				st.Oldest = max(now.Sub(time.UnixMilli(t)), 0)
			}
		}
		out = append(out, st)
	}
	return out, nil
}
