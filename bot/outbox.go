package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/portcheck/portcheck/internal/ttl"
	"github.com/portcheck/portcheck/wire"
)

// A post the chat refuses for now (Slack's 429 with a Retry-After longer
// than the adapter waits in line, a 5xx or a broken connection that
// outlasted its quick retries) is not dropped: it goes to the Outbox, in
// its thread's lane behind anything already waiting there, and is tried
// again when due, honouring Retry-After, backing off, for
// Limits.RetryPostsFor. The command's other channel (Slack's response_url,
// Discord's interaction follow-up: Chat.Ephemeral) tells the user when the
// thread cannot be opened yet, and again when portcheck gives up on a post.

// RetryLater is how a Chat says "not now": the post may succeed later.
// After is how long the chat asked to wait (Retry-After); 0 lets the bot
// back off on its own. Any other error from a Chat is final.
type RetryLater struct {
	After time.Duration
	Err   error
}

func (e *RetryLater) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
	}
	return e.Err.Error()
}

func (e *RetryLater) Unwrap() error { return e.Err }

// ErrUserTold marks a Chat's error whose user the chat has already told
// what to do (Slack: "invite me to the channel"): the bot adds no note.
var ErrUserTold = errors.New("the user has been told")

// Outbox keeps posts a chat refused for now, in lanes (one per thread, or
// per command whose thread is still to be opened), in order, until they
// are due: in memory in one process (the default), in Redis across bot
// processes, so a post outlives the process that queued it. A post is
// opaque bytes to it.
type Outbox interface {
	// Append adds post at the end of lane; a lane that was empty becomes
	// due at due (a lane already waiting keeps its time).
	Append(ctx context.Context, lane string, post []byte, due time.Time) error
	// Take returns the first post of a lane that is due at now and makes
	// the lane due again only after lease, so one process works on it at
	// a time (and another takes it over should this one die). ok is false
	// when nothing is due.
	Take(ctx context.Context, now time.Time, lease time.Duration) (lane string, post []byte, ok bool, err error)
	// Done removes the lane's first post; the rest are due at next. An
	// empty lane goes away.
	Done(ctx context.Context, lane string, next time.Time) error
	// Later keeps the lane's first post and makes the lane due at due.
	Later(ctx context.Context, lane string, due time.Time) error
}

// The kinds of queued post.
const (
	opOpen   = "open"   // the thread parent; the command runs once it is posted
	opReply  = "reply"  // a reply in the thread
	opUpdate = "update" // an edit of the parent
)

// post is one queued post, as the Outbox keeps it. The thread keeps its
// chat refs (the chat needs them to post): the Outbox is bot-side state,
// like Threads, never on the queue workers read.
type post struct {
	Op        string      `json:"op"`
	Chat      string      `json:"chat"`
	Thread    wire.Thread `json:"thread,omitzero"`
	Msg       Message     `json:"msg,omitzero"`
	By        wire.User   `json:"by,omitzero"`
	CommandID string      `json:"command_id,omitempty"`
	JobID     string      `json:"job_id,omitempty"`
	Since     time.Time   `json:"since"`          // first refused: given up RetryPostsFor later
	Open      *opening    `json:"open,omitempty"` // opOpen: the command to run
}

// opening is an admitted command whose thread is still to be opened.
type opening struct {
	Cmd      Command               `json:"cmd"`
	Req      Request               `json:"req"`
	Vantages []string              `json:"vantages"`
	Addrs    map[string][]string   `json:"addrs,omitempty"`
	DNS      map[string]dnsFailure `json:"dns,omitempty"`
}

// outboxLease is how long a taken post is left to its taker; a post
// attempt is one chat call (the adapters bound theirs well below this).
const outboxLease = 2 * time.Minute

// firstBackoff is the wait after a refusal without Retry-After; each wait
// is then as long as the post has been waiting, up to maxBackoff.
const (
	firstBackoff = 2 * time.Second
	maxBackoff   = 2 * time.Minute
)

func laneOfOpen(cmdID string) string { return "open\x00" + cmdID }

// later says whether err is a "not now" and how long to wait before the
// next try of a post refused since since: the chat's Retry-After, else as
// long as the post has waited (at least firstBackoff, at most maxBackoff),
// the last try at RetryPostsFor. ok false: give up (a final error, time is
// up, or the chat asked to wait past it).
func (b *Bot) later(err error, since, now time.Time) (wait time.Duration, ok bool) {
	var rl *RetryLater
	if !errors.As(err, &rl) {
		return 0, false
	}
	deadline := since.Add(b.lim.RetryPostsFor)
	if rl.After > 0 {
		return rl.After, !now.Add(rl.After).After(deadline)
	}
	if !now.Before(deadline) {
		return 0, false
	}
	return min(max(firstBackoff, now.Sub(since)), maxBackoff, deadline.Sub(now)), true
}

