// Package worker runs jobs at one vantage: it takes them from the queue,
// runs the checks with a deadline, publishes the results and acks. It needs
// no chat credentials and knows nothing of the conversation: `portcheck
// worker`, `portcheck agent --serve` and serve's local pool all run it.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"time"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

// Checker runs the troubleshooting chain for one port (*checks.Prober in
// production, a stub in tests and benchmarks).
type Checker interface {
	Check(ctx context.Context, req checks.Request) checks.Report
}

// intoChecker is a Checker that writes the Report through a pointer
// (checks.Prober, EgressChecker). The worker prefers it: a Report returned
// by value is a 352-byte temporary in the frame under the check, on the
// stack of every silent check the worker holds.
type intoChecker interface {
	CheckInto(ctx context.Context, req *checks.Request, rep *checks.Report)
}

// Params are a Worker's dependencies. It needs no chat credentials:
// it only reads jobs and publishes results.
type Params struct {
	Queue         wire.Queue
	Results       wire.Results
	Checker       Checker       // the probes; or
	Facts         FactsChecker  // a host agent's probes and facts (exactly one of the two)
	Vantage       string        // the jobs it serves; default "local"
	Concurrency   int           // jobs in flight at once; default 8
	Timeout       time.Duration // deadline for a job that carries none; default 60s
	ProgressAfter time.Duration // publish a progress line for jobs running longer; default 5s, <0 never
	Grace         time.Duration // how long past its deadline a Checker may take before it is abandoned; default 2s
	Now           func() time.Time
	Log           *slog.Logger
	Observe       Observer // metrics; nil observes nothing
	// Vet, when set (chat mode), refuses jobs that carry no vetted
	// addresses and re-checks each address before probing.
	Vet AddrChecker
	// KeepInterrupted leaves jobs cut short by shutdown unacked and
	// unanswered, for a durable queue to hand to another worker; otherwise
	// an "interrupted" error result is published for them.
	KeepInterrupted bool
	// DrainGrace is how long jobs in flight keep running once Run's ctx
	// is done (SIGTERM): the worker stops taking jobs at once, but a job
	// a second from its answer is worth finishing. 0 cuts them short at
	// once, as before.
	DrainGrace time.Duration
}

// Worker runs jobs from one vantage's queue with a bounded pool.
type Worker struct{ p Params }

// New builds a Worker.
func New(p Params) (*Worker, error) {
	if p.Queue == nil || p.Results == nil || (p.Checker == nil) == (p.Facts == nil) {
		return nil, errors.New("worker: Params needs Queue, Results and one of Checker or Facts")
	}
	if p.Vantage == "" {
		p.Vantage = "local"
	}
	if p.Concurrency <= 0 {
		p.Concurrency = 8
	}
	if p.Timeout <= 0 {
		p.Timeout = 60 * time.Second
	}
	if p.ProgressAfter == 0 {
		p.ProgressAfter = 5 * time.Second
	}
	if p.Grace <= 0 {
		p.Grace = 2 * time.Second
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.Observe == nil {
		p.Observe = nopObserver{}
	}
	return &Worker{p: p}, nil
}

// Run serves jobs until ctx is done, then waits for the jobs in flight
// (which see ctx cancelled) to be answered.
func (w *Worker) Run(ctx context.Context) {
	jobs, stopJobs := drainContext(ctx, w.p.DrainGrace)
	defer stopJobs()
	var wg sync.WaitGroup
	defer wg.Wait()
	// One loop reads the queue and each job gets a goroutine of its own,
	// at most Concurrency at a time. Not Concurrency goroutines each
	// reading in a loop: a goroutine keeps the stack its deepest call grew
	// (a Redis read, a result's JSON) until a collection shrinks it, and in
	// a worker whose heap is small collections are rare, so a thousand
	// long-lived readers held ~60 KB of stack each; a job's goroutine
	// returns its stack when the job is done. A job's slot is free once
	// the job is answered, also when its goroutine is still stuck in a
	// Checker that ignores its deadline.
	slots := make(chan struct{}, w.p.Concurrency)
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		d, err := w.p.Queue.Next(ctx, w.p.Vantage)
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return
			}
			w.p.Log.Error("reading jobs", "vantage", w.p.Vantage, "err", err)
			select {
			case <-time.After(time.Second): // a queue hiccup: do not spin
			case <-ctx.Done():
				return
			}
			continue
		}
		wg.Add(1)
		go w.serve(jobs, d, func() {
			<-slots
			wg.Done()
		})
	}
}

