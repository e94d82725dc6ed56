package shell

import (
	"context"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/wire"
	"golang.org/x/sys/unix"
)

// The interactive shell: the terminal in raw mode and a small line editor,
// so that Ctrl-C is a key and not a signal (it cancels the line being
// typed or the check running, not the session), and so that answers
// arriving while a line is being typed are printed above it and the prompt
// and the half-typed line are drawn again below them.

// Control is what the interactive shell asks of the bot about its own
// channel (*bot.Bot implements it): what still runs, and how to end it.
type Control interface {
	Busy(c wire.Channel) (checks, watches int)
	CancelChecks(ctx context.Context, c wire.Channel, why string) int
	StopWatches(ctx context.Context, c wire.Channel, why string) int
	Wait(ctx context.Context) error
}

// MakeRaw puts the terminal on fd in the mode the line editor needs: keys
// arrive one at a time and unechoed, Ctrl-C and Ctrl-D as bytes rather
// than a signal and an end of file; output still turns "\n" into "\r\n".
// It returns the function that restores the terminal as it was.
func MakeRaw(fd int) (restore func() error, err error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("shell: not a terminal: %w", err)
	}
	t := *old
	t.Lflag &^= unix.ECHO | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Iflag &^= unix.IXON | unix.INLCR | unix.IGNCR
	t.Iflag |= unix.ICRNL
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, fmt.Errorf("shell: raw mode: %w", err)
	}
	return func() error { return unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

// editor is the line being typed after the prompt, and the lines typed
// before it (Up and Down walk them).
type editor struct {
	buf     []rune
	cur     int
	history []string
	hist    int    // the history line shown; len(history) is the line being typed
	draft   []rune // the line being typed, kept while history is shown
}

// render draws the prompt and the line over the current terminal line and
// puts the cursor where it is in the line.
func (e *editor) render(prompt string) string {
	s := "\r\x1b[K" + prompt + string(e.buf)
	if back := len(e.buf) - e.cur; back > 0 {
		s += fmt.Sprintf("\x1b[%dD", back)
	}
	return s
}

func (e *editor) set(r []rune) { e.buf, e.cur = r, len(r) }

// edit applies an editing key; Enter, Ctrl-C and Ctrl-D are the caller's.
func (e *editor) edit(k key) {
	switch k.kind {
	case keyRune:
		e.buf = append(e.buf[:e.cur], append([]rune{k.r}, e.buf[e.cur:]...)...)
		e.cur++
	case keyBackspace:
		if e.cur > 0 {
			e.buf = append(e.buf[:e.cur-1], e.buf[e.cur:]...)
			e.cur--
		}
	case keyDelete, keyCtrlD:
		if e.cur < len(e.buf) {
			e.buf = append(e.buf[:e.cur], e.buf[e.cur+1:]...)
		}
	case keyLeft:
		e.cur = max(0, e.cur-1)
	case keyRight:
		e.cur = min(len(e.buf), e.cur+1)
	case keyHome:
		e.cur = 0
	case keyEnd:
		e.cur = len(e.buf)
	case keyKill:
		e.set(nil)
	case keyWord:
		i := e.cur
		for i > 0 && unicode.IsSpace(e.buf[i-1]) {
			i--
		}
		for i > 0 && !unicode.IsSpace(e.buf[i-1]) {
			i--
		}
		e.buf = append(e.buf[:i], e.buf[e.cur:]...)
		e.cur = i
	case keyUp:
		if e.hist == len(e.history) {
			e.draft = append([]rune(nil), e.buf...)
		}
		if e.hist > 0 {
			e.hist--
			e.set([]rune(e.history[e.hist]))
		}
	case keyDown:
		if e.hist < len(e.history) {
			e.hist++
			if e.hist == len(e.history) {
				e.set(e.draft)
			} else {
				e.set([]rune(e.history[e.hist]))
			}
		}
	}
}

// submit takes the line typed, remembers it, and starts a new one.
func (e *editor) submit() string {
	line := string(e.buf)
	if strings.TrimSpace(line) != "" && (len(e.history) == 0 || e.history[len(e.history)-1] != line) {
		e.history = append(e.history, line)
	}
	e.hist = len(e.history)
	e.set(nil)
	e.draft = nil
	return line
}

// RunTerminal is Run for a terminal in raw mode (MakeRaw): it edits lines
// at the prompt and hands each to the Handler, until Ctrl-D on an empty
// line, exit, two Ctrl-C in a row, in failing, or ctx being done.
//
// Ctrl-C clears the line being typed; on an empty line it cancels the
// checks still running (their threads say so), and a second Ctrl-C in a
// row then quits. Leaving stops the watches and says so; Ctrl-D waits for the
// checks still running (a Ctrl-C then cancels them), two Ctrl-C cancel
// them at once.
func (s *Shell) RunTerminal(ctx context.Context, in io.Reader) error {
	keys := make(chan key, 64)
	go readKeys(in, keys)
	s.mu.Lock()
	s.editing = true
	io.WriteString(s.opt.Out, s.ed.render(s.opt.Prompt)) //nolint:errcheck
	s.mu.Unlock()
	defer s.stopEditing()
	armed := false // the last key was a Ctrl-C: another one quits
	for {
		var k key
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case k, ok = <-keys:
		}
		if !ok {
			return s.leave(ctx, keys, false) // the terminal went away: as Ctrl-D
		}
		switch k.kind {
		case keyEnter:
			armed = false
			s.mu.Lock()
			line := s.ed.submit()
			io.WriteString(s.opt.Out, "\n") //nolint:errcheck // the line stays on screen, as typed
			s.mu.Unlock()
			switch local(line) {
			case "quit":
				return s.leave(ctx, keys, false)
			case "clear":
				s.clearScreen()
				continue
			}
			if err := s.Say(ctx, line); err != nil {
				s.print("", "", bot.Message{Status: bot.StatusError, Text: err.Error()})
			}
			s.redraw()
		case keyCtrlD:
			s.mu.Lock()
			empty := len(s.ed.buf) == 0
			s.mu.Unlock()
			if empty {
				return s.leave(ctx, keys, false)
			}
			armed = false
			s.editKey(k)
		case keyCtrlC:
			if armed {
				s.mu.Lock()
				io.WriteString(s.opt.Out, "^C\n") //nolint:errcheck
				s.mu.Unlock()
				return s.leave(ctx, keys, true)
			}
			s.mu.Lock()
			typed := len(s.ed.buf) > 0
			s.ed.set(nil)
			s.ed.hist = len(s.ed.history)
			io.WriteString(s.opt.Out, "^C\n") //nolint:errcheck
			s.mu.Unlock()
			if typed { // a line abandoned: routine, it does not arm the quit
				s.redraw()
				continue
			}
			armed = true
			n := 0
			if s.opt.Control != nil {
				n = s.opt.Control.CancelChecks(ctx, s.channel, "cancelled: you pressed Ctrl-C")
			}
			if n > 0 {
				s.note("cancelled " + count(n, "check", "checks") + " (Ctrl-C again to quit)")
			} else {
				s.note("Ctrl-C again, or Ctrl-D, to quit")
			}
		case keyRedraw:
			s.clearScreen()
		default:
			armed = false
			s.editKey(k)
		}
	}
}

