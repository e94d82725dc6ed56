package redis_test

import (
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/wire"
)

// A released job goes to another consumer at its next claim scan, long
// before ClaimIdle, as the second attempt; the releasing consumer keeps
// nothing.
func TestReleaseHandsAJobBackAtOnce(t *testing.T) {
	srv := redistest.Start(t)
	o := rstore.Options{Prefix: "release", ClaimIdle: time.Hour}
	draining := open(t, srv, withConsumer(o, "draining"))
	other := open(t, srv, withConsumer(o, "other"))
	ctx := ctxFor(t, 10*time.Second)
	if err := draining.Queue().Enqueue(ctx, job("j1", "v")); err != nil {
		t.Fatal(err)
	}
	d := mustNext(t, draining.Queue(), "v", 2*time.Second)
	noNext(t, other.Queue(), "v", 200*time.Millisecond) // held by draining, ClaimIdle an hour away
	if err := d.Release(ctx); err != nil {
		t.Fatal(err)
	}
	got := mustNext(t, other.Queue(), "v", 2*time.Second)
	if got.Job().ID != "j1" || got.Job().Attempt != 2 {
		t.Errorf("got %s attempt %d, want j1 attempt 2", got.Job().ID, got.Job().Attempt)
	}
	if err := got.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// Acking the released delivery late is harmless.
	if err := d.Ack(ctx); err != nil {
		t.Errorf("late ack: %v", err)
	}
}

func TestQueueStats(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, rstore.Options{})
	ctx := ctxFor(t, 10*time.Second)
	q := s.Queue()
	if st, err := q.QueueStats(ctx); err != nil || len(st) != 0 {
		t.Fatalf("empty: %v %v", st, err)
	}
	for _, j := range []wire.Job{job("a1", "a"), job("a2", "a"), job("b1", "b")} {
		if err := q.Enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	d := mustNext(t, q, "a", 2*time.Second) // in flight still counts: not answered yet
	st, err := q.QueueStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Vantage != "a" || st[0].Depth != 2 || st[1].Vantage != "b" || st[1].Depth != 1 {
		t.Fatalf("stats %+v", st)
	}
	if st[0].Oldest < 20*time.Millisecond || st[0].Oldest > time.Minute {
		t.Errorf("oldest %s", st[0].Oldest)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := q.QueueStats(ctx); st[0].Depth != 1 {
		t.Errorf("after ack: %+v", st)
	}
}
