package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/redistest"
	"github.com/portcheck/portcheck/internal/testkit"
	rstore "github.com/portcheck/portcheck/store/redis"
)

// inProcess is a long-running subcommand (worker, agent --serve) run inside
// the test process through run(), with its stderr kept for failure messages.
type inProcess struct {
	t      *testing.T
	stderr testkit.Buffer
	done   chan int
	cancel context.CancelFunc
}

// startInProcess runs `portcheck ARGS...` until stop (or the test's end).
func startInProcess(t *testing.T, args ...string) *inProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &inProcess{t: t, done: make(chan int, 1), cancel: cancel}
	go func() {
		p.done <- run(ctx, args, stdio{strings.NewReader(""), &bytes.Buffer{}, &p.stderr})
	}()
	t.Cleanup(cancel)
	return p
}

// waitFor polls ready until it is true, failing when the process exits first
// or timeout passes: a registration (heartbeat) takes a moment to land.
func (p *inProcess) waitFor(what string, timeout time.Duration, ready func(context.Context) bool) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !ready(ctx) {
		select {
		case <-ctx.Done():
			p.t.Fatalf("%s never happened; stderr:\n%s", what, p.stderr.String())
		case code := <-p.done:
			p.t.Fatalf("exited %d before %s; stderr:\n%s", code, what, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop cancels the process and requires a clean exit within timeout.
func (p *inProcess) stop(timeout time.Duration) {
	p.t.Helper()
	p.cancel()
	select {
	case code := <-p.done:
		if code != 0 {
			p.t.Errorf("exit %d; stderr:\n%s", code, p.stderr.String())
		}
	case <-time.After(timeout):
		p.t.Fatal("did not stop")
	}
}

// openTestStore is the bot side of a test: its own connection to srv.
func openTestStore(t *testing.T, srv *redistest.Server) *rstore.Store {
	t.Helper()
	st, err := rstore.Open(context.Background(), srv.URL(0), rstore.Options{Consumer: "test-bot"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