// serve runs one delivery in this goroutine, publishes its result and
// acks it, then calls release, exactly once. Its frame, like run's, stays
// on the stack under the check for as long as the check waits: the work
// before and after the check is in functions of its own.
func (w *Worker) serve(ctx context.Context, d wire.Delivery, release func()) {
	j := w.started(ctx, d)
	if j == nil {
		release()
		return
	}
	start := time.Now()
	w.run(ctx, j, func(res *wire.Result) {
		defer release()
		w.finish(ctx, d, start, res)
	})
}

// started takes a delivery's job on, or answers it unprobed (nil) when no
// command could have asked for it.
//
//go:noinline
func (w *Worker) started(ctx context.Context, d wire.Delivery) *wire.Job {
	j := d.Job()
	if why := checkJob(j, w.p.Vantage); why != "" {
		w.deadLetter(ctx, d, why)
		return nil
	}
	w.p.Observe.JobStarted(j.Vantage)
	w.p.Log.Debug("job started", "job_id", j.ID, "vantage", j.Vantage, "target", j.HostPort(), "attempt", j.Attempt)
	return &j
}

// finish records, publishes and acks one job's answer.
func (w *Worker) finish(ctx context.Context, d wire.Delivery, start time.Time, res *wire.Result) {
	j := &res.Job
	failed := res.Error != "" && res.Report.Verdict == ""
	w.p.Observe.JobFinished(j.Vantage, string(res.Report.Verdict), time.Since(start), failed)
	if res.Report.Verdict != "" {
		w.p.Observe.ProbeDone(string(res.Report.Verdict), time.Duration(res.Report.ElapsedMS)*time.Millisecond)
	}
	w.p.Log.Debug("job finished", "job_id", j.ID, "vantage", j.Vantage, "verdict", res.Report.Verdict, "err", res.Error, "elapsed", time.Since(start))
	if ctx.Err() != nil && w.p.KeepInterrupted && res.Error != "" {
		w.handBack(d)
		return // another worker will get it again
	}
	// Publish even when shutting down: the answer is worth more than a
	// prompt exit, and it takes milliseconds.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := w.p.Results.Publish(pctx, *res); err != nil {
		w.p.Log.Error("publishing result", "job_id", j.ID, "err", err)
		return // unacked: a durable queue redelivers
	}
	if err := d.Ack(pctx); err != nil {
		w.p.Log.Error("ack", "job_id", j.ID, "err", err)
	}
}

// deadLetterer is a Delivery its queue can set aside for good, saying why
// (Redis: the dead-letter stream, and an error Result for the thread, in
// one step).
type deadLetterer interface {
	DeadLetter(ctx context.Context, why string) error
}

// deadLetter answers a job no command could have asked for without
// probing anything, and takes it off the queue for good: a redelivery
// would be refused the same way.
func (w *Worker) deadLetter(ctx context.Context, d wire.Delivery, why string) {
	j := d.Job()
	w.p.Log.Warn("job refused and dead-lettered", "job_id", j.ID, "vantage", j.Vantage, "target", j.Target, "port", j.Port, "why", why)
	w.p.Observe.JobFinished(w.p.Vantage, "", 0, true)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if dl, ok := d.(deadLetterer); ok {
		if err := dl.DeadLetter(pctx, why); err != nil {
			w.p.Log.Error("dead-lettering a refused job", "job_id", j.ID, "err", err)
		}
		return
	}
	// A queue without a dead-letter stream (memory): the answer is the record.
	j.DeadLetter = true
	if err := w.p.Results.Publish(pctx, wire.Result{Job: j, Error: why, Finished: w.p.Now()}); err != nil {
		w.p.Log.Error("publishing a refused job's answer", "job_id", j.ID, "err", err)
		return
	}
	if err := d.Ack(pctx); err != nil {
		w.p.Log.Error("ack", "job_id", j.ID, "err", err)
	}
}

