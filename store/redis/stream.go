package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Field names inside stream entries.
const (
	fieldPayload = "data" // JSON of wire.Job or wire.Result
	fieldKind    = "kind" // dead letters: "job" or "result"
)

// entry is one message read from a stream, with how often it was delivered.
type entry struct {
	id         string
	payload    string
	deliveries int
	from       *reader // the reader of the stream it came from: ack and dead-letter through it
}

// reader consumes one stream in one consumer group: new entries with
// XREADGROUP ">", stale ones (a consumer died) with XAUTOCLAIM, and moves
// entries delivered too often to the dead-letter stream.
type reader struct {
	s         *Store
	stream    string
	group     string
	claimIdle time.Duration
	// dead is called, inside the MULTI that moves an entry away, to add
	// what the entry's owner must hear about it (the queue publishes an
	// error Result saying answer, or its own words when answer is empty);
	// nil adds nothing.
	dead func(ctx context.Context, p goredis.Pipeliner, e entry, answer string) error
	kind string

	// also are further streams (same group) read in the same XREADGROUP,
	// so one blocking read serves them all: a bot process's own results
	// stream plus the shared one.
	also []*reader
	// noBlock makes each read return at once (polling orphaned streams).
	noBlock bool
	// between, when set, runs before each blocking read and may hand back
	// an entry found elsewhere (results left by a dead bot process).
	between func(ctx context.Context) (entry, bool)
	// buf holds entries a multi-stream read delivered beyond the one it
	// returned (COUNT applies per stream): already pending for this
	// consumer, so they must be handed out, not dropped. Under mu.
	buf []entry

	// gate lets one goroutine at a time block in XREADGROUP for this
	// stream: a worker running Next from 32 goroutines would otherwise pin
	// 32 pooled connections in BLOCK and starve Publish and Ack of
	// connections. The others wait here, context-aware, and each read
	// returns at once while entries are waiting.
	gate chan struct{}

	mu        sync.Mutex
	groupOK   bool
	cursor    string    // XAUTOCLAIM scan position; "0-0" when a scan is complete
	nextClaim time.Time // when the next scan may start
	nextPrune time.Time // when consumers may next be pruned
}

func newReader(s *Store, stream, group, kind string, claimIdle time.Duration) *reader {
	return &reader{s: s, stream: stream, group: group, kind: kind, claimIdle: claimIdle, cursor: "0-0", gate: make(chan struct{}, 1)}
}

// ensureGroup creates the consumer group (and the stream) once. It starts
// at "0" so jobs enqueued before any worker existed are delivered.
func (r *reader) ensureGroup(ctx context.Context) error {
	r.mu.Lock()
	ok := r.groupOK
	r.mu.Unlock()
	if ok {
		return nil
	}
	err := r.s.client.XGroupCreateMkStream(ctx, r.stream, r.group, "0").Err()
	if err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("creating group %s on %s: %w", r.group, r.stream, err)
	}
	r.mu.Lock()
	r.groupOK = true
	r.mu.Unlock()
	return nil
}

// forgetGroup makes the next call recreate the group: Redis lost it (a
// restart without persistence, a FLUSHALL).
func (r *reader) forgetGroup() {
	r.mu.Lock()
	r.groupOK = false
	r.cursor = "0-0"
	r.mu.Unlock()
}

