package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/testkit"
)

// fakeChecker answers from a table, finishing the ports in reverse order
// (the worst case for streaming in input order: the engine hands the
// reports over in input order once all of them are done) and optionally
// cancelling the run after some ports, as Ctrl-C does.
type fakeChecker struct {
	verdicts    map[int]checks.Verdict
	cancelAfter int
	cancel      context.CancelFunc
}

func (f fakeChecker) CheckEach(ctx context.Context, reqs []checks.Request, h checks.Hooks) {
	done := make([]*checks.Report, len(reqs))
	n := 0
	for i := len(reqs) - 1; i >= 0; i-- {
		if f.cancelAfter > 0 && n == f.cancelAfter {
			f.cancel()
		}
		if ctx.Err() != nil {
			break
		}
		r := reqs[i]
		v := f.verdicts[r.Port]
		done[i] = &checks.Report{Target: r.Target, Host: r.Host, Port: r.Port, Address: "198.18.1.10", Verdict: v, Summary: string(v)}
		n++
		if h.Done != nil {
			h.Done(i, v == checks.VerdictOpen)
		}
	}
	for i, r := range done {
		if r != nil {
			h.Report(i, *r)
		}
	}
	if h.Flush != nil {
		h.Flush()
	}
}

func TestCheckStreamsJSONInInputOrder(t *testing.T) {
	reqs := mustRequests(t, "web01:22,80,443")
	var out, errb bytes.Buffer
	sum := Run{Prober: fakeChecker{verdicts: map[int]checks.Verdict{22: "open", 80: "open", 443: "open"}}, JSON: true, Out: &out, Err: &errb}.
		Execute(context.Background(), reqs)
	if !sum.AllOpen() {
		t.Errorf("all open: %+v", sum)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 JSON lines, got:\n%s", out.String())
	}
	for i, want := range []int{22, 80, 443} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if m["port"] != float64(want) {
			t.Errorf("line %d is port %v, want %d", i, m["port"], want)
		}
		// The contract's arrays are arrays, never null.
		for _, k := range []string{"hints", "trace", "addresses"} {
			if _, ok := m[k].([]any); !ok {
				t.Errorf("line %d: %q is %v, want an array", i, k, m[k])
			}
		}
	}
	if errb.Len() != 0 {
		t.Errorf("stderr: %q", errb.String())
	}
}

func TestCheckExitCodeWhenAPortIsNotOpen(t *testing.T) {
	reqs := mustRequests(t, "web01:22,80")
	var out bytes.Buffer
	sum := Run{Prober: fakeChecker{verdicts: map[int]checks.Verdict{22: "open", 80: "service_refused"}}, Out: &out, Err: &bytes.Buffer{}}.
		Execute(context.Background(), reqs)
	if sum.AllOpen() || sum.Open != 1 || sum.Checked != 2 {
		t.Errorf("summary %+v, want 1 of 2 open", sum)
	}
	if !strings.Contains(out.String(), "1 open, 1 service_refused") {
		t.Errorf("footer missing:\n%s", out.String())
	}
}

func TestCheckInterruptedPrintsWhatWasFound(t *testing.T) {
	reqs := mustRequests(t, "web01:1-10")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	verdicts := map[int]checks.Verdict{}
	for p := 1; p <= 10; p++ {
		verdicts[p] = checks.VerdictOpen
	}
	var out, errb bytes.Buffer
	sum := Run{Prober: fakeChecker{verdicts: verdicts, cancelAfter: 3, cancel: cancel}, JSON: true, Out: &out, Err: &errb}.
		Execute(ctx, reqs)
	if !sum.Interrupted || sum.AllOpen() {
		t.Errorf("interrupted run: %+v", sum)
	}
	// Ports 10, 9, 8 finished (reverse order): none is the first in input
	// order, so they are printed only at the end, still in order.
	var ports []int
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r checks.Report
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		ports = append(ports, r.Port)
	}
	if fmt.Sprint(ports) != "[8 9 10]" {
		t.Errorf("printed ports %v, want [8 9 10]", ports)
	}
	if errb.String() != "portcheck check: interrupted: 3 of 10 ports checked\n" {
		t.Errorf("stderr %q", errb.String())
	}

	// The human view says so too.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	out.Reset()
	Run{Prober: fakeChecker{verdicts: verdicts, cancelAfter: 3, cancel: cancel2}, Out: &out, Err: &bytes.Buffer{}}.Execute(ctx2, reqs)
	if !strings.Contains(out.String(), "Interrupted: checked 3 of 10 ports on 1 host") {
		t.Errorf("human view:\n%s", out.String())
	}
}

