package checks

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portcheck/portcheck/internal/testkit"
)

// Loopback only: a listener answers SYN-ACK, a closed port a RST.
func TestConnectLoopback(t *testing.T) {
	open, closed := testkit.OpenPort(t), testkit.ClosedPort(t)
	lo := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name string
		port int
		want Reason
	}{
		{"open", open, ReasonSynAck},
		{"closed", closed, ReasonReset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startTCP(lo, tt.port, 0)
			a.setDeadline(time.Now().Add(2 * time.Second))
			o := a.wait(true)
			if o.Conn != nil {
				o.Conn.Close()
			}
			if o.Reason != tt.want || o.From != lo {
				t.Fatalf("got %+v, want %s from %s", o, tt.want, lo)
			}
		})
	}
}

func TestConnectCancel(t *testing.T) {
	// A cancelled wait returns at once, whatever the socket saw so far.
	a := startTCP(netip.MustParseAddr("127.0.0.1"), 1, 0)
	a.cancel()
	o := a.wait(false)
	if o.Reason != ReasonReset && o.Reason != ReasonNoResponse {
		t.Fatalf("got %+v", o)
	}
}

// pollReady must treat an interrupted poll as "not yet": EINTR with n = -1
// read as an event turned a DROPped port into a confident "open".
func TestPollReady(t *testing.T) {
	tests := []struct {
		name  string
		seq   []pollResult
		want  bool
		calls int
	}{
		{"nothing yet", []pollResult{{0, nil}}, false, 1},
		{"an event", []pollResult{{1, nil}}, true, 1},
		{"interrupted, then nothing", []pollResult{{-1, unix.EINTR}, {0, nil}}, false, 2},
		{"interrupted twice, then an event", []pollResult{{-1, unix.EINTR}, {-1, unix.EINTR}, {1, nil}}, true, 3},
		{"another failure", []pollResult{{-1, unix.EBADF}}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			got := pollReady(func() (int, error) {
				r := tt.seq[calls]
				calls++
				return r.n, r.err
			})
			if got != tt.want || calls != tt.calls {
				t.Fatalf("pollReady = %v after %d polls, want %v after %d", got, calls, tt.want, tt.calls)
			}
		})
	}
}

type pollResult struct {
	n   int
	err error
}

// A connect the listener never answers (its accept queue is full, so the
// kernel drops our SYN) is still in SYN_SENT: settledTCP must not call it
// a syn-ack even though SO_ERROR is 0 and the error queue is empty, and
// wait must end with no response, not "open".
func TestStillSynSentIsNoAnswer(t *testing.T) {
	port := testkit.StalledPort(t)
	lo := netip.MustParseAddr("127.0.0.1")
	a := startTCP(lo, port, 0)
	if a.early != nil {
		t.Fatalf("connect: %+v", *a.early)
	}
	time.Sleep(50 * time.Millisecond) // the SYN has been dropped by now
	var settled bool
	var out tcpOutcome
	if err := a.sock.rc.Control(func(fd uintptr) {
		if !synSent(int(fd)) {
			t.Errorf("socket is not in SYN_SENT: the listener answered")
		}
		out, settled = settledTCP(int(fd), lo, false)
	}); err != nil {
		t.Fatal(err)
	}
	if settled {
		t.Errorf("settledTCP on a SYN_SENT socket = %+v, want not settled", out)
	}
	a.setDeadline(time.Now().Add(300 * time.Millisecond))
	if o := a.wait(false); o.Reason != ReasonNoResponse {
		t.Errorf("wait = %+v, want no-response", o)
	}
}
