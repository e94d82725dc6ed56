package checks

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// listenLoopback opens n listeners on 127.0.0.1 that greet, close at once,
// and returns their ports.
func listenLoopback(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		port, _ := countAccepts(t, "220 ready\r\n")
		ports = append(ports, port)
	}
	return ports
}

// A range through the scanner: every port gets the verdict it gets alone,
// the reports come in request order, and the closed ports' sockets that
// are reused for the next ports never carry one port's answer over to
// another (listeners sit among the closed ports).
func TestScannerLoopbackRange(t *testing.T) {
	open := listenLoopback(t, 4)
	lo, hi := slices.Min(open)-150, slices.Max(open)+150
	if lo < 1 || hi > 65535 {
		t.Skip("ephemeral ports at the edge of the range")
	}
	var reqs []Request
	for port := lo; port <= hi; port++ {
		reqs = append(reqs, Request{Target: "127.0.0.1:range", Host: "127.0.0.1", Port: port})
	}
	p := NewProber(Config{Timeout: 3 * time.Second, NoPing: true})
	var got []Report
	var idx []int
	var mu sync.Mutex // Done comes from any goroutine
	done := map[int]bool{}
	flushed := 0
	p.CheckEach(context.Background(), reqs, Hooks{
		Done:   func(i int, _ bool) { mu.Lock(); done[i] = true; mu.Unlock() },
		Report: func(i int, r Report) { got, idx = append(got, r), append(idx, i) },
		Flush:  func() { flushed++ },
	})
	if len(got) != len(reqs) || flushed == 0 || len(done) != len(reqs) {
		t.Fatalf("%d reports, %d done, %d flushes for %d ports", len(got), len(done), flushed, len(reqs))
	}
	for i, r := range got {
		if idx[i] != i || r.Port != reqs[i].Port {
			t.Fatalf("report %d is request %d, port %d: out of order", i, idx[i], r.Port)
		}
		want := VerdictClosed
		if slices.Contains(open, r.Port) {
			want = VerdictOpen
		}
		// A port in the ephemeral range may have been taken by another
		// test's listener meanwhile: only closed/open are right.
		if r.Verdict != want && !(want == VerdictClosed && r.Verdict == VerdictOpen) {
			t.Errorf("port %d: %s, want %s: %s", r.Port, r.Verdict, want, r.Summary)
		}
		if want == VerdictOpen && (r.Service == nil || r.Service.Banner == "") {
			t.Errorf("port %d: open without its banner: %+v", r.Port, r.Service)
		}
	}
}

// A closed port's report from the scanner is the one Check makes, but for
// the timings and the reset's TTL (one check alone reads it on a raw
// socket when it may; a range never does).
func TestScannerReportIsCheckReport(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := NewProber(Config{Timeout: 3 * time.Second, NoPing: true, Vantage: "here"})
	req := Request{Target: "127.0.0.1:x", Host: "127.0.0.1", Port: closed}
	alone := p.Check(context.Background(), req)
	reqs := make([]Request, 40)
	for i := range reqs {
		reqs[i] = req
	}
	inRange := p.CheckMany(context.Background(), reqs, nil)
	norm := func(r Report) string {
		r.ElapsedMS = 0
		if r.Connect != nil {
			c := *r.Connect
			c.RTTMS, c.TTL = 0, 0
			r.Connect = &c
		}
		b, _ := json.Marshal(r)
		return string(b)
	}
	for _, r := range inRange {
		if norm(r) != norm(alone) {
			t.Fatalf("in a range:\n%s\nalone:\n%s", norm(r), norm(alone))
		}
	}
}

// Cancelled midway: what finished is reported, in order, and no socket is
// left open.
func TestScannerCancel(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	before := fds()
	var reqs []Request
	for port := 1; port <= 20000; port++ {
		reqs = append(reqs, Request{Host: "127.0.0.1", Port: port})
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := NewProber(Config{Timeout: 2 * time.Second, NoPing: true})
	last, n := -1, 0
	p.CheckEach(ctx, reqs, Hooks{
		Done: func(i int, _ bool) {
			if i == 1000 {
				cancel()
			}
		},
		Report: func(i int, r Report) {
			if i <= last {
				t.Errorf("request %d after %d", i, last)
			}
			last, n = i, n+1
		},
	})
	cancel()
	if n == 0 || n == len(reqs) {
		t.Errorf("%d of %d reported after a cancel at the 1000th", n, len(reqs))
	}
	time.Sleep(50 * time.Millisecond)
	if after := fds(); after > before+2 {
		t.Errorf("fds: %d before, %d after", before, after)
	}
}

// The window: slow start to the threshold, one cut per batch of drops, a
// send delay once drops dominate, as nmap does.
func TestScanWindow(t *testing.T) {
	w := newScanWindow(100)
	if w.size() != scanWindowInitial {
		t.Fatalf("initial %d", w.size())
	}
	for range 200 {
		w.answered()
	}
	if w.size() != 100 {
		t.Fatalf("after 200 answers: %d, want the cap 100", w.size())
	}
	sent := time.Now()
	time.Sleep(time.Millisecond)
	w.dropped(sent)
	if w.size() != 50 {
		t.Fatalf("after a drop: %d, want 50", w.size())
	}
	w.dropped(sent) // sent before the cut: the same loss
	if w.size() != 50 {
		t.Fatalf("a second drop of the same batch cut again: %d", w.size())
	}
	for range 10 {
		w.answered()
	}
	if w.size() != 50 {
		t.Fatalf("past the threshold the window grows by one per window: %d", w.size())
	}
	if w.sendDelay() != 0 {
		t.Fatal("a delay without drops")
	}
	for range 300 { // against 210 answers: a majority since the delay last changed
		time.Sleep(50 * time.Microsecond)
		w.dropped(time.Now())
	}
	if w.size() != scanWindowMin {
		t.Errorf("after many drops: %d, want the floor %d", w.size(), scanWindowMin)
	}
	if d := w.sendDelay(); d < scanDelayFirst || d > scanDelayMax {
		t.Errorf("send delay %s after a majority of drops", d)
	}
}

// ordered hands reports over in request order whatever order they finish
// in, and after finish the ones that never finished are skipped.
func TestOrdered(t *testing.T) {
	reqs := make([]Request, 5)
	var got []int
	o := newOrdered(&Prober{}, reqs, Hooks{Report: func(i int, r Report) { got = append(got, r.Port) }})
	o.setFull(3, Report{Port: 3})
	o.setFull(1, Report{Port: 1})
	o.setGone(2)
	o.setFull(0, Report{Port: 0})
	o.finish() // 4 never finished
	if !slices.Equal(got, []int{0, 1, 3}) {
		t.Errorf("reported %v, want [0 1 3]", got)
	}
}
