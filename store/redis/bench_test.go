package redis_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

// benchURL is PORTCHECK_BENCH_REDIS_URL when set (so bench/redis.sh can
// compare with redis-benchmark on the same server), else a redis-server of
// the benchmark's own.
func benchURL(b *testing.B) string {
	b.Helper()
	if url := os.Getenv("PORTCHECK_BENCH_REDIS_URL"); url != "" {
		return url
	}
	return redistest.Start(b).URL(0)
}

// benchOpen opens a store on url under prefix; the prefix's keys are deleted
// afterwards so a shared server does not fill up.
func benchOpen(b *testing.B, url, prefix, consumer string) *rstore.Store {
	b.Helper()
	s, err := rstore.Open(context.Background(), url, rstore.Options{Prefix: prefix, Consumer: consumer})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := s.Client().Keys(ctx, prefix+":*").Result(); len(keys) > 0 {
			s.Client().Del(ctx, keys...)
		}
		_ = s.Close()
	})
	return s
}

func benchPrefix() string {
	return fmt.Sprintf("bench%d-%d", time.Now().UnixNano(), prefixSeq.Add(1))
}

// warm creates the group and fills the pool so setup is not measured.
func warm(b *testing.B, q wire.Queue) {
	ctx := context.Background()
	if err := q.Enqueue(ctx, job("warm", "bench")); err != nil {
		b.Fatal(err)
	}
	d, err := q.Next(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	_ = d.Ack(ctx)
}

// BenchmarkLatency measures enqueue → Next returning in a worker that is
// already blocked waiting (the "worker start" latency), one job at a time.
// Producer and worker are separate stores, like a bot and a worker process.
func BenchmarkLatency(b *testing.B) {
	url, prefix := benchURL(b), benchPrefix()
	producer := benchOpen(b, url, prefix, "bot").Queue()
	worker := benchOpen(b, url, prefix, "worker").Queue()
	warm(b, worker)
	ctx := context.Background()

	got := make(chan time.Time)
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			d, err := worker.Next(wctx, "bench")
			if err != nil {
				return
			}
			at := time.Now()
			_ = d.Ack(ctx)
			got <- at
		}
	}()
	lat := make([]time.Duration, 0, b.N)
	j := job("lat", "bench")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := producer.Enqueue(ctx, j); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-got).Sub(start))
	}
	b.StopTimer()
	stop()
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkThroughput pushes b.N jobs through Enqueue → Next → Ack with one
// producer and 1 or 2 consumers (a no-op check), reporting jobs/s. Each
// consumer has a store (pool, consumer name) of its own, like separate
// worker processes.
func BenchmarkThroughput(b *testing.B) {
	for _, consumers := range []int{1, 2} {
		b.Run(fmt.Sprintf("consumers=%d", consumers), func(b *testing.B) {
			url, prefix := benchURL(b), benchPrefix()
			producer := benchOpen(b, url, prefix, "bot").Queue()
			warm(b, producer)
			ctx := context.Background()
			var wg sync.WaitGroup
			var mu sync.Mutex
			done := 0
			finished := make(chan struct{})
			wctx, stop := context.WithCancel(ctx)
			defer stop()
			qs := make([]wire.Queue, consumers)
			for i := range qs {
				qs[i] = benchOpen(b, url, prefix, fmt.Sprintf("w%d", i)).Queue()
			}
			b.ResetTimer()
			start := time.Now()
			for _, q := range qs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						d, err := q.Next(wctx, "bench")
						if err != nil {
							return
						}
						_ = d.Ack(ctx)
						mu.Lock()
						done++
						if done == b.N {
							close(finished)
						}
						mu.Unlock()
					}
				}()
			}
			j := job("tp", "bench")
			for i := 0; i < b.N; i++ {
				if err := producer.Enqueue(ctx, j); err != nil {
					b.Fatal(err)
				}
			}
			<-finished
			el := time.Since(start)
			b.StopTimer()
			stop()
			wg.Wait()
			b.ReportMetric(float64(b.N)/el.Seconds(), "jobs/s")
		})
	}
}

// BenchmarkWorkerHolding1000 measures the memory a worker.Worker on Redis
// needs to hold 1,000 slow jobs in flight at once (the Checker waits, like
// filtered ports do): heap growth and goroutines, beyond the probes' own.
// Run with -benchtime 1x.
func BenchmarkWorkerHolding1000(b *testing.B) {
	const inFlight = 1000
	url, prefix := benchURL(b), benchPrefix()
	producer := benchOpen(b, url, prefix, "bot").Queue()
	ws := benchOpen(b, url, prefix, "worker")
	ctx := context.Background()
	for b.Loop() {
		release := make(chan struct{})
		started := make(chan struct{}, inFlight)
		slow := checkFunc(func(ctx context.Context, req checks.Request) checks.Report {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return checks.Report{Target: req.Target, Verdict: checks.VerdictFilteredAtHost}
		})
		w, err := worker.New(worker.Params{Queue: ws.Queue(), Results: ws.Results(), Checker: slow,
			Vantage: "bench", Concurrency: inFlight, Timeout: time.Minute, ProgressAfter: -1})
		if err != nil {
			b.Fatal(err)
		}
		var before, during runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); w.Run(wctx) }()
		for i := range inFlight {
			if err := producer.Enqueue(ctx, job(fmt.Sprintf("slow%d", i), "bench")); err != nil {
				b.Fatal(err)
			}
		}
		for range inFlight {
			<-started
		}
		runtime.GC()
		runtime.ReadMemStats(&during)
		g1 := runtime.NumGoroutine()
		close(release)
		stop()
		<-done
		b.ReportMetric(float64(during.HeapInuse-before.HeapInuse)/(1<<20), "heap-MB")
		b.ReportMetric(float64(during.StackInuse-before.StackInuse)/(1<<20), "stack-MB")
		b.ReportMetric(float64(g1-g0), "goroutines")
		b.ReportMetric(float64(during.HeapInuse-before.HeapInuse)/inFlight/1024, "KB/job")
	}
}
