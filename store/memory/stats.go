package memory

import (
	"context"
	"sort"
	"time"

	"github.com/portcheck/portcheck/wire"
)

var _ wire.QueueStatser = (*Queue)(nil)

// QueueStats reports the jobs waiting per vantage (in-flight ones are
// already out of the queue: memory deliveries are not tracked) and the age
// of the oldest, from its EnqueuedAt.
func (q *Queue) QueueStats(ctx context.Context) ([]wire.QueueStat, error) {
	q.mu.Lock()
	names := make([]string, 0, len(q.vantages))
	fifos := make(map[string]*fifo[wire.Job], len(q.vantages))
	for v, f := range q.vantages {
		names = append(names, v)
		fifos[v] = f
	}
	q.mu.Unlock()
	sort.Strings(names)
	now := time.Now()
	out := make([]wire.QueueStat, 0, len(names))
	for _, v := range names {
		f := fifos[v]
		f.mu.Lock()
		st := wire.QueueStat{Vantage: v, Depth: len(f.items) - f.head}
		if st.Depth > 0 && !f.items[f.head].EnqueuedAt.IsZero() {
			st.Oldest = max(now.Sub(f.items[f.head].EnqueuedAt), 0)
		}
		f.mu.Unlock()
		out = append(out, st)
	}
	return out, nil
}
