package redis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/wire"
)

// prefixes keeps stores opened on one server apart.
var prefixSeq atomic.Int64

// open connects a store to srv with a key prefix of its own and settings
// that keep tests fast: short blocks, claims and backoff.
func open(t *testing.T, srv *redistest.Server, o rstore.Options) *rstore.Store {
	t.Helper()
	if o.Prefix == "" {
		o.Prefix = fmt.Sprintf("t%d", prefixSeq.Add(1))
	}
	if o.Block == 0 {
		o.Block = 100 * time.Millisecond
	}
	if o.ClaimInterval == 0 {
		o.ClaimInterval = 50 * time.Millisecond
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = 20 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 200 * time.Millisecond
	}
	s, err := rstore.Open(context.Background(), srv.URL(0), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func job(id, vantage string) wire.Job {
	return wire.Job{
		ID: id, CommandID: "cmd-" + id, Target: "web01:443", Host: "web01", Port: 443,
		Vantage: vantage, Timeout: time.Second, EnqueuedAt: time.Now().UTC(),
	}
}

// mustNext fails the test unless a job arrives within d.
func mustNext(t *testing.T, q wire.Queue, vantage string, d time.Duration) wire.Delivery {
	t.Helper()
	del, err := q.Next(ctxFor(t, d), vantage)
	if err != nil {
		t.Fatalf("Next(%s): %v", vantage, err)
	}
	return del
}

// noNext fails the test if a job arrives within d.
func noNext(t *testing.T, q wire.Queue, vantage string, d time.Duration) {
	t.Helper()
	if del, err := q.Next(ctxFor(t, d), vantage); err == nil {
		t.Fatalf("Next(%s) returned job %s (attempt %d), want nothing", vantage, del.Job().ID, del.Job().Attempt)
	}
}
