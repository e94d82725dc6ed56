package redistest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
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

// recordingTB records how Start gave up instead of ending the real test.
type recordingTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recordingTB) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestMissingServerSkipsUnlessCI(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no redis-server here
	for _, tc := range []struct {
		ci               string
		wantSkip, wantFa bool
	}{
		{"", true, false},
		{"true", false, true},
	} {
		t.Setenv("CI", tc.ci)
		r := &recordingTB{TB: t}
		done := make(chan struct{})
		go func() { defer close(done); Start(r) }()
		<-done
		if (r.skipped != "") != tc.wantSkip || (r.fatal != "") != tc.wantFa {
			t.Errorf("CI=%q: skipped=%q fatal=%q", tc.ci, r.skipped, r.fatal)
		}
		if msg := r.skipped + r.fatal; !strings.Contains(msg, "redis-server not found") {
			t.Errorf("CI=%q: message %q does not say what is missing", tc.ci, msg)
		}
	}
}
