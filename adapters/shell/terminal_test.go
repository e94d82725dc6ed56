package shell_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/adapters/shell"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/internal/testkit"
	"github.com/portcheck/portcheck/wire"
)

// control is a bot that is busy as the test says.
type control struct {
	mu                 sync.Mutex
	checks, watches    int
	cancelled, stopped []string
	waited             chan struct{} // Wait returns when it is closed
}

func (c *control) Busy(wire.Channel) (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checks, c.watches
}

func (c *control) CancelChecks(_ context.Context, _ wire.Channel, why string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.checks
	c.checks = 0
	c.cancelled = append(c.cancelled, why)
	return n
}

func (c *control) StopWatches(_ context.Context, _ wire.Channel, why string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.watches
	c.watches = 0
	c.stopped = append(c.stopped, why)
	return n
}

func (c *control) Wait(ctx context.Context) error {
	select {
	case <-c.waited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// session is an interactive shell fed keys through a pipe, as a terminal in
// raw mode feeds it bytes.
type session struct {
	t    *testing.T
	sh   *shell.Shell
	h    *scripted
	ctl  *control
	keys *io.PipeWriter
	out  *testkit.Buffer
	done chan error
}

func newSession(t *testing.T, ctl *control) *session {
	t.Helper()
	r, w := io.Pipe()
	s := &session{t: t, h: &scripted{}, ctl: ctl, keys: w, out: &testkit.Buffer{}, done: make(chan error, 1)}
	s.sh = shell.New(shell.Options{Out: s.out, User: "alice", Handler: s.h, Prompt: "portcheck> ", Control: ctl})
	go func() { s.done <- s.sh.RunTerminal(context.Background(), r) }()
	t.Cleanup(func() { w.Close() })
	return s
}

func (s *session) press(keys string) {
	s.t.Helper()
	if _, err := io.WriteString(s.keys, keys); err != nil {
		s.t.Fatal(err)
	}
}

// waitOut waits until the output holds want.
func (s *session) waitOut(want string) {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.out.String(), want) {
		if time.Now().After(deadline) {
			s.t.Fatalf("output never showed %q:\n%q", want, s.out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *session) ended() error {
	s.t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(5 * time.Second):
		s.t.Fatalf("the session did not end:\n%q", s.out.String())
		return nil
	}
}

func (s *session) commands() []string {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	var out []string
	for _, c := range s.h.cmds {
		out = append(out, c.Text)
	}
	return out
}

// A line is edited (a typo fixed with Backspace, the cursor moved with the
// arrows) and sent with Enter; Up brings it back.
func TestTerminalEditsLines(t *testing.T) {
	s := newSession(t, &control{})
	s.press("help\r")
	s.waitOut("(only you) ℹ️ usage")
	s.press("web01:44x\x7f3\r")
	s.waitOut("#1 ↻ updated")
	s.press("\x1b[A\x1b[D\x1b[D\x1b[D\x1b[3~5\r") // Up: web01:443, then 443 -> 543
	s.waitOut("#2 ↻ updated")
	if got := strings.Join(s.commands(), "|"); got != "help|web01:443|web01:543" {
		t.Errorf("commands %q", got)
	}
	s.press("\x04") // Ctrl-D on an empty line
	if err := s.ended(); err != nil {
		t.Fatal(err)
	}
}

// An answer that arrives while a line is being typed is printed above it,
// and the prompt and the half-typed line are drawn again below it.
func TestTerminalRedrawsThePromptAfterAnswers(t *testing.T) {
	s := newSession(t, &control{})
	s.press("web0")
	s.waitOut("portcheck> web0")
	if err := s.sh.Ephemeral(context.Background(), wire.Channel{}, wire.User{}, bot.Message{Status: bot.StatusInfo, Text: "an answer"}); err != nil {
		t.Fatal(err)
	}
	s.waitOut("\r\x1b[K(only you) ℹ️ an answer\n\r\x1b[Kportcheck> web0")
	s.press("1:443\r")
	s.waitOut("#1 ↻ updated")
	if got := strings.Join(s.commands(), "|"); got != "web01:443" {
		t.Errorf("commands %q", got)
	}
}

// Ctrl-C clears the line being typed; on an empty line it cancels the
// checks running; a second Ctrl-C in a row quits, stopping the watches
// and cancelling what still runs, and says so.
func TestTerminalCtrlC(t *testing.T) {
	ctl := &control{checks: 1, watches: 2, waited: make(chan struct{})}
	s := newSession(t, ctl)
	s.press("web01:4\x03")
	s.waitOut("^C\n")
	s.press("\x03")
	s.waitOut("ℹ️ cancelled 1 check (Ctrl-C again to quit)")
	s.press("x\x7f") // any other key disarms the quit
	s.press("\x03")
	s.waitOut("ℹ️ Ctrl-C again, or Ctrl-D, to quit")
	select {
	case err := <-s.done:
		t.Fatalf("the session ended after one Ctrl-C: %v\n%q", err, s.out.String())
	default:
	}
	ctl.mu.Lock()
	ctl.checks = 1 // another check started
	ctl.mu.Unlock()
	s.press("\x03")
	if err := s.ended(); err != nil {
		t.Fatal(err)
	}
	s.waitOut("ℹ️ stopped 2 watches on the way out")
	if len(s.commands()) != 0 {
		t.Errorf("a cleared line was sent: %q", s.commands())
	}
	if strings.Join(ctl.cancelled, "|") != "cancelled: you pressed Ctrl-C|cancelled: you pressed Ctrl-C|cancelled: you left the shell" ||
		strings.Join(ctl.stopped, "|") != "you left the shell" {
		t.Errorf("cancelled %q, stopped %q", ctl.cancelled, ctl.stopped)
	}
}

// Ctrl-D with a watch and a check running: the watch is stopped and said
// so, the check is waited for (not an hour of silence), and a Ctrl-C while
// waiting cancels it.
func TestTerminalCtrlDStopsWatchesAndWaits(t *testing.T) {
	ctl := &control{checks: 1, watches: 1, waited: make(chan struct{})}
	s := newSession(t, ctl)
	s.press("\x04")
	s.waitOut("ℹ️ stopped 1 watch on the way out")
	s.waitOut("ℹ️ waiting for 1 check to finish (Ctrl-C to cancel)")
	s.press("\x03")
	if err := s.ended(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ctl.cancelled, "|") != "cancelled: you left the shell" {
		t.Errorf("cancelled %q", ctl.cancelled)
	}

	ctl = &control{checks: 1, waited: make(chan struct{})}
	s = newSession(t, ctl)
	s.press("quit\r")
	s.waitOut("waiting for 1 check")
	close(ctl.waited) // the check finishes
	if err := s.ended(); err != nil {
		t.Fatal(err)
	}
	if len(ctl.cancelled) != 0 {
		t.Errorf("a check that finished was cancelled: %q", ctl.cancelled)
	}
}

// clear clears the screen instead of being checked as a host; exit leaves.
func TestTerminalClearAndExit(t *testing.T) {
	s := newSession(t, &control{})
	s.press("clear\r")
	s.waitOut("\x1b[H\x1b[2J")
	s.press("\x0c") // Ctrl-L
	s.press("exit\r")
	if err := s.ended(); err != nil {
		t.Fatal(err)
	}
	if len(s.commands()) != 0 {
		t.Errorf("clear or exit reached the bot: %q", s.commands())
	}
	if strings.Count(s.out.String(), "\x1b[2J") != 2 {
		t.Errorf("want two screen clears:\n%q", s.out.String())
	}
}
