package bot

import (
	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/wire"

	"context"
	"time"
)

// watchState is a watch on a thread: its interval, its end, and how to stop it.
type watchState struct {
	every   time.Duration
	until   time.Time
	stop    chan struct{}
	stopped bool
	by      string // who stopped it
}

// withWatchButtons adds the Stop button to a parent while ts's watch runs.
// Callers hold b.mu or own ts.
func withWatchButtons(ts *threadState, m Message) Message {
	if ts.watch == nil || ts.watch.stopped {
		return m
	}
	for _, bt := range m.Buttons {
		if bt.ID == stopButton.ID {
			return m
		}
	}
	m.Buttons = append(append([]Button(nil), m.Buttons...), stopButton)
	return m
}

// watchButtons is withWatchButtons taking b.mu.
func (b *Bot) watchButtons(ts *threadState, m Message) Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return withWatchButtons(ts, m)
}

// Watches is how many watches are running (the active watches gauge).
func (b *Bot) Watches() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, list := range b.watches {
		n += len(list)
	}
	return n
}

// scheduleWatch waits for the next round (or the end) in the background.
func (b *Bot) scheduleWatch(ts *threadState, round int) {
	w := ts.watch
	b.addBusy(1) // the pending round keeps Wait waiting even before it starts
	go func() {
		defer b.addBusy(-1)
		select {
		case <-b.p.After(w.every):
		case <-w.stop:
			return
		case <-b.ctx.Done():
			b.endWatch(context.Background(), ts, "portcheck is shutting down")
			return
		}
		ctx := b.ctx
		if !b.p.Now().Before(w.until) {
			b.endWatch(ctx, ts, "time is up")
			return
		}
		b.mu.Lock()
		stopped := w.stopped
		b.mu.Unlock()
		if stopped {
			return
		}
		if err := b.startRun(ctx, ts, VerbWatch, ts.by, round); err != nil {
			b.log.Error("watch round failed to start", "thread", ts.thread.ID, "err", err)
		}
	}()
}

// endWatch ends ts's watch once; why is said in the thread (empty: silently).
func (b *Bot) endWatch(ctx context.Context, ts *threadState, why string) {
	b.mu.Lock()
	w := ts.watch
	if w == nil || w.stopped {
		b.mu.Unlock()
		return
	}
	w.stopped = true
	close(w.stop)
	ck := channelKey(ts.thread.Channel)
	list := b.watches[ck]
	for i, x := range list {
		if x == ts {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(b.watches, ck)
	} else {
		b.watches[ck] = list
	}
	lastRun := ts.last
	b.mu.Unlock()
	defer b.addBusy(-1)
	if why == "" {
		return
	}
	if err := b.p.Audit.Append(context.WithoutCancel(ctx), audit.Record{
		At: b.p.Now(), Kind: audit.KindWatch, Chat: ts.thread.Channel.Chat, Team: ts.thread.Channel.Team,
		Channel: ts.thread.Channel.ID, User: userLabel(ts.by), Targets: targetStrings(ts.req.Targets), Why: "watch ended: " + why,
	}); err != nil {
		b.log.Error("audit of watch end failed", "err", err)
	}
	if why == "the verdict changed" {
		return // the change message said it
	}
	chat := b.chat(ts.chat)
	if chat == nil {
		return
	}
	m := Message{Status: StatusInfo, Text: "watch ended: " + why}
	if lastRun != nil {
		rs := lastRun.ordered()
		if len(rs) == 1 {
			m.Text += " — still " + outcomeWords(rs[0])
		}
		parent := ParentMessage(rs)
		parent.Text += " · watch ended: " + why
		b.update(ctx, chat, ts.thread, ts.by, wire.Job{}, parent)
	}
	b.reply(ctx, chat, ts.thread, ts.by, wire.Job{}, m)
}

// stop ends the watch of the thread it is typed in, or every watch in the channel.
func (b *Bot) stop(ctx context.Context, chat Chat, cmd Command) error {
	b.mu.Lock()
	var targets []*threadState
	if cmd.Thread != nil {
		if ts := b.threads[threadKey(*cmd.Thread)]; ts != nil && ts.watch != nil && !ts.watch.stopped {
			targets = append(targets, ts)
		}
	} else {
		targets = append(targets, b.watches[channelKey(cmd.Channel)]...)
	}
	b.mu.Unlock()
	if err := b.auditCommand(ctx, cmd, nil, audit.DecisionAnswer, "stop: "+count(len(targets), "watch", "watches")); err != nil {
		return err
	}
	if len(targets) == 0 {
		return b.ephemeral(ctx, chat, cmd, Message{Status: StatusInfo, Text: "no watch is running here"})
	}
	for _, ts := range targets {
		b.endWatch(ctx, ts, "stopped by "+displayName(cmd.User))
	}
	if cmd.Thread == nil {
		return b.ephemeral(ctx, chat, cmd, Message{Status: StatusInfo, Text: "stopped " + count(len(targets), "watch", "watches") + " in this channel"})
	}
	return nil
}
