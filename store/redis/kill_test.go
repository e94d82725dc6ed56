package redis_test

import (
	"bufio"
	"cmp"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
)

// helperEnv makes the test binary act as a worker that takes one job,
// prints its id and hangs until it is killed.
const helperEnv = "PORTCHECK_REDISSTORE_HELPER_URL"

func TestHelperWorkerHangs(t *testing.T) {
	url := os.Getenv(helperEnv)
	if url == "" {
		t.Skip("helper process for TestWorkerSIGKILLedMidJob")
	}
	prefix := cmp.Or(os.Getenv(helperEnv+"_PREFIX"), "kill")
	s, err := rstore.Open(context.Background(), url, rstore.Options{Prefix: prefix, Consumer: "doomed", Block: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Queue().Next(context.Background(), "office")
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("TOOK " + d.Job().ID + "\n")
	select {} // mid-job forever, until SIGKILL
}

// A worker process SIGKILLed mid-job (no Ack, its connections cut) loses the
// job to another worker after ClaimIdle, and the job runs there exactly once.
func TestWorkerSIGKILLedMidJob(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, rstore.Options{Prefix: "kill", Consumer: "survivor", ClaimIdle: 300 * time.Millisecond})
	ctx := ctxFor(t, 20*time.Second)
	if err := s.Queue().Enqueue(ctx, job("victim", "office")); err != nil {
		t.Fatal(err)
	}
	if took := killWorkerMidJob(t, srv.URL(0), "kill"); took != "victim" {
		t.Fatalf("helper took %q, want victim", took)
	}
	d := mustNext(t, s.Queue(), "office", 5*time.Second)
	if d.Job().ID != "victim" || d.Job().Attempt != 2 {
		t.Fatalf("got %s attempt %d, want victim attempt 2", d.Job().ID, d.Job().Attempt)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	noNext(t, s.Queue(), "office", 700*time.Millisecond)
}

// killWorkerMidJob runs a worker process (this test binary as
// TestHelperWorkerHangs) that takes one job of vantage "office" under
// prefix, and SIGKILLs it once it holds the job. It returns the job's id.
func killWorkerMidJob(t *testing.T, url, prefix string) string {
	t.Helper()
	ctx := ctxFor(t, 20*time.Second)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperWorkerHangs$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"="+url, helperEnv+"_PREFIX="+prefix)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }() // SIGKILL
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "TOOK "); ok {
			return id
		}
	}
	t.Fatalf("helper worker exited without taking a job: %v", sc.Err())
	return ""
}
