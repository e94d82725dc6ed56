package checks

import (
	"context"
	"net"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Identical checks that start together are one probe: a listener sees one
// connection for a burst of them, each caller gets its own copy of the
// report; one that starts after the window probes again.
func TestCoalescedChecks(t *testing.T) {
	port, accepts := countAccepts(t, "SSH-2.0-test\r\n")
	p := NewProber(Config{Timeout: 3 * time.Second, NoPing: true, CoalesceWithin: time.Second})
	req := Request{Host: "127.0.0.1", Port: port}
	reps := make([]Report, 20)
	var wg sync.WaitGroup
	for i := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := req
			r.Target = "asked-" + string(rune('a'+i))
			reps[i] = p.Check(context.Background(), r)
		}()
	}
	wg.Wait()
	if n := accepts.Load(); n != 1 {
		t.Errorf("%d connections for 20 identical checks at once, want 1", n)
	}
	for i, r := range reps {
		if r.Verdict != VerdictOpen || r.Service == nil || r.Service.Name != "ssh" {
			t.Errorf("check %d: %s %+v", i, r.Verdict, r.Service)
		}
		if r.Target != "asked-"+string(rune('a'+i)) {
			t.Errorf("check %d has target %q: each caller's own", i, r.Target)
		}
	}
	reps[1].Service.Banner = "changed" // copies: one caller's change is not another's
	if reps[2].Service.Banner == "changed" {
		t.Error("reports share their service")
	}
	time.Sleep(1100 * time.Millisecond) // past the window: probe again
	p.Check(context.Background(), req)
	if n := accepts.Load(); n != 2 {
		t.Errorf("%d connections after a check past the window, want 2", n)
	}
}

// Without CoalesceWithin every check probes.
func TestChecksNotCoalescedByDefault(t *testing.T) {
	port, accepts := countAccepts(t, "")
	p := NewProber(Config{Timeout: 3 * time.Second, NoPing: true})
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Check(context.Background(), Request{Host: "127.0.0.1", Port: port})
		}()
	}
	wg.Wait()
	time.Sleep(20 * time.Millisecond)
	if n := accepts.Load(); n != 5 {
		t.Errorf("%d connections for 5 checks, want 5", n)
	}
}

// A joiner hears the leader's steps.
func TestFlightProgressFansOut(t *testing.T) {
	fs := newFlights()
	now := time.Now()
	f, leader := fs.take(&Request{Host: "h", Port: 1}, time.Second, now)
	g, leader2 := fs.take(&Request{Host: "H", Port: 1, Target: "other"}, time.Second, now.Add(10*time.Millisecond))
	if !leader || leader2 || f != g {
		t.Fatalf("leader %v, second leader %v, same flight %v", leader, leader2, f == g)
	}
	var own, joined []string
	stop := f.listen(func(s string) { joined = append(joined, s) })
	say := f.say(func(s string) { own = append(own, s) })
	say("connecting")
	stop()
	say("asking the path")
	if len(own) != 2 || len(joined) != 1 || joined[0] != "connecting" {
		t.Errorf("leader heard %v, joiner %v", own, joined)
	}
	if _, again := fs.take(&Request{Host: "h", Port: 1}, time.Second, now.Add(2*time.Second)); !again {
		t.Error("a check past the window joined")
	}
	if _, other := fs.take(&Request{Host: "h", Port: 2}, time.Second, now); !other {
		t.Error("another port joined")
	}
}

// cloneReport copies everything a caller could change: no pointer or
// slice of the copy is the original's.
func TestCloneReportIsDeep(t *testing.T) {
	r := Report{
		Addresses: []string{"a"}, LastHop: &Hop{TTL: 1}, Service: &Service{Name: "s", TLS: &TLSInfo{Version: "1.3"}},
		Ping: &PingResult{Sent: 1}, Trace: []Hop{{TTL: 1}}, ControlTrace: &Trace{Hops: []Hop{{TTL: 2}}},
		Connect: &ConnectResult{ICMP: &ICMP{Type: 3}}, Others: []ConnectResult{{ICMP: &ICMP{Type: 3}}},
		Hints: []Hint{{Text: "x", Commands: []string{"c"}}}, Likely: []Verdict{VerdictClosed}, Path: &PathEvidence{SYNs: 2},
		Egress: &EgressCheck{Control: "c"},
	}
	c := cloneReport(r)
	if !reflect.DeepEqual(c, r) {
		t.Fatal("the copy differs")
	}
	var walk func(a, b reflect.Value, path string)
	walk = func(a, b reflect.Value, path string) {
		switch a.Kind() {
		case reflect.Pointer:
			if !a.IsNil() {
				if a.Pointer() == b.Pointer() {
					t.Errorf("%s is shared", path)
				}
				walk(a.Elem(), b.Elem(), path)
			}
		case reflect.Slice:
			if a.Len() > 0 {
				if a.Pointer() == b.Pointer() {
					t.Errorf("%s is shared", path)
				}
				for i := range a.Len() {
					walk(a.Index(i), b.Index(i), path+"[]")
				}
			}
		case reflect.Struct:
			for i := range a.NumField() {
				if a.Type().Field(i).IsExported() {
					walk(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name)
				}
			}
		}
	}
	walk(reflect.ValueOf(r), reflect.ValueOf(c), "Report")
	// Every pointer and slice field of Report is set above, so a field
	// added later without a copy in cloneReport shows here.
	for f := range reflect.TypeFor[Report]().Fields() {
		v := reflect.ValueOf(r).FieldByIndex(f.Index)
		if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Slice) && v.IsNil() {
			t.Errorf("Report.%s is not set in this test: set it, and copy it in cloneReport", f.Name)
		}
	}
}

// One ping run per address for the checks running at once; the last one
// out stops it, and the next check starts another.
func TestPingPoolShares(t *testing.T) {
	pp := newPingPool()
	addr := netip.MustParseAddr("127.0.0.1")
	o := pingOptions{Count: 1, Delay: time.Hour} // never sends: only the sharing is under test
	a, leaveA := pp.join(addr, o, time.Minute)
	b, leaveB := pp.join(addr, o, time.Minute)
	if a != b {
		t.Fatal("two runs for one address at once")
	}
	leaveA()
	leaveA() // twice is once
	if a.finished() {
		t.Fatal("stopped while a check still uses it")
	}
	leaveB()
	select {
	case <-a.done:
	case <-time.After(time.Second):
		t.Fatal("not stopped when the last check left")
	}
	c, leaveC := pp.join(addr, o, time.Minute)
	defer leaveC()
	if c == a {
		t.Error("a stopped run handed out again")
	}
}

// countAccepts is a loopback listener that writes greeting (if any) to each
// connection and closes it; the counter says how many probes came.
func countAccepts(t *testing.T, greeting string) (int, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepts atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			if greeting != "" {
				c.Write([]byte(greeting))
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, &accepts
}
