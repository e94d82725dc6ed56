package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/store/sqlite"
)

// loopbackPorts returns a listening port and one with nothing on it, both on
// 127.0.0.1 (tests never send packets anywhere else).
// greeter listens on addr (loopback) and answers every connection with an
// SSH-like greeting, then hangs up: an open port with a banner. It skips the
// test when that loopback alias is missing (127.0.0.2 and up exist on Linux,
// not everywhere).
func greeter(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("no %s here: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-test\r\n"))
			c.Close()
		}
	}()
	return ln
}

func loopbackPorts(t *testing.T) (open, closed int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		// An SSH-like service: greets, then keeps the connection (one
		// that accepts and hangs up at once is "service_refused").
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2p1 portcheck-test\r\n"))
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed = l2.Addr().(*net.TCPAddr).Port
	l2.Close()
	return l.Addr().(*net.TCPAddr).Port, closed
}

func TestShellScripted(t *testing.T) {
	open, closed := loopbackPorts(t)
	db := filepath.Join(t.TempDir(), "state", "audit.db")
	in := fmt.Sprintf("/portcheck 127.0.0.1:%d\n127.0.0.1:%d\n127.0.0.1\nhelp\n169.254.169.254:80\n", open, closed)
	var out, errb strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := run(ctx, []string{"shell", "--db", db, "--timeout", "2s"}, stdio{strings.NewReader(in), &out, &errb})
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	got := out.String()
	for _, want := range []string{
		fmt.Sprintf("#1 ⏳ checking 127.0.0.1:%d from local…", open),
		fmt.Sprintf("#1 └ 🟢 127.0.0.1:%d from local: open", open),
		fmt.Sprintf("#1 ↻ updated: 🟢 127.0.0.1:%d — open", open),
		fmt.Sprintf("#2 └ 🔴 127.0.0.1:%d from local: closed (nothing listening)", closed),
		fmt.Sprintf("#2 ↻ updated: 🔴 127.0.0.1:%d — closed (nothing listening)", closed),
		"(only you) ℹ️ 127.0.0.1: missing port",
		"(only you) ℹ️ portcheck answers",
		"(only you) ℹ️ not allowed to check 169.254.169.254:80",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "goroutine ") || strings.Contains(errb.String(), "panic") {
		t.Errorf("a stack trace leaked:\n%s\n%s", got, errb.String())
	}

	// The audit trail was created on first use and holds every request and result.
	a, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	recs, err := a.Query(ctx, audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range recs {
		kinds[r.Kind+"/"+r.Decision+r.Verdict]++
		if r.Chat != "shell" || r.Channel != "shell" {
			t.Errorf("record not from the shell channel: %+v", r)
		}
	}
	want := map[string]int{"command/queued": 2, "command/denied": 1, "command/invalid": 1, "command/answered": 1, "thread/": 2, "result/open": 1, "result/closed": 1}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("audit kinds = %v, want %v", kinds, want)
	}
}

func TestShellFlags(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"XDG_STATE_HOME": "/s", "HOME": "/h"}, "/s/portcheck/audit.db"},
		{nil, map[string]string{"HOME": "/h"}, "/h/.local/state/portcheck/audit.db"},
		{nil, map[string]string{"XDG_STATE_HOME": "relative", "HOME": "/h"}, "/h/.local/state/portcheck/audit.db"},
		{[]string{"--db", "/x.db"}, nil, "/x.db"},
		{nil, map[string]string{"PORTCHECK_AUDIT_DB": "/var/lib/portcheck/audit.db", "HOME": "/h"}, "/var/lib/portcheck/audit.db"},
		{[]string{"--db", "/x.db"}, map[string]string{"PORTCHECK_AUDIT_DB": "/y.db"}, "/x.db"},
		{[]string{"--timeout", "0s"}, nil, "error: --timeout must be positive, got 0s"},
		{[]string{"--concurrency", "0"}, nil, "error: --concurrency must be 1-1024, got 0"},
		{[]string{"web01:443"}, nil, `error: unexpected argument "web01:443" (commands are read from stdin)`},
	} {
		c, err := parseShellFlags(tc.args, env(tc.env))
		got := c.db
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != tc.want {
			t.Errorf("parseShellFlags(%v, %v) = %q, want %q", tc.args, tc.env, got, tc.want)
		}
	}
}

// The shell takes its limits from the configuration like serve, and its
// audit trail from PORTCHECK_AUDIT_DB like audit export; clear is the
// shell's word, never a host.
func TestShellConfigAndAuditDB(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "portcheck.yaml")
	if err := os.WriteFile(cfg, []byte("policy:\n  max_ports: 5\nwatch:\n  max_per_channel: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "trail", "audit.db")
	env := map[string]string{"PORTCHECK_CONFIG": cfg, "PORTCHECK_AUDIT_DB": db, "HOME": dir}
	in := "help\n127.0.0.1:1-6\nclear\nwatch 127.0.0.1:1 every 10m\nwatch 127.0.0.1:2 every 10m\nstop\nexit\n127.0.0.1:3\n"
	var out, errb strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := shellCmd(ctx, []string{"--timeout", "1s"}, stdio{strings.NewReader(in), &out, &errb}, func(k string) string { return env[k] })
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	got := out.String()
	for _, want := range []string{
		"/portcheck web01:8000-8004           a range (up to 5 ports)",
		"127.0.0.1:1-6 expands to more than 5 ports",
		"this channel already has 1 watch running (the limit)",
		"stopped 1 watch in this channel",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, `"clear"`) || strings.Contains(got, "127.0.0.1:3") {
		t.Errorf("clear was read as a host, or a line after exit was run:\n%s", got)
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("the trail is not at PORTCHECK_AUDIT_DB: %v", err)
	}
	var ex, exErr strings.Builder
	if code := auditCmd(ctx, []string{"export"}, stdio{strings.NewReader(""), &ex, &exErr}, func(k string) string { return env[k] }, time.Now); code != 0 ||
		!strings.Contains(ex.String(), `"text":"help"`) {
		t.Errorf("audit export with the same environment: exit %d %s\n%s", code, exErr.String(), ex.String())
	}
}
