package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/wire"
)

// Queue is wire.Queue on one Redis stream per vantage.
type Queue struct {
	s *Store

	mu      sync.Mutex
	readers map[string]*reader // by vantage

	warnedTimeout atomic.Bool
}

var _ wire.Queue = (*Queue)(nil)

func newQueue(s *Store) *Queue {
	return &Queue{s: s, readers: map[string]*reader{}}
}

func (q *Queue) stream(vantage string) string { return q.s.key("jobs", vantage) }

func validVantage(v string) error {
	if v == "" {
		return errors.New("empty vantage")
	}
	if strings.ContainsAny(v, " \t\r\n") {
		return fmt.Errorf("vantage %q contains white space", v)
	}
	return nil
}

// Enqueue appends j to its vantage's stream (XADD MAXLEN ~).
func (q *Queue) Enqueue(ctx context.Context, j wire.Job) error {
	if err := validVantage(j.Vantage); err != nil {
		return fmt.Errorf("enqueue job %s: %w", j.ID, err)
	}
	if j.Timeout > q.s.opts.ClaimIdle/2 && !q.warnedTimeout.Swap(true) {
		// A job still running when ClaimIdle passes is handed to a second
		// worker: say so once rather than silently run jobs twice.
		q.s.opts.Logger.Warn("job timeout is close to the redis ClaimIdle: slow jobs may run twice",
			"job_timeout", j.Timeout, "claim_idle", q.s.opts.ClaimIdle)
	}
	if _, err := q.s.add(ctx, q.stream(j.Vantage), j, q.s.opts.MaxAge); err != nil {
		return fmt.Errorf("enqueue job %s: %w", j.ID, err)
	}
	return nil
}

func (q *Queue) reader(vantage string) *reader {
	q.mu.Lock()
	defer q.mu.Unlock()
	r, ok := q.readers[vantage]
	if !ok {
		r = newReader(q.s, q.stream(vantage), q.s.opts.WorkerGroup, "job", q.s.opts.ClaimIdle)
		r.dead = q.publishDeadLetter
		q.readers[vantage] = r
	}
	return r
}

// Next blocks until a job for vantage is available or ctx is done. The
// job's Attempt is its delivery count (1 the first time). A job taken over
// from a dead worker comes back with a higher Attempt; past MaxDeliveries
// it is not returned but dead-lettered (see publishDeadLetter).
func (q *Queue) Next(ctx context.Context, vantage string) (wire.Delivery, error) {
	if err := validVantage(vantage); err != nil {
		return nil, fmt.Errorf("next job: %w", err)
	}
	r := q.reader(vantage)
	for {
		e, err := r.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("next job for %s: %w", vantage, err)
		}
		var j wire.Job
		if err := json.Unmarshal([]byte(e.payload), &j); err != nil {
			// Nobody can run what nobody can read: dead-letter it now
			// rather than let it be redelivered MaxDeliveries times.
			if err := r.deadLetter(ctx, e, "undecodable job: "+err.Error(), ""); err != nil {
				return nil, fmt.Errorf("next job for %s: %w", vantage, err)
			}
			continue
		}
		j.Attempt = e.deliveries
		return &delivery{r: r, e: e, job: j}, nil
	}
}

// publishDeadLetter tells the bot side that a job was given up on: an error
// Result on the results stream, so the thread says so through the same path
// as every other answer. It runs inside the dead-letter MULTI. answer is
// what the result says; empty: the job was delivered too often.
func (q *Queue) publishDeadLetter(ctx context.Context, p goredis.Pipeliner, e entry, answer string) error {
	var j wire.Job
	if err := json.Unmarshal([]byte(e.payload), &j); err != nil {
		return nil // no job id to answer to; the dead stream keeps the payload
	}
	j.Attempt = e.deliveries
	j.DeadLetter = true
	if answer == "" {
		answer = fmt.Sprintf("gave up after %d attempts: the worker at vantage %q crashed or stalled each time",
			e.deliveries, j.Vantage)
	}
	res := wire.Result{Job: j, Error: answer, Finished: q.s.opts.Now()}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encoding dead-letter result: %w", err)
	}
	p.XAdd(ctx, &goredis.XAddArgs{
		Stream: q.s.results.streamFor(j.ReplyTo), // to the bot process holding the run
		MaxLen: q.s.opts.MaxLen,
		Approx: true,
		Values: []any{fieldPayload, string(b)},
	})
	q.s.results.route(ctx, p, j.ReplyTo)
	return nil
}

// delivery is a job handed to this process; Ack removes it from the stream.
type delivery struct {
	r   *reader
	e   entry
	job wire.Job
}

func (d *delivery) Job() wire.Job { return d.job }

// Ack acknowledges and deletes the entry. Acking a job another worker took
// over in the meantime is harmless.
func (d *delivery) Ack(ctx context.Context) error {
	if err := d.r.ack(ctx, d.e.id); err != nil {
		return fmt.Errorf("ack job %s: %w", d.job.ID, err)
	}
	return nil
}

// DeadLetter sets the job aside for good (a worker refused it: no command
// could have asked for it): moved to the dead-letter stream with why, and
// an error Result saying why published to the bot process of its run, in
// one MULTI, so it is neither redelivered nor left unanswered.
func (d *delivery) DeadLetter(ctx context.Context, why string) error {
	if err := d.r.deadLetter(ctx, d.e, why, why); err != nil {
		return fmt.Errorf("dead-letter job %s: %w", d.job.ID, err)
	}
	return nil
}

// DeadLetter is one entry of the dead-letter stream.
type DeadLetter struct {
	ID         string    // entry id in the dead-letter stream
	Kind       string    // "job" or "result"
	Stream     string    // where it came from
	EntryID    string    // its id there
	Deliveries int       // how often it was delivered
	Reason     string    // why it was given up on
	At         time.Time // when
	Payload    string    // the JSON job or result as it was
}

// DeadLetters returns the newest count entries of the dead-letter stream,
// newest first: for operators and tests (the bot hears about dead jobs
// through error Results).
func (s *Store) DeadLetters(ctx context.Context, count int64) ([]DeadLetter, error) {
	msgs, err := s.client.XRevRangeN(ctx, s.key("dead"), "+", "-", count).Result()
	if err != nil {
		return nil, fmt.Errorf("reading dead letters: %w", err)
	}
	out := make([]DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		str := func(k string) string { v, _ := m.Values[k].(string); return v }
		d := DeadLetter{
			ID: m.ID, Kind: str(fieldKind), Stream: str("stream"), EntryID: str("id"),
			Reason: str("reason"), Payload: str(fieldPayload),
		}
		d.Deliveries, _ = strconv.Atoi(str("deliveries")) // written by deadLetter: always a number
		d.At, _ = time.Parse(time.RFC3339Nano, str("at"))
		out = append(out, d)
	}
	return out, nil
}
