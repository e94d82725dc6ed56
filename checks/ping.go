package checks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	probing "github.com/prometheus-community/pro-bing"
	"golang.org/x/sys/unix"
)

// pingRun is an ICMP echo run in the background. Its first reply's RTT
// drives the adaptive waits of the other probes; an unanswered ping is only
// evidence ("ICMP filtered"), never by itself "host down". Several ports of
// one host may share a run, so everything readable is safe to read while it
// goes on.
type pingRun struct {
	replied chan struct{} // closed at the first reply
	hurry   chan struct{} // closed to send the first echo request now, delay or not
	once    sync.Once
	done    chan struct{}
	cancel  context.CancelFunc

	mu         sync.Mutex
	sent, recv int
	rttSum     time.Duration
	firstRTT   time.Duration
	hops       int // path length guessed from the first reply's TTL; 0 unknown
	ttl        int // the first reply's TTL
	lastSend   time.Time
	privileged bool
	err        string
	charged    int // echo requests booked against a router's budget (Prober.charge)
}

// pingOptions tune startPing.
type pingOptions struct {
	Count      int
	Interval   time.Duration
	Privileged bool // raw ICMP socket; otherwise an unprivileged ping socket
	// Delay holds the first echo request back: a port that answers within
	// it needs no ping, and a router that cannot reach the address spends
	// none of its ICMP budget on echo requests.
	Delay time.Duration
}

// startPing pings addr until Count replies, ctx ends or stop is called.
func startPing(ctx context.Context, addr netip.Addr, o pingOptions) *pingRun {
	ctx, cancel := context.WithCancel(ctx)
	pr := &pingRun{replied: make(chan struct{}), hurry: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(pr.done)
		defer cancel()
		if o.Delay > 0 {
			t := time.NewTimer(o.Delay)
			select {
			case <-t.C:
			case <-pr.hurry:
				t.Stop()
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		err := pr.run(ctx, addr, o)
		if err != nil && ctx.Err() == nil && o.Privileged && pr.snapshot().Sent == 0 {
			// Raw sockets refused after all (no CAP_NET_RAW in this
			// namespace, seccomp...): fall back to a ping socket.
			o.Privileged = false
			err = pr.run(ctx, addr, o)
		}
		if err != nil {
			pr.mu.Lock()
			pr.err = err.Error()
			pr.mu.Unlock()
		}
	}()
	return pr
}

func (pr *pingRun) run(ctx context.Context, addr netip.Addr, o pingOptions) (err error) {
	defer func() {
		if v := recover(); v != nil { // a library panic must not take the check down
			err = fmt.Errorf("ping panicked: %v", v)
		}
	}()
	pr.mu.Lock()
	pr.privileged = o.Privileged
	pr.mu.Unlock()
	p := probing.New(addr.String())
	p.SetIPAddr(&net.IPAddr{IP: addr.Unmap().AsSlice()})
	p.SetPrivileged(o.Privileged)
	p.SetLogger(probing.NoopLogger{})
	p.Count = max(o.Count, 1)
	p.Interval = o.Interval
	if p.Interval <= 0 {
		p.Interval = 200 * time.Millisecond
	}
	p.Timeout = 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		p.Timeout = time.Until(dl)
		if p.Timeout <= 0 {
			// Already past the deadline (a loaded prober): pro-bing
			// panics on a non-positive timeout ticker.
			return nil
		}
	}
	p.OnSend = func(*probing.Packet) {
		pr.mu.Lock()
		pr.sent++
		pr.lastSend = time.Now()
		pr.mu.Unlock()
	}
	p.OnRecv = func(pkt *probing.Packet) {
		pr.mu.Lock()
		defer pr.mu.Unlock()
		pr.recv++
		pr.rttSum += pkt.Rtt
		if pr.recv == 1 {
			pr.firstRTT = pkt.Rtt
			pr.hops, pr.ttl = hopsFromTTL(pkt.TTL), pkt.TTL
			close(pr.replied)
		}
	}
	err = p.RunWithContext(ctx)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("ping %s: %w", addr, err)
	}
	return nil
}

