package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
)

// A worker that dies holding a job (never acks) loses it to another worker
// once the job has been idle for ClaimIdle; the survivor sees Attempt 2.
func TestClaimTakeoverAfterConsumerDies(t *testing.T) {
	srv := redistest.Start(t)
	o := rstore.Options{Prefix: "takeover", ClaimIdle: 300 * time.Millisecond}
	dying := open(t, srv, withConsumer(o, "dying"))
	survivor := open(t, srv, withConsumer(o, "survivor"))

	ctx := ctxFor(t, 10*time.Second)
	if err := dying.Queue().Enqueue(ctx, job("j1", "office")); err != nil {
		t.Fatal(err)
	}
	d := mustNext(t, dying.Queue(), "office", 2*time.Second)
	if d.Job().Attempt != 1 {
		t.Errorf("first delivery Attempt = %d, want 1", d.Job().Attempt)
	}
	_ = dying.Close() // dies mid-job: no Ack

	start := time.Now()
	d2 := mustNext(t, survivor.Queue(), "office", 5*time.Second)
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("taken over after %v, before ClaimIdle", el)
	}
	if d2.Job().ID != "j1" || d2.Job().Attempt != 2 {
		t.Errorf("takeover got %s attempt %d, want j1 attempt 2", d2.Job().ID, d2.Job().Attempt)
	}
	if err := d2.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	noNext(t, survivor.Queue(), "office", 700*time.Millisecond)
}

// A job that is never acked is delivered MaxDeliveries times, then moved to
// the dead-letter stream, and an error Result with Job.DeadLetter tells the
// bot side.
func TestDeadLetterAfterMaxDeliveries(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, rstore.Options{MaxDeliveries: 2, ClaimIdle: 100 * time.Millisecond})
	ctx := ctxFor(t, 10*time.Second)
	if err := s.Queue().Enqueue(ctx, job("poison", "office")); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 2; want++ {
		d := mustNext(t, s.Queue(), "office", 3*time.Second)
		if d.Job().ID != "poison" || d.Job().Attempt != want {
			t.Fatalf("delivery %d: got %s attempt %d", want, d.Job().ID, d.Job().Attempt)
		}
		// no Ack: the worker "crashed"
	}
	noNext(t, s.Queue(), "office", time.Second)

	rd, err := s.Results().Next(ctxFor(t, 2*time.Second))
	if err != nil {
		t.Fatalf("no dead-letter result: %v", err)
	}
	r := rd.Result()
	if r.Job.ID != "poison" || !r.Job.DeadLetter || !strings.Contains(r.Error, "gave up after 2 attempts") || r.Job.Attempt != 2 {
		t.Errorf("dead-letter result = job %s dead=%v attempt=%d error=%q", r.Job.ID, r.Job.DeadLetter, r.Job.Attempt, r.Error)
	}
	_ = rd.Ack(ctx)

	dl, err := s.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 1 || dl[0].Kind != "job" || dl[0].Deliveries != 2 || dl[0].Stream == "" {
		t.Fatalf("DeadLetters = %+v, want one job delivered 2 times", dl)
	}
}

