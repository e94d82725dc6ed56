package main

import (
	"context"
	"fmt"
	"net"
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
