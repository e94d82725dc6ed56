package checks

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBuildTrace(t *testing.T) {
	target := netip.MustParseAddr("198.18.3.10")
	r1, r2 := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.2.2")
	te := func(a netip.Addr) hopResult { return hopResult{addr: a, kind: "time-exceeded", answered: true} }
	term := func(a netip.Addr, kind string) hopResult {
		return hopResult{addr: a, kind: kind, answered: true, terminal: true}
	}
	silent := hopResult{}
	tests := []struct {
		name     string
		rs       []hopResult
		hops     int
		reached  bool
		complete bool
	}{
		{"reached at 3, later TTLs ignored", []hopResult{te(r1), te(r2), term(target, "syn-ack"), term(target, "syn-ack"), silent}, 3, true, true},
		{"silent after hop 2: one silent hop shown", []hopResult{te(r1), te(r2), silent, silent, silent}, 3, false, false},
		{"router refuses at 3", []hopResult{te(r1), te(r2), term(r2, "admin-prohibited"), silent}, 3, false, true},
		{"nothing answers", []hopResult{silent, silent, silent}, 1, false, false},
		{"gap then answer", []hopResult{te(r1), silent, term(target, "reset")}, 3, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := buildTrace("tcp", 80, target, tt.rs)
			if len(tr.Hops) != tt.hops || tr.Reached != tt.reached {
				t.Errorf("hops %+v reached %v, want %d hops reached %v", tr.Hops, tr.Reached, tt.hops, tt.reached)
			}
			if got := traceComplete(tt.rs); got != tt.complete {
				t.Errorf("complete %v, want %v", got, tt.complete)
			}
		})
	}
}

func TestGapTTLs(t *testing.T) {
	target := netip.MustParseAddr("198.18.3.10")
	r1, r2 := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.2.2")
	te := func(a netip.Addr) hopResult { return hopResult{addr: a, kind: "time-exceeded", answered: true} }
	term := func(a netip.Addr, kind string) hopResult {
		return hopResult{addr: a, kind: kind, answered: true, terminal: true}
	}
	s := hopResult{}
	tests := []struct {
		name       string
		port, ctl  []hopResult
		wantPort   []int
		wantCtl    []int
		wantNoGaps bool
	}{
		{name: "host drop: port reaches the hop before the target", port: []hopResult{te(r1), te(r2), s, s, s},
			ctl: []hopResult{te(r1), te(r2), term(target, "echo-reply"), s, s}, wantNoGaps: true},
		{name: "path drop: ask hop 2 again", port: []hopResult{te(r1), s, s, s, s},
			ctl: []hopResult{te(r1), te(r2), term(target, "echo-reply"), s, s}, wantPort: []int{2}},
		{name: "control heard the target late, its lower TTLs silent", port: []hopResult{te(r1), te(r2), s, s, s},
			ctl: []hopResult{s, s, s, s, term(target, "echo-reply")}, wantPort: []int{3, 4}, wantCtl: []int{3, 4}},
		{name: "control never reaches the target", port: []hopResult{te(r1), s, s},
			ctl: []hopResult{te(r1), te(r2), s}, wantPort: []int{2}},
		{name: "control refused by a router", port: []hopResult{te(r1), s, s},
			ctl: []hopResult{te(r1), term(r2, "admin-prohibited"), s}, wantPort: []int{2}},
		{name: "port trace ended on its own", port: []hopResult{te(r1), term(r2, "admin-prohibited"), s},
			ctl: []hopResult{te(r1), te(r2), term(target, "echo-reply")}, wantNoGaps: true},
		{name: "port trace goes farther than the control", port: []hopResult{te(r1), te(r2), s},
			ctl: []hopResult{te(r1), s, s}, wantNoGaps: true},
		{name: "no control", port: []hopResult{te(r1), s, s}, wantNoGaps: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := gapTTLs(tt.port, tt.ctl, target)
			if tt.wantNoGaps {
				if p != nil || c != nil {
					t.Fatalf("gaps port %v ctl %v, want none", p, c)
				}
				return
			}
			if !slices.Equal(p, tt.wantPort) || !slices.Equal(c, tt.wantCtl) {
				t.Errorf("gaps port %v ctl %v, want port %v ctl %v", p, c, tt.wantPort, tt.wantCtl)
			}
		})
	}
}

// fakeHop answers (or not) at once: retryGap's logic without a network.
type fakeHop struct{ r hopResult }

func (f fakeHop) wait() hopResult       { return f.r }
func (f fakeHop) setDeadline(time.Time) {}