// next blocks until an entry is available or ctx is done. Redis errors that
// look like an outage are retried on the Store's shared backoff schedule
// (health); anything else is returned.
func (r *reader) next(ctx context.Context) (entry, error) {
	nogroups := 0
	for {
		if err := ctx.Err(); err != nil {
			return entry{}, fmt.Errorf("reading %s: %w", r.stream, err)
		}
		// While Redis is down, every reader (and the side work in
		// between) waits for the shared schedule instead of trying.
		if w := r.s.health.wait(); w > 0 {
			if err := sleep(ctx, w); err != nil {
				return entry{}, fmt.Errorf("reading %s: %w", r.stream, err)
			}
			continue
		}
		if r.between != nil {
			if e, ok := r.between(ctx); ok {
				return e, nil
			}
		}
		select {
		case r.gate <- struct{}{}:
		case <-ctx.Done():
			return entry{}, fmt.Errorf("reading %s: %w", r.stream, ctx.Err())
		}
		if r.s.health.wait() > 0 { // it went down while we queued at the gate
			<-r.gate
			continue
		}
		e, ok, err := r.try(ctx)
		<-r.gate
		if ok {
			r.s.health.up()
			return e, nil
		}
		if err == nil {
			r.s.health.up()
			nogroups = 0
			continue
		}
		if ctx.Err() != nil {
			return entry{}, fmt.Errorf("reading %s: %w", r.stream, ctx.Err())
		}
		if goredis.HasErrorPrefix(err, "NOGROUP") {
			// Redis answered: it is up, but lost the group (a restart
			// without persistence, a FLUSHALL). Recreate it at once; back
			// off only if that keeps happening.
			r.s.health.up()
			r.forgetGroup()
			for _, o := range r.also {
				o.forgetGroup()
			}
			if nogroups++; nogroups == 1 {
				continue
			}
			wait := backoff(r.s.opts.MinBackoff, r.s.opts.MaxBackoff, nogroups)
			r.s.opts.Logger.Debug("consumer group still missing, recreating", "stream", r.stream, "err", err, "retry_in", wait)
			if err := sleep(ctx, wait); err != nil {
				return entry{}, fmt.Errorf("reading %s: %w", r.stream, err)
			}
			continue
		}
		if !transient(err) {
			return entry{}, fmt.Errorf("reading %s: %w", r.stream, err)
		}
		if err := sleep(ctx, r.s.health.failed(err, r.stream)); err != nil {
			return entry{}, fmt.Errorf("reading %s: %w", r.stream, err)
		}
	}
}

// try makes one attempt: a claim scan step when one is due, else one
// blocking read. ok=false, err=nil means nothing arrived within Block.
func (r *reader) try(ctx context.Context) (entry, bool, error) {
	r.mu.Lock()
	if len(r.buf) > 0 {
		e := r.buf[0]
		r.buf = r.buf[1:]
		r.mu.Unlock()
		return e, true, nil
	}
	r.mu.Unlock()
	all := append([]*reader{r}, r.also...)
	for _, x := range all {
		if err := x.ensureGroup(ctx); err != nil {
			return entry{}, false, err
		}
		if e, ok, err := x.claim(ctx); err != nil || ok {
			return e, ok, err
		}
	}
	// Block a little less than ctx allows: Redis then answers "nothing"
	// itself, instead of the client timing out mid-read and throwing the
	// connection away. The last few milliseconds are simply waited out
	// (BLOCK 0 would mean forever).
	block := r.s.opts.Block
	if dl, ok := ctx.Deadline(); ok {
		block = min(block, time.Until(dl)-10*time.Millisecond)
		if block < time.Millisecond {
			<-ctx.Done()
			return entry{}, false, ctx.Err()
		}
	}
	if r.noBlock {
		block = -1 // go-redis: no BLOCK argument, answer at once
	}
	streams := make([]string, 0, 2*len(all))
	for _, x := range all {
		streams = append(streams, x.stream)
	}
	for range all {
		streams = append(streams, ">")
	}
	res, err := r.s.client.XReadGroup(ctx, &goredis.XReadGroupArgs{
		Group:    r.group,
		Consumer: r.s.opts.Consumer,
		Streams:  streams,
		Count:    1,
		Block:    block,
	}).Result()
	if errors.Is(err, goredis.Nil) {
		return entry{}, false, nil
	}
	if err != nil {
		return entry{}, false, err
	}
	var got []entry
	for _, st := range res {
		from := r
		for _, x := range all {
			if x.stream == st.Stream {
				from = x
			}
		}
		for _, m := range st.Messages {
			got = append(got, entry{id: m.ID, payload: payloadOf(m), deliveries: 1, from: from})
		}
	}
	if len(got) == 0 {
		return entry{}, false, nil
	}
	r.mu.Lock()
	r.buf = append(r.buf, got[1:]...)
	r.mu.Unlock()
	return got[0], true, nil
}

