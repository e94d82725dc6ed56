package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/testkit"
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
		{[]string{"check", "--bogus", "web01:22"}, "portcheck check: unknown flag --bogus\nUsage: portcheck check [flags] TARGET...  (portcheck check --help for more)\n"},
		{[]string{"check", "--timeout", "soon", "web01:22"}, "portcheck check: --timeout soon: not a duration (e.g. 5s, 500ms, 1m30s)\nUsage: portcheck check [flags] TARGET...  (portcheck check --help for more)\n"},
		{[]string{"check", "--timeout", "0s", "web01:22"}, "portcheck check: --timeout must be positive, got 0s\nUsage: portcheck check [flags] TARGET...  (portcheck check --help for more)\n"},
		{[]string{"check", "--color", "sometimes", "web01:22"}, "portcheck check: --color sometimes: want auto, always or never\nUsage: portcheck check [flags] TARGET...  (portcheck check --help for more)\n"},
		{[]string{"check", "--max-ports", "0", "web01:22"}, "portcheck check: --max-ports must be 1-65535, got 0\nUsage: portcheck check [flags] TARGET...  (portcheck check --help for more)\n"},
		{[]string{"check", "web01:22", "--timeout"}, "portcheck check: --timeout needs a value: a duration such as 5s (--timeout 5s)\nUsage: portcheck check [flags] TARGET...  (portcheck check --help for more)\n"},
		{[]string{"check", "--timeout", "5", "web01:22"}, "portcheck check: --timeout 5: give a unit, e.g. 5s\nUsage: portcheck check [flags] TARGET...  (portcheck check --help for more)\n"},
		{[]string{"check", "--timout", "5s", "web01:22"}, "portcheck check: unknown flag --timout (did you mean --timeout?)\nUsage: portcheck check [flags] TARGET...  (portcheck check --help for more)\n"},
		{[]string{"check", "--max-ports", "many", "web01:22"}, "portcheck check: --max-ports many: not a whole number\nUsage: portcheck check [flags] TARGET...  (portcheck check --help for more)\n"},
		{[]string{"check", "--json=maybe", "web01:22"}, "portcheck check: --json is a switch: give --json alone (or --json=false), not --json=maybe\nUsage: portcheck check [flags] TARGET...  (portcheck check --help for more)\n"},
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

func TestWantColor(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		mode     string
		terminal bool
		env      map[string]string
		want     bool
	}{
		{"auto", true, nil, true},
		{"auto", false, nil, false},
		{"auto", true, map[string]string{"NO_COLOR": "1"}, false},
		{"auto", true, map[string]string{"NO_COLOR": ""}, true}, // set but empty: no-color.org says colour
		{"auto", true, map[string]string{"TERM": "dumb"}, false},
		{"always", false, map[string]string{"NO_COLOR": "1"}, true},
		{"never", true, nil, false},
	} {
		if got := wantColor(tc.mode, tc.terminal, env(tc.env)); got != tc.want {
			t.Errorf("wantColor(%s, terminal %v, %v) = %v", tc.mode, tc.terminal, tc.env, got)
		}
	}
}

func TestCheckHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		code, out, stderr := runCLI(context.Background(), "check", arg)
		if code != 0 || out != helpText(lookup("check")) || stderr != "" {
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

// End to end against real loopback sockets: a listener is open; a port we
// just closed answers with a reset. Only 127.0.0.1 is ever probed.
func TestCheckEndToEndLoopback(t *testing.T) {
	openPort, closedPort := testkit.OpenPort(t), testkit.ClosedPort(t)

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
