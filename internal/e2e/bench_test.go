package e2e_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/netlab"
	"github.com/portcheck/portcheck/internal/redistest"
	"github.com/portcheck/portcheck/wire"
)

// BenchmarkWorkerHolding1000Filtered measures a `portcheck worker` process
// (the real prober, Redis queue) holding 1,000 concurrent checks of a port
// the lab's server DROPs: resident memory and file descriptors before and
// at the peak, and the time until every result is back. The worker runs in
// the lab's client namespace; each check waits out its timeout, pings and
// traces, as in production.
//
//	go test -run '^$' -bench Holding1000Filtered -benchtime 1x ./internal/e2e/
func BenchmarkWorkerHolding1000Filtered(b *testing.B) {
	needLab(b)
	const jobs = 1000
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lab, err := netlab.Up(ctx, netlab.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = lab.Close() })
	sock := b.TempDir() + "/redis.sock"
	srv := redistest.Start(b, redistest.Args("--unixsocket", sock, "--unixsocketperm", "777"))
	for i := 0; i < b.N; i++ {
		prefix := fmt.Sprintf("mem%d", i)
		st := openStore(b, srv.URL(0), fast(prefix, "bench"))
		w := labWorker(b, lab.NS.Client, "unix://"+sock, prefix, "outside", "",
			workerEnv+"_CONCURRENCY="+strconv.Itoa(jobs), workerEnv+"_TIMEOUT=10s")
		time.Sleep(time.Second) // started, idle
		rss0, fds0 := procStats(w.Process.Pid)
		target := lab.Addr.Server.String()
		start := time.Now()
		for j := range jobs {
			if err := st.Queue().Enqueue(ctx, wire.Job{ID: fmt.Sprint("m", j), CommandID: "mem", Target: target + ":" + strconv.Itoa(lab.Ports.HostDrop), Host: target,
				Port: lab.Ports.HostDrop, Vantage: "outside", Timeout: 40 * time.Second, EnqueuedAt: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
		peakRSS, peakFDs := rss0, fds0
		done := make(chan int)
		verdicts := map[string]int{}
		go func() {
			n := 0
			for n < jobs {
				d, err := st.Results().Next(ctx)
				if err != nil {
					break
				}
				_ = d.Ack(ctx)
				verdicts[string(d.Result().Report.Verdict)+d.Result().Error]++
				n++
			}
			done <- n
		}()
		tick := time.NewTicker(100 * time.Millisecond)
		var n int
	wait:
		for {
			select {
			case n = <-done:
				break wait
			case <-tick.C:
				rss, fds := procStats(w.Process.Pid)
				peakRSS, peakFDs = max(peakRSS, rss), max(peakFDs, fds)
			}
		}
		tick.Stop()
		elapsed := time.Since(start)
		if n != jobs {
			b.Fatalf("%d of %d results", n, jobs)
		}
		// Under this load a few traces lose their last hop's answer and the
		// engine says filtered_in_path: still silence, still the point here.
		if verdicts["filtered_at_host"]+verdicts["filtered_in_path"] != jobs {
			b.Errorf("want every check filtered, got %v", verdicts)
		}
		b.Logf("verdicts: %v", verdicts)
		b.ReportMetric(float64(rss0)/1024, "idle-RSS-MB")
		b.ReportMetric(float64(peakRSS-rss0)/1024, "peak-extra-RSS-MB")
		b.ReportMetric(float64(peakRSS-rss0)/jobs, "KB/check")
		b.ReportMetric(float64(peakFDs), "peak-fds")
		b.ReportMetric(elapsed.Seconds(), "s-all-answered")
		_ = w.Process.Kill()
	}
}

// procStats reads a process's resident set (KiB) and open descriptors.
func procStats(pid int) (rssKB, fds int) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				rssKB, _ = strconv.Atoi(f[1])
			}
		}
	}
	if es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		fds = len(es)
	}
	return rssKB, fds
}
