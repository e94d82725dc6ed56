package redis_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/wire"
)

// collect reads results from rs until ctx is done, acking each.
func collect(ctx context.Context, rs wire.Results) (got []string, stop func() []string) {
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			d, err := rs.Next(ctx)
			if err != nil {
				return
			}
			_ = d.Ack(context.WithoutCancel(ctx))
			mu.Lock()
			got = append(got, d.Result().Job.ID)
			mu.Unlock()
		}
	}()
	return nil, func() []string {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

func routedResult(id, replyTo string) wire.Result {
	j := job(id, "office")
	j.ReplyTo = replyTo
	return wire.Result{Job: j, Finished: time.Now()}
}

// Each result reaches the bot process that opened its run (Job.ReplyTo),
// never another live one; results addressed to nobody reach someone.
func TestResultsRouteToTheirBotProcess(t *testing.T) {
	srv := redistest.Start(t)
	o := rstore.Options{Prefix: "route"}
	a := open(t, srv, withConsumer(o, "botA"))
	b := open(t, srv, withConsumer(o, "botB"))
	if a.Results().Instance() != "botA" {
		t.Fatalf("Instance() = %q, want the consumer name", a.Results().Instance())
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, stopA := collect(ctx, a.Results())
	_, stopB := collect(ctx, b.Results())
	time.Sleep(200 * time.Millisecond) // both announced alive

	pctx := ctxFor(t, 5*time.Second)
	for i := range 10 {
		for _, to := range []string{"botA", "botB"} {
			if err := a.Results().Publish(pctx, routedResult(fmt.Sprintf("%s-%d", to, i), to)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Results().Publish(pctx, routedResult("anyone", "")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	cancel()
	gotA, gotB := stopA(), stopB()
	count := func(got []string, prefix string) (n int) {
		for _, id := range got {
			if len(id) >= len(prefix) && id[:len(prefix)] == prefix {
				n++
			}
		}
		return n
	}
	if count(gotA, "botA-") != 10 || count(gotA, "botB-") != 0 || count(gotB, "botB-") != 10 || count(gotB, "botA-") != 0 {
		t.Errorf("misrouted:\nA got %v\nB got %v", gotA, gotB)
	}
	if count(gotA, "anyone")+count(gotB, "anyone") != 1 {
		t.Errorf("the unaddressed result was delivered %d times, want once", count(gotA, "anyone")+count(gotB, "anyone"))
	}
}

// A bot process that died leaves results behind (published after its death,
// and one it had read but not acked): a live process posts them.
func TestResultsOfADeadBotProcessAreTakenOver(t *testing.T) {
	srv := redistest.Start(t)
	o := rstore.Options{Prefix: "orphan", HeartbeatTTL: 300 * time.Millisecond, ResultClaimIdle: 300 * time.Millisecond}
	dead := open(t, srv, withConsumer(o, "dead"))
	ctx := ctxFor(t, 10*time.Second)
	if err := dead.Results().Publish(ctx, routedResult("held", "dead")); err != nil {
		t.Fatal(err)
	}
	d, err := dead.Results().Next(ctx) // read, never acked: the process dies
	if err != nil || d.Result().Job.ID != "held" {
		t.Fatalf("Next = %v, %v", d, err)
	}
	_ = dead.Close()
	if err := open(t, srv, withConsumer(o, "worker")).Results().Publish(ctx, routedResult("late", "dead")); err != nil {
		t.Fatal(err)
	}

	live := open(t, srv, withConsumer(o, "live"))
	got := map[string]bool{}
	for len(got) < 2 {
		d, err := live.Results().Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		if got[d.Result().Job.ID] {
			t.Fatalf("%s delivered twice", d.Result().Job.ID)
		}
		got[d.Result().Job.ID] = true
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !got["held"] || !got["late"] {
		t.Errorf("took over %v, want held and late", got)
	}
}

// A job dead-lettered by the queue tells the bot process that opened it.
func TestDeadLetterResultRoutedToReplyTo(t *testing.T) {
	srv := redistest.Start(t)
	o := rstore.Options{Prefix: "dlroute", ClaimIdle: 100 * time.Millisecond, MaxDeliveries: 1}
	botA := open(t, srv, withConsumer(o, "botA"))
	ctx := ctxFor(t, 10*time.Second)
	j := job("poison", "office")
	j.ReplyTo = "botA"
	if err := botA.Queue().Enqueue(ctx, j); err != nil {
		t.Fatal(err)
	}
	w1 := open(t, srv, withConsumer(o, "w1"))
	mustNext(t, w1.Queue(), "office", 5*time.Second) // taken, never acked
	w2 := open(t, srv, withConsumer(o, "w2"))
	noNext(t, w2.Queue(), "office", 500*time.Millisecond) // over the limit: dead-lettered, not run
	d, err := botA.Results().Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := d.Result(); r.Job.ID != "poison" || !r.Job.DeadLetter || r.Job.ReplyTo != "botA" {
		t.Errorf("got %+v", r.Job)
	}
}

// One XREADGROUP over the own and the shared stream can deliver an entry
// from each (COUNT is per stream): both are handed out, neither waits for
// a takeover.
func TestOwnAndSharedResultsInOneRead(t *testing.T) {
	srv := redistest.Start(t)
	a := open(t, srv, withConsumer(rstore.Options{Prefix: "both"}, "botA"))
	ctx := ctxFor(t, 5*time.Second)
	if _, err := a.Results().Next(ctxFor(t, 150*time.Millisecond)); err == nil {
		t.Fatal("nothing published yet")
	}
	for _, r := range []wire.Result{routedResult("mine", "botA"), routedResult("anyone", "")} {
		if err := a.Results().Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]bool{}
	for range 2 {
		d, err := a.Results().Next(ctxFor(t, time.Second))
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got[d.Result().Job.ID] = true
	}
	if !got["mine"] || !got["anyone"] {
		t.Errorf("got %v", got)
	}
}
