package worker_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcheck/portcheck/admission/policy"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/store/memory"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

type checkerFunc func(ctx context.Context, req checks.Request) checks.Report

func (f checkerFunc) Check(ctx context.Context, req checks.Request) checks.Report { return f(ctx, req) }

func newWorker(t *testing.T, c worker.Checker, mod func(*worker.Params)) (*worker.Worker, *memory.Queue, *memory.Results) {
	t.Helper()
	q, rs := memory.NewQueue(), memory.NewResults()
	p := worker.Params{Queue: q, Results: rs, Checker: c, Concurrency: 2, Grace: 20 * time.Millisecond, ProgressAfter: -1}
	if mod != nil {
		mod(&p)
	}
	w, err := worker.New(p)
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
	res := w.Do(context.Background(), wire.Job{ID: "j", Target: "web01:443", Host: "web01", Port: 443, Vantage: "local", Timeout: 30 * time.Millisecond})
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
	}), func(p *worker.Params) { p.Vantage = "office" })
	res := w.Do(context.Background(), wire.Job{ID: "j", Target: "https://web01:443/", Host: "web01", Port: 443, Scheme: "https",
		Addrs: []string{"198.18.3.10", "2001:db8::1"}, Vantage: "office"})
	if len(got.Addrs) != 2 || got.Addrs[1].String() != "2001:db8::1" || got.Scheme != "https" || got.Target != "https://web01:443/" {
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
	}), func(p *worker.Params) { p.KeepInterrupted = true })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	_ = q.Enqueue(context.Background(), wire.Job{ID: "j", Target: "web01:443", Host: "web01", Port: 443, Vantage: "local", Timeout: time.Minute})
	<-started
	cancel()
	<-done
	tctx, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	if d, err := rs.Next(tctx); err == nil {
		t.Errorf("an interrupted job was answered (%+v); it should be left for redelivery", d.Result())
	}
}

func TestWorkerVetsJobAddresses(t *testing.T) {
	pol, err := policy.New(policy.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var probed atomic.Int64
	w, _, _ := newWorker(t, checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
		probed.Add(1)
		return checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Verdict: checks.VerdictOpen}
	}), func(p *worker.Params) { p.Vet = pol })
	cases := []struct {
		name  string
		addrs []string
		want  string // "" = probed
	}{
		{"no addresses", nil, "refused: the job carries no vetted addresses"},
		{"metadata", []string{"93.184.215.14", "169.254.169.254"}, "refused: 169.254.169.254 is not allowed (rule: default deny: cloud metadata 169.254.169.254/32)"},
		{"mapped", []string{"::ffff:127.0.0.1"}, "refused: ::ffff:127.0.0.1 is not allowed"},
		{"garbage", []string{"0xA9FEA9FE"}, "refused: the job's address \"0xA9FEA9FE\" is not an IP address"},
		{"public", []string{"93.184.215.14"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := probed.Load()
			res := w.Do(context.Background(), wire.Job{ID: "j", Target: "web:80", Host: "web", Port: 80, Vantage: "local", Addrs: c.addrs})
			ran := probed.Load() > before
			if c.want == "" {
				if !ran || res.Error != "" {
					t.Errorf("ran %v error %q, want probed", ran, res.Error)
				}
				return
			}
			if ran || !strings.HasPrefix(res.Error, c.want) {
				t.Errorf("ran %v error %q, want refused with %q", ran, res.Error, c.want)
			}
		})
	}
}

// The egress self-check runs only when the port looked filtered, probes the
// control on the same port, and is carried in the report.
func TestEgressChecker(t *testing.T) {
	var asked []string
	inner := checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
		asked = append(asked, req.Target)
		switch req.Host {
		case "web01":
			return checks.Report{Host: req.Host, Port: req.Port, Verdict: checks.VerdictFilteredAtHost, Reason: checks.ReasonNoResponse}
		case "open.example":
			return checks.Report{Host: req.Host, Port: req.Port, Verdict: checks.VerdictOpen}
		}
		return checks.Report{Host: req.Host, Port: req.Port, Verdict: checks.VerdictOpen, Address: "127.0.0.1"}
	})
	e := worker.EgressChecker{Checker: inner, Control: "ctl.example:9"}
	rep := e.Check(context.Background(), checks.Request{Target: "web01:443", Host: "web01", Port: 443})
	if rep.Egress == nil || rep.Egress.Control != "ctl.example" || rep.Egress.Port != 443 || !rep.Egress.Passes() {
		t.Fatalf("egress = %+v, want the control probed on 443 and open", rep.Egress)
	}
	if strings.Join(asked, " ") != "web01:443 ctl.example:443" {
		t.Errorf("probed %v", asked)
	}
	asked = nil
	if rep := e.Check(context.Background(), checks.Request{Target: "open.example:22", Host: "open.example", Port: 22}); rep.Egress != nil || len(asked) != 1 {
		t.Errorf("an open port needs no egress check: %+v, probed %v", rep.Egress, asked)
	}
	if rep := (worker.EgressChecker{Checker: inner}).Check(context.Background(), checks.Request{Host: "web01", Port: 443}); rep.Egress != nil {
		t.Errorf("no control configured, yet egress = %+v", rep.Egress)
	}
}

