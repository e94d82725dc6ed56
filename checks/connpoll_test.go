package checks

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/testkit"
)

// The poller gives each connect the outcome wait would: a listener's
// SYN-ACK (with the live connection when kept), a closed port's reset, a
// stalled port's silence at the deadline, and a cancel at once. Loopback
// only.
func TestConnPollerOutcomes(t *testing.T) {
	open, closed := testkit.OpenPort(t), testkit.ClosedPort(t)
	stalled := testkit.StalledPort(t)
	lo := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name     string
		port     int
		deadline time.Duration
		cancel   bool
		want     Reason
		conn     bool
		within   time.Duration
	}{
		{name: "open, kept", port: open, deadline: 2 * time.Second, want: ReasonSynAck, conn: true, within: time.Second},
		{name: "closed", port: closed, deadline: 2 * time.Second, want: ReasonReset, within: time.Second},
		{name: "silent until the deadline", port: stalled, deadline: 300 * time.Millisecond, want: ReasonNoResponse, within: 2 * time.Second},
		{name: "silent, cancelled", port: stalled, deadline: 10 * time.Second, cancel: true, want: ReasonNoResponse, within: time.Second},
	}
	var p connPoller
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startTCP(lo, tt.port, 0)
			a.setDeadline(time.Now().Add(tt.deadline))
			out := make(chan tcpOutcome, 1)
			start := time.Now()
			p.watch(a, true, out)
			if tt.cancel {
				time.Sleep(50 * time.Millisecond)
				a.cancel()
			}
			var o tcpOutcome
			select {
			case o = <-out:
			case <-time.After(tt.within + 5*time.Second):
				t.Fatal("no outcome")
			}
			if o.Conn != nil {
				o.Conn.Close()
			}
			if o.Reason != tt.want || (o.Conn != nil) != tt.conn {
				t.Fatalf("got %+v, want %s (conn %v)", o, tt.want, tt.conn)
			}
			if tt.want == ReasonNoResponse && !tt.cancel && time.Since(start) < tt.deadline {
				t.Errorf("silence reported after %v, before the %v deadline", time.Since(start), tt.deadline)
			}
			if o.answered() && o.RTT <= 0 {
				t.Errorf("answered without an RTT: %+v", o)
			}
		})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f != nil || len(p.waits) != 0 {
		t.Errorf("after every connect ended the set is still open with %d waits", len(p.waits))
	}
}

// Many connects at once, answered, silent and moved deadlines mixed:
// every one gets exactly one outcome, and the set closes when the last
// one ends (and opens again for the next).
func TestConnPollerMany(t *testing.T) {
	open := testkit.OpenPort(t)
	stalled := testkit.StalledPort(t)
	lo := netip.MustParseAddr("127.0.0.1")
	var p connPoller
	for round := 0; round < 2; round++ {
		const n = 200
		var wg sync.WaitGroup
		results := make([]Reason, n)
		for i := range n {
			port := open
			if i%4 == 0 {
				port = stalled
			}
			a := startTCP(lo, port, 0)
			a.setDeadline(time.Now().Add(5 * time.Second))
			out := make(chan tcpOutcome, 1)
			p.watch(a, false, out)
			if port == stalled {
				a.setDeadline(time.Now().Add(200 * time.Millisecond)) // moved while it waits
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case o := <-out:
					results[i] = o.Reason
				case <-time.After(10 * time.Second):
					results[i] = "none"
				}
				select {
				case o := <-out:
					t.Errorf("connect %d: a second outcome %+v", i, o)
				case <-time.After(50 * time.Millisecond):
				}
			}()
		}
		wg.Wait()
		for i, r := range results {
			want := ReasonSynAck
			if i%4 == 0 {
				want = ReasonNoResponse
			}
			if r != want {
				t.Errorf("round %d connect %d: %s, want %s", round, i, r, want)
			}
		}
		p.mu.Lock()
		if p.f != nil || len(p.waits) != 0 {
			t.Errorf("round %d: the set is still open with %d waits", round, len(p.waits))
		}
		p.mu.Unlock()
	}
}
