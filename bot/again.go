package bot

import (
	"context"
	"strconv"
	"strings"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

// again re-runs a thread's check and says what changed.
func (b *Bot) again(ctx context.Context, chat Chat, cmd Command) error {
	if cmd.Thread == nil {
		if err := b.auditCommand(ctx, cmd, nil, audit.DecisionInvalid, "again outside a thread"); err != nil {
			return err
		}
		return b.ephemeral(ctx, chat, cmd, InputErrorMessage(&InputError{
			Msg: "again re-runs a check: type it in the check's thread (or press its Re-check button)", Example: "web01:443"}))
	}
	b.mu.Lock()
	ts := b.threads[threadKey(*cmd.Thread)]
	busy := ts != nil && ts.active != nil
	b.mu.Unlock()
	if ts == nil {
		ts = b.recoverThread(ctx, cmd)
	}
	if ts == nil {
		if err := b.auditCommand(ctx, cmd, nil, audit.DecisionInvalid, "unknown thread"); err != nil {
			return err
		}
		return b.ephemeral(ctx, chat, cmd, InputErrorMessage(&InputError{
			Msg: "I don't remember the check in this thread (portcheck may have restarted): type the target again", Example: "web01:443"}))
	}
	if busy {
		if err := b.auditCommand(ctx, cmd, targetStrings(ts.req.Targets), audit.DecisionDenied, "already running"); err != nil {
			return err
		}
		return b.ephemeral(ctx, chat, cmd, Message{Status: StatusInfo, Text: "this check is still running; its answer will land here"})
	}
	gateDone, why := b.admit(ctx, cmd, ts.req, ts.vantages) // admit.go
	if why != "" {
		return b.deny(ctx, chat, cmd, ts.req, why)
	}
	if err := b.auditCommand(ctx, cmd, targetStrings(ts.req.Targets), audit.DecisionQueued, "again"); err != nil {
		if gateDone != nil {
			gateDone()
		}
		return err
	}
	j := wire.Job{CommandID: cmd.ID}
	b.reply(ctx, chat, ts.thread, cmd.User, j, Message{Status: StatusRunning, Text: "re-checking, asked by " + displayName(cmd.User) + "…"})
	b.update(ctx, chat, ts.thread, cmd.User, j, b.watchButtons(ts, RunningMessage(ts.req.Targets, ts.vantages, 0, 0)))
	return b.startRunDone(ctx, ts, VerbAgain, cmd.User, 0, gateDone)
}

// recoverThread rebuilds a thread this process does not know (a restart, or
// another bot process opened it) from the audit trail: the command that
// opened it, re-parsed and re-vetted, and its last run's verdicts to compare.
func (b *Bot) recoverThread(ctx context.Context, cmd Command) *threadState {
	th := *cmd.Thread
	q := audit.Query{Chat: th.Channel.Chat, Channel: th.Channel.ID, Thread: th.ID}
	q.Kind, q.Limit = audit.KindThread, 1
	opened, err := b.p.Audit.Query(ctx, q)
	if err != nil || len(opened) == 0 {
		return nil
	}
	req, err := Parse(opened[0].Text, b.lim.Grammar)
	if err != nil || (req.Verb != VerbCheck && req.Verb != VerbWatch) {
		return nil
	}
	v, why := b.vet(ctx, cmd, req) // admit.go
	if why != "" {
		return nil // the denial is said when the check is typed again
	}
	req.Verb = VerbCheck // a recovered watch is re-checked once, not resumed
	ts := &threadState{chat: th.Channel.Chat, thread: th, req: req, vantages: v.vantages, addrs: v.addrs, dns: v.dns, by: cmd.User}
	q.Kind, q.Limit = audit.KindResult, 4096
	if recs, err := b.p.Audit.Query(ctx, q); err == nil && len(recs) > 0 {
		lastRun := recs[len(recs)-1].CommandID
		prev := &run{results: map[string]wire.Result{}, finished: recs[len(recs)-1].At}
		for _, rec := range recs {
			if rec.CommandID != lastRun {
				continue
			}
			host, port, ok := splitTargetPort(rec.Target)
			if !ok {
				continue
			}
			prev.results[rec.JobID] = wire.Result{
				Job:    wire.Job{ID: rec.JobID, Host: host, Port: port, Vantage: rec.Vantage},
				Report: checks.Report{Verdict: checks.Verdict(rec.Verdict)}, Error: rec.Why,
			}
		}
		ts.last = prev
	}
	b.mu.Lock()
	if known := b.threads[threadKey(th)]; known != nil { // recovered concurrently
		ts = known
	} else {
		b.remember(threadKey(th), ts)
	}
	b.mu.Unlock()
	return ts
}

// splitTargetPort undoes Job.HostPort: "web01:443", "[2001:db8::1]:443".
func splitTargetPort(s string) (string, int, bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", 0, false
	}
	port, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return "", 0, false
	}
	return strings.TrimSuffix(strings.TrimPrefix(s[:i], "["), "]"), port, true
}
