// Package redis is portcheck's distributed store on Redis Streams: the job
// queue (one stream per vantage), the results stream the bot processes read,
// the posted-once markers and the worker registry (heartbeats).
//
// Keys (Prefix defaults to "portcheck"):
//
//	PREFIX:jobs:VANTAGE      stream, consumer group "workers": jobs for one vantage
//	PREFIX:results           stream, consumer group "bots": finished jobs
//	PREFIX:dead              stream: entries delivered more than MaxDeliveries times
//	PREFIX:claim:KEY         string with TTL: wire.Claims markers (e.g. "posted:JOBID")
//	PREFIX:thread:RUN        hash with TTL: a run's thread with the chat's refs, kept on the bot side
//	PREFIX:vantage:NAME:ID   string with TTL: one live worker's registration
//	PREFIX:vantages          set of NAME:ID members, pruned when their key expired
//
// Delivery is at least once: a job whose worker dies is taken over with
// XAUTOCLAIM once idle longer than ClaimIdle, so the bot side deduplicates
// posts with MarkPosted. A job delivered more than MaxDeliveries times is
// moved to the dead-letter stream and an error Result is published for it,
// so the user hears about it in the thread through the ordinary results path.
//
// For Redis Cluster set Prefix to a hash tag such as "{portcheck}": the
// dead-letter move is a MULTI over several keys, which Cluster only allows
// within one slot.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Options tunes the store; zero values take the documented defaults.
type Options struct {
	// Prefix starts every key (default "portcheck").
	Prefix string
	// Consumer names this process in the consumer groups (default
	// hostname-pid-random). It must differ between live processes.
	Consumer string
	// WorkerGroup and BotGroup name the consumer groups of the job streams
	// and of the results stream (defaults "workers", "bots").
	WorkerGroup, BotGroup string

	// MaxLen caps each job stream and the results stream with XADD MAXLEN ~
	// (default 100000). Acked entries are deleted at once (XACK + XDEL), so
	// the cap only bites when a backlog grows that large: it is a guard
	// against filling Redis's memory, and trimmed jobs are lost.
	MaxLen int64
	// MaxAge drops jobs older than this from a job stream when the next job
	// is added (default 1h): a job whose vantage was offline that long
	// answers a question nobody is waiting for any more. Negative: never.
	MaxAge time.Duration
	// ResultMaxAge is the same for the results stream (default 24h).
	ResultMaxAge time.Duration
	// DeadMaxLen caps the dead-letter stream the same way (default 10000).
	DeadMaxLen int64
	// MaxDeliveries is how many times one job or result is delivered before
	// it is dead-lettered (default 3).
	MaxDeliveries int

	// ClaimIdle is how long a delivered job may stay unacknowledged before
	// another worker takes it over: the longest job deadline plus a margin
	// (default 2m). Too short and a slow job runs twice.
	ClaimIdle time.Duration
	// ResultClaimIdle is the same for results held by a bot process that
	// died while posting (default 30s).
	ResultClaimIdle time.Duration
	// ClaimInterval is how often an idle reader scans for stale entries
	// (default 5s).
	ClaimInterval time.Duration
	// ConsumerIdle is how long a consumer with nothing pending may stay
	// idle before a reader deletes it from the group (default 24h).
	ConsumerIdle time.Duration
	// Block is the longest single XREADGROUP BLOCK. Next loops over blocks
	// so a cancelled context is noticed within Block (default 1s).
	Block time.Duration

	// PostedTTL is how long MarkPosted remembers a job (default 24h): longer
	// than any redelivery can happen.
	PostedTTL time.Duration
	// HeartbeatTTL is how long a worker registration lives without a
	// refresh (default 30s); Heartbeat refreshes every third of it.
	HeartbeatTTL time.Duration

	// MinBackoff and MaxBackoff bound the wait between retries when Redis
	// is unreachable inside the blocking loops (defaults 100ms, 5s).
	MinBackoff, MaxBackoff time.Duration

	// SentinelMaster, when set, connects through Redis Sentinel
	// (go-redis's failover client) to this master name, asking
	// SentinelAddrs; the URL then only supplies password, db and TLS.
	SentinelMaster   string
	SentinelAddrs    []string
	SentinelPassword string

	// Now is the clock for registrations (default time.Now).
	Now func() time.Time
	// Logger receives retry and dead-letter notices (default: discarded).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = "portcheck"
	}
	if o.Consumer == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "host"
		}
		o.Consumer = fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.IntN(1<<16))
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.WorkerGroup == "" {
		o.WorkerGroup = "workers"
	}
	if o.BotGroup == "" {
		o.BotGroup = "bots"
	}
	if o.MaxLen <= 0 {
		o.MaxLen = 100000
	}
	if o.DeadMaxLen <= 0 {
		o.DeadMaxLen = 10000
	}
	if o.MaxDeliveries <= 0 {
		o.MaxDeliveries = 3
	}
	if o.MaxAge == 0 {
		o.MaxAge = time.Hour
	}
	if o.ResultMaxAge == 0 {
		o.ResultMaxAge = 24 * time.Hour
	}
	def(&o.ClaimIdle, 2*time.Minute)
	def(&o.ResultClaimIdle, 30*time.Second)
	def(&o.ClaimInterval, 5*time.Second)
	def(&o.ConsumerIdle, 24*time.Hour)
	def(&o.Block, time.Second)
	def(&o.PostedTTL, 24*time.Hour)
	def(&o.HeartbeatTTL, 30*time.Second)
	def(&o.MinBackoff, 100*time.Millisecond)
	def(&o.MaxBackoff, 5*time.Second)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// OptionsFromEnv reads the Sentinel settings: REDIS_SENTINEL_MASTER,