// TestRetryGap: a lost time-exceeded is asked for again and found, so the
// traces read "at the host"; a real filter in the path stays silent and
// still reads "in the path". Diagnose sees only the final traces.
func TestRetryGap(t *testing.T) {
	target := netip.MustParseAddr("198.18.3.10")
	r1, r2 := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.2.2")
	te := func(a netip.Addr) hopResult {
		return hopResult{addr: a, kind: "time-exceeded", answered: true, rtt: time.Millisecond}
	}
	echo := hopResult{addr: target, kind: "echo-reply", answered: true, terminal: true, rtt: time.Millisecond}
	s := hopResult{}
	tests := []struct {
		name     string
		port     []hopResult
		ctl      []hopResult
		portBy   func(ttl int) hopResult // what a second port probe hears
		ctlBy    func(ttl int) hopResult
		verdict  Verdict
		lastHop  int
		asked    []int // port TTLs asked again
		ctlAsked []int
	}{
		{name: "lost time-exceeded from the hop before the target",
			port: []hopResult{te(r1), s, s, s, s}, ctl: []hopResult{te(r1), te(r2), echo, s, s},
			portBy: func(ttl int) hopResult {
				if ttl == 2 {
					return te(r2)
				}
				return s
			},
			verdict: VerdictFilteredAtHost, lastHop: 2, asked: []int{2}},
		{name: "real filter in the path stays silent",
			port: []hopResult{te(r1), s, s, s, s}, ctl: []hopResult{te(r1), te(r2), echo, s, s},
			portBy:  func(int) hopResult { return s },
			verdict: VerdictFilteredInPath, lastHop: 1, asked: []int{2}},
		{name: "control's lower answers lost: asked again, the target is nearer",
			port: []hopResult{te(r1), te(r2), s, s, s}, ctl: []hopResult{s, s, s, s, echo},
			portBy: func(int) hopResult { return s },
			ctlBy: func(ttl int) hopResult {
				if ttl == 3 {
					return echo
				}
				return s
			},
			verdict: VerdictFilteredAtHost, lastHop: 2, asked: []int{3, 4}, ctlAsked: []int{3, 4}},
		{name: "traces agree: nothing asked again",
			port: []hopResult{te(r1), te(r2), s, s, s}, ctl: []hopResult{te(r1), te(r2), echo, s, s},
			verdict: VerdictFilteredAtHost, lastHop: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked, ctlAsked []int
			var mu sync.Mutex
			by := func(f func(int) hopResult, log *[]int) func(int) pendingHop {
				return func(ttl int) pendingHop {
					mu.Lock()
					*log = append(*log, ttl)
					mu.Unlock()
					if f == nil {
						t.Errorf("unexpected probe at TTL %d", ttl)
						return fakeHop{}
					}
					return fakeHop{f(ttl)}
				}
			}
			p := NewProber(Config{})
			// The first round is over: the retry starts at once.
			over, cancel := context.WithCancel(context.Background())
			cancel()
			portDone := make(chan struct{})
			close(portDone)
			var log hopLog
			log.watch(traceComplete)(tt.port)
			g := p.retryGap(context.Background(), over, portDone, target, by(tt.portBy, &asked), by(tt.ctlBy, &ctlAsked), &log, tt.ctl)
			mergeRetry(tt.port, g.portTTLs, g.port)
			mergeRetry(tt.ctl, g.ctlTTLs, g.ctl)
			slices.Sort(asked)
			slices.Sort(ctlAsked)
			if !slices.Equal(asked, tt.asked) || !slices.Equal(ctlAsked, tt.ctlAsked) {
				t.Errorf("asked port %v ctl %v, want %v %v", asked, ctlAsked, tt.asked, tt.ctlAsked)
			}
			ev := Evidence{Port: 7003, Connect: &ConnectResult{Address: target.String(), Reason: ReasonNoResponse},
				Ping:  &PingResult{Sent: 3, Received: 3},
				Trace: buildTrace("tcp", 7003, target, tt.port), ControlTrace: buildTrace("icmp", 0, target, tt.ctl)}
			d := Diagnose(ev)
			if d.Verdict != tt.verdict || d.LastHop == nil || d.LastHop.TTL != tt.lastHop {
				t.Errorf("verdict %s last hop %+v, want %s at %d: %s", d.Verdict, d.LastHop, tt.verdict, tt.lastHop, d.Summary)
			}
		})
	}
}

// TestICMPHopOurs: only this probe's own echo reply counts; a raw-socket
// pinger's reply that the kernel hands to a ping socket with the same
// identifier must not place the target at this TTL.
func TestICMPHopOurs(t *testing.T) {
	v4 := &icmpHop{target: netip.MustParseAddr("198.18.3.10"), ttl: 5}
	v6 := &icmpHop{target: netip.MustParseAddr("2001:db8:3::10"), ttl: 5}
	reply := func(typ, seq byte, payload string) []byte {
		return append([]byte{typ, 0, 0xab, 0xcd, 0x12, 0x34, 0, seq}, payload...)
	}
	tests := []struct {
		name string
		h    *icmpHop
		pkt  []byte
		want bool
	}{
		{"own reply", v4, reply(0, 5, icmpHopPayload), true},
		{"own reply v6", v6, reply(129, 5, icmpHopPayload), true},
		{"another TTL's sequence", v4, reply(0, 4, icmpHopPayload), false},
		{"a pinger's reply", v4, reply(0, 5, "\x00\x01timestamp-and-uuid"), false},
		{"echo request", v4, reply(8, 5, icmpHopPayload), false},
		{"truncated", v4, reply(0, 5, "port"), false},
	}
	for _, tt := range tests {
		if got := tt.h.ours(tt.pkt); got != tt.want {
			t.Errorf("%s: ours = %v, want %v", tt.name, got, tt.want)
		}
	}
}
