package bot_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/store/memory"
	"github.com/portcheck/portcheck/wire"
)

func newWorker(t *testing.T, c bot.Checker, mod func(*bot.WorkerParams)) (*bot.Worker, *memory.Queue, *memory.Results) {
	t.Helper()
	q, rs := memory.NewQueue(), memory.NewResults()
	p := bot.WorkerParams{Queue: q, Results: rs, Checker: c, Concurrency: 2, Grace: 20 * time.Millisecond, ProgressAfter: -1}
	if mod != nil {
		mod(&p)
	}
	w, err := bot.NewWorker(p)
	if err != nil {
		t.Fatal(err)
	}
	return w, q, rs
}

func TestWorkerAbandonsACheckerThatIgnoresItsDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	w, _, _ := newWorker(t, checkerFunc(func(context.Context, checks.Request) checks.Report {
		<-release // ignores ctx
		return checks.Report{}
	}), nil)
	start := time.Now()
	res := w.Do(context.Background(), wire.Job{ID: "j", Host: "web01", Port: 443, Timeout: 30 * time.Millisecond})
	if res.Error != "timed out after 30ms" {
		t.Errorf("Error = %q", res.Error)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("took %v: the slot was held past deadline+grace", el)
	}
}

func TestWorkerPassesVettedAddresses(t *testing.T) {
	var got checks.Request
	w, _, _ := newWorker(t, checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
		got = req
		return checks.Report{Verdict: checks.VerdictOpen}
	}), nil)
	res := w.Do(context.Background(), wire.Job{ID: "j", Target: "web01:443", Host: "web01", Port: 443, Scheme: "https",
		Addrs: []string{"198.18.3.10", "2001:db8::1"}, Trace: true, Vantage: "office"})
	if len(got.Addrs) != 2 || got.Addrs[1].String() != "2001:db8::1" || !got.Trace || got.Scheme != "https" || got.Target != "web01:443" {
		t.Errorf("request = %+v", got)
	}
	if res.Report.Vantage != "office" {
		t.Errorf("report vantage %q, want the job's", res.Report.Vantage)
	}
}

func TestWorkerKeepInterrupted(t *testing.T) {
	started := make(chan struct{}, 1)
	w, q, rs := newWorker(t, checkerFunc(func(ctx context.Context, _ checks.Request) checks.Report {
		started <- struct{}{}
		<-ctx.Done()
		return checks.Report{}
	}), func(p *bot.WorkerParams) { p.KeepInterrupted = true })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	_ = q.Enqueue(context.Background(), wire.Job{ID: "j", Host: "web01", Port: 443, Vantage: "local", Timeout: time.Minute})
	<-started
	cancel()
	<-done
	tctx, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	if d, err := rs.Next(tctx); err == nil {
		t.Errorf("an interrupted job was answered (%+v); it should be left for redelivery", d.Result())
	}
}