// claim takes over at most one entry idle longer than claimIdle, going
// through the pending list across calls with XAUTOCLAIM until the returned
// cursor is 0-0, then resting for ClaimInterval. Entries delivered more
// than MaxDeliveries times are dead-lettered on the way.
func (r *reader) claim(ctx context.Context) (entry, bool, error) {
	// A page scans about ten pending entries; stop after a few pages so a
	// long pending list (many slow jobs in flight) does not starve the
	// read of new entries. The cursor remembers where to resume.
	for range 16 {
		r.mu.Lock()
		cursor := r.cursor
		// Pacing uses the real monotonic clock, not Options.Now: a frozen
		// test clock must not switch takeover off.
		due := cursor != "0-0" || !time.Now().Before(r.nextClaim)
		r.mu.Unlock()
		if !due {
			return entry{}, false, nil
		}
		msgs, nextCursor, err := r.s.client.XAutoClaim(ctx, &goredis.XAutoClaimArgs{
			Stream:   r.stream,
			Group:    r.group,
			Consumer: r.s.opts.Consumer,
			MinIdle:  r.claimIdle,
			Start:    cursor,
			Count:    1,
		}).Result()
		if err != nil {
			return entry{}, false, fmt.Errorf("xautoclaim %s: %w", r.stream, err)
		}
		r.mu.Lock()
		r.cursor = nextCursor
		prune := false
		if nextCursor == "0-0" {
			r.nextClaim = time.Now().Add(r.s.opts.ClaimInterval)
			if prune = !time.Now().Before(r.nextPrune); prune {
				r.nextPrune = time.Now().Add(r.s.opts.ConsumerIdle / 4)
			}
		}
		r.mu.Unlock()
		if prune {
			r.pruneConsumers(ctx)
		}
		if len(msgs) == 0 {
			if nextCursor == "0-0" {
				return entry{}, false, nil
			}
			continue
		}
		m := msgs[0]
		n, err := r.deliveries(ctx, m.ID)
		if err != nil {
			return entry{}, false, err
		}
		e := entry{id: m.ID, payload: payloadOf(m), deliveries: n, from: r}
		if n <= r.s.opts.MaxDeliveries {
			return e, true, nil
		}
		// The claim itself counted as a delivery, but it is not run: the
		// attempts made are one fewer.
		e.deliveries = n - 1
		if err := r.deadLetter(ctx, e, fmt.Sprintf("delivered %d times without an ack (limit %d)", e.deliveries, r.s.opts.MaxDeliveries), ""); err != nil {
			return entry{}, false, err
		}
	}
	return entry{}, false, nil
}

// pruneConsumers deletes consumers of the group that hold no pending
// entries and have been idle longer than ConsumerIdle: every process start
// adds a consumer name, and without this they pile up in XINFO. Deleting a
// consumer with nothing pending loses nothing (a live one is recreated by
// its next read), so failures are only logged.
func (r *reader) pruneConsumers(ctx context.Context) {
	cs, err := r.s.client.XInfoConsumers(ctx, r.stream, r.group).Result()
	if err != nil {
		if !r.s.health.noticed(err, "listing consumers") {
			r.s.opts.Logger.Warn("listing consumers", "stream", r.stream, "err", err)
		}
		return
	}
	for _, c := range cs {
		if c.Pending > 0 || c.Idle < r.s.opts.ConsumerIdle || c.Name == r.s.opts.Consumer {
			continue
		}
		if err := r.s.client.XGroupDelConsumer(ctx, r.stream, r.group, c.Name).Err(); err != nil && !r.s.health.noticed(err, "deleting idle consumer") {
			r.s.opts.Logger.Warn("deleting idle consumer", "stream", r.stream, "consumer", c.Name, "err", err)
		}
	}
}

// deliveries reads an entry's delivery counter (XPENDING's extended form).
func (r *reader) deliveries(ctx context.Context, id string) (int, error) {
	p, err := r.s.client.XPendingExt(ctx, &goredis.XPendingExtArgs{
		Stream: r.stream, Group: r.group, Start: id, End: id, Count: 1,
	}).Result()
	if err != nil {
		return 0, fmt.Errorf("xpending %s %s: %w", r.stream, id, err)
	}
	if len(p) == 0 {
		// Acked between the claim and now: whoever acked finished it.
		return 1, nil
	}
	return int(p[0].RetryCount), nil
}

