package bot

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

// run is one execution of a check: the command's, an again, or one round of
// a watch. Its id is every job's CommandID.
type run struct {
	id          string
	kind        Verb // VerbCheck, VerbAgain, VerbWatch
	round       int  // watch: 0 for the first check
	ts          *threadState
	by          wire.User
	jobs        []wire.Job
	results     map[string]wire.Result
	quarter     int // grouped runs: last progress quarter shown on the parent
	started     time.Time
	prev        *run
	finished    time.Time
	done        func() // the Gate's, called once when the run completes
	hostJobs    int    // of jobs, the host-local ones (last): not counted as checks
	hostWaiting bool   // the external jobs are in; waitForAgents runs
}

func (r *run) detailed(lim Limits) bool { return len(r.jobs)-r.hostJobs <= lim.DetailPorts }

func (r *run) ordered() []wire.Result {
	out := make([]wire.Result, 0, len(r.results))
	for _, j := range r.jobs {
		if res, ok := r.results[j.ID]; ok {
			out = append(out, res)
		}
	}
	return out
}

// startRun enqueues one job per (target port, vantage) for ts.
func (b *Bot) startRun(ctx context.Context, ts *threadState, kind Verb, by wire.User, round int) error {
	return b.startRunDone(ctx, ts, kind, by, round, nil)
}

func (b *Bot) startRunDone(ctx context.Context, ts *threadState, kind Verb, by wire.User, round int, done func()) error {
	var refused map[string]string
	if kind == VerbAgain || round > 0 {
		refused = b.revet(ctx, ts, by)
	}
	id := b.p.NewID()
	now := b.p.Now()
	r := &run{id: id, kind: kind, round: round, ts: ts, by: by, results: map[string]wire.Result{}, started: now, done: done}
	var queued []wire.Job
	var local []wire.Result                // jobs answered without a worker (see dnsFailure)
	hj := b.hostJobs(ctx, ts, kind, round) // asks the agents registry: before the lock
	b.mu.Lock()
	for _, t := range ts.req.Targets {
		for _, p := range t.Ports {
			for _, v := range ts.vantages {
				j := wire.Job{
					ID: id + "." + strconv.Itoa(len(r.jobs)+1), CommandID: id, Target: t.Input, Host: t.Host, Port: p,
					Scheme: t.Scheme, Addrs: ts.addrs[t.Input], Vantage: v, Timeout: b.lim.JobTimeout,
					Thread: onWire(ts.thread), EnqueuedAt: now, ReplyTo: b.p.Instance,
				}
				r.jobs = append(r.jobs, j)
				if why, ok := refused[t.Input]; ok {
					local = append(local, wire.Result{Job: j, Error: why, Finished: now})
				} else if f, ok := ts.dns[t.Input]; ok {
					local = append(local, wire.Result{Job: j, Report: dnsReport(j, f), Finished: now})
				} else {
					queued = append(queued, j)
				}
			}
		}
	}
	for _, j := range hj {
		_, dns := ts.dns[j.Target]
		if _, no := refused[j.Target]; no || dns {
			continue
		}
		j.ID, j.CommandID, j.Thread, j.EnqueuedAt, j.ReplyTo = id+"."+strconv.Itoa(len(r.jobs)+1), id, onWire(ts.thread), now, b.p.Instance
		r.jobs = append(r.jobs, j)
		queued = append(queued, j)
		r.hostJobs++
	}
	r.prev = ts.last
	ts.active = r
	b.runs[id] = r
	b.addBusyLocked(1)
	b.mu.Unlock()
	defer b.answerLocally(ctx, local)
	b.keepThread(ctx, id, ts.thread) // threads.go: the chat's refs stay on this side
	if kind != VerbWatch && len(queued) > 0 {
		go b.stillListening(context.WithoutCancel(ctx), r)
	}
	for i, j := range queued {
		j.RunJobs = len(r.jobs) // any bot process can tell when the run is complete (orphan.go)
		err := b.p.Queue.Enqueue(ctx, j)
		if err == nil {
			b.p.Observe.JobQueued(j.Vantage)
		}
		if err != nil {
			// The jobs already queued will come back; the rest are answered
			// here as failures so the thread still completes.
			b.log.Error("enqueue failed", "job_id", j.ID, "err", err)
			for _, rest := range queued[i:] {
				b.handleResult(context.WithoutCancel(ctx), wire.Result{Job: rest, Error: queueUnavailable + err.Error(), Finished: b.p.Now()})
			}
			return fmt.Errorf("bot: enqueue %s: %w", j.ID, err)
		}
	}
	return nil
}

