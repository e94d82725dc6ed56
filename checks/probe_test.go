package checks

import (
	"context"
	"net"
	"testing"
	"time"
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
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
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