// anyQueue hands out every job, whatever its vantage (a job written into
// another vantage's stream), and counts acks.
type anyQueue struct {
	jobs  chan wire.Job
	acked atomic.Int64
}

func (q *anyQueue) Enqueue(_ context.Context, j wire.Job) error { q.jobs <- j; return nil }

func (q *anyQueue) Next(ctx context.Context, _ string) (wire.Delivery, error) {
	select {
	case j := <-q.jobs:
		return anyDelivery{q, j}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type anyDelivery struct {
	q *anyQueue
	j wire.Job
}

func (d anyDelivery) Job() wire.Job                 { return d.j }
func (d anyDelivery) Ack(context.Context) error     { d.q.acked.Add(1); return nil }
func (d anyDelivery) Release(context.Context) error { return nil }

// A job taken from a queue is looked at as the grammar would have written
// it before anything is probed (issue 17: port 0 was probed, 70000 answered
// "network unreachable"). What fails is answered with why, marked dead,
// acked, and never reaches the checker.
func TestWorkerChecksTheJobAsTheGrammarWould(t *testing.T) {
	ok := wire.Job{ID: "j", Target: "web01:22,80-82", Host: "web01", Port: 81, Vantage: "local", Addrs: []string{"93.184.215.14"}}
	cases := []struct {
		name string
		mod  func(*wire.Job)
		want string // "" = probed
	}{
		{"as a command writes it", func(*wire.Job) {}, ""},
		{"url target with its scheme", func(j *wire.Job) { j.Target, j.Port, j.Scheme = "https://web01/", 443, "https" }, ""},
		{"service name", func(j *wire.Job) { j.Target, j.Port, j.Scheme = "web01:ssh", 22, "ssh" }, ""},
		{"port 0", func(j *wire.Job) { j.Port = 0 }, "refused: port 0 is not a TCP port (1-65535)"},
		{"port 70000", func(j *wire.Job) { j.Port = 70000 }, "refused: port 70000 is not a TCP port (1-65535)"},
		{"negative port", func(j *wire.Job) { j.Port = -443 }, "refused: port -443 is not a TCP port"},
		{"another vantage", func(j *wire.Job) { j.Vantage = "office" }, `refused: the job is for vantage "office" and this worker serves "local"`},
		{"no target", func(j *wire.Job) { j.Target = "" }, "refused: the job's target does not parse"},
		{"target without a port", func(j *wire.Job) { j.Target = "web01" }, "refused: the job's target does not parse"},
		{"target with a space", func(j *wire.Job) { j.Target = "web01:81 -oProxyCommand=x" }, "refused: the job's target does not parse"},
		{"host not the target's", func(j *wire.Job) { j.Host = "169.254.169.254" }, `refused: the job's host "169.254.169.254" is not its target's ("web01")`},
		{"port not the target's", func(j *wire.Job) { j.Port = 8080 }, "refused: port 8080 is not one of its target's (web01:22,80-82)"},
		{"unknown scheme", func(j *wire.Job) { j.Scheme = "gopher" }, `refused: the job's scheme "gopher" is not its target's ("")`},
		{"scheme not the url's", func(j *wire.Job) { j.Target, j.Port, j.Scheme = "https://web01/", 443, "ftp" }, `refused: the job's scheme "ftp" is not its target's ("https")`},
		{"trace", func(j *wire.Job) { j.Trace = true }, "refused: the job asks for a trace"},
	}
	var probed atomic.Int64
	q := &anyQueue{jobs: make(chan wire.Job, 1)}
	w, _, rs := newWorker(t, checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
		probed.Add(1)
		return checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Verdict: checks.VerdictOpen}
	}), func(p *worker.Params) { p.Queue = q })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := ok
			c.mod(&j)
			before, acks := probed.Load(), q.acked.Load()
			_ = q.Enqueue(context.Background(), j)
			rctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
			defer stop()
			d, err := rs.Next(rctx)
			if err != nil {
				t.Fatal(err)
			}
			res := d.Result()
			ran := probed.Load() > before
			if c.want == "" {
				if !ran || res.Error != "" || res.Job.DeadLetter {
					t.Errorf("ran %v, error %q, dead %v: want probed", ran, res.Error, res.Job.DeadLetter)
				}
				return
			}
			if ran || !strings.HasPrefix(res.Error, c.want) || !res.Job.DeadLetter || res.Report.Verdict != "" {
				t.Errorf("ran %v, error %q, dead %v: want refused unprobed with %q", ran, res.Error, res.Job.DeadLetter, c.want)
			}
			for deadline := time.Now().Add(5 * time.Second); q.acked.Load() == acks; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the refused job was not acked")
				}
			}
			// Do, called directly, refuses the same way.
			if res := w.Do(context.Background(), j); !strings.HasPrefix(res.Error, c.want) || probed.Load() > before {
				t.Errorf("Do: error %q", res.Error)
			}
		})
	}
}

