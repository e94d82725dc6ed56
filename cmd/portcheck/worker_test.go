package main

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/redistest"
	"github.com/portcheck/portcheck/internal/testkit"
	"github.com/portcheck/portcheck/wire"
)

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

	w := startInProcess(t, "worker", "--vantage", "office", "--label", "site=test")
	st := openTestStore(t, srv)
	w.waitFor("registration", 20*time.Second, func(ctx context.Context) bool {
		ws, err := st.Workers(ctx)
		if err != nil || len(ws) != 1 {
			return false
		}
		if ws[0].Name != "office" || ws[0].Labels["site"] != "test" {
			t.Fatalf("registered %+v", ws[0])
		}
		return true
	})
	tctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	j := wire.Job{ID: "j1", CommandID: "c1", Target: target, Host: "127.0.0.1", Port: port,
		Addrs: []string{"127.0.0.1"}, Vantage: "office", Timeout: 3 * time.Second, EnqueuedAt: time.Now()}
	if err := st.Queue().Enqueue(tctx, j); err != nil {
		t.Fatal(err)
	}
	var res wire.Result
	for {
		rd, err := st.Results().Next(tctx)
		if err != nil {
			t.Fatalf("no result: %v\n%s", err, w.stderr.String())
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

	w.stop(10 * time.Second)
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
			var stderr testkit.Buffer
			code := run(context.Background(), []string{"worker", "--vantage", "office"}, stdio{strings.NewReader(""), &bytes.Buffer{}, &stderr})
			if code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.msg)
			}
		})
	}
}