// queue puts p in lane's queue, due at due.
func (b *Bot) queue(ctx context.Context, lane string, p post, due time.Time) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("bot: encoding a queued post: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ingressTimeout)
	defer cancel()
	if err := b.p.Outbox.Append(ctx, lane, raw, due); err != nil {
		return fmt.Errorf("bot: queueing a post: %w", err)
	}
	b.mu.Lock()
	b.waiting[lane]++
	b.mu.Unlock()
	b.log.Info("post queued for later", "op", p.Op, "chat", p.Chat, "command_id", p.CommandID, "job_id", p.JobID, "due", due)
	return nil
}

// send posts a reply or an edit of the parent now, or queues it behind the
// thread's waiting posts; a "not now" queues it, a final error gives up.
func (b *Bot) send(ctx context.Context, chat Chat, p post) {
	lane := threadKey(p.Thread)
	now := b.p.Now()
	p.Since = now
	b.mu.Lock()
	behind := b.waiting[lane] > 0
	b.mu.Unlock()
	if behind {
		if err := b.queue(ctx, lane, p, now); err == nil {
			return
		}
	}
	err := b.attempt(ctx, chat, p)
	if err == nil {
		return
	}
	b.p.Observe.ChatError(p.Thread.Channel.Chat, p.Op)
	if wait, ok := b.later(err, now, now); ok {
		if qerr := b.queue(ctx, lane, p, now.Add(wait)); qerr == nil {
			return
		} else {
			err = errors.Join(err, qerr)
		}
	}
	b.giveUp(ctx, chat, p, err)
}

// attempt makes one try of a reply or an edit.
func (b *Bot) attempt(ctx context.Context, chat Chat, p post) error {
	switch p.Op {
	case opReply:
		return chat.Reply(ctx, p.Thread, p.Msg)
	case opUpdate:
		return chat.Update(ctx, p.Thread, p.Msg)
	}
	return fmt.Errorf("bot: unknown post %q", p.Op)
}

// outboxLoop tries the queued posts that are due, every OutboxTick.
func (b *Bot) outboxLoop(ctx context.Context) {
	for {
		select {
		case <-b.p.After(b.lim.OutboxTick):
		case <-ctx.Done():
			return
		}
		for ctx.Err() == nil {
			lane, raw, ok, err := b.p.Outbox.Take(ctx, b.p.Now(), outboxLease)
			if err != nil {
				if ctx.Err() == nil {
					b.log.Warn("reading queued posts", "err", err)
				}
				break
			}
			if !ok {
				break
			}
			b.retry(ctx, lane, raw)
		}
	}
}

// retry makes the next try of a queued post.
func (b *Bot) retry(ctx context.Context, lane string, raw []byte) {
	var p post
	if err := json.Unmarshal(raw, &p); err != nil {
		b.log.Error("dropping an unreadable queued post", "lane", lane, "err", err)
		b.outboxDone(ctx, lane)
		return
	}
	now := b.p.Now()
	chat := b.chat(p.Chat)
	var err error
	switch {
	case chat == nil:
		// Queued by a bot process with a chat this one has not: leave it
		// to one that has, until it is given up on.
		err = &RetryLater{After: time.Minute, Err: fmt.Errorf("no chat adapter named %q in this process", p.Chat)}
	case p.Op == opOpen:
		err = b.open(ctx, chat, *p.Open, nil, &p)
	default:
		err = b.attempt(ctx, chat, p)
	}
	if err == nil {
		b.log.Info("queued post made", "op", p.Op, "chat", p.Chat, "command_id", p.CommandID, "job_id", p.JobID, "waited", now.Sub(p.Since))
		b.outboxDone(ctx, lane)
		return
	}
	if p.Op != opOpen { // open counts its own ("start")
		b.p.Observe.ChatError(p.Chat, p.Op)
	}
	if wait, ok := b.later(err, p.Since, now); ok {
		if lerr := b.p.Outbox.Later(ctx, lane, now.Add(wait)); lerr != nil {
			b.log.Warn("rescheduling a queued post", "lane", lane, "err", lerr)
		}
		return
	}
	b.outboxDone(ctx, lane)
	b.giveUp(ctx, chat, p, err)
}

func (b *Bot) outboxDone(ctx context.Context, lane string) {
	if err := b.p.Outbox.Done(ctx, lane, b.p.Now()); err != nil {
		b.log.Warn("removing a queued post", "lane", lane, "err", err)
	}
	b.mu.Lock()
	if b.waiting[lane] > 1 {
		b.waiting[lane]--
	} else {
		delete(b.waiting, lane)
	}
	b.mu.Unlock()
}

