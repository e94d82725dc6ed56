package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
)

// REDIS_URL switches `portcheck shell` to Redis: its own local worker
// serves its vantage through the Redis queue (registered, so vantages lists
// it), and with the local worker off a check for a vantage nobody serves is
// refused with the list rather than queued forever.
func TestShellOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	open, _ := loopbackPorts(t)
	t.Setenv("REDIS_URL", srv.URL(0))
	t.Setenv("PORTCHECK_VANTAGE", "laptop")
	shell := func(in string) string {
		t.Helper()
		var out, errb strings.Builder
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		db := filepath.Join(t.TempDir(), "audit.db")
		if code := run(ctx, []string{"shell", "--db", db, "--timeout", "2s"}, stdio{strings.NewReader(in), &out, &errb}); code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
		}
		return out.String()
	}

	got := shell(fmt.Sprintf("127.0.0.1:%d\n", open))
	if want := fmt.Sprintf("#1 ↻ updated: 🟢 127.0.0.1:%d — open", open); !strings.Contains(got, want) {
		t.Errorf("output lacks %q:\n%s", want, got)
	}
	st, err := rstore.Open(context.Background(), srv.URL(0), rstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, _ := st.Client().Keys(context.Background(), "portcheck:jobs:laptop").Result(); len(n) != 1 {
		t.Errorf("the job did not go through Redis (keys %v)", n)
	}

	t.Setenv("PORTCHECK_LOCAL_WORKER", "false")
	got = shell(fmt.Sprintf("127.0.0.1:%d\nvantages\n", open))
	for _, want := range []string{
		"no worker serves any vantage right now",
		"no vantage is being served: no worker is running",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
