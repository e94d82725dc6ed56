package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// redisErr is an error as Redis replies it (goredis.Error).
type redisErr string

func (e redisErr) Error() string { return string(e) }
func (redisErr) RedisError()     {}

func TestBackoffBounds(t *testing.T) {
	lo, hi := 100*time.Millisecond, 5*time.Second
	for _, tc := range []struct {
		failures int
		max      time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{7, 5 * time.Second},
		{100, 5 * time.Second}, // no overflow, capped
	} {
		for range 50 {
			d := backoff(lo, hi, tc.failures)
			if d < tc.max/2 || d > tc.max {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", tc.failures, d, tc.max/2, tc.max)
			}
		}
	}
}

func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{io.EOF, true},
		{fmt.Errorf("xadd: %w", syscall.ECONNREFUSED), true},
		{&net.OpError{Op: "dial", Err: errors.New("no route")}, true},
		{goredis.ErrPoolTimeout, true},
		{redisErr("LOADING Redis is loading the dataset in memory"), true},
		{redisErr("READONLY You can't write against a read only replica."), true},
		{redisErr("WRONGPASS invalid username-password pair"), false},
		{redisErr("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{goredis.ErrClosed, false},
		{context.Canceled, false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
