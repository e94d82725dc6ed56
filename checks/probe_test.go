package checks

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/testkit"
)

// Loopback only: the full chain on an open greeting service and a closed port.
func TestCheckLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-test\r\n"))
			time.Sleep(50 * time.Millisecond)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	p := NewProber(Config{Timeout: 3 * time.Second, NoPing: true})
	rep := p.Check(context.Background(), Request{Target: "x", Host: "127.0.0.1", Port: port})
	if rep.Verdict != VerdictOpen || rep.Service == nil || rep.Service.Name != "ssh" {
		t.Fatalf("open: %+v service=%+v", rep, rep.Service)
	}
	ln.Close()
	rep = p.Check(context.Background(), Request{Target: "x", Host: "127.0.0.1", Port: port})
	if rep.Verdict != VerdictClosed || rep.ReportedBy != "127.0.0.1" {
		t.Fatalf("closed: %+v", rep)
	}
}

func TestCheckManyLoopback(t *testing.T) {
	port := testkit.OpenPort(t)
	var reqs []Request
	for p := port - 20; p <= port+20; p++ {
		reqs = append(reqs, Request{Host: "127.0.0.1", Port: p})
	}
	p := NewProber(Config{Timeout: 3 * time.Second, NoPing: true})
	reps := p.CheckMany(context.Background(), reqs, nil)
	if len(reps) != len(reqs) {
		t.Fatalf("got %d reports", len(reps))
	}
	for _, r := range reps {
		if r.Port == port && r.Verdict != VerdictServiceRefused {
			t.Errorf("port %d: %s (%s)", r.Port, r.Verdict, r.Summary)
		}
	}
}

// Every probe socket is closed: open fds come back to where they were.
func TestNoFDLeak(t *testing.T) {
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("220 ftp ready\r\n"))
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	p := NewProber(Config{Timeout: 2 * time.Second, NoPing: true})
	before := count()
	var reqs []Request
	for q := port - 100; q <= port+100; q++ {
		reqs = append(reqs, Request{Host: "127.0.0.1", Port: q, Trace: q == port})
	}
	p.CheckMany(context.Background(), reqs, nil)
	p.Check(context.Background(), Request{Host: "127.0.0.1", Port: port, Trace: true})
	time.Sleep(50 * time.Millisecond) // the listener's side closes asynchronously
	if after := count(); after > before+2 {
		t.Fatalf("fds: %d before, %d after", before, after)
	}
}