// Do runs one job with its deadline, contains a panicking Checker, and
// abandons one that ignores its deadline, always returning a Result. A job
// the grammar could not have written (checkJob) is answered unprobed.
func (w *Worker) Do(ctx context.Context, j wire.Job) wire.Result {
	if why := checkJob(j, w.p.Vantage); why != "" {
		w.p.Log.Warn("job refused", "job_id", j.ID, "target", j.Target, "why", why)
		return wire.Result{Job: j, Error: why, Finished: w.p.Now()}
	}
	ch := make(chan *wire.Result, 1)
	go w.run(ctx, &j, func(res *wire.Result) { ch <- res })
	return *<-ch
}

// run runs job j's check in the calling goroutine and calls answer
// exactly once with its Result: when the check returns, or, when the
// Checker ignores its deadline, from a timer Grace after the deadline
// (the check's late report is then dropped).
//
// No goroutine waits beside the check: a worker holding a thousand
// filtered checks held a thousand such waiters, each with a 16 KB stack
// (the Result and Report they carried by value), which alone was half
// the memory target. Progress lines and the abandonment are timers.
func (w *Worker) run(ctx context.Context, j *wire.Job, answer func(*wire.Result)) {
	r := w.begin(ctx, j, answer)
	if r == nil {
		return // answered unprobed
	}
	defer r.stop()
	facts, crash := w.guarded(r.jctx, j, &r.req, &r.rep)
	r.abandon.Stop()
	r.a.give(w.result(ctx, r.jctx, j, r.timeout, &r.rep, facts, crash))
}

// jobRun is what run holds while its check runs.
type jobRun struct {
	jctx    context.Context
	cancel  context.CancelFunc
	timeout time.Duration
	req     checks.Request
	rep     checks.Report
	a       *answerer
	abandon *time.Timer
	// stopProgress stops the progress line's timer (nil: none);
	// unwatch unregisters the abandonment's context.AfterFunc.
	stopProgress, unwatch func() bool
}

// begin vets the job and sets up its deadline, its progress line and its
// abandonment; nil when the job was answered unprobed.
//
//go:noinline
func (w *Worker) begin(ctx context.Context, j *wire.Job, answer func(*wire.Result)) *jobRun {
	r := &jobRun{timeout: j.Timeout}
	if r.timeout <= 0 {
		r.timeout = w.p.Timeout
	}
	req, why := w.vetted(j)
	if why != "" {
		answer(&wire.Result{Job: *j, Error: why, Finished: w.p.Now()})
		return nil
	}
	r.req = req
	r.jctx, r.cancel = context.WithTimeout(ctx, r.timeout)
	a := &answerer{answer: answer}
	r.a = a
	jctx, timeout := r.jctx, r.timeout
	if w.p.ProgressAfter > 0 {
		r.stopProgress = time.AfterFunc(w.p.ProgressAfter, func() { a.progress(jctx, w, j) }).Stop
	}
	// Abandoned: the answer of a check that returned nothing in time.
	abandon := time.AfterFunc(time.Duration(math.MaxInt64), func() { a.give(w.result(ctx, jctx, j, timeout, new(checks.Report), nil, "")) })
	r.abandon = abandon
	// The Checker has Grace past the deadline (or a shutdown) to return.
	r.unwatch = context.AfterFunc(jctx, func() { abandon.Reset(w.p.Grace) })
	return r
}

// stop releases what begin set up, in the order run's defers did.
func (r *jobRun) stop() {
	r.unwatch()
	r.abandon.Stop()
	if r.stopProgress != nil {
		r.stopProgress()
	}
	r.cancel()
}

// answerer hands a job's answer over once and keeps progress lines from
// following it.
type answerer struct {
	mu       sync.Mutex
	answered bool
	answer   func(*wire.Result)
}

func (a *answerer) give(res *wire.Result) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.answered {
		return // abandoned already: a late report is dropped
	}
	a.answered = true
	a.answer(res)
}

