package memory

import (
	"context"
	"testing"
	"time"

	"github.com/portcheck/portcheck/wire"
)

func TestQueueStats(t *testing.T) {
	ctx := context.Background()
	q := NewQueue()
	now := time.Now()
	for _, j := range []wire.Job{
		{ID: "a1", Vantage: "a", EnqueuedAt: now.Add(-3 * time.Second)},
		{ID: "a2", Vantage: "a", EnqueuedAt: now},
		{ID: "b1", Vantage: "b"}, // no EnqueuedAt: depth only
	} {
		if err := q.Enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := q.QueueStats(ctx)
	if len(st) != 2 || st[0].Depth != 2 || st[1].Depth != 1 || st[1].Oldest != 0 {
		t.Fatalf("stats %+v", st)
	}
	if st[0].Oldest < 3*time.Second || st[0].Oldest > time.Minute {
		t.Errorf("oldest %s", st[0].Oldest)
	}
	if _, err := q.Next(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if st, _ := q.QueueStats(ctx); st[0].Depth != 1 || st[0].Oldest > time.Second {
		t.Errorf("after a delivery: %+v", st)
	}
}