// Run consumes results and posts them until ctx is done; with Params.Local
// it also runs the local worker pool. On shutdown it stops watches, lets the
// workers finish or interrupt their jobs, posts what they report, and says
// in any thread still waiting that its check was interrupted.
func (b *Bot) Run(ctx context.Context) error {
	defer b.cancel()
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer wcancel()
	var workers sync.WaitGroup
	if b.p.Local != nil {
		workers.Add(1)
		go func() { defer workers.Done(); b.p.Local.Run(wctx) }()
	}
	rctx, rcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer rcancel()
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); b.resultsLoop(rctx) }()
	outDone := make(chan struct{})
	go func() { defer close(outDone); b.outboxLoop(rctx) }() // outbox.go

	<-ctx.Done()
	b.cancel() // watches stop scheduling
	wcancel()
	workers.Wait()
	drain, stop := context.WithTimeout(context.Background(), b.lim.DrainTimeout)
	_ = b.Wait(drain)
	stop()
	rcancel()
	<-loopDone
	<-outDone
	if !b.p.KeepPendingOnShutdown {
		b.interruptPending()
	}
	return nil
}

// resultsLoop reads results and posts them. Posting is serial within a
// thread (its messages must stay in order) but threads proceed in parallel,
// so one slow or rate-limited channel does not hold up every other answer.
func (b *Bot) resultsLoop(ctx context.Context) {
	type lane struct {
		ch      chan wire.ResultDelivery
		pending int
	}
	var (
		mu    sync.Mutex
		lanes = map[string]*lane{}
		wg    sync.WaitGroup
	)
	defer wg.Wait()
	// Posts already under way finish even as the loop stops.
	post := context.WithoutCancel(ctx)
	for {
		d, err := b.p.Results.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b.log.Error("reading results", "err", err)
			select {
			case <-time.After(time.Second): // a store hiccup: do not spin
			case <-ctx.Done():
				return
			}
			continue
		}
		key := threadKey(d.Result().Job.Thread)
		mu.Lock()
		l, ok := lanes[key]
		if !ok {
			l = &lane{ch: make(chan wire.ResultDelivery, 16)}
			lanes[key] = l
			wg.Add(1)
			go func() {
				defer wg.Done()
				for d := range l.ch {
					b.handleResult(post, d.Result())
					if err := d.Ack(post); err != nil {
						b.log.Error("ack of result failed", "job_id", d.Result().Job.ID, "err", err)
					}
					mu.Lock()
					l.pending--
					if l.pending == 0 { // idle: the next result starts a new lane
						delete(lanes, key)
						mu.Unlock()
						return
					}
					mu.Unlock()
				}
			}()
		}
		l.pending++ // counted under mu, so the lane cannot retire before reading it
		mu.Unlock()
		l.ch <- d
	}
}

