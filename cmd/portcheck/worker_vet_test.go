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
	"github.com/portcheck/portcheck/wire"
)

// `portcheck worker` does not trust a job for being in Redis: a job without
// vetted addresses (its worker would resolve the name itself, and that
// answer was never checked) or with an address the policy denies is refused
// with the rule, and nothing is probed.
func TestWorkerRefusesUnvettedJobsFromRedis(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv("REDIS_URL", srv.URL(0))
	t.Setenv("PORTCHECK_CONFIG", "")
	t.Setenv("PORTCHECK_ALLOW", "")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var stderr testkit.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"worker", "--vantage", "office"}, stdio{strings.NewReader(""), &bytes.Buffer{}, &stderr})
	}()
	st, err := rstore.Open(context.Background(), srv.URL(0), rstore.Options{Consumer: "test-bot"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	want := map[string]string{
		"j-noaddrs":   "refused: the job carries no vetted addresses",
		"j-metadata":  "refused: 169.254.169.254 is not allowed (rule: default deny: cloud metadata 169.254.169.254/32)",
		"j-loopback":  "refused: 127.0.0.1 is not allowed (rule: default deny: loopback 127.0.0.0/8)",
		"j-embedded":  "refused: ::ffff:169.254.169.254 is not allowed (rule: default deny: cloud metadata 169.254.169.254/32 (embedded in",
		"j-oneofmany": "refused: 10.0.0.5 is not allowed (rule: private range not allowed",
	}
	jobs := []wire.Job{
		{ID: "j-noaddrs", Host: "rebind.example", Port: 80},
		{ID: "j-metadata", Host: "rebind.example", Port: 80, Addrs: []string{"169.254.169.254"}},
		{ID: "j-loopback", Host: "127.0.0.1", Port: 22, Addrs: []string{"127.0.0.1"}},
		{ID: "j-embedded", Host: "x", Port: 80, Addrs: []string{"::ffff:169.254.169.254"}},
		{ID: "j-oneofmany", Host: "web", Port: 443, Addrs: []string{"93.184.215.14", "10.0.0.5"}},
	}
	for _, j := range jobs {
		j.CommandID, j.Vantage, j.Target, j.Timeout, j.EnqueuedAt = "c1", "office", j.HostPort(), 3*time.Second, time.Now()
		if err := st.Queue().Enqueue(tctx, j); err != nil {
			t.Fatal(err)
		}
	}
	for range jobs {
		rd, err := st.Results().Next(tctx)
		if err != nil {
			t.Fatalf("no result: %v\n%s", err, stderr.String())
		}
		_ = rd.Ack(tctx)
		res := rd.Result()
		if res.Progress != "" {
			continue
		}
		w, ok := want[res.Job.ID]
		if !ok || !strings.HasPrefix(res.Error, w) || res.Report.Verdict != "" {
			t.Errorf("%s: error %q verdict %q, want refused with %q", res.Job.ID, res.Error, res.Report.Verdict, w)
		}
	}
	stop()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("worker did not stop")
	}
}
