package main

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
)

// lockedBuffer is a bytes.Buffer the worker's goroutines may log into.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// `portcheck worker` registers its vantage, runs a job from Redis against a
// loopback listener, publishes the result, and unregisters on shutdown.
func TestWorkerServesJobsFromRedis(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv("REDIS_URL", srv.URL(0))
	t.Setenv("PORTCHECK_CONFIG", "")
	// The worker re-checks job addresses against the target policy, which
	// denies loopback unless it is opened, as a deployment would.
	t.Setenv("PORTCHECK_ALLOW", "127.0.0.0/8")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // a service that talks and keeps the connection: "open"
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6 test\r\n"))
			go func() { time.Sleep(5 * time.Second); c.Close() }()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"worker", "--vantage", "office", "--label", "site=test"}, stdio{strings.NewReader(""), &bytes.Buffer{}, &stderr})
	}()

	st, err := rstore.Open(context.Background(), srv.URL(0), rstore.Options{Consumer: "test-bot"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		ws, err := st.Workers(tctx)
		if err == nil && len(ws) == 1 {
			if ws[0].Name != "office" || ws[0].Labels["site"] != "test" {
				t.Fatalf("registered %+v", ws[0])
			}
			break
		}
		select {
		case code := <-done:
			t.Fatalf("worker exited with %d: %s", code, stderr.String())
		case <-tctx.Done():
			t.Fatalf("worker never registered: %s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}

	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	j := bot.Job{ID: "j1", CommandID: "c1", Target: target, Host: "127.0.0.1", Port: port,
		Addrs: []string{"127.0.0.1"}, Vantage: "office", Timeout: 3 * time.Second, EnqueuedAt: time.Now()}
	if err := st.Queue().Enqueue(tctx, j); err != nil {
		t.Fatal(err)
	}
	var res bot.Result
	for {
		rd, err := st.Results().Next(tctx)
		if err != nil {
			t.Fatalf("no result: %v\n%s", err, stderr.String())
		}
		_ = rd.Ack(tctx)
		if rd.Result().Progress == "" {
			res = rd.Result()
			break
		}
	}
	if res.Job.ID != "j1" || res.Error != "" || res.Report.Verdict != checks.VerdictOpen {
		t.Errorf("result: job %s error %q verdict %q", res.Job.ID, res.Error, res.Report.Verdict)
	}

	stop()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not stop")
	}
	if vs, _ := st.Vantages(context.Background()); len(vs) != 0 {
		t.Errorf("still registered after shutdown: %v", vs)
	}
}

func TestWorkerRefusesBadSetup(t *testing.T) {
	srv := redistest.Start(t, redistest.Password("right"))
	for _, tc := range []struct {
		name, url string
		code      int
		msg       string
	}{
		{"no REDIS_URL", "", 2, "REDIS_URL is not set"},
		{"wrong password", "redis://:wrong@" + srv.Addr + "/0", 1, "WRONGPASS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("REDIS_URL", tc.url)
			t.Setenv("PORTCHECK_CONFIG", "")
			var stderr lockedBuffer
			code := run(context.Background(), []string{"worker", "--vantage", "office"}, stdio{strings.NewReader(""), &bytes.Buffer{}, &stderr})
			if code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.msg)
			}
		})
	}
}
