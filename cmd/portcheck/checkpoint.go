package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/config"
)

// The hash chain catches a record changed or removed in the middle of the
// trail, but not the last records cut off the end: what is left is still a
// valid chain. Checkpoints close that gap: serve posts the head (seq and
// hash) to a channel on a schedule, outside the database and out of reach
// of whoever can write the file, and `portcheck audit verify --checkpoint
// SEQ:HASH` checks that the trail still holds that record unchanged.

// checkpointer posts the audit trail's head to a channel every interval.
type checkpointer struct {
	audit   bot.Audit
	chat    func(name string) bot.Chat // the adapter named by the channel's chat, when it is up
	channel bot.Channel
	every   time.Duration
	tick    func(time.Duration) <-chan time.Time // time.After; tests pass their own
	log     *slog.Logger
	last    string // the head posted last: an unchanged trail is not posted again
}

// parseCheckpointChannel reads "slack:C0AUDIT" (validated by config).
func parseCheckpointChannel(s string) (bot.Channel, bool) {
	chat, id, ok := strings.Cut(s, ":")
	if !ok || chat == "" || id == "" {
		return bot.Channel{}, false
	}
	return bot.Channel{Chat: chat, ID: id}, true
}

// run posts until ctx is done, and once more at the end so a clean shutdown
// leaves the final head on record.
func (c *checkpointer) run(ctx context.Context) {
	for {
		select {
		case <-c.tick(c.every):
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
func (c *checkpointer) post(ctx context.Context) {
	recs, err := c.audit.Query(ctx, bot.AuditQuery{Limit: 1})
	if err != nil {
		c.log.Error("audit checkpoint: reading the head failed", "err", err)
		return
	}
	if len(recs) == 0 {
		return
	}
	head := formatCheckpoint(recs[0])
	if head == c.last {
		return
	}
	chat := c.chat(c.channel.Chat)
	if chat == nil {
		c.log.Error("audit checkpoint: no chat adapter for the checkpoint channel", "chat", c.channel.Chat)
		return
	}
	m := bot.Message{Status: bot.StatusInfo, Text: "audit checkpoint " + head,
		Blocks: []bot.Block{{Kind: bot.BlockCode, Title: "Verify", Text: "portcheck audit verify --checkpoint " + head}}}
	if _, err := chat.Start(ctx, c.channel, m); err != nil {
		c.log.Error("audit checkpoint: posting failed", "channel", c.channel.ID, "err", err)
		return
	}
	c.last = head
	c.log.Info("audit checkpoint posted", "channel", c.channel.ID, "head", head)
}

// formatCheckpoint is how a head is written: "SEQ:HASH".
func formatCheckpoint(r bot.Record) string { return strconv.FormatInt(r.Seq, 10) + ":" + r.Hash }

// checkpoint is a parsed --checkpoint value: "SEQ:HASH", or a bare HASH.
type checkpoint struct {
	seq  int64 // 0: any record
	hash string
}

func parseCheckpoint(s string) (checkpoint, error) {
	var c checkpoint
	seq, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		seq, hash = "", seq
	}
	if seq != "" {
		n, err := strconv.ParseInt(seq, 10, 64)
		if err != nil || n < 1 {
			return c, fmt.Errorf("%q: want SEQ:HASH as posted (e.g. 1234:9f86d0…) or a bare HASH", s)
		}
		c.seq = n
	}
	if len(hash) != 64 || strings.Trim(strings.ToLower(hash), "0123456789abcdef") != "" {
		return c, fmt.Errorf("%q: the hash must be 64 hex digits", s)
	}
	c.hash = strings.ToLower(hash)
	return c, nil
}

// checkCheckpoints reports, for a chain already verified intact, the first
// checkpoint the trail no longer holds: records were cut off its end (or
// the whole trail was rebuilt).
func checkCheckpoints(recs []bot.Record, cps []checkpoint) string {
	last := int64(0)
	if len(recs) > 0 {
		last = recs[len(recs)-1].Seq
	}
	for _, c := range cps {
		found := false
		for _, r := range recs {
			if r.Hash == c.hash && (c.seq == 0 || r.Seq == c.seq) {
				found = true
				break
			}
		}
		if found {
			continue
		}
		if c.seq > last {
			return fmt.Sprintf("checkpoint %d:%s is missing: the trail ends at seq %d, so records after it were removed (truncated)", c.seq, c.hash, last)
		}
		return fmt.Sprintf("checkpoint %s is missing: no record has that hash, so the trail was rewritten", c.hash)
	}
	return ""
}

// checkpointFlag collects repeated --checkpoint values.
type checkpointFlag []checkpoint

func (f *checkpointFlag) String() string { return fmt.Sprint(len(*f)) }

func (f *checkpointFlag) Set(s string) error {
	c, err := parseCheckpoint(s)
	if err != nil {
		return err
	}
	*f = append(*f, c)
	return nil
}

// startCheckpoints starts the checkpointer when audit.checkpoint_channel is
// set and names a configured chat.
func startCheckpoints(bg *background, cfg config.Config, audit bot.Audit, fronts []frontend, log *slog.Logger) {
	if cfg.Audit.CheckpointChannel == "" {
		return
	}
	ch, ok := parseCheckpointChannel(cfg.Audit.CheckpointChannel)
	if !ok {
		log.Error("audit checkpoints off: bad audit.checkpoint_channel", "value", cfg.Audit.CheckpointChannel)
		return
	}
	chats := map[string]bot.Chat{}
	for _, f := range fronts {
		chats[f.Name()] = f.Chat()
	}
	if chats[ch.Chat] == nil {
		log.Error("audit checkpoints off: the checkpoint channel's chat is not configured", "chat", ch.Chat)
		return
	}
	every := cfg.Audit.CheckpointEvery.Std()
	if every <= 0 {
		every = time.Hour
	}
	c := &checkpointer{audit: audit, chat: func(name string) bot.Chat { return chats[name] }, channel: ch,
		every: every, tick: time.After, log: log}
	log.Info("audit checkpoints", "channel", cfg.Audit.CheckpointChannel, "every", every)
	bg.start(c.run)
}
