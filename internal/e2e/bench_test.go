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
// (the real prober, Redis queue) holding 1,000 concurrent checks of ports
// the lab's server DROPs: resident memory and file descriptors before and
// at the peak, and the time until every result is back. The worker runs in
// the lab's client namespace; each check waits out its timeout, pings and
// traces, as in production.
//
// Two loads: "distinct" is 1,000 different ports (20000-20999, DROPped for
// this benchmark), each its own connect socket and check, which is the
// figure for the memory target; "same" is 1,000 checks of one port (an
// incident where everyone asks), which a worker coalesces into one probe.
//
//	go test -run '^$' -bench Holding1000Filtered -benchtime 1x ./internal/e2e/
func BenchmarkWorkerHolding1000Filtered(b *testing.B) {
	needLab(b)
	const jobs = 1000
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	lab, err := netlab.Up(ctx, netlab.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = lab.Close() })
	const first = 20000
	if out, err := lab.Exec(ctx, lab.NS.Server, "iptables", "-I", "INPUT", "-p", "tcp", "--dport",
		fmt.Sprintf("%d:%d", first, first+jobs-1), "-j", "DROP"); err != nil {
		b.Fatalf("iptables: %v: %s", err, out)
	}
	sock := b.TempDir() + "/redis.sock"
	srv := redistest.Start(b, redistest.Args("--unixsocket", sock, "--unixsocketperm", "777"))
	loads := []struct {
		name string
		port func(j int) int
	}{
		{"distinct", func(j int) int { return first + j }},
		{"same", func(int) int { return lab.Ports.HostDrop }},
	}
	for _, l := range loads {
		b.Run(l.name, func(b *testing.B) { holdFiltered(ctx, b, lab, srv, sock, jobs, l.name, l.port) })
	}
}

func holdFiltered(ctx context.Context, b *testing.B, lab *netlab.Lab, srv *redistest.Server, sock string, jobs int, name string, port func(int) int) {
	for i := 0; i < b.N; i++ {
		prefix := fmt.Sprintf("mem%s%d", name, i)
		st := openStore(b, srv.URL(0), fast(prefix, "bench"))
		w := labWorker(b, lab.NS.Client, "unix://"+sock, prefix, "outside", "",
			workerEnv+"_CONCURRENCY="+strconv.Itoa(jobs), workerEnv+"_TIMEOUT=10s")
		time.Sleep(time.Second) // started, idle
		rss0, fds0 := procStats(w.Process.Pid)
		target := lab.Addr.Server.String()
		start := time.Now()
		for j := range jobs {
			if err := st.Queue().Enqueue(ctx, wire.Job{ID: fmt.Sprint("m", j), CommandID: "mem", Target: target + ":" + strconv.Itoa(port(j)), Host: target,
				Port: port(j), Vantage: "outside", Timeout: 40 * time.Second, EnqueuedAt: time.Now()}); err != nil {
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
		b.Logf("verdicts: %v", verdicts)
		b.ReportMetric(float64(rss0)/1024, "idle-RSS-MB")
		b.ReportMetric(float64(peakRSS-rss0)/1024, "peak-extra-RSS-MB")
		b.ReportMetric(float64(peakRSS-rss0)/float64(jobs), "KB/check")
		b.ReportMetric(float64(peakFDs), "peak-fds")
		b.ReportMetric(elapsed.Seconds(), "s-all-answered")
		_ = w.Process.Kill()
		// Silence, never another verdict. Under this load a few traces lose
		// their last hop's answer (filtered_in_path), and 1,000 distinct
		// ports ask the router before the host 1,000 questions its ICMP
		// budget (one error a second) cannot answer in a check's time: the
		// ports it did not answer are honestly inconclusive (likely
		// filtered_at_host). A port's path answer is not another port's,
		// so they are not shared.
		if verdicts["filtered_at_host"]+verdicts["filtered_in_path"]+verdicts["inconclusive"] != jobs {
			b.Errorf("want every check filtered or inconclusive, got %v", verdicts)
		}
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