// giveUp records a post that will not be made and tells the user through
// the command's other channel (once per thread: one broken thread is one
// note, not one per port). The note says what was lost and what to do,
// not the chat's error, which the log and the audit trail keep (it can
// quote the chat's own URLs).
func (b *Bot) giveUp(ctx context.Context, chat Chat, p post, err error) {
	waited := time.Duration(0)
	if !p.Since.IsZero() {
		waited = b.p.Now().Sub(p.Since).Round(time.Second)
	}
	if waited > 0 {
		err = fmt.Errorf("gave up after %s: %w", waited, err)
	}
	ch, user := p.Thread.Channel, p.By
	if p.Open != nil {
		ch, user = p.Open.Cmd.Channel, p.Open.Cmd.User
	}
	b.auditPostError(ctx, ch, user, p.CommandID, p.JobID, err)
	if chat == nil || errors.Is(err, ErrUserTold) || !b.told.Add(laneKeyOf(p), struct{}{}, threadTTL) {
		return
	}
	tried := "The chat refused the post."
	if waited > 0 {
		tried = "portcheck tried for " + shortDuration(waited) + "; the chat kept refusing its posts."
	}
	note := Message{Status: StatusError, Text: "portcheck could not post in the thread of your check",
		Blocks: []Block{{Kind: BlockText, Text: tried + " Every result is in `/portcheck history`."}}}
	if p.Open != nil {
		note = Message{Status: StatusError, Text: "Your check of " + describeTargets(p.Open.Req.Targets) + " did not run: its thread could not be opened",
			Blocks: []Block{{Kind: BlockText, Text: tried + " Try again in a few minutes."}}}
	}
	if eerr := chat.Ephemeral(context.WithoutCancel(ctx), ch, user, note); eerr != nil {
		b.log.Warn("telling the user a post failed", "command_id", p.CommandID, "err", eerr)
	}
}

func laneKeyOf(p post) string {
	if p.Open != nil {
		return laneOfOpen(p.Open.Cmd.ID)
	}
	return threadKey(p.Thread)
}

// tellLater says, through the command's other channel, that its thread
// could not be opened yet and when it will be tried again.
func (b *Bot) tellLater(ctx context.Context, chat Chat, o opening, wait time.Duration, err error) {
	why := "The chat is not taking portcheck's posts right now: portcheck tries again in " + shortDuration(wait.Round(time.Second))
	var rl *RetryLater
	if errors.As(err, &rl) && rl.After > 0 {
		why = "The chat asked portcheck to wait " + shortDuration(rl.After.Round(time.Second)) + ": the thread opens then"
	}
	note := Message{Status: StatusInfo, Text: "Your check of " + describeTargets(o.Req.Targets) + " waits: its thread cannot be opened yet",
		Blocks: []Block{{Kind: BlockText, Text: why + ", and portcheck keeps trying for " + shortDuration(b.lim.RetryPostsFor) + "."}}}
	if eerr := chat.Ephemeral(context.WithoutCancel(ctx), o.Cmd.Channel, o.Cmd.User, note); eerr != nil {
		b.log.Warn("telling the user the thread waits", "command_id", o.Cmd.ID, "err", eerr)
	}
}

// localOutbox is the in-process Outbox used when none is given.
type localOutbox struct {
	mu    sync.Mutex
	lanes map[string]*localLane
}

type localLane struct {
	posts [][]byte
	due   time.Time
}

func newLocalOutbox() *localOutbox { return &localOutbox{lanes: map[string]*localLane{}} }

func (o *localOutbox) Append(_ context.Context, lane string, p []byte, due time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.lanes[lane]
	if l == nil {
		l = &localLane{due: due}
		o.lanes[lane] = l
	}
	l.posts = append(l.posts, p)
	return nil
}

func (o *localOutbox) Take(_ context.Context, now time.Time, lease time.Duration) (string, []byte, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var first string
	for name, l := range o.lanes {
		if !l.due.After(now) && (first == "" || l.due.Before(o.lanes[first].due)) {
			first = name
		}
	}
	if first == "" {
		return "", nil, false, nil
	}
	l := o.lanes[first]
	l.due = now.Add(lease)
	return first, l.posts[0], true, nil
}

func (o *localOutbox) Done(_ context.Context, lane string, next time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.lanes[lane]
	if l == nil {
		return nil
	}
	if l.posts = l.posts[1:]; len(l.posts) == 0 {
		delete(o.lanes, lane)
	} else {
		l.due = next
	}
	return nil
}

func (o *localOutbox) Later(_ context.Context, lane string, due time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if l := o.lanes[lane]; l != nil {
		l.due = due
	}
	return nil
}

// told remembers the threads whose user has been told a post failed.
func newTold() *ttl.Cache[struct{}] { return ttl.New[struct{}](nil, 1<<16) }
