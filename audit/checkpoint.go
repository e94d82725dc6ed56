package audit

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// The hash chain catches a record changed or removed in the middle of the
// trail, but not the last records cut off the end: what is left is still a
// valid chain. Checkpoints close that gap: serve posts the head (seq and
// hash) to a channel on a schedule, outside the database and out of reach
// of whoever can write the file, and `portcheck audit verify --checkpoint
// SEQ:HASH` checks that the trail still holds that record unchanged.

// Head is how a checkpoint is written: "SEQ:HASH" of the record.
func Head(r Record) string { return strconv.FormatInt(r.Seq, 10) + ":" + r.Hash }

// Checkpoint is a parsed head: "SEQ:HASH", or a bare HASH.
type Checkpoint struct {
	Seq  int64 // 0: any record
	Hash string
}

// ParseCheckpoint reads a head as Head writes it, or a bare hash.
func ParseCheckpoint(s string) (Checkpoint, error) {
	var c Checkpoint
	seq, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		seq, hash = "", seq
	}
	if seq != "" {
		n, err := strconv.ParseInt(seq, 10, 64)
		if err != nil || n < 1 {
			return c, fmt.Errorf("%q: want SEQ:HASH as posted (e.g. 1234:9f86d0…) or a bare HASH", s)
		}
		c.Seq = n
	}
	if len(hash) != 64 || strings.Trim(strings.ToLower(hash), "0123456789abcdef") != "" {
		return c, fmt.Errorf("%q: the hash must be 64 hex digits", s)
	}
	c.Hash = strings.ToLower(hash)
	return c, nil
}

// checkCheckpoints reports, for a chain already verified intact, the first
// checkpoint the trail no longer holds: records were cut off its end (or
// the whole trail was rebuilt).
func checkCheckpoints(recs []Record, cps []Checkpoint) string {
	last := int64(0)
	if len(recs) > 0 {
		last = recs[len(recs)-1].Seq
	}
	for _, c := range cps {
		found := false
		for _, r := range recs {
			if r.Hash == c.Hash && (c.Seq == 0 || r.Seq == c.Seq) {
				found = true
				break
			}
		}
		if found {
			continue
		}
		if c.Seq > last {
			return fmt.Sprintf("checkpoint %d:%s is missing: the trail ends at seq %d, so records after it were removed (truncated)", c.Seq, c.Hash, last)
		}
		return fmt.Sprintf("checkpoint %s is missing: no record has that hash, so the trail was rewritten", c.Hash)
	}
	return ""
}

// Checkpointer posts the trail's head outside the trail every Every, and
// once more when it stops, so a clean shutdown leaves the final head on
// record. An unchanged head is not posted again.
type Checkpointer struct {
	Trail Trail
	// Post publishes a head (Head's "SEQ:HASH") where whoever can write the
	// trail cannot reach it: a chat channel.
	Post  func(ctx context.Context, head string) error
	Every time.Duration                        // default 1h
	Tick  func(time.Duration) <-chan time.Time // default time.After; tests pass their own
	Log   *slog.Logger
	last  string // the head posted last
}

// Run posts until ctx is done, then once more.
func (c *Checkpointer) Run(ctx context.Context) {
	if c.Every <= 0 {
		c.Every = time.Hour
	}
	if c.Tick == nil {
		c.Tick = time.After
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	for {
		select {
		case <-c.Tick(c.Every):
			c.post(ctx)
		case <-ctx.Done():
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			c.post(pctx)
			cancel()
			return
		}
	}
}

// post writes one checkpoint; failures are logged (and retried at the next
// tick), never fatal: the trail itself is unaffected.
func (c *Checkpointer) post(ctx context.Context) {
	recs, err := c.Trail.Query(ctx, Query{Limit: 1})
	if err != nil {
		c.Log.Error("audit checkpoint: reading the head failed", "err", err)
		return
	}
	if len(recs) == 0 {
		return
	}
	head := Head(recs[0])
	if head == c.last {
		return
	}
	if err := c.Post(ctx, head); err != nil {
		c.Log.Error("audit checkpoint: posting failed", "err", err)
		return
	}
	c.last = head
	c.Log.Info("audit checkpoint posted", "head", head)
}