// An entry nobody can decode is dead-lettered at once instead of being
// redelivered, and the queue moves on to the next job.
func TestUndecodableJobIsDeadLettered(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, rstore.Options{Prefix: "garbage"})
	ctx := ctxFor(t, 5*time.Second)
	if err := s.Client().XAdd(ctx, &goredis.XAddArgs{Stream: "garbage:jobs:office", Values: []any{"data", "{not json"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Queue().Enqueue(ctx, job("good", "office")); err != nil {
		t.Fatal(err)
	}
	if d := mustNext(t, s.Queue(), "office", 2*time.Second); d.Job().ID != "good" {
		t.Errorf("got %s, want good", d.Job().ID)
	}
	dl, err := s.DeadLetters(ctx, 10)
	if err != nil || len(dl) != 1 || dl[0].Payload != "{not json" {
		t.Fatalf("DeadLetters = %+v, %v", dl, err)
	}
}

// Redis crashes (SIGKILL) and restarts with AOF (appendfsync always) while
// jobs are queued and some are in flight: every job not acked comes back,
// and so do unread results and posted markers.
func TestRestartWithAOFLosesNothing(t *testing.T) {
	srv := redistest.Start(t, redistest.AppendOnly("always"))
	o := rstore.Options{Prefix: "aof", ClaimIdle: 200 * time.Millisecond}
	s := open(t, srv, o)
	ctx := ctxFor(t, 30*time.Second)
	const n = 50
	for i := range n {
		if err := s.Queue().Enqueue(ctx, job(fmt.Sprintf("j%02d", i), "office")); err != nil {
			t.Fatal(err)
		}
	}
	acked := map[string]bool{}
	for range 10 {
		d := mustNext(t, s.Queue(), "office", 2*time.Second)
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		acked[d.Job().ID] = true
	}
	for range 5 { // in flight when Redis dies
		mustNext(t, s.Queue(), "office", 2*time.Second)
	}
	for i := range 3 { // results not yet read by a bot
		if err := s.Results().Publish(ctx, resultFor(fakeDelivery{job(fmt.Sprintf("r%d", i), "office")})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.MarkPosted(ctx, "posted-before-crash"); err != nil {
		t.Fatal(err)
	}

	srv.Kill()
	srv.Restart()

	s2 := open(t, srv, withConsumer(o, "after-restart"))
	for i := range 3 {
		rd, err := s2.Results().Next(ctxFor(t, 5*time.Second))
		if err != nil {
			t.Fatalf("result %d lost in the crash: %v", i, err)
		}
		if got, want := rd.Result().Job.ID, fmt.Sprintf("r%d", i); got != want {
			t.Errorf("result %d = %s, want %s", i, got, want)
		}
		_ = rd.Ack(ctx)
	}
	if first, err := s2.MarkPosted(ctx, "posted-before-crash"); err != nil || first {
		t.Errorf("posted marker lost in the crash: first=%v err=%v", first, err)
	}
	got := map[string]bool{}
	for len(got) < n-len(acked) {
		d, err := s2.Queue().Next(ctxFor(t, 5*time.Second), "office")
		if err != nil {
			t.Fatalf("after restart, got %d of %d jobs: %v", len(got), n-len(acked), err)
		}
		id := d.Job().ID
		if acked[id] {
			t.Errorf("job %s was acked before the crash but came back", id)
		}
		got[id] = true
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	noNext(t, s2.Queue(), "office", 500*time.Millisecond)
}

// With Redis stopped, Enqueue fails quickly with an error (ingress can tell
// the user inside the chat's deadline) and works again once Redis is back;
// a worker blocked in Next rides out the outage.
func TestRedisDownThenBack(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, rstore.Options{Prefix: "down"})
	worker := open(t, srv, rstore.Options{Prefix: "down", Consumer: "w"})
	ctx := ctxFor(t, 30*time.Second)

	got := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		d, err := worker.Queue().Next(ctx, "office")
		if err != nil {
			errc <- err
			return
		}
		_ = d.Ack(ctx)
		got <- d.Job().ID
	}()
	time.Sleep(200 * time.Millisecond) // the worker is blocked in XREADGROUP

	srv.Stop()
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	err := s.Queue().Enqueue(ectx, job("while-down", "office"))
	if err == nil {
		t.Fatal("Enqueue with Redis stopped returned nil")
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Enqueue took %v to fail, want < 3s", el)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Enqueue error should be Redis's, not our deadline: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping with Redis stopped returned nil")
	}
	time.Sleep(300 * time.Millisecond) // let the worker hit the outage and back off

	srv.Restart() // no persistence: the group is gone too, and is recreated
	if err := s.Queue().Enqueue(ctx, job("after", "office")); err != nil {
		t.Fatalf("Enqueue after restart: %v", err)
	}
	select {
	case id := <-got:
		if id != "after" {
			t.Errorf("worker got %s, want after", id)
		}
	case err := <-errc:
		t.Fatalf("worker's Next gave up: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not recover after Redis came back")
	}
}

// A worker that posts its result and crashes before Ack is retried; the
// second result is the same job, and MarkPosted lets only one be posted.
func TestCrashAfterPublishBeforeAckPostsOnce(t *testing.T) {
	srv := redistest.Start(t)
	o := rstore.Options{Prefix: "once", ClaimIdle: 200 * time.Millisecond}
	w1 := open(t, srv, withConsumer(o, "w1"))
	w2 := open(t, srv, withConsumer(o, "w2"))
	botSide := open(t, srv, withConsumer(o, "bot"))
	ctx := ctxFor(t, 10*time.Second)

	if err := botSide.Queue().Enqueue(ctx, job("j", "office")); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*rstore.Store{w1, w2} {
		d := mustNext(t, w.Queue(), "office", 3*time.Second)
		if err := w.Results().Publish(ctx, resultFor(d)); err != nil {
			t.Fatal(err)
		}
		if w == w1 {
			continue // w1 crashes before Ack
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	posted := 0
	for range 2 {
		rd, err := botSide.Results().Next(ctxFor(t, 2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		first, err := botSide.MarkPosted(ctx, rd.Result().Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if first {
			posted++
		}
		_ = rd.Ack(ctx)
	}
	if posted != 1 {
		t.Errorf("posted %d times, want exactly once", posted)
	}
}

// A bot process that dies holding a result loses it to another after
// ResultClaimIdle.
func TestResultTakeover(t *testing.T) {
	srv := redistest.Start(t)
	o := rstore.Options{Prefix: "rt", ResultClaimIdle: 200 * time.Millisecond}
	b1 := open(t, srv, withConsumer(o, "b1"))
	b2 := open(t, srv, withConsumer(o, "b2"))
	ctx := ctxFor(t, 10*time.Second)
	if err := b1.Results().Publish(ctx, resultFor(fakeDelivery{job("r", "office")})); err != nil {
		t.Fatal(err)
	}
	if _, err := b1.Results().Next(ctx); err != nil {
		t.Fatal(err)
	}
	_ = b1.Close()
	rd, err := b2.Results().Next(ctxFor(t, 3*time.Second))
	if err != nil {
		t.Fatalf("result not taken over: %v", err)
	}
	if rd.Result().Job.ID != "r" {
		t.Errorf("got %s", rd.Result().Job.ID)
	}
}

func TestMarkPostedIdempotent(t *testing.T) {
	srv := redistest.Start(t)
	a := open(t, srv, rstore.Options{Prefix: "mp"})
	b := open(t, srv, rstore.Options{Prefix: "mp"}) // another bot process
	ctx := ctxFor(t, 5*time.Second)
	steps := []struct {
		name   string
		store  *rstore.Store
		unmark bool
		want   bool
	}{
		{"first post", a, false, true},
		{"redelivery, same process", a, false, false},
		{"redelivery, other process", b, false, false},
		{"after the post failed and was unmarked", b, true, true},
		{"and again", a, false, false},
	}
	for _, st := range steps {
		if st.unmark {
			if err := st.store.UnmarkPosted(ctx, "job-1"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.store.MarkPosted(ctx, "job-1")
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.want {
			t.Errorf("%s: first = %v, want %v", st.name, got, st.want)
		}
	}
	if _, err := a.MarkPosted(ctx, ""); err == nil {
		t.Error("MarkPosted with an empty job id must fail")
	}
}

func withConsumer(o rstore.Options, c string) rstore.Options {
	o.Consumer = c
	return o
}

// Many goroutines waiting in Next (a worker's pool) hold one connection in
// BLOCK, not one each, so Publish and Ack still get connections at once.
func TestManyWaitingNextDoNotStarvePool(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, rstore.Options{Block: 3 * time.Second})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	got := make(chan string, 64)
	for range 64 { // more than go-redis's default pool (10 per CPU)
		go func() {
			if d, err := s.Queue().Next(ctx, "office"); err == nil {
				got <- d.Job().ID
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // all waiting
	tctx := ctxFor(t, 5*time.Second)
	start := time.Now()
	if err := s.Results().Publish(tctx, resultFor(fakeDelivery{job("r", "office")})); err != nil {
		t.Fatal(err)
	}
	if err := s.Queue().Enqueue(tctx, job("j", "office")); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("Publish+Enqueue took %v with 64 goroutines in Next", el)
	}
	select {
	case id := <-got:
		if id != "j" {
			t.Errorf("got %s", id)
		}
	case <-tctx.Done():
		t.Fatal("no waiting Next got the job")
	}
}

// Jobs older than MaxAge are dropped when the next job is added; with a
// negative MaxAge nothing is dropped by age.
func TestMaxAgeTrimsStaleJobs(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range []struct {
		name   string
		maxAge time.Duration
		want   []string
	}{
		{"trimmed", 300 * time.Millisecond, []string{"fresh"}},
		{"never", -1, []string{"stale", "fresh"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, srv, rstore.Options{MaxAge: tc.maxAge})
			ctx := ctxFor(t, 5*time.Second)
			if err := s.Queue().Enqueue(ctx, job("stale", "office")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			if err := s.Queue().Enqueue(ctx, job("fresh", "office")); err != nil {
				t.Fatal(err)
			}
			var got []string
			for {
				d, err := s.Queue().Next(ctxFor(t, 400*time.Millisecond), "office")
				if err != nil {
					break
				}
				got = append(got, d.Job().ID)
				_ = d.Ack(ctx)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// Consumers left behind by dead processes (nothing pending, idle past
// ConsumerIdle) are removed from the group; ones holding jobs stay.
func TestIdleConsumersPruned(t *testing.T) {
	srv := redistest.Start(t)
	o := rstore.Options{Prefix: "prune", ConsumerIdle: 300 * time.Millisecond, ClaimIdle: time.Hour}
	ctx := ctxFor(t, 10*time.Second)
	holder := open(t, srv, withConsumer(o, "holder"))
	idle := open(t, srv, withConsumer(o, "idle"))
	consumers := func() string {
		cs, err := holder.Client().XInfoConsumers(ctx, "prune:jobs:office", "workers").Result()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range cs {
			names = append(names, c.Name)
		}
		return fmt.Sprint(names)
	}
	for _, id := range []string{"done", "held"} {
		if err := holder.Queue().Enqueue(ctx, job(id, "office")); err != nil {
			t.Fatal(err)
		}
	}
	if err := mustNext(t, idle.Queue(), "office", 2*time.Second).Ack(ctx); err != nil { // idle: nothing pending
		t.Fatal(err)
	}
	mustNext(t, holder.Queue(), "office", 2*time.Second) // pending on holder
	if got := consumers(); got != "[holder idle]" {
		t.Fatalf("consumers before = %s", got)
	}
	time.Sleep(400 * time.Millisecond)

	pruner := open(t, srv, withConsumer(o, "pruner"))
	noNext(t, pruner.Queue(), "office", 300*time.Millisecond)
	if got := consumers(); got != "[holder]" {
		t.Errorf("consumers after pruning = %s, want [holder]", got)
	}
}