// local reads the words that are the shell's own, not the bot's.
func local(line string) string {
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "exit", "quit", "logout", "bye":
		return "quit"
	case "clear", "cls":
		return "clear"
	}
	return ""
}

// leave ends the session: watches are stopped (and said so); checks still
// running are waited for, or cancelled when force (or on a Ctrl-C while
// waiting).
func (s *Shell) leave(ctx context.Context, keys <-chan key, force bool) error {
	c := s.opt.Control
	if c == nil {
		return nil
	}
	if n := c.StopWatches(ctx, s.channel, "you left the shell"); n > 0 {
		s.note("stopped " + count(n, "watch", "watches") + " on the way out")
	}
	checks, _ := c.Busy(s.channel)
	if checks == 0 {
		return nil
	}
	if force {
		c.CancelChecks(ctx, s.channel, "cancelled: you left the shell")
		return nil
	}
	s.note("waiting for " + count(checks, "check", "checks") + " to finish (Ctrl-C to cancel)")
	done := make(chan error, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { done <- c.Wait(wctx) }()
	for {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case k, ok := <-keys:
			if !ok || k.kind == keyCtrlC || k.kind == keyCtrlD {
				c.CancelChecks(ctx, s.channel, "cancelled: you left the shell")
				return nil
			}
		}
	}
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// editKey applies an editing key and draws the line again.
func (s *Shell) editKey(k key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ed.edit(k)
	io.WriteString(s.opt.Out, s.ed.render(s.opt.Prompt)) //nolint:errcheck
}

// redraw draws the prompt and the line being typed again.
func (s *Shell) redraw() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.editing {
		io.WriteString(s.opt.Out, s.ed.render(s.opt.Prompt)) //nolint:errcheck
	}
}

func (s *Shell) clearScreen() {
	s.mu.Lock()
	defer s.mu.Unlock()
	io.WriteString(s.opt.Out, "\x1b[H\x1b[2J"+s.ed.render(s.opt.Prompt)) //nolint:errcheck
}

// note prints the shell's own remark (not the bot's).
func (s *Shell) note(text string) {
	s.print("", "", bot.Message{Status: bot.StatusInfo, Text: text})
}

// stopEditing leaves the prompt line empty: nothing is drawn after it.
func (s *Shell) stopEditing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.editing {
		s.editing = false
		io.WriteString(s.opt.Out, "\r\x1b[K") //nolint:errcheck
	}
}
