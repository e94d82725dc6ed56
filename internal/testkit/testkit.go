// Package testkit holds the few helpers tests across packages share: a
// log sink goroutines may write while the test reads it, waiting for a
// loop to return, a clock whose waits the test steps, and loopback ports
// that accept, refuse, or leave SYNs unanswered.
package testkit

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Buffer is a log sink a component's goroutines may write while the test
// reads it.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Returns waits for a Run loop's result on done: an error from it is a test
// error, not returning within d a fatal one.
func Returns(t testing.TB, done <-chan error, d time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(d):
		t.Fatalf("Run did not return within %s", d)
	}
}

// StepClock is a component's clock (its Now and After) in a test that
// decides when time passes: Now is what At last set, and every wait
// (After) lasts until the test's next At. The component must have one
// loop waiting on After (the bot's queued posts, with no watch running).
type StepClock struct {
	mu   sync.Mutex
	base time.Time
	now  time.Time
	tick chan time.Time
}

// NewStepClock starts at base.
func NewStepClock(base time.Time) *StepClock {
	return &StepClock{base: base, now: base, tick: make(chan time.Time)}
}

// Now is the time At last set.
func (c *StepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After ends at the test's next At, whatever d.
func (c *StepClock) After(time.Duration) <-chan time.Time { return c.tick }

// At sets the clock to base+d and lets the waiting loop run once: the
// second send returns only when the loop waits again, its round at d done.
func (c *StepClock) At(t testing.TB, d time.Duration) {
	t.Helper()
	c.mu.Lock()
	c.now = c.base.Add(d)
	c.mu.Unlock()
	for range 2 {
		select {
		case c.tick <- c.base.Add(d):
		case <-time.After(5 * time.Second):
			t.Fatal("nothing waits on the clock")
		}
	}
}

// StalledPort is a loopback port whose SYNs go unanswered: a listener with
// a backlog of 0 whose accept queue is already full, so Linux drops every
// further SYN and a connect waits out its deadline, as behind a firewall
// that drops. A check of it takes the prober's whole timeout.
func StalledPort(t testing.TB) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// Fill the accept queue (never accepted), then prove a connect stalls.
	for i := 0; i < 4; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return port // stalled already
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skipf("could not make %s stall: the accept queue never filled", addr)
	return 0
}

// OpenPort is a loopback port whose listener accepts every connection and
// closes it at once, until the test ends.
func OpenPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// ClosedPort is a loopback port nothing listens on (a listener's, closed
// again): a connect to it is reset.
func ClosedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
