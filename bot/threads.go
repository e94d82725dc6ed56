package bot

import (
	"context"
	"time"

	"github.com/portcheck/portcheck/internal/ttl"
	"github.com/portcheck/portcheck/wire"
)

// Jobs carry no chat credentials. The adapter-private parts of a thread
// (Channel.Ref: a Slack response_url, a Discord interaction token;
// Thread.Ref: Discord's token and thread) stay on the bot side, kept by
// run id: the job and its result carry the thread without them, so a
// worker at any vantage, and whoever reads the Redis streams, never holds
// what it takes to post in the chat. A bot process posting a result of a
// run it did not open (its own died) finds them in Params.Threads.

// Threads keeps each run's thread as its chat gave it, by run id (memory
// in one process, a Redis hash with a TTL across bot processes).
type Threads interface {
	PutThread(ctx context.Context, run string, t wire.Thread, ttl time.Duration) error
	// Thread is the run's thread; ok is false when it is unknown (expired,
	// or kept by nobody).
	Thread(ctx context.Context, run string) (t wire.Thread, ok bool, err error)
}

// threadTTL is how long a run's thread is kept: its results can come back
// as late as a job's redeliveries allow, and a day covers them (claims of
// posted results last as long).
const threadTTL = 24 * time.Hour

// onWire is t as a job carries it: where it is, without the refs.
func onWire(t wire.Thread) wire.Thread {
	t.Ref, t.Channel.Ref = "", ""
	return t
}

// keepThread remembers run's thread when it has refs to keep. A failure
// (Redis down) is logged: this process still posts its own run's results.
func (b *Bot) keepThread(ctx context.Context, run string, t wire.Thread) {
	if t.Ref == "" && t.Channel.Ref == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ingressTimeout)
	defer cancel()
	if err := b.p.Threads.PutThread(ctx, run, t, threadTTL); err != nil {
		b.log.Warn("keeping the thread's chat refs failed; another bot process could not post this run", "run", run, "err", err)
	}
}

// threadOf is the thread a result of a run this process does not hold is
// posted in: as kept when the run was opened, else as the job carries it
// (a chat that needs no refs, Slack's threads, still gets it).
func (b *Bot) threadOf(ctx context.Context, j wire.Job) wire.Thread {
	t, ok, err := b.p.Threads.Thread(ctx, j.CommandID)
	if err != nil {
		b.log.Warn("reading the thread's chat refs failed", "run", j.CommandID, "err", err)
	}
	if !ok {
		return j.Thread
	}
	return t
}

// localThreads is the in-process Threads used when none is given.
type localThreads struct{ c *ttl.Cache[wire.Thread] }

func newLocalThreads() localThreads { return localThreads{ttl.New[wire.Thread](nil, 1<<16)} }

func (l localThreads) PutThread(_ context.Context, run string, t wire.Thread, d time.Duration) error {
	l.c.Set(run, t, d)
	return nil
}

func (l localThreads) Thread(_ context.Context, run string) (wire.Thread, bool, error) {
	t, ok := l.c.Get(run)
	return t, ok, nil
}