// REDIS_SENTINEL_ADDRS (comma-separated host:port) and
// REDIS_SENTINEL_PASSWORD. getenv is os.Getenv in production.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	var o Options
	o.SentinelMaster = strings.TrimSpace(getenv("REDIS_SENTINEL_MASTER"))
	for a := range strings.SplitSeq(getenv("REDIS_SENTINEL_ADDRS"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.SentinelAddrs = append(o.SentinelAddrs, a)
		}
	}
	o.SentinelPassword = getenv("REDIS_SENTINEL_PASSWORD")
	if o.SentinelMaster != "" && len(o.SentinelAddrs) == 0 {
		return Options{}, errors.New("REDIS_SENTINEL_MASTER is set but REDIS_SENTINEL_ADDRS is empty")
	}
	if o.SentinelMaster == "" && len(o.SentinelAddrs) > 0 {
		return Options{}, errors.New("REDIS_SENTINEL_ADDRS is set but REDIS_SENTINEL_MASTER is empty")
	}
	return o, nil
}

// Store is a connection to Redis with the queue, results, claims and
// registry on top. It is safe for concurrent use.
type Store struct {
	client  goredis.UniversalClient
	owned   bool // Close closes client only when Open made it
	opts    Options
	queue   *Queue
	results *Results
	health  *health // outages: logged once each way, one backoff schedule
}