// unbooked is how many echo requests were sent since the last call: each
// is booked once against the budget of a router that refuses the address,
// however many checks share the run.
func (pr *pingRun) unbooked() int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	n := pr.sent - pr.charged
	pr.charged = pr.sent
	return n
}

// finished reports whether the run has ended.
func (pr *pingRun) finished() bool {
	select {
	case <-pr.done:
		return true
	default:
		return false
	}
}

// pingPool shares a ping run between the concurrent checks of one address
// (a worker holding many checks of one host during an incident): one echo
// stream, one socket and its goroutines, instead of one each. A check joins
// a run still going, whose replies describe the host while it runs; once
// the run has ended, the next check starts a new one.
type pingPool struct {
	mu   sync.Mutex
	runs map[netip.Addr]*pooledPing
}

type pooledPing struct {
	pr     *pingRun
	refs   int
	cancel context.CancelFunc
}

func newPingPool() *pingPool { return &pingPool{runs: map[netip.Addr]*pooledPing{}} }

// join returns addr's run, started now if none is going, and the leave
// func the check calls when done with it (the last one out stops it).
func (pp *pingPool) join(addr netip.Addr, o pingOptions, timeout time.Duration) (*pingRun, func()) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	r := pp.runs[addr]
	if r == nil || r.pr.finished() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		r = &pooledPing{pr: startPing(ctx, addr, o), cancel: cancel}
		pp.runs[addr] = r
	}
	r.refs++
	var once sync.Once
	return r.pr, func() {
		once.Do(func() {
			pp.mu.Lock()
			r.refs--
			last := r.refs == 0
			if last && pp.runs[addr] == r {
				delete(pp.runs, addr)
			}
			pp.mu.Unlock()
			if last {
				r.pr.stop()
				r.cancel()
			}
		})
	}
}

// now sends the first echo request at once if it is still held back: an
// answer came that needs the host's distance (a reset to examine).
func (pr *pingRun) now() { pr.once.Do(func() { close(pr.hurry) }) }

// hasReplied reports whether the first reply is in.
func (pr *pingRun) hasReplied() bool {
	select {
	case <-pr.replied:
		return true
	default:
		return false
	}
}

// rtt is the first reply's round trip, valid once replied is closed.
func (pr *pingRun) rtt() time.Duration {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.firstRTT
}

// pathHops is the guessed number of hops to the host, 0 when unknown.
func (pr *pingRun) pathHops() int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.hops
}

// hopsFromTTL guesses the path length from a reply's TTL: hosts start at
// 64, 128 or 255, every router takes one off.
func hopsFromTTL(ttl int) int {
	for _, initial := range []int{64, 128, 255} {
		if ttl > 0 && ttl <= initial {
			return initial - ttl + 1
		}
	}
	return 0
}

// lastSent is when the last echo request left (zero: none yet).
func (pr *pingRun) lastSent() time.Time {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.lastSend
}

// snapshot is what the run saw so far.
func (pr *pingRun) snapshot() PingResult {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	r := PingResult{Sent: pr.sent, Received: pr.recv, Privileged: pr.privileged, Error: pr.err, TTL: pr.ttl}
	if pr.recv > 0 {
		r.RTTMS = ms(pr.rttSum / time.Duration(pr.recv))
	}
	return r
}

// stop ends the run and returns what it saw so far. It does not wait for
// pro-bing to wind down (its receive loop polls with up to ~100 ms read
// deadlines): a verdict must not wait for a ping that no longer matters.
func (pr *pingRun) stop() PingResult {
	pr.cancel()
	return pr.snapshot()
}

// canRawICMP reports whether this process may open raw ICMP sockets
// (root or CAP_NET_RAW), so pro-bing's privileged mode can work.
func canRawICMP() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Effective&(1<<unix.CAP_NET_RAW) != 0
}

// canPingSocket reports whether this process may open an unprivileged ICMP
// "ping socket" (net.ipv4.ping_group_range covers its group; the setting is
// per network namespace). Opening and closing one is the only reliable test:
// the range also depends on supplementary groups and on the namespace.
func canPingSocket() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}