// deadLetter moves an entry to the dead-letter stream, atomically with
// acknowledging and deleting it and with whatever r.dead adds (given
// answer: what the owner is told; empty lets r.dead word it).
func (r *reader) deadLetter(ctx context.Context, e entry, why, answer string) error {
	_, err := r.s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.XAdd(ctx, &goredis.XAddArgs{
			Stream: r.s.key("dead"),
			MaxLen: r.s.opts.DeadMaxLen,
			Approx: true,
			Values: []any{
				fieldKind, r.kind,
				"stream", r.stream,
				"id", e.id,
				"deliveries", strconv.Itoa(e.deliveries),
				"reason", why,
				"at", r.s.opts.Now().UTC().Format(time.RFC3339Nano),
				fieldPayload, e.payload,
			},
		})
		if r.dead != nil {
			if err := r.dead(ctx, p, e, answer); err != nil {
				return err
			}
		}
		p.XAck(ctx, r.stream, r.group, e.id)
		p.XDel(ctx, r.stream, e.id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dead-lettering %s %s: %w", r.stream, e.id, err)
	}
	r.s.opts.Logger.Warn("dead-lettered", "stream", r.stream, "id", e.id, "deliveries", e.deliveries, "reason", why)
	return nil
}

// ack acknowledges and deletes an entry: acked entries have no reason to
// stay, and deleting them keeps MaxLen trimming away from live work.
func (r *reader) ack(ctx context.Context, id string) error {
	_, err := r.s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.XAck(ctx, r.stream, r.group, id)
		p.XDel(ctx, r.stream, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("ack %s %s: %w", r.stream, id, err)
	}
	return nil
}

// add appends one payload to a stream, trimmed to about MaxLen entries and,
// when maxAge > 0, to entries younger than maxAge (exact MINID trimming:
// acked entries are already deleted, so it only ever removes a few stale
// ones). Both go in one round trip.
func (s *Store) add(ctx context.Context, stream string, v any, maxAge time.Duration) (string, error) {
	return s.addWith(ctx, stream, v, maxAge, nil)
}

// addWith is add with more commands (extra, when not nil) in the same
// round trip.
func (s *Store) addWith(ctx context.Context, stream string, v any, maxAge time.Duration, extra func(goredis.Pipeliner)) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encoding for %s: %w", stream, err)
	}
	var add *goredis.StringCmd
	_, err = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		add = p.XAdd(ctx, &goredis.XAddArgs{
			Stream: stream,
			MaxLen: s.opts.MaxLen,
			Approx: true,
			Values: []any{fieldPayload, b}, // go-redis writes []byte as is: no string copy
		})
		if maxAge > 0 {
			cutoff := s.opts.Now().Add(-maxAge).UnixMilli()
			p.XTrimMinID(ctx, stream, strconv.FormatInt(cutoff, 10))
		}
		if extra != nil {
			extra(p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("xadd %s: %w", stream, err)
	}
	return add.Val(), nil
}

func payloadOf(m goredis.XMessage) string {
	s, _ := m.Values[fieldPayload].(string)
	return s
}

// transient says whether err looks like Redis being unreachable or busy
// failing over (worth retrying) rather than a mistake (wrong password,
// wrong key type) that retrying cannot fix.
func transient(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, goredis.ErrClosed):
		return false // the client was closed on purpose
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, goredis.ErrPoolTimeout):
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY "} {
		if goredis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// backoff is exponential from min to max with jitter (so a fleet of
// workers does not reconnect in lockstep).
func backoff(lo, hi time.Duration, failures int) time.Duration {
	d := lo
	for i := 1; i < failures && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Unavailable reports whether err means Redis could not be reached or is
// failing over (retrying later may work), as opposed to a configuration
// mistake such as a wrong password. Ingress uses it to tell the user "the
// queue is down" rather than "portcheck is misconfigured".
func Unavailable(err error) bool { return transient(err) }