// Run holds exactly Concurrency jobs at once: that many run together (one
// loop reads the queue, a goroutine per job), no more, and every job is
// answered once the slots free up.
func TestWorkerRunsConcurrencyJobsAtOnce(t *testing.T) {
	const conc, jobs = 3, 10
	var inFlight, most atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, jobs)
	w, q, rs := newWorker(t, checkerFunc(func(ctx context.Context, _ checks.Request) checks.Report {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return checks.Report{Verdict: checks.VerdictOpen}
	}), func(p *worker.Params) { p.Concurrency = conc })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for i := range jobs {
		_ = q.Enqueue(context.Background(), wire.Job{ID: string(rune('a' + i)), Target: "web01:443", Host: "web01", Port: 443, Vantage: "local", Timeout: time.Minute})
	}
	for range conc {
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d jobs started, want %d at once", inFlight.Load(), conc)
		}
	}
	select {
	case <-started:
		t.Fatalf("a job started beyond the %d slots", conc)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	rctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	for i := range jobs {
		d, err := rs.Next(rctx)
		if err != nil {
			t.Fatalf("result %d: %v", i+1, err)
		}
		_ = d.Ack(rctx)
	}
	if m := most.Load(); m != conc {
		t.Errorf("at most %d jobs ran at once, want %d", m, conc)
	}
}

// A Checker that ignores its deadline is answered for Grace after it, its
// slot goes to the next job, its late report is dropped, and Run returns
// on shutdown without waiting for it.
func TestWorkerRunFreesTheSlotOfAnAbandonedCheck(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	late := make(chan struct{})
	w, q, rs := newWorker(t, checkerFunc(func(_ context.Context, req checks.Request) checks.Report {
		if req.Host == "stuck" {
			<-stuck // ignores ctx
			close(late)
			return checks.Report{Verdict: checks.VerdictOpen}
		}
		return checks.Report{Verdict: checks.VerdictClosed}
	}), func(p *worker.Params) { p.Concurrency = 1 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	_ = q.Enqueue(context.Background(), wire.Job{ID: "s", Target: "stuck:443", Host: "stuck", Port: 443, Vantage: "local", Timeout: 30 * time.Millisecond})
	_ = q.Enqueue(context.Background(), wire.Job{ID: "n", Target: "web01:443", Host: "web01", Port: 443, Vantage: "local", Timeout: time.Minute})
	rctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	got := map[string]string{}
	for range 2 {
		d, err := rs.Next(rctx)
		if err != nil {
			t.Fatalf("results so far %v: %v (the stuck check kept its slot)", got, err)
		}
		r := d.Result()
		got[r.Job.ID] = r.Error + string(r.Report.Verdict)
		_ = d.Ack(rctx)
	}
	if got["s"] != "timed out after 30ms" || got["n"] != string(checks.VerdictClosed) {
		t.Errorf("results = %v", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run waited for the abandoned check on shutdown")
	}
	stuck <- struct{}{}
	<-late
	sctx, sstop := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer sstop()
	if d, err := rs.Next(sctx); err == nil {
		t.Errorf("the abandoned check's late report was published too: %+v", d.Result())
	}
}
