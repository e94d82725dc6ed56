package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/testkit"
)

// onTerminal starts `portcheck ARGS...` (the test binary standing in, see
// TestMain) on a terminal of its own, 120 columns wide.
func onTerminal(t *testing.T, env []string, args ...string) *testkit.Terminal {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append([]string{"PORTCHECK_TEST_EXEC=1", "TERM=xterm-256color", "HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}, env...)
	return testkit.StartTerminal(t, cmd, 120, 40)
}

// portcheck check on a terminal: a slow port shows the live status line
// (spinner, port, step) while it is out; verdicts are in colour; Ctrl-C
// interrupts and says what finished.
func TestCheckOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a silent port")
	}
	slow := testkit.StalledPort(t)
	_, closed := loopbackPorts(t)
	term := onTerminal(t, nil, "check", "--timeout", "2s", fmt.Sprintf("127.0.0.1:%d", closed), fmt.Sprintf("127.0.0.1:%d", slow))
	// The closed port is in at once; the silent one is waited for.
	at := term.WaitFor(fmt.Sprintf("1/2 ports (0 open)  127.0.0.1:%d  ", slow), 0, 10*time.Second)
	term.WaitFor("…", at, time.Second)          // its step, in the engine's words (which steps a loopback port shows varies)
	term.WaitFor("\r\x1b[K", at, 5*time.Second) // redrawn in place
	if code := term.Exit(15 * time.Second); code != 1 {
		t.Errorf("exit %d, want 1 (a port not open)", code)
	}
	out := term.Output()
	for _, want := range []string{"\x1b[1;31m✗\x1b[0m  \x1b[1;31mclosed\x1b[0m", "Checked 2 ports on 1 host"} {
		if !strings.Contains(out, want) {
			t.Errorf("the terminal lacks %q:\n%q", want, out)
		}
	}
	// The status line is gone before the table: no spinner is left in it.
	if i := strings.Index(out, "VERDICT"); i < 0 || strings.ContainsAny(out[i:], "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏") {
		t.Errorf("a spinner frame is left in the output:\n%q", out)
	}

	// NO_COLOR: the same check without colour.
	term = onTerminal(t, []string{"NO_COLOR=1"}, "check", fmt.Sprintf("127.0.0.1:%d", closed))
	term.Exit(10 * time.Second)
	if strings.Contains(term.Output(), "\x1b[1;31m") {
		t.Errorf("colour despite NO_COLOR:\n%q", term.Output())
	}

	// Ctrl-C while the slow port is out: interrupted, what finished printed.
	term = onTerminal(t, nil, "check", "--timeout", "30s", fmt.Sprintf("127.0.0.1:%d", slow))
	term.WaitFor(fmt.Sprintf("127.0.0.1:%d  ", slow), 0, 10*time.Second)
	term.Type("\x03")
	if code := term.Exit(10 * time.Second); code != 1 {
		t.Errorf("exit %d after Ctrl-C, want 1", code)
	}
	term.WaitFor("interrupted: 0 of 1 ports checked", 0, time.Second)
}

// portcheck shell on a terminal: Ctrl-C cancels the check running and the
// session goes on; a line typed while an answer arrives is drawn again;
// Ctrl-D leaves, stopping the watch and saying so.
func TestShellOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the shell on a terminal")
	}
	slow := testkit.StalledPort(t)
	open, closed := loopbackPorts(t)
	db := filepath.Join(t.TempDir(), "audit.db")
	term := onTerminal(t, []string{"PORTCHECK_AUDIT_DB=" + db}, "shell", "--timeout", "20s")
	at := term.WaitFor("Ctrl-C cancels, Ctrl-D quits. Audit trail: "+db, 0, 10*time.Second)
	at = term.WaitFor("portcheck> ", at, 5*time.Second)

	term.Type(fmt.Sprintf("127.0.0.1:%d\r", slow))
	at = term.WaitFor(fmt.Sprintf("#1 ⏳ checking 127.0.0.1:%d from local…", slow), at, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // well into the silent connect
	term.Type("\x03")
	at = term.WaitFor("cancelled 1 check (Ctrl-C again to quit)", at, 5*time.Second)
	term.WaitFor(fmt.Sprintf("#1 ↻ updated: ⚠️ 127.0.0.1:%d — check failed: cancelled: you pressed Ctrl-C", slow), 0, 5*time.Second)

	// The session goes on: another check, answered.
	term.Type(fmt.Sprintf("127.0.0.1:%d\r", closed))
	at = term.WaitFor(fmt.Sprintf("#2 ↻ updated: 🔴 127.0.0.1:%d — closed", closed), at, 10*time.Second)

	// A watch, then half a line typed while its first answer arrives: the
	// prompt comes back below the answer with the half-typed line.
	term.Type(fmt.Sprintf("watch 127.0.0.1:%d every 10m\r", open))
	term.Type("hist")
	at = term.WaitFor(fmt.Sprintf("#3 ↻ updated: 🟢 127.0.0.1:%d — open", open), at, 10*time.Second)
	term.WaitFor("\r\x1b[Kportcheck> hist", at, 5*time.Second)
	term.Type("\x15") // Ctrl-U: the line is dropped

	term.Type("\x04") // Ctrl-D: leave
	term.WaitFor("stopped 1 watch on the way out", at, 5*time.Second)
	if code := term.Exit(20 * time.Second); code != 0 {
		t.Errorf("exit %d, want 0:\n%q", code, term.Output())
	}
}
