package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Outbox is the bot's Outbox (bot.Outbox), by its methods: stores
// implement it without importing the bot.
type Outbox interface {
	Append(ctx context.Context, lane string, post []byte, due time.Time) error
	Take(ctx context.Context, now time.Time, lease time.Duration) (lane string, post []byte, ok bool, err error)
	Done(ctx context.Context, lane string, next time.Time) error
	Later(ctx context.Context, lane string, due time.Time) error
}

// TestOutbox is the contract of an Outbox: posts come out of a lane in
// order, a lane only when due, a taken lane is leased (not handed out
// again until the lease ends), and concurrent takers never get the same
// post at once.
func TestOutbox(t *testing.T, newOutbox func(t *testing.T) Outbox) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	const lease = time.Minute

	t.Run("lanes in order, each when due", func(t *testing.T) {
		o := newOutbox(t)
		ctx := ctxFor(t, wait)
		must(t, o.Append(ctx, "a", []byte("a1"), t0.Add(2*time.Second)))
		must(t, o.Append(ctx, "a", []byte("a2"), t0)) // a waiting lane keeps its time
		must(t, o.Append(ctx, "b", []byte("b1"), t0.Add(time.Second)))
		if lane, _, ok, err := o.Take(ctx, t0, lease); err != nil || ok {
			t.Fatalf("Take before anything is due = %q %v %v", lane, ok, err)
		}
		take := func(now time.Time, wantLane, wantPost string) {
			t.Helper()
			lane, p, ok, err := o.Take(ctx, now, lease)
			if err != nil || !ok || lane != wantLane || string(p) != wantPost {
				t.Fatalf("Take(%s) = %q %q %v %v, want %q %q", now.Sub(t0), lane, p, ok, err, wantLane, wantPost)
			}
		}
		take(t0.Add(3*time.Second), "b", "b1") // the one due first
		take(t0.Add(3*time.Second), "a", "a1")
		if lane, _, ok, _ := o.Take(ctx, t0.Add(3*time.Second), lease); ok {
			t.Fatalf("both lanes leased, yet %q was handed out", lane)
		}
		must(t, o.Done(ctx, "a", t0.Add(4*time.Second)))
		take(t0.Add(4*time.Second), "a", "a2")
		must(t, o.Done(ctx, "a", t0.Add(4*time.Second)))
		if lane, _, ok, _ := o.Take(ctx, t0.Add(time.Hour), lease); ok && lane == "a" {
			t.Fatal("an emptied lane came back")
		}
	})

	t.Run("later keeps the post, a lease runs out", func(t *testing.T) {
		o := newOutbox(t)
		ctx := ctxFor(t, wait)
		must(t, o.Append(ctx, "a", []byte("a1"), t0))
		if _, _, ok, _ := o.Take(ctx, t0, lease); !ok {
			t.Fatal("nothing taken")
		}
		must(t, o.Later(ctx, "a", t0.Add(120*time.Second)))
		if _, _, ok, _ := o.Take(ctx, t0.Add(119*time.Second), lease); ok {
			t.Fatal("taken before its Retry-After")
		}
		lane, p, ok, err := o.Take(ctx, t0.Add(120*time.Second), lease)
		if err != nil || !ok || lane != "a" || string(p) != "a1" {
			t.Fatalf("after Later: %q %q %v %v", lane, p, ok, err)
		}
		// The taker died: once the lease is over the post is handed out again.
		lane, p, ok, err = o.Take(ctx, t0.Add(120*time.Second+lease), lease)
		if err != nil || !ok || lane != "a" || string(p) != "a1" {
			t.Fatalf("after the lease: %q %q %v %v", lane, p, ok, err)
		}
	})

	t.Run("append while taken", func(t *testing.T) {
		o := newOutbox(t)
		ctx := ctxFor(t, wait)
		must(t, o.Append(ctx, "a", []byte("a1"), t0))
		if _, _, ok, _ := o.Take(ctx, t0, lease); !ok {
			t.Fatal("nothing taken")
		}
		must(t, o.Append(ctx, "a", []byte("a2"), t0))
		must(t, o.Done(ctx, "a", t0))
		lane, p, ok, err := o.Take(ctx, t0, lease)
		if err != nil || !ok || lane != "a" || string(p) != "a2" {
			t.Fatalf("the post appended while a1 was taken: %q %q %v %v", lane, p, ok, err)
		}
	})

	t.Run("concurrent takers share nothing", func(t *testing.T) {
		o := newOutbox(t)
		ctx := ctxFor(t, 2*wait)
		const lanes = 20
		for i := range lanes {
			must(t, o.Append(ctx, fmt.Sprint("l", i), []byte(fmt.Sprint("p", i)), t0))
		}
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					lane, _, ok, err := o.Take(ctx, t0, lease)
					if err != nil {
						t.Error(err)
						return
					}
					if !ok {
						return
					}
					mu.Lock()
					got[lane]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(got) != lanes {
			t.Errorf("%d lanes taken, want %d", len(got), lanes)
		}
		for lane, n := range got {
			if n != 1 {
				t.Errorf("lane %s taken %d times under one lease", lane, n)
			}
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
