package bot

import (
	"context"

	"github.com/portcheck/portcheck/wire"
)

// What a terminal session (the shell) asks of the bot about its own
// channel: what is still going on when the user presses Ctrl-C or leaves,
// and how to end it. Chats do not need these: their checks finish on their
// own and their watches end with `stop`.

// Busy counts the checks in flight (checks and re-checks; a watch's rounds
// are the watch's) and the watches running in channel c.
func (b *Bot) Busy(c wire.Channel) (checks, watches int) {
	ck := channelKey(c)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.runs {
		if r.kind != VerbWatch && channelKey(r.ts.thread.Channel) == ck {
			checks++
		}
	}
	return checks, len(b.watches[ck])
}

// CancelChecks ends the checks in flight in channel c at once: every job
// not answered yet is answered with why, so each thread completes now and
// says so. A worker's late result for a cancelled job is dropped as a
// duplicate (the job is already posted). It returns how many checks were
// cancelled.
func (b *Bot) CancelChecks(ctx context.Context, c wire.Channel, why string) int {
	ck := channelKey(c)
	b.mu.Lock()
	var missing []wire.Job
	n := 0
	for _, r := range b.runs {
		if r.kind == VerbWatch || channelKey(r.ts.thread.Channel) != ck {
			continue
		}
		n++
		for _, j := range r.jobs {
			if _, ok := r.results[j.ID]; !ok {
				missing = append(missing, j)
			}
		}
	}
	b.mu.Unlock()
	for _, j := range missing {
		b.handleResult(ctx, wire.Result{Job: j, Error: why, Finished: b.p.Now()})
	}
	return n
}

// StopWatches ends every watch in channel c, saying why in each thread,
// and returns how many it stopped.
func (b *Bot) StopWatches(ctx context.Context, c wire.Channel, why string) int {
	b.mu.Lock()
	list := append([]*threadState(nil), b.watches[channelKey(c)]...)
	b.mu.Unlock()
	for _, ts := range list {
		b.endWatch(ctx, ts, why)
	}
	return len(list)
}
