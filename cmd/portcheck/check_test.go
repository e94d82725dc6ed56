package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/checks"
)

// runCLI calls run like main does, with buffers for the streams.
func runCLI(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(ctx, args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestCheckUsageErrors(t *testing.T) {
	tests := []struct {
		args   []string
		stderr string // exact
	}{
		{[]string{"check"}, "portcheck check: no target given\n" + checkExample + "\n"},
		{[]string{"check", "web01"}, "portcheck check: web01: missing port (e.g. web01:443, web01:ssh or https://web01/)\n" + checkExample + "\n"},
		{[]string{"check", "web01:0"}, "portcheck check: web01:0: port 0 is out of range (1-65535)\n" + checkExample + "\n"},
		{[]string{"check", "web01:70000"}, "portcheck check: web01:70000: port 70000 is out of range (1-65535)\n" + checkExample + "\n"},
		{[]string{"check", ":443"}, "portcheck check: :443: empty host\n" + checkExample + "\n"},
		{[]string{"check", "web01:22", "web01:nope"}, "portcheck check: web01:nope: unknown service \"nope\" (give the port number instead)\n" + checkExample + "\n"},
		{[]string{"check", "web01:1-2000"}, "portcheck check: web01:1-2000: 1-2000 is 2000 ports, more than 1024 (raise the cap with --max-ports 2048)\n" + checkExample + "\n"},
		{[]string{"check", "--max-ports", "10", "web01:1-11"}, "portcheck check: web01:1-11: 1-11 is 11 ports, more than 10 (raise the cap with --max-ports 2048)\n" + checkExample + "\n"},
		{[]string{"check", "web01:22;reboot"}, "portcheck check: web01:22;reboot: bad port \"22;reboot\" (want a number 1-65535, a range or a service name)\n" + checkExample + "\n"},
		{[]string{"check", "--bogus", "web01:22"}, "portcheck check: flag provided but not defined: -bogus\nRun 'portcheck check --help' for usage.\n"},
		{[]string{"check", "--timeout", "soon", "web01:22"}, "portcheck check: invalid value \"soon\" for flag -timeout: parse error\nRun 'portcheck check --help' for usage.\n"},
		{[]string{"check", "--timeout", "0s", "web01:22"}, "portcheck check: --timeout must be positive, got 0s\nRun 'portcheck check --help' for usage.\n"},
		{[]string{"check", "--max-ports", "0", "web01:22"}, "portcheck check: --max-ports must be 1-65535, got 0\nRun 'portcheck check --help' for usage.\n"},
		{[]string{"check", "web01:22", "--timeout"}, "portcheck check: flag needs an argument: -timeout\nRun 'portcheck check --help' for usage.\n"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, stderr := runCLI(context.Background(), tc.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if out != "" {
				t.Errorf("stdout should stay empty, got %q", out)
			}
			if stderr != tc.stderr {
				t.Errorf("stderr\n got: %q\nwant: %q", stderr, tc.stderr)
			}
		})
	}
}

func TestCheckHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		code, out, stderr := runCLI(context.Background(), "check", arg)
		if code != 0 || out != checkHelp || stderr != "" {
			t.Errorf("%s: code %d, stdout %q, stderr %q", arg, code, out, stderr)
		}
	}
}

func TestParseCheckFlagsAnywhere(t *testing.T) {
	f, err := parseCheckFlags([]string{"web01:22", "--json", "web02:80", "--timeout=2s", "--trace", "--", "--weird:1"})
	if err != nil {
		t.Fatal(err)
	}
	if !f.json || !f.trace || f.timeout != 2*time.Second || f.maxPorts != checks.DefaultMaxPorts {
		t.Errorf("flags: %+v", f)
	}
	if want := []string{"web01:22", "web02:80", "--weird:1"}; fmt.Sprint(f.targets) != fmt.Sprint(want) {
		t.Errorf("targets %q, want %q", f.targets, want)
	}
}

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
	code := checkRun{prober: fakeChecker{verdicts: map[int]checks.Verdict{22: "open", 80: "open", 443: "open"}}, json: true}.
		execute(context.Background(), reqs, stdio{out: &out, err: &errb})
	if code != 0 {
		t.Errorf("all open: exit %d, want 0", code)
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
	code := checkRun{prober: fakeChecker{verdicts: map[int]checks.Verdict{22: "open", 80: "service_refused"}}}.
		execute(context.Background(), reqs, stdio{out: &out, err: &bytes.Buffer{}})
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
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
	code := checkRun{prober: fakeChecker{verdicts: verdicts, cancelAfter: 3, cancel: cancel}, json: true}.
		execute(ctx, reqs, stdio{out: &out, err: &errb})
	if code != 1 {
		t.Errorf("interrupted run: exit %d, want 1", code)
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
	checkRun{prober: fakeChecker{verdicts: verdicts, cancelAfter: 3, cancel: cancel2}}.execute(ctx2, reqs, stdio{out: &out, err: &bytes.Buffer{}})
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

func TestIsTerminalFalseForBuffersAndFiles(t *testing.T) {
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a regular file is not a terminal")
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

// End to end against real loopback sockets: a listener is open; a port we
// just closed answers with a reset. Only 127.0.0.1 is ever probed.
func TestCheckEndToEndLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	openPort := ln.Addr().(*net.TCPAddr).Port

	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := gone.Addr().(*net.TCPAddr).Port
	gone.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("open", func(t *testing.T) {
		code, out, stderr := runCLI(ctx, "check", fmt.Sprintf("127.0.0.1:%d", openPort), "--json", "--timeout", "3s")
		var r checks.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: stdout %q stderr %q", err, out, stderr)
		}
		if r.Verdict != checks.VerdictOpen && r.Verdict != checks.VerdictServiceRefused {
			t.Errorf("verdict %s, want open", r.Verdict)
		}
		if r.Port != openPort || r.Host != "127.0.0.1" {
			t.Errorf("report for %s:%d", r.Host, r.Port)
		}
		if (r.Verdict == checks.VerdictOpen) != (code == 0) {
			t.Errorf("exit %d for verdict %s", code, r.Verdict)
		}
	})
	t.Run("closed", func(t *testing.T) {
		code, out, stderr := runCLI(ctx, "check", "--json", fmt.Sprintf("127.0.0.1:%d", closedPort))
		var r checks.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: stdout %q stderr %q", err, out, stderr)
		}
		if r.Verdict != checks.VerdictClosed || code != 1 {
			t.Errorf("verdict %s exit %d, want closed and 1", r.Verdict, code)
		}
	})
	t.Run("human, both ports", func(t *testing.T) {
		code, out, _ := runCLI(ctx, "check", fmt.Sprintf("127.0.0.1:%d,%d", openPort, closedPort))
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		for _, want := range []string{"VERDICT", fmt.Sprintf("127.0.0.1:%d", closedPort), "closed", "Checked 2 ports on 1 host"} {
			if !strings.Contains(out, want) {
				t.Errorf("missing %q in:\n%s", want, out)
			}
		}
	})
}