// interruptPending tells threads whose jobs will never come back.
func (b *Bot) interruptPending() {
	b.mu.Lock()
	var pending []*run
	for _, r := range b.runs {
		pending = append(pending, r)
	}
	b.mu.Unlock()
	sort.Slice(pending, func(i, j int) bool { return pending[i].started.Before(pending[j].started) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, r := range pending {
		b.mu.Lock()
		var missing []wire.Job
		for _, j := range r.jobs {
			if _, ok := r.results[j.ID]; !ok {
				missing = append(missing, j)
			}
		}
		b.mu.Unlock()
		for _, j := range missing {
			b.handleResult(ctx, wire.Result{Job: j, Error: "interrupted: portcheck stopped before this check ran", Finished: b.p.Now()})
		}
	}
}

// handleResult posts one result: progress lines, evidence, the parent's
// verdict once the run is complete, what changed (again, watch).
func (b *Bot) handleResult(ctx context.Context, res wire.Result) {
	res = b.redact(res)
	j := res.Job
	chat := b.chat(j.Thread.Channel.Chat)
	if chat == nil {
		b.log.Error("no chat to post a result in", "chat", j.Thread.Channel.Chat, "job_id", j.ID)
		b.auditPostError(ctx, j.Thread.Channel, wire.User{}, j.CommandID, j.ID, fmt.Errorf("no chat adapter named %q", j.Thread.Channel.Chat))
		return
	}
	b.mu.Lock()
	r := b.runs[j.CommandID]
	b.mu.Unlock()

	if res.Progress != "" {
		if r == nil || !r.detailed(b.lim) || j.HostLocal {
			return
		}
		if ok, _ := b.p.Claims.Claim(ctx, "progress:"+j.ID, 24*time.Hour); ok {
			b.reply(ctx, chat, j.Thread, r.by, j, Message{Status: StatusRunning, Text: res.Progress})
		}
		return
	}
	first, err := b.p.Claims.Claim(ctx, "posted:"+j.ID, 24*time.Hour)
	if err != nil {
		b.log.Error("dedupe of result failed; posting anyway", "job_id", j.ID, "err", err)
		first = true
	}
	if !first {
		b.log.Info("duplicate result ignored", "job_id", j.ID)
		return
	}
	by := wire.User{}
	if r != nil {
		by = r.by
	}
	b.auditResult(ctx, res, by)

	if r == nil {
		// A result for a run this process does not know (another bot
		// process started it, or this one restarted): post it on its own,
		// in the thread as its chat gave it (threads.go).
		res.Job.Thread = b.threadOf(ctx, j)
		b.postOrphan(ctx, chat, res, by) // orphan.go
		return
	}

	b.mu.Lock()
	r.results[j.ID] = res
	done := len(r.results) == len(r.jobs)
	hostWait := !done && b.armHostWait(r) // only host agents left: they get Limits.AgentWait more
	quarter := 0
	if !done && !r.detailed(b.lim) {
		if q := 4 * len(r.results) / len(r.jobs); q > r.quarter {
			r.quarter, quarter = q, q
		}
	}
	b.mu.Unlock()
	if hostWait {
		go b.waitForAgents(context.WithoutCancel(ctx), r)
	}

	ts := r.ts
	evidence := r.kind != VerbWatch || r.round == 0
	if evidence && r.detailed(b.lim) && !j.HostLocal { // merged with the external results at the end
		b.reply(ctx, chat, ts.thread, r.by, j, EvidenceMessage(res))
	}
	if quarter > 0 && r.kind != VerbWatch {
		b.update(ctx, chat, ts.thread, r.by, j, b.watchButtons(ts, RunningMessage(ts.req.Targets, ts.vantages, len(r.results), len(r.jobs))))
	}
	b.chargeTrace(ctx, r, res) // tracecost.go
	if done {
		b.finishRun(ctx, chat, r)
	}
}

// stillListening edits the parent of a run still waiting after
// Limits.StillListening: a silent port is listened to for a few seconds
// (a rate-limited router answers the SYN's retransmission, a gateway's
// host-unreachable comes after its ARP gives up), and the thread says so
// rather than looking stuck.
//
// A real timer, not Params.After: the edit is cosmetic, and a test's
// stepped clock hands each of its ticks to one waiter only (the outbox,
// the watches), which this must not take.
func (b *Bot) stillListening(ctx context.Context, r *run) {
	t := time.NewTimer(b.lim.StillListening)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return
	}
	b.mu.Lock()
	waiting := r.finished.IsZero() && r.ts.active == r && len(r.results) < len(r.jobs)-r.hostJobs
	done, total := len(r.results), len(r.jobs)
	b.mu.Unlock()
	if !waiting {
		return
	}
	ts := r.ts
	chat := b.chat(ts.thread.Channel.Chat)
	if chat == nil {
		return
	}
	m := RunningMessage(ts.req.Targets, ts.vantages, done, total)
	m.Text += " no answer yet, still listening (a silent port gets a few seconds: a rate-limited router answers the SYN's retransmission, a gateway's late ICMP comes after ~3 s)"
	b.update(ctx, chat, ts.thread, r.by, r.jobs[0], b.watchButtons(ts, m))
}

// reply and update post now, or queue the post for later (outbox.go).
func (b *Bot) reply(ctx context.Context, chat Chat, t wire.Thread, by wire.User, j wire.Job, m Message) {
	b.send(ctx, chat, post{Op: opReply, Chat: t.Channel.Chat, Thread: t, Msg: m, By: by, CommandID: j.CommandID, JobID: j.ID})
}

func (b *Bot) update(ctx context.Context, chat Chat, t wire.Thread, by wire.User, j wire.Job, m Message) {
	b.send(ctx, chat, post{Op: opUpdate, Chat: t.Channel.Chat, Thread: t, Msg: m, By: by, CommandID: j.CommandID, JobID: j.ID})
}

func (b *Bot) auditResult(ctx context.Context, res wire.Result, by wire.User) {
	j, rep := res.Job, res.Report
	rec := audit.Record{
		At: res.Finished, Kind: audit.KindResult, Chat: j.Thread.Channel.Chat, Team: j.Thread.Channel.Team,
		Channel: j.Thread.Channel.ID, User: userLabel(by), CommandID: j.CommandID, JobID: j.ID,
		Target: j.HostPort(), Address: probedAddresses(rep), Vantage: j.Vantage, Verdict: string(rep.Verdict),
		Reason: string(rep.Reason), ElapsedMS: rep.ElapsedMS, Why: res.Error, Thread: j.Thread.ID,
	}
	if rec.At.IsZero() {
		rec.At = b.p.Now()
	}
	if err := b.p.Audit.Append(context.WithoutCancel(ctx), rec); err != nil {
		b.log.Error("audit of result failed", "job_id", j.ID, "err", err)
	}
}

// probedAddresses lists every address a connect was tried on, the one the
// verdict is about first.
func probedAddresses(rep checks.Report) string {
	addrs := []string{}
	if rep.Address != "" {
		addrs = append(addrs, rep.Address)
	}
	for _, o := range rep.Others {
		if o.Address != "" && !slices.Contains(addrs, o.Address) {
			addrs = append(addrs, o.Address)
		}
	}
	return strings.Join(addrs, ", ")
}

// outcome is what "changed" compares: the verdict, or failure.
func outcome(r wire.Result) string {
	if r.Error != "" && r.Report.Verdict == "" {
		return "error"
	}
	return string(r.Report.Verdict)
}

func jobKey(j wire.Job) string { return j.Host + "\x00" + strconv.Itoa(j.Port) + "\x00" + j.Vantage }

func diff(prev *run, now []wire.Result) (changes []change) {
	if prev == nil {
		return nil
	}
	before := map[string]wire.Result{}
	for _, r := range prev.results {
		before[jobKey(r.Job)] = r
	}
	for _, r := range now {
		if p, ok := before[jobKey(r.Job)]; ok && outcome(p) != outcome(r) {
			changes = append(changes, change{job: r.Job, from: p, to: r})
		}
	}
	return changes
}

// finishRun posts a complete run and schedules what follows (a watch's next round).
func (b *Bot) finishRun(ctx context.Context, chat Chat, r *run) {
	ts := r.ts
	b.mu.Lock()
	rs, host := splitHost(r.ordered())
	b.mu.Unlock()
	last := r.jobs[len(r.jobs)-1]
	parent := ParentMessage(rs)
	parent, compared := b.mergeVantages(rs, parent) // several vantages: the merged verdict (differential.go)
	b.mu.Lock()
	parent = withWatchButtons(ts, parent) // a watch still running keeps its Stop button
	b.mu.Unlock()
	now := b.p.Now()
	// verdict posts what every first answer of a run posts: the parent's
	// verdict, the vantages compared, the grouped reply of a big run, and
	// the host agents' notes.
	verdict := func() {
		b.update(ctx, chat, ts.thread, r.by, last, parent)
		if compared != nil {
			b.reply(ctx, chat, ts.thread, r.by, last, *compared)
		}
		if !r.detailed(b.lim) {
			b.reply(ctx, chat, ts.thread, r.by, last, GroupedMessage(rs))
		} else {
			for _, m := range b.hostMessages(rs, host, r.jobs) {
				b.reply(ctx, chat, ts.thread, r.by, last, m)
			}
		}
	}
	ended := ""
	switch r.kind {
	case VerbCheck:
		verdict()
	case VerbAgain:
		verdict()
		since := r.started
		if r.prev != nil {
			since = r.prev.finished
		}
		b.reply(ctx, chat, ts.thread, r.by, last, changeMessage(diff(r.prev, rs), rs, since, now))
	case VerbWatch:
		changes := diff(r.prev, rs)
		switch {
		case b.ctx.Err() != nil && r.round > 0:
			// Interrupted by shutdown: not a change of the target's verdict.
			ended = "portcheck is shutting down"
		case r.round == 0:
			parent.Text += " · watching every " + shortDuration(ts.watch.every) + " until " + ts.watch.until.Format("15:04")
			verdict()
		case len(changes) > 0:
			b.reply(ctx, chat, ts.thread, r.by, last, changeMessage(changes, rs, r.prev.finished, now))
			if len(changes) <= b.lim.DetailPorts {
				for _, c := range changes {
					b.reply(ctx, chat, ts.thread, r.by, c.job, EvidenceMessage(c.to))
				}
			}
			parent.Text += " · watch ended: changed at " + now.Format("15:04")
			parent.Buttons = slices.DeleteFunc(slices.Clone(parent.Buttons), func(bt Button) bool { return bt.ID == stopButton.ID })
			b.update(ctx, chat, ts.thread, r.by, last, parent)
			ended = "changed"
		}
	}
	b.mu.Lock()
	r.finished = now
	if ended == "" || ended == "changed" { // an interrupted round tells nothing about the target
		ts.last = r
	}
	if ts.active == r {
		ts.active = nil
	}
	delete(b.runs, r.id)
	b.mu.Unlock()
	if r.done != nil {
		r.done()
	}
	if r.kind == VerbWatch {
		if ended == "changed" {
			b.endWatch(ctx, ts, "the verdict changed")
		} else if ended != "" {
			b.endWatch(ctx, ts, ended)
		} else {
			b.scheduleWatch(ts, r.round+1)
		}
	}
	b.addBusy(-1)
}
