package redistest

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t, AppendOnly("always"))
	if err := ping(s.Addr); err != nil {
		t.Fatalf("ping after Start: %v", err)
	}
	host, _, _ := net.SplitHostPort(s.Addr)
	if host != "127.0.0.1" {
		t.Errorf("Addr = %q, want loopback", s.Addr)
	}
	s.Stop()
	if err := ping(s.Addr); err == nil {
		t.Fatal("ping succeeded after Stop")
	}
	s.Stop() // idempotent
	s.Restart()
	if err := ping(s.Addr); err != nil {
		t.Fatalf("ping after Restart: %v", err)
	}
	s.Kill()
	s.Restart()
	if err := ping(s.Addr); err != nil {
		t.Fatalf("ping after Kill+Restart: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "redis.log")); err != nil {
		t.Errorf("log file: %v", err)
	}
}

func TestPassword(t *testing.T) {
	s := Start(t, Password("sekrit"))
	if err := ping(s.Addr); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func TestSentinel(t *testing.T) {
	m := Start(t)
	s := StartSentinel(t, m, "mymaster")
	if err := ping(s.Addr); err != nil {
		t.Fatalf("ping sentinel: %v", err)
	}
	if s.Addr == m.Addr {
		t.Fatal("sentinel shares the master's address")
	}
}
