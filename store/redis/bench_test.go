package redis_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
)

// benchStore opens a store on PORTCHECK_BENCH_REDIS_URL when set (so
// bench/redis.sh can compare with redis-benchmark on the same server), else
// on a redis-server of its own.
func benchStore(b *testing.B, o rstore.Options) *rstore.Store {
	b.Helper()
	url := os.Getenv("PORTCHECK_BENCH_REDIS_URL")
	if url == "" {
		url = redistest.Start(b).URL(0)
	}
	o.Prefix = fmt.Sprintf("bench%d-%d", time.Now().UnixNano(), prefixSeq.Add(1))
	s, err := rstore.Open(context.Background(), url, o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx := context.Background()
		keys, _ := s.Client().Keys(ctx, o.Prefix+":*").Result()
		if len(keys) > 0 {
			s.Client().Del(ctx, keys...)
		}
		_ = s.Close()
	})
	return s
}

// BenchmarkLatency measures enqueue → Next returning in a worker that is
// already blocked waiting (the "worker start" latency), one job at a time.
func BenchmarkLatency(b *testing.B) {
	s := benchStore(b, rstore.Options{})
	ctx := context.Background()
	q := s.Queue()
	// Warm the group and the pool.
	if err := q.Enqueue(ctx, job("warm", "bench")); err != nil {
		b.Fatal(err)
	}
	d, err := q.Next(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	_ = d.Ack(ctx)

	got := make(chan time.Time)
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			d, err := q.Next(wctx, "bench")
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
		if err := q.Enqueue(ctx, j); err != nil {
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
// producer and 1 or 2 consumers (a no-op check), reporting jobs/s.
func BenchmarkThroughput(b *testing.B) {
	for _, consumers := range []int{1, 2} {
		b.Run(fmt.Sprintf("consumers=%d", consumers), func(b *testing.B) {
			s := benchStore(b, rstore.Options{})
			ctx := context.Background()
			q := s.Queue()
			if err := q.Enqueue(ctx, job("warm", "bench")); err != nil {
				b.Fatal(err)
			}
			if d, err := q.Next(ctx, "bench"); err == nil {
				_ = d.Ack(ctx)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			done := 0
			finished := make(chan struct{})
			wctx, stop := context.WithCancel(ctx)
			defer stop()
			b.ResetTimer()
			start := time.Now()
			for range consumers {
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
				if err := q.Enqueue(ctx, j); err != nil {
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
