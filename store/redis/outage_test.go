package redis_test

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
)

// syncLog collects log output written from many goroutines.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls the log until it contains s (the outage and the recovery
// happen in other goroutines); it fails the test after d.
func (l *syncLog) waitFor(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(l.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q logged within %s:\n%s", s, d, l.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An idle process on a Redis that goes away and comes back — 32 workers
// blocked on one job stream (serve's default concurrency), a results
// reader, a vantage heartbeat — logs the outage once when it starts and
// once, with how long it lasted, when it ends, not once per retry and per
// goroutine (issue 17: ~10 lines a second while Redis was down).
func TestOutageLoggedOnceEachWay(t *testing.T) {
	srv := redistest.Start(t)
	var logged syncLog
	s := open(t, srv, rstore.Options{
		Logger:       slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelInfo})),
		MinBackoff:   100 * time.Millisecond,
		MaxBackoff:   time.Second,
		HeartbeatTTL: 900 * time.Millisecond, // a refresh every 300ms: it runs into the outage too
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	got := make(chan string, 1)
	for range 32 {
		wg.Go(func() {
			for ctx.Err() == nil {
				d, err := s.Queue().Next(ctx, "v1")
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("Next: %v", err)
					}
					return
				}
				_ = d.Ack(ctx)
				select {
				case got <- d.Job().ID:
				default:
				}
			}
		})
	}
	wg.Go(func() {
		if _, err := s.Results().Next(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("Results.Next: %v", err)
		}
	})
	wg.Go(func() {
		if err := s.Heartbeat(ctx, rstore.VantageInfo{Name: "v1"}); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Heartbeat: %v", err)
		}
	})
	defer func() { cancel(); wg.Wait() }()

	// Everyone is reading; take Redis away for a few seconds.
	time.Sleep(300 * time.Millisecond)
	srv.Stop()
	logged.waitFor(t, "redis unavailable", 10*time.Second)
	time.Sleep(3 * time.Second)
	srv.Restart() // no persistence: the groups are gone too, and recreated

	// Back: a job enqueued now is delivered, and the recovery is logged.
	// go-redis's pool fails fast for up to a second after a run of failed
	// dials, so the enqueue is retried as a bot would.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := s.Queue().Enqueue(ctxFor(t, 5*time.Second), job("after", "v1"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Enqueue after restart: %v", err)
		}
	}
	select {
	case id := <-got:
		if id != "after" {
			t.Fatalf("got job %s", id)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the job enqueued after the restart was not delivered:\n%s", logged.String())
	}
	logged.waitFor(t, "redis available again", 10*time.Second)
	cancel()
	wg.Wait()

	out := logged.String()
	t.Logf("log:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if n := strings.Count(out, "redis unavailable"); n != 1 {
		t.Errorf("%d 'redis unavailable' lines, want 1", n)
	}
	if n := strings.Count(out, "redis available again"); n != 1 {
		t.Errorf("%d 'redis available again' lines, want 1", n)
	}
	if !regexp.MustCompile(`redis available again" down_for=\d[\d.]*m?s `).MatchString(out) {
		t.Errorf("the recovery line does not say how long Redis was down")
	}
	if len(lines) != 2 {
		t.Errorf("%d log lines in all, want the two transitions only", len(lines))
	}
}
