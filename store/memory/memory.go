// Package memory holds the embedded, single-process stores: a job Queue
// keyed by vantage, a Results stream, an Audit trail and Claims. They are the
// defaults of `portcheck shell` and `portcheck serve` without Redis; nothing
// survives a restart, so unacked deliveries are simply forgotten.
package memory

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/wire"
)

// fifo is an unbounded FIFO whose Pop blocks until an item or ctx is done.
// A channel alone would need a fixed capacity: a 1024-port command must never
// block Enqueue inside a chat's 3-second acknowledgement window.
type fifo[T any] struct {
	mu    sync.Mutex
	items []T
	head  int
	ready chan struct{} // closed and replaced whenever an item is pushed
}

func newFIFO[T any]() *fifo[T] { return &fifo[T]{ready: make(chan struct{})} }

func (f *fifo[T]) push(v T) {
	f.mu.Lock()
	f.items = append(f.items, v)
	close(f.ready)
	f.ready = make(chan struct{})
	f.mu.Unlock()
}

func (f *fifo[T]) pop(ctx context.Context) (T, error) {
	for {
		f.mu.Lock()
		if f.head < len(f.items) {
			v := f.items[f.head]
			var zero T
			f.items[f.head] = zero // let the GC have it
			f.head++
			if f.head == len(f.items) { // drained: reuse the backing array
				f.items, f.head = f.items[:0], 0
			}
			f.mu.Unlock()
			return v, nil
		}
		ready := f.ready
		f.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			var zero T
			return zero, fmt.Errorf("memory: waiting: %w", ctx.Err())
		}
	}
}

// Queue is an in-memory wire.Queue with one FIFO per vantage.
type Queue struct {
	mu       sync.Mutex
	vantages map[string]*fifo[wire.Job]
}

// NewQueue returns an empty queue.
func NewQueue() *Queue { return &Queue{vantages: map[string]*fifo[wire.Job]{}} }

func (q *Queue) fifo(vantage string) *fifo[wire.Job] {
	q.mu.Lock()
	defer q.mu.Unlock()
	f, ok := q.vantages[vantage]
	if !ok {
		f = newFIFO[wire.Job]()
		q.vantages[vantage] = f
	}
	return f
}

// Enqueue adds j to its vantage's FIFO.
func (q *Queue) Enqueue(ctx context.Context, j wire.Job) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: enqueue %s: %w", j.ID, err)
	}
	q.fifo(j.Vantage).push(cloneJob(j))
	return nil
}

// Next blocks until a job for vantage is queued or ctx is done.
func (q *Queue) Next(ctx context.Context, vantage string) (wire.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: next: %w", err)
	}
	j, err := q.fifo(vantage).pop(ctx)
	if err != nil {
		return nil, err
	}
	return delivery{j: j, q: q}, nil
}

type delivery struct {
	j wire.Job
	q *Queue
}

func (d delivery) Job() wire.Job                 { return d.j }
func (d delivery) Ack(ctx context.Context) error { return nil }

// Release puts the job back at the end of its vantage's FIFO.
func (d delivery) Release(ctx context.Context) error { return d.q.Enqueue(ctx, d.j) }

// cloneJob copies the slices so a caller mutating its Job after Enqueue does
// not change what a worker sees (Redis would have serialised it).
func cloneJob(j wire.Job) wire.Job {
	j.Addrs = append([]string(nil), j.Addrs...)
	return j
}

// Results is an in-memory wire.Results.
type Results struct{ f *fifo[wire.Result] }

// NewResults returns an empty results stream.
func NewResults() *Results { return &Results{f: newFIFO[wire.Result]()} }

// Publish appends r.
func (rs *Results) Publish(ctx context.Context, r wire.Result) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: publish %s: %w", r.Job.ID, err)
	}
	r.Job = cloneJob(r.Job)
	rs.f.push(r)
	return nil
}

// Next blocks until a result is published or ctx is done.
func (rs *Results) Next(ctx context.Context) (wire.ResultDelivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: next result: %w", err)
	}
	r, err := rs.f.pop(ctx)
	if err != nil {
		return nil, err
	}
	return resultDelivery{r}, nil
}

type resultDelivery struct{ r wire.Result }

func (d resultDelivery) Result() wire.Result           { return d.r }
func (d resultDelivery) Ack(ctx context.Context) error { return nil }

// Audit is an in-memory, append-only audit.Trail (tests, benchmarks, and a
// shell run without a writable state directory).
type Audit struct {
	mu      sync.Mutex
	records []audit.Record
}

// NewAudit returns an empty trail.
func NewAudit() *Audit { return &Audit{} }

// Append stores r with the next Seq.
func (a *Audit) Append(ctx context.Context, r audit.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: audit append: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	r.Seq = int64(len(a.records)) + 1
	r.Targets = append([]string(nil), r.Targets...)
	a.records = append(a.records, r)
	return nil
}

// Query returns matching records, oldest first; Limit keeps the newest.
func (a *Audit) Query(ctx context.Context, q audit.Query) ([]audit.Record, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []audit.Record
	for i := len(a.records) - 1; i >= 0; i-- {
		r := a.records[i]
		if !Matches(r, q) {
			continue
		}
		out = append(out, r)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// Matches reports whether r is selected by q, with the semantics of the
// storetest.TestAudit contract.
func Matches(r audit.Record, q audit.Query) bool {
	if q.Chat != "" && r.Chat != q.Chat || q.Channel != "" && r.Channel != q.Channel ||
		q.Kind != "" && r.Kind != q.Kind || q.Thread != "" && r.Thread != q.Thread ||
		!q.Since.IsZero() && r.At.Before(q.Since) {
		return false
	}
	if q.Target == "" {
		return true
	}
	match := func(t string) bool { return t == q.Target || strings.HasPrefix(t, q.Target+":") }
	if match(r.Target) {
		return true
	}
	for _, t := range r.Targets {
		if match(t) {
			return true
		}
	}
	return false
}

// Claims is an in-memory wire.Claims.
type Claims struct {
	mu    sync.Mutex
	until map[string]time.Time
	now   func() time.Time
	calls int
}

// NewClaims returns an empty set of claims.
func NewClaims() *Claims { return &Claims{until: map[string]time.Time{}, now: time.Now} }

// Claim returns true the first time key is claimed within ttl.
func (c *Claims) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.calls++
	if c.calls%1024 == 0 { // sweep now and then so the map does not grow forever
		for k, t := range c.until {
			if now.After(t) {
				delete(c.until, k)
			}
		}
	}
	if t, ok := c.until[key]; ok && now.Before(t) {
		return false, nil
	}
	c.until[key] = now.Add(ttl)
	return true, nil
}
