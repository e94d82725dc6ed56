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
	}), func(p *worker.Params) { p.KeepInterrupted = true })
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
			res := w.Do(context.Background(), wire.Job{ID: "j", Target: "web:80", Host: "web", Port: 80, Addrs: c.addrs})
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
