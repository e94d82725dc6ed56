package testkit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Terminal runs a command on a pseudo-terminal of its own, as a person's
// terminal window would: the command's stdin, stdout and stderr are the
// terminal, which is its controlling terminal (so Ctrl-C typed on a cooked
// terminal is a SIGINT), and the test types keys and reads the screen's
// bytes. Opened by hand from /dev/ptmx, without a pty module.
type Terminal struct {
	t      *testing.T
	master *os.File
	cmd    *exec.Cmd
	out    Buffer
	read   chan struct{} // closed when the terminal's output ends
	exited chan struct{}
	err    error
}

// StartTerminal starts cmd on a new cols x rows terminal; the test skips
// where pseudo-terminals cannot be opened.
func StartTerminal(t *testing.T, cmd *exec.Cmd, cols, rows int) *Terminal {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil { // unlockpt
		master.Close()
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN) // ptsname
	if err != nil {
		master.Close()
		t.Fatalf("ptsname: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Skipf("cannot open the terminal's other end: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(rows), Col: uint16(cols)}); err != nil {
		t.Fatalf("window size: %v", err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// A session of its own with the terminal as its controlling terminal
	// (fd 0 in the child): the line discipline's signals reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		master.Close()
		slave.Close()
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	slave.Close() // the child holds it now; its exit ends the output
	term := &Terminal{t: t, master: master, cmd: cmd, read: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(term.read)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			term.out.Write(buf[:n]) //nolint:errcheck // a Buffer never fails
			if err != nil {
				return // EIO once the last holder of the other end closes it
			}
		}
	}()
	go func() {
		term.err = cmd.Wait()
		close(term.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-term.exited:
		default:
			_ = cmd.Process.Kill()
			<-term.exited
		}
		master.Close()
	})
	return term
}

// Type writes keys as if typed ("\r" is Enter, "\x03" Ctrl-C, "\x04" Ctrl-D).
func (term *Terminal) Type(keys string) {
	term.t.Helper()
	if _, err := term.master.Write([]byte(keys)); err != nil {
		term.t.Fatalf("typing %q: %v", keys, err)
	}
}

// Output is every byte the command wrote to the terminal so far.
func (term *Terminal) Output() string { return term.out.String() }

// WaitFor waits until the output, from byte from on, holds want, and
// returns the offset just past it; the test fails after timeout.
func (term *Terminal) WaitFor(want string, from int, timeout time.Duration) int {
	term.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := term.Output()
		if from > len(out) {
			from = len(out)
		}
		if i := strings.Index(out[from:], want); i >= 0 {
			return from + i + len(want)
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("the terminal never showed %q; it shows:\n%q", want, out[from:])
		}
		select {
		case <-term.exited:
			// Let the reader drain what the command wrote before it exited.
			select {
			case <-term.read:
			case <-time.After(time.Second):
			}
			if !strings.Contains(term.Output()[from:], want) {
				term.t.Fatalf("the command exited (%v) without showing %q; it showed:\n%q", term.err, want, term.Output()[from:])
			}
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Exit waits for the command to end and returns its exit code.
func (term *Terminal) Exit(timeout time.Duration) int {
	term.t.Helper()
	select {
	case <-term.exited:
	case <-time.After(timeout):
		term.t.Fatalf("the command did not exit; the terminal shows:\n%q", term.Output())
	}
	select {
	case <-term.read:
	case <-time.After(time.Second):
	}
	var ee *exec.ExitError
	if errors.As(term.err, &ee) {
		return ee.ExitCode()
	}
	if term.err != nil {
		term.t.Fatalf("waiting for the command: %v", term.err)
	}
	return 0
}
