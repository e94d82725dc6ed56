package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/checks"
)

// fakeChecker answers from a table, delivering reports in reverse order
// (the worst case for streaming in input order) and optionally cancelling
// the run after some reports, as Ctrl-C does.
type fakeChecker struct {
	verdicts    map[int]checks.Verdict
	cancelAfter int
	cancel      context.CancelFunc
}

func (f fakeChecker) CheckMany(ctx context.Context, reqs []checks.Request, onReport func(checks.Report)) []checks.Report {
	var out []checks.Report
	for i := len(reqs) - 1; i >= 0; i-- {
		if f.cancelAfter > 0 && len(out) == f.cancelAfter {
			f.cancel()
		}
		if ctx.Err() != nil {
			break
		}
		r := reqs[i]
		v := f.verdicts[r.Port]
		rep := checks.Report{Target: r.Target, Host: r.Host, Port: r.Port, Address: "198.18.1.10", Verdict: v, Summary: string(v)}
		onReport(rep)
		out = append(out, rep)
	}
	return out
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

func TestProgressLine(t *testing.T) {
	var b bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgress(&b, 65535, func() time.Time { return clock })
	p.update(1, 0) // too soon after start: nothing drawn
	clock = clock.Add(150 * time.Millisecond)
	p.update(1200, 3)
	clock = clock.Add(50 * time.Millisecond)
	p.update(1300, 3) // throttled
	p.clear()
	want := "\r\x1b[Kchecked 1200/65535 ports (3 open)\r\x1b[K"
	if b.String() != want {
		t.Errorf("progress wrote %q, want %q", b.String(), want)
	}
	var nilProgress *progress
	nilProgress.update(1, 1) // no terminal: a nil progress is a no-op
	nilProgress.clear()
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