// ParseClientOptions turns a REDIS_URL (redis://, rediss://, user and
// password, /db, go-redis query parameters) plus the Sentinel options into
// go-redis options. A URL with ?master_name= is a Sentinel URL as
// go-redis's ParseFailoverURL reads it (the host is then a sentinel).
func ParseClientOptions(rawURL string, o Options) (*goredis.UniversalOptions, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", redactURLError(err))
	}
	if u.Query().Get("master_name") != "" {
		fo, err := goredis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL (sentinel): %w", err)
		}
		uo := failoverToUniversal(fo)
		tuneTimeouts(uo)
		tuneBuffers(uo)
		return uo, nil
	}
	co, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	uo := &goredis.UniversalOptions{
		Addrs:                 []string{co.Addr},
		Username:              co.Username,
		Password:              co.Password,
		DB:                    co.DB,
		TLSConfig:             co.TLSConfig,
		ClientName:            co.ClientName,
		Protocol:              co.Protocol,
		DialTimeout:           co.DialTimeout,
		ReadTimeout:           co.ReadTimeout,
		WriteTimeout:          co.WriteTimeout,
		PoolSize:              co.PoolSize,
		MinIdleConns:          co.MinIdleConns,
		MaxRetries:            co.MaxRetries,
		ContextTimeoutEnabled: true,

		PipelinePoolSize:        co.PipelinePoolSize,
		PipelineReadBufferSize:  co.PipelineReadBufferSize,
		PipelineWriteBufferSize: co.PipelineWriteBufferSize,
	}
	if o.SentinelMaster != "" {
		if len(o.SentinelAddrs) == 0 {
			return nil, errors.New("sentinel master set without sentinel addresses")
		}
		uo.MasterName = o.SentinelMaster
		uo.Addrs = o.SentinelAddrs
		uo.SentinelPassword = o.SentinelPassword
	}
	tuneTimeouts(uo)
	tuneBuffers(uo)
	return uo, nil
}

// pipelineBufferSize sizes the read and write buffers of go-redis's
// dedicated pipeline pool. go-redis defaults them to 128 KiB each for
// batches of thousands of commands; ours are a handful (XADD, EXPIRE,
// PUBLISH, XACK) of well under 4 KiB, and a worker answering 1,000 checks
// at once dials the whole pool of 10: 2.5 MB of buffers that never fill
// (measured with pprof in BenchmarkWorkerHolding1000Filtered). A reply
// larger than the buffer is still read whole, in more read calls.
const pipelineBufferSize = 16 << 10

// connBufferSize sizes the read and write buffers of the main pool's
// connections (go-redis: 32 KiB each). Our replies are a job or a few
// results, a few KiB each; a worker publishing a thousand answers at once
// dials the whole pool (20 connections on 2 cores), 1.3 MB of buffers at
// 32 KiB. A longer reply is still read whole, in more read calls.
const connBufferSize = 16 << 10

// tuneBuffers applies pipelineBufferSize unless the URL's
// pipeline_read_buffer_size / pipeline_write_buffer_size say otherwise,
// and connBufferSize (go-redis reads no URL parameter for those).
func tuneBuffers(uo *goredis.UniversalOptions) {
	if uo.ReadBufferSize == 0 {
		uo.ReadBufferSize = connBufferSize
	}
	if uo.WriteBufferSize == 0 {
		uo.WriteBufferSize = connBufferSize
	}
	if uo.PipelineReadBufferSize == 0 {
		uo.PipelineReadBufferSize = pipelineBufferSize
	}
	if uo.PipelineWriteBufferSize == 0 {
		uo.PipelineWriteBufferSize = pipelineBufferSize
	}
}

func failoverToUniversal(fo *goredis.FailoverOptions) *goredis.UniversalOptions {
	return &goredis.UniversalOptions{
		MasterName:       fo.MasterName,
		Addrs:            fo.SentinelAddrs,
		SentinelUsername: fo.SentinelUsername,
		SentinelPassword: fo.SentinelPassword,
		Username:         fo.Username,
		Password:         fo.Password,
		DB:               fo.DB,
		TLSConfig:        fo.TLSConfig,
		ClientName:       fo.ClientName,
		DialTimeout:      fo.DialTimeout,
		ReadTimeout:      fo.ReadTimeout,
		WriteTimeout:     fo.WriteTimeout,
		PoolSize:         fo.PoolSize,
		MaxRetries:       fo.MaxRetries,
	}
}