func (a *answerer) progress(ctx context.Context, w *Worker, j *wire.Job) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.answered {
		return
	}
	p := wire.Result{Job: *j, Progress: fmt.Sprintf("still checking %s from %s (%s so far: waiting for answers, tracing the path)…",
		j.HostPort(), j.Vantage, w.p.ProgressAfter), Finished: w.p.Now()}
	if err := w.p.Results.Publish(ctx, p); err != nil {
		w.p.Log.Warn("publishing progress", "job_id", j.ID, "err", err)
	}
}

// vetted is the job's request, or why it is answered unprobed: addresses
// the vetter refuses.
//
// The grammar's look at the job (checkJob) is the caller's, done before
// (serve's started, Do): a second one here ran the target parser once more
// at the bottom of run, which grew every job's stack to 8 KB for good.
func (w *Worker) vetted(j *wire.Job) (req checks.Request, why string) {
	addrs, refused := vetJob(w.p.Vet, j)
	if refused != "" {
		w.p.Log.Warn("job refused", "job_id", j.ID, "target", j.Target, "why", refused)
		return req, refused
	}
	return checks.Request{Target: j.Target, Host: j.Host, Port: j.Port, Scheme: j.Scheme, Addrs: addrs}, ""
}

// guarded runs the check, turning a panic into crash. Its frame is on
// the stack for as long as the check waits, so the Report is the
// caller's and the panic's logging is a function of its own.
func (w *Worker) guarded(ctx context.Context, j *wire.Job, req *checks.Request, rep *checks.Report) (facts json.RawMessage, crash string) {
	defer func() {
		if p := recover(); p != nil {
			crash = w.crashed(j, p)
		}
	}()
	if w.p.Facts != nil {
		return w.checkFacts(ctx, req, rep), ""
	}
	checkInto(ctx, w.p.Checker, req, rep)
	return nil, ""
}

// checkInto runs c's check into rep, through CheckInto when c has it.
func checkInto(ctx context.Context, c Checker, req *checks.Request, rep *checks.Report) {
	if c, ok := c.(intoChecker); ok {
		c.CheckInto(ctx, req, rep)
		return
	}
	checkByValue(ctx, c, req, rep)
}

// checkByValue is a plain Checker's check: its by-value Report is a
// temporary of this frame, not of the frames above it.
//
//go:noinline
func checkByValue(ctx context.Context, c Checker, req *checks.Request, rep *checks.Report) {
	*rep = c.Check(ctx, *req)
}

// checkFacts is guarded's agent path, out of its frame.
//
//go:noinline
func (w *Worker) checkFacts(ctx context.Context, req *checks.Request, rep *checks.Report) (facts json.RawMessage) {
	*rep, facts = w.p.Facts.CheckFacts(ctx, *req)
	return facts
}

//go:noinline
func (w *Worker) crashed(j *wire.Job, p any) string {
	w.p.Log.Error("probe panicked", "job_id", j.ID, "panic", p, "stack", string(debug.Stack()))
	return fmt.Sprint(p)
}

// result is a finished check's Result.
func (w *Worker) result(ctx, jctx context.Context, j *wire.Job, timeout time.Duration, rep *checks.Report, facts json.RawMessage, crash string) *wire.Result {
	res := &wire.Result{Job: *j, Finished: w.p.Now()}
	switch {
	case crash != "":
		res.Error = "the check crashed (" + crash + "); this is a portcheck bug, the log has the stack"
	case ctx.Err() != nil:
		res.Report = *rep
		res.Error = "interrupted: portcheck is shutting down"
	case jctx.Err() != nil && rep.Verdict == "":
		res.Report = *rep
		res.Error = fmt.Sprintf("timed out after %s", timeout)
	default:
		res.Report = *rep
		res.Facts = facts
	}
	if res.Report.Vantage == "" && res.Report.Verdict != "" {
		res.Report.Vantage = j.Vantage
	}
	return res
}

// FactsChecker checks a port on the host it runs on and also returns what
// it saw there (a host agent: agent.Facts as JSON), which the Worker
// publishes in Result.Facts (Params.Facts).
type FactsChecker interface {
	CheckFacts(ctx context.Context, req checks.Request) (checks.Report, json.RawMessage)
}
