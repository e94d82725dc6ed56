package wire

import (
	"context"
	"time"
)

// QueueStat is one vantage's backlog, for the queue depth and pending age
// metrics: jobs not yet answered (waiting or in flight) and how long the
// oldest of them has waited.
type QueueStat struct {
	Vantage string
	Depth   int
	Oldest  time.Duration
}

// QueueStatser is a Queue that can report its backlog. Optional: the
// sampler in cmd/portcheck skips queues without it.
type QueueStatser interface {
	QueueStats(ctx context.Context) ([]QueueStat, error)
}