// tuneTimeouts makes an unreachable Redis an error within a few seconds
// (at most 2 dials of 2 s) instead of go-redis's defaults (5 s dial, 5 dial
// retries, 3 command retries), so ingress can still answer the user inside
// the chat's deadline. Values given in the URL win.
func tuneTimeouts(uo *goredis.UniversalOptions) {
	uo.ContextTimeoutEnabled = true // honour ctx deadlines on reads and writes too
	if uo.DialTimeout == 0 {
		uo.DialTimeout = 2 * time.Second
	}
	if uo.MaxRetries == 0 {
		uo.MaxRetries = 1
	}
	if uo.DialerRetries == 0 {
		// go-redis would dial 5 times per command attempt (100 ms apart):
		// with MaxRetries that is 10 dials, 20 s against a black hole.
		uo.DialerRetries = 1
	}
}

// redactURLError keeps a password typed in REDIS_URL out of error messages.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("cannot parse URL: %w", ue.Err)
	}
	return err
}

// Open connects to the Redis at rawURL (REDIS_URL). It does not wait for
// Redis to answer: call Ping to check at start-up, so a worker can start
// (and retry) while Redis is still down.
func Open(ctx context.Context, rawURL string, o Options) (*Store, error) {
	uo, err := ParseClientOptions(rawURL, o)
	if err != nil {
		return nil, err
	}
	s := New(goredis.NewUniversalClient(uo), o)
	s.owned = true
	return s, nil
}

// New builds a store on an existing client (tests, or a caller that
// configures Cluster itself). Close does not close client.
func New(client goredis.UniversalClient, o Options) *Store {
	s := &Store{client: client, opts: o.withDefaults()}
	s.health = newHealth(s.opts.Logger, s.opts.MinBackoff, s.opts.MaxBackoff)
	s.queue = newQueue(s)
	s.results = newResults(s)
	return s
}

// Close closes the connection pool when Open created it.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("closing redis client: %w", err)
	}
	return nil
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Queue is the job queue (wire.Queue).
func (s *Store) Queue() *Queue { return s.queue }

// Results is the results stream (wire.Results).
func (s *Store) Results() *Results { return s.results }

// Client exposes the underlying client for wiring other Redis users (rate
// limits) onto the same pool.
func (s *Store) Client() goredis.UniversalClient { return s.client }

func (s *Store) key(parts ...string) string {
	return s.opts.Prefix + ":" + strings.Join(parts, ":")
}

// Claim implements wire.Claims with SET NX PX: true the first time key is
// claimed within ttl.
func (s *Store) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("claim %q: ttl must be positive, got %v", key, ttl)
	}
	ok, err := s.client.SetNX(ctx, s.key("claim", key), strconv.FormatInt(s.opts.Now().UnixMilli(), 10), ttl).Result()
	if err != nil {
		return false, fmt.Errorf("claim %q: %w", key, err)
	}
	return ok, nil
}

// MarkPosted records that the result of jobID is being posted; first is
// true only for the first caller within PostedTTL, so a redelivered job or
// result never posts twice. Mark before posting; if the post then fails,
// UnmarkPosted lets a redelivery try again.
func (s *Store) MarkPosted(ctx context.Context, jobID string) (first bool, err error) {
	if jobID == "" {
		return false, errors.New("mark posted: empty job id")
	}
	return s.Claim(ctx, "posted:"+jobID, s.opts.PostedTTL)
}

// UnmarkPosted forgets a MarkPosted whose post failed.
func (s *Store) UnmarkPosted(ctx context.Context, jobID string) error {
	if err := s.client.Del(ctx, s.key("claim", "posted:"+jobID)).Err(); err != nil {
		return fmt.Errorf("unmark posted %q: %w", jobID, err)
	}
	return nil
}

// GoRedisLogger adapts a slog.Logger to go-redis's process-wide logger
// (which otherwise prints dial failures to stderr on its own). Install it
// once, from main: goredis.SetLogger(redis.GoRedisLogger{L: log}).
type GoRedisLogger struct{ L *slog.Logger }

// Printf logs one go-redis message at debug level: the store already warns
// about outages, once when one starts.
func (g GoRedisLogger) Printf(ctx context.Context, format string, v ...any) {
	g.L.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}