// The status line of one slow port: nothing for a quick run, then from a
// fraction of a second the spinner, the port, its step (read off the
// engine's schedule until the engine reports one) and the time.
func TestProgressLineOnePort(t *testing.T) {
	var b bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgress(&b, mustRequests(t, "198.18.3.10:7003"), func() time.Time { return clock }, 5*time.Second, 80)
	at := func(d time.Duration) string {
		b.Reset()
		clock = time.Unix(0, 0).Add(d)
		p.draw()
		return b.String()
	}
	for _, tc := range []struct {
		at   time.Duration
		want string
	}{
		{100 * time.Millisecond, ""}, // a loopback check is done by now: no spinner at all
		{400 * time.Millisecond, "\r\x1b[K⠋  198.18.3.10:7003  connect…  0.4s"},
		{1500 * time.Millisecond, "\r\x1b[K⠙  198.18.3.10:7003  no answer yet: path questions…  1.5s"},
		{4 * time.Second, "\r\x1b[K⠹  198.18.3.10:7003  listening for a late ICMP…  4.0s"},
	} {
		if got := at(tc.at); got != tc.want {
			t.Errorf("at %s: %q, want %q", tc.at, got, tc.want)
		}
	}
	p.Step(0, "asking hop 3") // the engine's own word wins
	if got := at(4100 * time.Millisecond); got != "\r\x1b[K⠸  198.18.3.10:7003  asking hop 3…  4.1s" {
		t.Errorf("with a step: %q", got)
	}
	p.stop()
	if got := at(5 * time.Second); got != "" {
		t.Errorf("drawn after stop: %q", got)
	}
	var nilProgress *progress
	nilProgress.draw() // no terminal: a nil progress is a no-op
	nilProgress.finished(0, true)
	nilProgress.stop()
}

// Several ports: how many are done, and the first one still out.
func TestProgressLineManyPorts(t *testing.T) {
	var b bytes.Buffer
	clock := time.Unix(0, 0).Add(2 * time.Second)
	p := newProgress(&b, mustRequests(t, "web01:22,80,443"), func() time.Time { return clock }, 0, 80)
	p.start = time.Unix(0, 0)
	p.finished(0, true)
	p.finished(2, false)
	p.draw()
	if want := "\r\x1b[K⠋  2/3 ports (1 open)  web01:80  no answer yet: path questions…  2.0s"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	p.width = 40 // cut to the terminal's width
	b.Reset()
	p.draw()
	if n := len([]rune(strings.TrimPrefix(b.String(), "\r\x1b[K"))); n != 39 {
		t.Errorf("line of %d columns on a 40-column terminal: %q", n, b.String())
	}
}

// slowChecker answers after the test lets it, like a silent port, saying
// its step once it has one.
type slowChecker struct {
	release chan struct{}
	step    string
	said    chan struct{} // closed once the first port said its step
}

func (s *slowChecker) CheckEach(ctx context.Context, reqs []checks.Request, h checks.Hooks) {
	for i, r := range reqs {
		if s.step != "" && r.Progress != nil {
			r.Progress(s.step)
			if s.said != nil {
				close(s.said)
				s.said = nil
			}
		}
		<-s.release
		h.Done(i, false)
		h.Report(i, checks.Report{Target: r.Target, Host: r.Host, Port: r.Port, Verdict: checks.VerdictFilteredAtHost})
		h.Flush()
	}
}

// On a terminal the line is drawn while a port is out and erased before
// any output, so a JSON line never shares a line with the spinner.
func TestProgressDuringARun(t *testing.T) {
	var out, errb testkit.Buffer
	var mu sync.Mutex
	clock := time.Unix(0, 0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	tick := make(chan time.Time)
	release, said := make(chan struct{}), make(chan struct{})
	done := make(chan Summary)
	go func() {
		done <- Run{Prober: &slowChecker{release: release, step: "no answer yet: asking the path", said: said}, JSON: true, Progress: true, Out: &out, Err: &errb, Now: now, Tick: tick,
			Timeout: 5 * time.Second}.Execute(context.Background(), mustRequests(t, "web01:22,23"))
	}()
	tick <- time.Time{} // taken: the run has started (too early to draw)
	<-said
	advance(time.Second)
	tick <- time.Time{}
	tick <- time.Time{} // taken once the one before is drawn
	if !strings.Contains(errb.String(), "0/2 ports (0 open)  web01:22  no answer yet: asking the path…  1.0s") {
		t.Fatalf("no status line while the port is out: %q", errb.String())
	}
	release <- struct{}{}
	release <- struct{}{}
	<-done
	if !strings.HasSuffix(errb.String(), "\r\x1b[K") {
		t.Errorf("the line is not erased at the end: %q", errb.String())
	}
	if strings.Contains(out.String(), "⠋") || strings.Count(out.String(), "\n") != 2 {
		t.Errorf("stdout: %q", out.String())
	}
}

func mustRequests(t *testing.T, targets ...string) []checks.Request {
	t.Helper()
	ts, err := checks.ParseTargets(targets, checks.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var reqs []checks.Request
	for _, tg := range ts {
		reqs = append(reqs, tg.Requests()...)
	}
	return reqs
}
