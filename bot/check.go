package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portcheck/portcheck/audit"
)

func (b *Bot) knownVantages(ctx context.Context) ([]string, error) {
	vs := []string{b.lim.Vantage}
	if b.p.Others == nil {
		return vs, nil
	}
	others, err := b.p.Others.Vantages(ctx)
	if err != nil {
		return vs, fmt.Errorf("bot: listing vantages: %w", err)
	}
	if b.p.Local == nil {
		vs = nil // no local worker: the local vantage is only known if a worker serves it
	}
	for _, v := range others {
		if !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	return vs, nil
}

// pickVantages resolves "from" against the vantages being served.
func (b *Bot) pickVantages(ctx context.Context, req Request) ([]string, string) {
	if len(req.Vantages) == 0 && !req.AllVantages {
		if b.p.Local != nil || b.p.Others == nil {
			return []string{b.lim.Vantage}, ""
		}
		req.Vantages = []string{b.lim.Vantage} // no local worker: someone must serve it
	}
	known, err := b.knownVantages(ctx)
	if err != nil {
		return nil, "the job queue is unavailable (cannot list vantages), try again in a minute"
	}
	if len(known) == 0 {
		return nil, "no worker serves any vantage right now: start `portcheck worker --vantage NAME` (see /portcheck vantages)"
	}
	if req.AllVantages {
		return b.withoutAgentVantages(ctx, known), ""
	}
	var unknown []string
	for _, v := range req.Vantages {
		if !slices.Contains(known, v) {
			unknown = append(unknown, v)
		}
	}
	if len(unknown) > 0 {
		if len(known) == 1 {
			return nil, fmt.Sprintf("no worker serves %s: only the local vantage is available (%s)", strings.Join(unknown, ", "), known[0])
		}
		return nil, fmt.Sprintf("no worker serves %s; available: %s", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return req.Vantages, ""
}

func (b *Bot) deny(ctx context.Context, chat Chat, cmd Command, req Request, why string) error {
	if err := b.auditCommand(ctx, cmd, targetStrings(req.Targets), audit.DecisionDenied, why); err != nil {
		return err
	}
	return b.ephemeral(ctx, chat, cmd, Message{Status: StatusInfo, Text: why})
}

// check handles a check or a watch: vantages, policy, audit, thread, jobs.
func (b *Bot) check(ctx context.Context, chat Chat, cmd Command, req Request) error {
	v, why := b.vet(ctx, cmd, req) // admit.go
	if why != "" {
		return b.deny(ctx, chat, cmd, req, why)
	}
	vantages := v.vantages
	ck := channelKey(cmd.Channel)
	if cmd.Thread != nil {
		// Typed in a thread (a chat mention): the check answers in that
		// thread and becomes its check, unless a watch runs there, which
		// `stop` and its button must still reach.
		b.mu.Lock()
		ts := b.threads[threadKey(*cmd.Thread)]
		watching := ts != nil && ts.watch != nil && !ts.watch.stopped
		b.mu.Unlock()
		if watching {
			return b.deny(ctx, chat, cmd, req, "a watch is running in this thread: stop it first, or ask in the channel for a thread of its own")
		}
	}
	if req.Verb == VerbWatch {
		b.mu.Lock()
		n := len(b.watches[ck])
		b.mu.Unlock()
		if n >= b.lim.WatchesPerChannel {
			return b.deny(ctx, chat, cmd, req, "this channel already has "+count(n, "watch", "watches")+
				" running (the limit); type `/portcheck stop` in a watch's thread to end one")
		}
	}
	gateDone, why := b.admit(ctx, cmd, req, vantages)
	if why != "" {
		return b.deny(ctx, chat, cmd, req, why)
	}
	if err := b.auditCommand(ctx, cmd, targetStrings(req.Targets), audit.DecisionQueued, ""); err != nil {
		if gateDone != nil {
			gateDone()
		}
		return err
	}
	return b.open(ctx, chat, opening{Cmd: cmd, Req: req, Vantages: vantages, Addrs: v.addrs, DNS: v.dns}, gateDone, nil)
}

// open posts the command's thread parent and starts its run. A chat that
// says "not now" (RetryLater) gets the parent queued in the Outbox and the
// user told through the command's other channel; queued is the Outbox's
// post when this is a later try, and then the error is the Outbox's to
// judge. gateDone is released when the run ends, or at once when the
// thread cannot be opened (a queued command holds no slot while it waits).
func (b *Bot) open(ctx context.Context, chat Chat, o opening, gateDone func(), queued *post) error {
	cmd, req, vantages := o.Cmd, o.Req, o.Vantages
	ck := channelKey(cmd.Channel)
	parent := RunningMessage(req.Targets, vantages, 0, 0)
	var w *watchState
	if req.Verb == VerbWatch {
		w = &watchState{every: req.Every, until: b.p.Now().Add(req.For), stop: make(chan struct{})}
		parent.Text = "watching " + describeTargets(req.Targets) + " from " + strings.Join(vantages, ", ") +
			" every " + shortDuration(req.Every) + " until " + w.until.Format("15:04") + "…"
		parent.Buttons = []Button{stopButton}
	}
	th, err := chat.Start(ctx, cmd.Channel, parent)
	if err != nil {
		b.p.Observe.ChatError(cmd.Channel.Chat, "start")
		if gateDone != nil {
			gateDone()
		}
		if queued != nil {
			return err
		}
		now := b.p.Now()
		if wait, ok := b.later(err, now, now); ok {
			p := post{Op: opOpen, Chat: cmd.Channel.Chat, By: cmd.User, CommandID: cmd.ID, Since: now, Open: &o}
			if qerr := b.queue(ctx, laneOfOpen(cmd.ID), p, now.Add(wait)); qerr == nil {
				b.tellLater(ctx, chat, o, wait, err)
				return nil
			} else {
				err = errors.Join(err, qerr)
			}
		}
		b.giveUp(ctx, chat, post{Op: opOpen, Chat: cmd.Channel.Chat, By: cmd.User, CommandID: cmd.ID, Open: &o}, err)
		return fmt.Errorf("bot: starting thread for %s: %w", cmd.ID, err)
	}
	if th.Channel.Chat == "" {
		th.Channel = cmd.Channel
	}
	// Link the thread to the command, so `again` works after a restart or
	// on another bot process.
	if err := b.p.Audit.Append(ctx, audit.Record{
		At: b.p.Now(), Kind: audit.KindThread, Chat: cmd.Channel.Chat, Team: cmd.Channel.Team, Channel: cmd.Channel.ID,
		User: userLabel(cmd.User), Text: cmd.Text, Targets: targetStrings(req.Targets), CommandID: cmd.ID, Thread: th.ID,
	}); err != nil {
		b.log.Error("audit of thread failed", "command_id", cmd.ID, "err", err)
	}
	ts := &threadState{chat: cmd.Channel.Chat, thread: th, req: req, vantages: vantages, addrs: o.Addrs, dns: o.DNS, by: cmd.User, watch: w}
	if ts.addrs == nil {
		ts.addrs = map[string][]string{}
	}
	if ts.dns == nil {
		ts.dns = map[string]dnsFailure{}
	}
	b.mu.Lock()
	b.remember(threadKey(th), ts)
	if w != nil {
		b.watches[ck] = append(b.watches[ck], ts)
		b.addBusyLocked(1) // the watch itself, until it ends
	}
	b.mu.Unlock()
	kind := VerbCheck
	if w != nil {
		kind = VerbWatch
	}
	if err := b.startRunDone(ctx, ts, kind, cmd.User, 0, gateDone); err != nil {
		if w != nil {
			b.endWatch(ctx, ts, "")
		}
		if queued != nil {
			// The thread is open: the queued post is made. The run's own
			// failure is in its thread (startRunDone answers it there).
			b.log.Error("starting a queued command's run", "command_id", cmd.ID, "err", err)
			return nil
		}
		return err
	}
	return nil
}

func shortDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// remember keeps ts for again/stop and forgets the oldest idle threads past
// Limits.Threads, so a long-running bot does not grow without bound.
// Callers hold b.mu.
func (b *Bot) remember(key string, ts *threadState) {
	if _, ok := b.threads[key]; !ok {
		b.order = append(b.order, key)
	}
	b.threads[key] = ts
	// Sweep in batches (down to the limit once it is exceeded by a quarter)
	// so remembering stays O(1) amortised.
	if len(b.threads) <= b.lim.Threads+b.lim.Threads/4 {
		return
	}
	kept := b.order[:0]
	for _, k := range b.order {
		old, ok := b.threads[k]
		if !ok {
			continue
		}
		if len(b.threads) > b.lim.Threads && k != key && old.active == nil && (old.watch == nil || old.watch.stopped) {
			delete(b.threads, k)
			continue
		}
		kept = append(kept, k)
	}
	b.order = kept
}
