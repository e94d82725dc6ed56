package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
)

func TestParseClientOptions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		url      string
		opts     rstore.Options
		addrs    string
		master   string
		password string
		db       int
		tls      bool
		err      string
		// 0 means the store's default (16 KiB each).
		pipeRead, pipeWrite int
	}{
		{name: "plain", url: "redis://127.0.0.1:6379", addrs: "127.0.0.1:6379"},
		{name: "password and db", url: "redis://:s3cret@redis.internal:6380/2", addrs: "redis.internal:6380", password: "s3cret", db: 2},
		{name: "tls", url: "rediss://user:pw@managed.example:6380/0", addrs: "managed.example:6380", password: "pw", tls: true},
		{name: "sentinel url", url: "redis://s1:26379/1?master_name=mymaster&addr=s2:26379", addrs: "s1:26379,s2:26379", master: "mymaster", db: 1},
		{
			name: "sentinel from options", url: "redis://:pw@ignored:6379/3",
			opts:  rstore.Options{SentinelMaster: "m", SentinelAddrs: []string{"s1:26379", "s2:26379"}},
			addrs: "s1:26379,s2:26379", master: "m", password: "pw", db: 3,
		},
		{name: "bad scheme", url: "http://x", err: "REDIS_URL"},
		{name: "bad db", url: "redis://x/notanumber", err: "REDIS_URL"},
		{name: "unparseable keeps password out", url: "redis://:hunter2@[::1", err: "REDIS_URL"},
		{name: "pipeline buffers from the url", url: "redis://x:6379?pipeline_read_buffer_size=65536&pipeline_write_buffer_size=8192", addrs: "x:6379", pipeRead: 65536, pipeWrite: 8192},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uo, err := rstore.ParseClientOptions(tc.url, tc.opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(uo.Addrs, ","); got != tc.addrs {
				t.Errorf("Addrs = %s, want %s", got, tc.addrs)
			}
			if uo.MasterName != tc.master || uo.Password != tc.password || uo.DB != tc.db || (uo.TLSConfig != nil) != tc.tls {
				t.Errorf("got master=%q password=%q db=%d tls=%v", uo.MasterName, uo.Password, uo.DB, uo.TLSConfig != nil)
			}
			if !uo.ContextTimeoutEnabled || uo.DialTimeout != 2*time.Second || uo.MaxRetries != 1 || uo.DialerRetries != 1 {
				t.Errorf("timeouts not tuned: ctx=%v dial=%v retries=%d dial retries=%d", uo.ContextTimeoutEnabled, uo.DialTimeout, uo.MaxRetries, uo.DialerRetries)
			}
			wantRead, wantWrite := tc.pipeRead, tc.pipeWrite
			if wantRead == 0 {
				wantRead = 16 << 10
			}
			if wantWrite == 0 {
				wantWrite = 16 << 10
			}
			if uo.PipelineReadBufferSize != wantRead || uo.PipelineWriteBufferSize != wantWrite {
				t.Errorf("pipeline buffers = %d/%d, want %d/%d", uo.PipelineReadBufferSize, uo.PipelineWriteBufferSize, wantRead, wantWrite)
			}
			if uo.ReadBufferSize != 16<<10 || uo.WriteBufferSize != 16<<10 {
				t.Errorf("connection buffers = %d/%d, want 16 KiB each", uo.ReadBufferSize, uo.WriteBufferSize)
			}
		})
	}
}

func TestOptionsFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		master string
		addrs  string
		err    bool
	}{
		{name: "none", env: nil},
		{name: "sentinel", env: map[string]string{"REDIS_SENTINEL_MASTER": "mymaster", "REDIS_SENTINEL_ADDRS": " s1:26379, s2:26379 ,"}, master: "mymaster", addrs: "s1:26379,s2:26379"},
		{name: "master without addrs", env: map[string]string{"REDIS_SENTINEL_MASTER": "m"}, err: true},
		{name: "addrs without master", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379"}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := rstore.OptionsFromEnv(func(k string) string { return tc.env[k] })
			if tc.err {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.SentinelMaster != tc.master || strings.Join(o.SentinelAddrs, ",") != tc.addrs {
				t.Errorf("got %q %v", o.SentinelMaster, o.SentinelAddrs)
			}
		})
	}
}

// Opening with the right password works; a wrong one is an error Ping
// reports at once (not retried as if Redis were down).
func TestOpenWithPassword(t *testing.T) {
	srv := redistest.Start(t, redistest.Password("s3cret"))
	ctx := ctxFor(t, 5*time.Second)
	for _, tc := range []struct {
		name, url string
		ok        bool
	}{
		{"right", "redis://:s3cret@" + srv.Addr + "/1", true},
		{"wrong", "redis://:nope@" + srv.Addr + "/1", false},
		{"none", "redis://" + srv.Addr + "/1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := rstore.Open(ctx, tc.url, rstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			start := time.Now()
			err = s.Ping(ctx)
			if (err == nil) != tc.ok {
				t.Fatalf("Ping = %v, want ok=%v", err, tc.ok)
			}
			if time.Since(start) > time.Second {
				t.Errorf("Ping took %v", time.Since(start))
			}
			if !tc.ok {
				// Next must return the auth error, not retry forever.
				if _, err := s.Queue().Next(ctx, "office"); err == nil || ctx.Err() != nil {
					t.Errorf("Next with bad auth = %v, want an immediate error", err)
				}
			}
		})
	}
}

func TestOpenDoesNotNeedRedis(t *testing.T) {
	s, err := rstore.Open(context.Background(), "redis://127.0.0.1:1/0", rstore.Options{})
	if err != nil {
		t.Fatalf("Open must not dial: %v", err)
	}
	defer s.Close()
	ctx := ctxFor(t, 5*time.Second)
	start := time.Now()
	if err := s.Queue().Enqueue(ctx, job("x", "office")); err == nil {
		t.Fatal("Enqueue to a closed port succeeded")
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("Enqueue to a refused port took %v to fail", el)
	}
}
