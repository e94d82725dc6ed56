package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portcheck/portcheck/checks"
)

// Checker runs the troubleshooting chain for one port (*checks.Prober in
// production, a stub in tests and benchmarks).
type Checker interface {
	Check(ctx context.Context, req checks.Request) checks.Report
}

// Policy decides whether a command may check a target (issue 7 plugs the
// real one in; AllowAll is the default). Decisions carry the addresses that
// were vetted so workers probe exactly those.
type Policy interface {
	Decide(ctx context.Context, cmd Command, t checks.Target) PolicyDecision
}

// PolicyDecision is a Policy's answer for one target.
type PolicyDecision struct {
	Allowed  bool
	Addrs    []string // when Allowed: probe exactly these (empty: the worker resolves)
	Rule     string   // the rule that decided, cited to the user
	Reason   string   // a sentence for the user
	DNSError bool     // the name did not resolve: allowed through, the report says dns_error
}

// AllowAll is the Policy that allows everything (`portcheck shell`, tests).
type AllowAll struct{}

// Decide allows t.
func (AllowAll) Decide(context.Context, Command, checks.Target) PolicyDecision {
	return PolicyDecision{Allowed: true}
}

// Gate admits a whole command before anything is queued: authorization and
// rate limits plug in here (nil admits everything). It sees the parsed
// request and how many jobs it would start.
type Gate interface {
	Admit(ctx context.Context, cmd Command, req Request, jobs int) GateDecision
}

// GateDecision is a Gate's answer. Done, when set, is called once the
// command's first run has every answer (e.g. to release an in-flight slot).
type GateDecision struct {
	Allowed    bool
	Why        string        // for the user when refused; cites the rule or limit
	RetryAfter time.Duration // when refused by a rate limit
	Done       func()
}

// Vantages lists the vantages workers currently serve (Redis heartbeats in
// distributed mode).
type Vantages interface {
	Vantages(ctx context.Context) ([]string, error)
}

// Limits tunes the bot; zero values mean the defaults in parentheses.
type Limits struct {
	Vantage           string        // the local vantage's name ("local")
	Concurrency       int           // local worker pool size (8)
	JobTimeout        time.Duration // per-job deadline (60s)
	ProgressAfter     time.Duration // a job running this long gets a progress line (5s)
	DetailPorts       int           // runs with at most this many jobs get one evidence reply per job; more get one grouped reply (5)
	WatchesPerChannel int           // concurrent watches a channel may hold (3)
	HistoryLimit      int           // rows in `history` (10)
	DrainTimeout      time.Duration // on shutdown, how long to wait for in-flight results (5s)
	Threads           int           // threads remembered for again/stop; the oldest idle ones are forgotten past this (10000)
	Grammar           GrammarLimits
}

func (l Limits) withDefaults() Limits {
	if l.Vantage == "" {
		l.Vantage = "local"
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.Concurrency, 8)
	def(&l.DetailPorts, 5)
	def(&l.WatchesPerChannel, 3)
	def(&l.HistoryLimit, 10)
	def(&l.Threads, 10000)
	defD(&l.JobTimeout, 60*time.Second)
	defD(&l.ProgressAfter, 5*time.Second)
	defD(&l.DrainTimeout, 5*time.Second)
	l.Grammar = l.Grammar.withDefaults()
	return l
}

// Params are the Bot's dependencies. Queue, Results and Audit are required.
type Params struct {
	Queue   Queue
	Results Results
	Audit   Audit
	Claims  Claims   // dedupe of command ids and posts; default in-process
	Checker Checker  // when set, Run also runs a local worker pool on it
	Policy  Policy   // default AllowAll
	Gate    Gate     // authorization and rate limits; nil admits all
	Observe Observer // metrics; nil observes nothing
	Others  Vantages // remote vantages besides the local one; nil: local only
	Now     func() time.Time
	After   func(time.Duration) <-chan time.Time // waits between watch checks
	NewID   func() string
	// Instance names this bot process in Job.ReplyTo (default: a random id).
	Instance string
	Limits   Limits
	Log      *slog.Logger
	// KeepPendingOnShutdown leaves unfinished jobs alone at shutdown (a
	// durable queue redelivers them) instead of saying in their threads
	// that they were interrupted.
	KeepPendingOnShutdown bool
}

// Bot is the chat-independent core: it implements Handler, opens threads,
// enqueues jobs, and posts the results that come back.
type Bot struct {
	p   Params
	lim Limits
	log *slog.Logger

	ctx    context.Context // lives until Run returns: watches hang off it
	cancel context.CancelFunc

	mu      sync.Mutex
	chats   map[string]Chat
	runs    map[string]*run           // by run id (Job.CommandID)
	threads map[string]*threadState   // by threadKey
	order   []string                  // thread keys, oldest first, for forgetting
	watches map[string][]*threadState // by channelKey
	busy    int                       // runs in flight + live watches
	idle    chan struct{}             // closed when busy drops to 0
}

// New builds a Bot.
func New(p Params) (*Bot, error) {
	if p.Queue == nil || p.Results == nil || p.Audit == nil {
		return nil, errors.New("bot: Params needs Queue, Results and Audit")
	}
	if p.Claims == nil {
		p.Claims = newLocalClaims()
	}
	if p.Policy == nil {
		p.Policy = AllowAll{}
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.After == nil {
		p.After = time.After
	}
	if p.NewID == nil {
		p.NewID = randomID
	}
	if p.Instance == "" {
		p.Instance = randomID()
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.Observe == nil {
		p.Observe = nopObserver{}
	}
	b := &Bot{
		p: p, lim: p.Limits.withDefaults(), log: p.Log,
		chats: map[string]Chat{}, runs: map[string]*run{}, threads: map[string]*threadState{},
		watches: map[string][]*threadState{}, idle: make(chan struct{}),
	}
	close(b.idle)
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b, nil
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// AddChat registers the Chat that posts for a chat name ("slack"): results
// are posted through the chat named by their Thread.Channel.Chat, whichever
// process or worker produced them. Handle also registers the chat it is given.
func (b *Bot) AddChat(name string, c Chat) {
	b.mu.Lock()
	b.chats[name] = c
	b.mu.Unlock()
}

func (b *Bot) chat(name string) Chat {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.chats[name]
}

// run is one execution of a check: the command's, an again, or one round of
// a watch. Its id is every job's CommandID.
type run struct {
	id       string
	kind     Verb // VerbCheck, VerbAgain, VerbWatch
	round    int  // watch: 0 for the first check
	ts       *threadState
	by       User
	jobs     []Job
	results  map[string]Result
	quarter  int // grouped runs: last progress quarter shown on the parent
	started  time.Time
	prev     *run
	finished time.Time
	done     func() // the Gate's, called once when the run completes
}

func (r *run) detailed(lim Limits) bool { return len(r.jobs) <= lim.DetailPorts }

func (r *run) ordered() []Result {
	out := make([]Result, 0, len(r.results))
	for _, j := range r.jobs {
		if res, ok := r.results[j.ID]; ok {
			out = append(out, res)
		}
	}
	return out
}

// threadState is one conversation: what was asked, where, and its runs.
type threadState struct {
	chat     string
	thread   Thread
	req      Request
	vantages []string
	addrs    map[string][]string // vetted addresses by target input
	by       User
	last     *run // the last finished run
	active   *run
	watch    *watchState
}

type watchState struct {
	every   time.Duration
	until   time.Time
	stop    chan struct{}
	stopped bool
	by      string // who stopped it
}

func threadKey(t Thread) string {
	return t.Channel.Chat + "\x00" + t.Channel.ID + "\x00" + t.ID
}

func channelKey(c Channel) string { return c.Chat + "\x00" + c.Team + "\x00" + c.ID }

func userLabel(u User) string {
	switch {
	case u.Name == "" || u.Name == u.ID:
		return u.ID
	case u.ID == "":
		return u.Name
	}
	return u.Name + " (" + u.ID + ")"
}

// addBusy counts work Wait waits for.
func (b *Bot) addBusy(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addBusyLocked(n)
}

func (b *Bot) addBusyLocked(n int) {
	if b.busy == 0 && n > 0 {
		b.idle = make(chan struct{})
	}
	b.busy += n
	if b.busy == 0 && n < 0 {
		close(b.idle)
	}
}

// Wait blocks until every run and watch started so far has finished (the
// shell's scripted mode), or ctx is done.
func (b *Bot) Wait(ctx context.Context) error {
	b.mu.Lock()
	idle := b.idle
	b.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Handle implements Handler: audit, answer or open a thread, enqueue, return.
func (b *Bot) Handle(ctx context.Context, chat Chat, cmd Command) error {
	b.addBusy(1) // a command being handled keeps Wait waiting too
	defer b.addBusy(-1)
	if cmd.Channel.Chat != "" && chat != nil {
		b.mu.Lock()
		if _, ok := b.chats[cmd.Channel.Chat]; !ok {
			b.chats[cmd.Channel.Chat] = chat
		}
		b.mu.Unlock()
	}
	if cmd.At.IsZero() {
		cmd.At = b.p.Now()
	}
	if cmd.ID != "" {
		first, err := b.p.Claims.Claim(ctx, "cmd:"+cmd.ID, 24*time.Hour)
		if err != nil {
			// The shared store (Redis) is down: say so at once rather than
			// risk running a retried command twice.
			b.log.Error("command dedupe unavailable", "command_id", cmd.ID, "err", err)
			why := "portcheck cannot reach its job queue right now; nothing was started — try again in a minute"
			if aerr := b.auditCommand(ctx, cmd, nil, DecisionDenied, why+" ("+err.Error()+")"); aerr != nil {
				return aerr
			}
			return b.ephemeral(ctx, chat, cmd, Message{Status: StatusError, Text: why})
		}
		if !first {
			b.p.Observe.CommandReceived(cmd.Channel.Chat, "duplicate")
			b.log.Info("duplicate command ignored", "command_id", cmd.ID)
			return nil
		}
	}
	req, err := Parse(cmd.Text, b.lim.Grammar)
	if err != nil {
		var ie *InputError
		if !errors.As(err, &ie) {
			ie = &InputError{Msg: err.Error(), Example: "web01:443"}
		}
		if aerr := b.auditCommand(ctx, cmd, nil, DecisionInvalid, ie.Msg); aerr != nil {
			return aerr
		}
		return b.ephemeral(ctx, chat, cmd, InputErrorMessage(ie))
	}
	switch req.Verb {
	case VerbHelp:
		if err := b.auditCommand(ctx, cmd, nil, DecisionAnswer, "help"); err != nil {
			return err
		}
		return b.ephemeral(ctx, chat, cmd, HelpMessage(b.lim.Vantage))
	case VerbVantages:
		if err := b.auditCommand(ctx, cmd, nil, DecisionAnswer, "vantages"); err != nil {
			return err
		}
		vs, _ := b.knownVantages(ctx)
		m := Message{Status: StatusInfo, Text: "vantages: " + strings.Join(vs, ", ")}
		if len(vs) == 1 {
			m.Text = "only the local vantage is available: " + vs[0]
			m.Blocks = []Block{{Kind: BlockText, Text: "Run `portcheck worker --vantage NAME` elsewhere (with Redis) to check from other places."}}
		}
		return b.ephemeral(ctx, chat, cmd, m)
	case VerbHistory:
		return b.history(ctx, chat, cmd, req)
	case VerbStop:
		return b.stop(ctx, chat, cmd)
	case VerbAgain:
		return b.again(ctx, chat, cmd)
	}
	return b.check(ctx, chat, cmd, req)
}

func (b *Bot) ephemeral(ctx context.Context, chat Chat, cmd Command, m Message) error {
	if err := chat.Ephemeral(ctx, cmd.Channel, cmd.User, m); err != nil {
		b.p.Observe.ChatError(cmd.Channel.Chat, "ephemeral")
		b.auditPostError(ctx, cmd.Channel, cmd.User, cmd.ID, "", err)
		return fmt.Errorf("bot: ephemeral reply to %s: %w", cmd.ID, err)
	}
	return nil
}

func targetStrings(ts []checks.Target) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.String())
	}
	return out
}

func (b *Bot) auditCommand(ctx context.Context, cmd Command, targets []string, decision, why string) error {
	b.p.Observe.CommandReceived(cmd.Channel.Chat, decision)
	err := b.p.Audit.Append(ctx, Record{
		At: cmd.At, Kind: KindCommand, Chat: cmd.Channel.Chat, Team: cmd.Channel.Team, Channel: cmd.Channel.ID,
		User: userLabel(cmd.User), Text: cmd.Text, Targets: targets, Decision: decision, Why: why, CommandID: cmd.ID,
	})
	if err != nil {
		// Nothing runs unrecorded: refuse the command.
		return fmt.Errorf("bot: audit of command %s: %w", cmd.ID, err)
	}
	return nil
}

func (b *Bot) auditPostError(ctx context.Context, c Channel, u User, cmdID, jobID string, err error) {
	b.log.Error("posting failed", "chat", c.Chat, "channel", c.ID, "command_id", cmdID, "job_id", jobID, "err", err)
	if aerr := b.p.Audit.Append(context.WithoutCancel(ctx), Record{
		At: b.p.Now(), Kind: KindPostError, Chat: c.Chat, Team: c.Team, Channel: c.ID, User: userLabel(u),
		CommandID: cmdID, JobID: jobID, Why: err.Error(),
	}); aerr != nil {
		b.log.Error("audit of post error failed", "err", aerr)
	}
}

func (b *Bot) knownVantages(ctx context.Context) ([]string, error) {
	vs := []string{b.lim.Vantage}
	if b.p.Others == nil {
		return vs, nil
	}
	others, err := b.p.Others.Vantages(ctx)
	if err != nil {
		return vs, fmt.Errorf("bot: listing vantages: %w", err)
	}
	for _, v := range others {
		if !contains(vs, v) {
			vs = append(vs, v)
		}
	}
	return vs, nil
}

// pickVantages resolves "from" against the vantages being served.
func (b *Bot) pickVantages(ctx context.Context, req Request) ([]string, string) {
	if len(req.Vantages) == 0 && !req.AllVantages {
		return []string{b.lim.Vantage}, ""
	}
	known, err := b.knownVantages(ctx)
	if err != nil {
		return nil, "cannot list vantages right now: " + err.Error()
	}
	if req.AllVantages {
		return known, ""
	}
	var unknown []string
	for _, v := range req.Vantages {
		if !contains(known, v) {
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
	if err := b.auditCommand(ctx, cmd, targetStrings(req.Targets), DecisionDenied, why); err != nil {
		return err
	}
	return b.ephemeral(ctx, chat, cmd, Message{Status: StatusInfo, Text: why})
}

// check handles a check or a watch: vantages, policy, audit, thread, jobs.
func (b *Bot) check(ctx context.Context, chat Chat, cmd Command, req Request) error {
	vantages, why := b.pickVantages(ctx, req)
	if why != "" {
		return b.deny(ctx, chat, cmd, req, why)
	}
	addrs := map[string][]string{}
	for _, t := range req.Targets {
		d := b.p.Policy.Decide(ctx, cmd, t)
		if !d.Allowed && !d.DNSError {
			msg := "not allowed to check " + t.String()
			if d.Reason != "" {
				msg += ": " + d.Reason
			}
			if d.Rule != "" {
				msg += " (rule: " + d.Rule + ")"
			}
			return b.deny(ctx, chat, cmd, req, msg)
		}
		addrs[t.Input] = d.Addrs
	}
	ck := channelKey(cmd.Channel)
	if req.Verb == VerbWatch {
		b.mu.Lock()
		n := len(b.watches[ck])
		b.mu.Unlock()
		if n >= b.lim.WatchesPerChannel {
			return b.deny(ctx, chat, cmd, req, fmt.Sprintf(
				"this channel already has %d watches running (the limit); type `/portcheck stop` in a watch's thread to end one", n))
		}
	}
	var gateDone func()
	if b.p.Gate != nil {
		d := b.p.Gate.Admit(ctx, cmd, req, req.Ports()*len(vantages))
		if !d.Allowed {
			why := d.Why
			if why == "" {
				why = "not allowed"
			}
			if d.RetryAfter > 0 {
				why += fmt.Sprintf(" — try again in %s", d.RetryAfter.Round(time.Second))
			}
			return b.deny(ctx, chat, cmd, req, why)
		}
		gateDone = d.Done
	}
	if err := b.auditCommand(ctx, cmd, targetStrings(req.Targets), DecisionQueued, ""); err != nil {
		if gateDone != nil {
			gateDone()
		}
		return err
	}
	parent := RunningMessage(req.Targets, vantages, 0, 0)
	var w *watchState
	if req.Verb == VerbWatch {
		w = &watchState{every: req.Every, until: b.p.Now().Add(req.For), stop: make(chan struct{})}
		parent.Text = "watching " + describeTargets(req.Targets) + " from " + strings.Join(vantages, ", ") +
			" every " + shortDuration(req.Every) + " until " + w.until.Format("15:04") + "…"
	}
	th, err := chat.Start(ctx, cmd.Channel, parent)
	if err != nil {
		b.p.Observe.ChatError(cmd.Channel.Chat, "start")
		if gateDone != nil {
			gateDone()
		}
		b.auditPostError(ctx, cmd.Channel, cmd.User, cmd.ID, "", err)
		return fmt.Errorf("bot: starting thread for %s: %w", cmd.ID, err)
	}
	if th.Channel.Chat == "" {
		th.Channel = cmd.Channel
	}
	// Link the thread to the command, so `again` works after a restart or
	// on another bot process.
	if err := b.p.Audit.Append(ctx, Record{
		At: b.p.Now(), Kind: KindThread, Chat: cmd.Channel.Chat, Team: cmd.Channel.Team, Channel: cmd.Channel.ID,
		User: userLabel(cmd.User), Text: cmd.Text, Targets: targetStrings(req.Targets), CommandID: cmd.ID, Thread: th.ID,
	}); err != nil {
		b.log.Error("audit of thread failed", "command_id", cmd.ID, "err", err)
	}
	ts := &threadState{chat: cmd.Channel.Chat, thread: th, req: req, vantages: vantages, addrs: addrs, by: cmd.User, watch: w}
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

// startRun enqueues one job per (target port, vantage) for ts.
func (b *Bot) startRun(ctx context.Context, ts *threadState, kind Verb, by User, round int) error {
	return b.startRunDone(ctx, ts, kind, by, round, nil)
}

func (b *Bot) startRunDone(ctx context.Context, ts *threadState, kind Verb, by User, round int, done func()) error {
	id := b.p.NewID()
	now := b.p.Now()
	r := &run{id: id, kind: kind, round: round, ts: ts, by: by, results: map[string]Result{}, started: now, done: done}
	for _, t := range ts.req.Targets {
		for _, p := range t.Ports {
			for _, v := range ts.vantages {
				r.jobs = append(r.jobs, Job{
					ID: id + "." + strconv.Itoa(len(r.jobs)+1), CommandID: id, Target: t.Input, Host: t.Host, Port: p,
					Scheme: t.Scheme, Addrs: ts.addrs[t.Input], Vantage: v, Timeout: b.lim.JobTimeout,
					Thread: ts.thread, EnqueuedAt: now, ReplyTo: b.p.Instance,
				})
			}
		}
	}
	b.mu.Lock()
	r.prev = ts.last
	ts.active = r
	b.runs[id] = r
	b.addBusyLocked(1)
	b.mu.Unlock()
	for i, j := range r.jobs {
		err := b.p.Queue.Enqueue(ctx, j)
		if err == nil {
			b.p.Observe.JobQueued(j.Vantage)
		}
		if err != nil {
			// The jobs already queued will come back; the rest are answered
			// here as failures so the thread still completes.
			b.log.Error("enqueue failed", "job_id", j.ID, "err", err)
			for _, rest := range r.jobs[i:] {
				b.handleResult(context.WithoutCancel(ctx), Result{Job: rest, Error: "could not queue the check: " + err.Error(), Finished: b.p.Now()})
			}
			return fmt.Errorf("bot: enqueue %s: %w", j.ID, err)
		}
	}
	return nil
}

// Run consumes results and posts them until ctx is done; with a Checker it
// also runs the local worker pool. On shutdown it stops watches, lets the
// workers finish or interrupt their jobs, posts what they report, and says
// in any thread still waiting that its check was interrupted.
func (b *Bot) Run(ctx context.Context) error {
	defer b.cancel()
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer wcancel()
	var workers sync.WaitGroup
	if b.p.Checker != nil {
		w, err := NewWorker(WorkerParams{
			Queue: b.p.Queue, Results: b.p.Results, Checker: b.p.Checker, Vantage: b.lim.Vantage,
			Concurrency: b.lim.Concurrency, ProgressAfter: b.lim.ProgressAfter, Now: b.p.Now, Log: b.log, Observe: b.p.Observe,
			KeepInterrupted: b.p.KeepPendingOnShutdown,
		})
		if err != nil {
			return err
		}
		workers.Add(1)
		go func() { defer workers.Done(); w.Run(wctx) }()
	}
	rctx, rcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer rcancel()
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); b.resultsLoop(rctx) }()

	<-ctx.Done()
	b.cancel() // watches stop scheduling
	wcancel()
	workers.Wait()
	drain, stop := context.WithTimeout(context.Background(), b.lim.DrainTimeout)
	_ = b.Wait(drain)
	stop()
	rcancel()
	<-loopDone
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
		ch      chan ResultDelivery
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
			l = &lane{ch: make(chan ResultDelivery, 16)}
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
		var missing []Job
		for _, j := range r.jobs {
			if _, ok := r.results[j.ID]; !ok {
				missing = append(missing, j)
			}
		}
		b.mu.Unlock()
		for _, j := range missing {
			b.handleResult(ctx, Result{Job: j, Error: "interrupted: portcheck stopped before this check ran", Finished: b.p.Now()})
		}
	}
}

// handleResult posts one result: progress lines, evidence, the parent's
// verdict once the run is complete, what changed (again, watch).
func (b *Bot) handleResult(ctx context.Context, res Result) {
	j := res.Job
	chat := b.chat(j.Thread.Channel.Chat)
	if chat == nil {
		b.log.Error("no chat to post a result in", "chat", j.Thread.Channel.Chat, "job_id", j.ID)
		b.auditPostError(ctx, j.Thread.Channel, User{}, j.CommandID, j.ID, fmt.Errorf("no chat adapter named %q", j.Thread.Channel.Chat))
		return
	}
	b.mu.Lock()
	r := b.runs[j.CommandID]
	b.mu.Unlock()

	if res.Progress != "" {
		if r == nil || !r.detailed(b.lim) {
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
	by := User{}
	if r != nil {
		by = r.by
	}
	b.auditResult(ctx, res, by)

	if r == nil {
		// A result for a run this process does not know (another bot
		// process started it, or this one restarted): post it on its own.
		b.reply(ctx, chat, j.Thread, by, j, EvidenceMessage(res))
		b.update(ctx, chat, j.Thread, by, j, ParentMessage([]Result{res}))
		return
	}

	b.mu.Lock()
	r.results[j.ID] = res
	done := len(r.results) == len(r.jobs)
	quarter := 0
	if !done && !r.detailed(b.lim) {
		if q := 4 * len(r.results) / len(r.jobs); q > r.quarter {
			r.quarter, quarter = q, q
		}
	}
	b.mu.Unlock()

	ts := r.ts
	evidence := r.kind != VerbWatch || r.round == 0
	if evidence && r.detailed(b.lim) {
		b.reply(ctx, chat, ts.thread, r.by, j, EvidenceMessage(res))
	}
	if quarter > 0 && r.kind != VerbWatch {
		b.update(ctx, chat, ts.thread, r.by, j, RunningMessage(ts.req.Targets, ts.vantages, len(r.results), len(r.jobs)))
	}
	if done {
		b.finishRun(ctx, chat, r)
	}
}

func (b *Bot) reply(ctx context.Context, chat Chat, t Thread, by User, j Job, m Message) {
	if err := chat.Reply(ctx, t, m); err != nil {
		b.p.Observe.ChatError(t.Channel.Chat, "reply")
		b.auditPostError(ctx, t.Channel, by, j.CommandID, j.ID, err)
	}
}

func (b *Bot) update(ctx context.Context, chat Chat, t Thread, by User, j Job, m Message) {
	if err := chat.Update(ctx, t, m); err != nil {
		b.p.Observe.ChatError(t.Channel.Chat, "update")
		b.auditPostError(ctx, t.Channel, by, j.CommandID, j.ID, err)
	}
}

func (b *Bot) auditResult(ctx context.Context, res Result, by User) {
	j, rep := res.Job, res.Report
	rec := Record{
		At: res.Finished, Kind: KindResult, Chat: j.Thread.Channel.Chat, Team: j.Thread.Channel.Team,
		Channel: j.Thread.Channel.ID, User: userLabel(by), CommandID: j.CommandID, JobID: j.ID,
		Target: targetPort(j), Address: probedAddresses(rep), Vantage: j.Vantage, Verdict: string(rep.Verdict),
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
		if o.Address != "" && !contains(addrs, o.Address) {
			addrs = append(addrs, o.Address)
		}
	}
	return strings.Join(addrs, ", ")
}

// outcome is what "changed" compares: the verdict, or failure.
func outcome(r Result) string {
	if r.Error != "" && r.Report.Verdict == "" {
		return "error"
	}
	return string(r.Report.Verdict)
}

func jobKey(j Job) string { return j.Host + "\x00" + strconv.Itoa(j.Port) + "\x00" + j.Vantage }

func diff(prev *run, now []Result) (changes []change) {
	if prev == nil {
		return nil
	}
	before := map[string]Result{}
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
	rs := r.ordered()
	b.mu.Unlock()
	last := r.jobs[len(r.jobs)-1]
	parent := ParentMessage(rs)
	now := b.p.Now()
	ended := ""
	switch r.kind {
	case VerbCheck:
		b.update(ctx, chat, ts.thread, r.by, last, parent)
		if !r.detailed(b.lim) {
			b.reply(ctx, chat, ts.thread, r.by, last, GroupedMessage(rs))
		}
	case VerbAgain:
		b.update(ctx, chat, ts.thread, r.by, last, parent)
		if !r.detailed(b.lim) {
			b.reply(ctx, chat, ts.thread, r.by, last, GroupedMessage(rs))
		}
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
			b.update(ctx, chat, ts.thread, r.by, last, parent)
			if !r.detailed(b.lim) {
				b.reply(ctx, chat, ts.thread, r.by, last, GroupedMessage(rs))
			}
		case len(changes) > 0:
			b.reply(ctx, chat, ts.thread, r.by, last, changeMessage(changes, rs, r.prev.finished, now))
			if len(changes) <= b.lim.DetailPorts {
				for _, c := range changes {
					b.reply(ctx, chat, ts.thread, r.by, c.job, EvidenceMessage(c.to))
				}
			}
			parent.Text += " · watch ended: changed at " + now.Format("15:04")
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
	if err := b.p.Audit.Append(context.WithoutCancel(ctx), Record{
		At: b.p.Now(), Kind: KindWatch, Chat: ts.thread.Channel.Chat, Team: ts.thread.Channel.Team,
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
		b.update(ctx, chat, ts.thread, ts.by, Job{}, parent)
	}
	b.reply(ctx, chat, ts.thread, ts.by, Job{}, m)
}

// again re-runs a thread's check and says what changed.
func (b *Bot) again(ctx context.Context, chat Chat, cmd Command) error {
	if cmd.Thread == nil {
		if err := b.auditCommand(ctx, cmd, nil, DecisionInvalid, "again outside a thread"); err != nil {
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
		if err := b.auditCommand(ctx, cmd, nil, DecisionInvalid, "unknown thread"); err != nil {
			return err
		}
		return b.ephemeral(ctx, chat, cmd, InputErrorMessage(&InputError{
			Msg: "I don't remember the check in this thread (portcheck may have restarted): type the target again", Example: "web01:443"}))
	}
	if busy {
		if err := b.auditCommand(ctx, cmd, targetStrings(ts.req.Targets), DecisionDenied, "already running"); err != nil {
			return err
		}
		return b.ephemeral(ctx, chat, cmd, Message{Status: StatusInfo, Text: "this check is still running; its answer will land here"})
	}
	var gateDone func()
	if b.p.Gate != nil {
		d := b.p.Gate.Admit(ctx, cmd, ts.req, ts.req.Ports()*len(ts.vantages))
		if !d.Allowed {
			why := d.Why
			if d.RetryAfter > 0 {
				why += fmt.Sprintf(" — try again in %s", d.RetryAfter.Round(time.Second))
			}
			return b.deny(ctx, chat, cmd, ts.req, why)
		}
		gateDone = d.Done
	}
	if err := b.auditCommand(ctx, cmd, targetStrings(ts.req.Targets), DecisionQueued, "again"); err != nil {
		if gateDone != nil {
			gateDone()
		}
		return err
	}
	j := Job{CommandID: cmd.ID}
	b.reply(ctx, chat, ts.thread, cmd.User, j, Message{Status: StatusRunning, Text: "re-checking, asked by " + displayName(cmd.User) + "…"})
	b.update(ctx, chat, ts.thread, cmd.User, j, RunningMessage(ts.req.Targets, ts.vantages, 0, 0))
	return b.startRunDone(ctx, ts, VerbAgain, cmd.User, 0, gateDone)
}

// recoverThread rebuilds a thread this process does not know (a restart, or
// another bot process opened it) from the audit trail: the command that
// opened it, re-parsed and re-vetted, and its last run's verdicts to compare.
func (b *Bot) recoverThread(ctx context.Context, cmd Command) *threadState {
	th := *cmd.Thread
	q := AuditQuery{Chat: th.Channel.Chat, Channel: th.Channel.ID, Thread: th.ID}
	q.Kind, q.Limit = KindThread, 1
	opened, err := b.p.Audit.Query(ctx, q)
	if err != nil || len(opened) == 0 {
		return nil
	}
	req, err := Parse(opened[0].Text, b.lim.Grammar)
	if err != nil || (req.Verb != VerbCheck && req.Verb != VerbWatch) {
		return nil
	}
	vantages, why := b.pickVantages(ctx, req)
	if why != "" {
		return nil
	}
	addrs := map[string][]string{}
	for _, t := range req.Targets {
		d := b.p.Policy.Decide(ctx, cmd, t)
		if !d.Allowed && !d.DNSError {
			return nil // the denial is said when the check is typed again
		}
		addrs[t.Input] = d.Addrs
	}
	req.Verb = VerbCheck // a recovered watch is re-checked once, not resumed
	ts := &threadState{chat: th.Channel.Chat, thread: th, req: req, vantages: vantages, addrs: addrs, by: cmd.User}
	q.Kind, q.Limit = KindResult, 4096
	if recs, err := b.p.Audit.Query(ctx, q); err == nil && len(recs) > 0 {
		lastRun := recs[len(recs)-1].CommandID
		prev := &run{results: map[string]Result{}, finished: recs[len(recs)-1].At}
		for _, rec := range recs {
			if rec.CommandID != lastRun {
				continue
			}
			host, port, ok := splitTargetPort(rec.Target)
			if !ok {
				continue
			}
			prev.results[rec.JobID] = Result{
				Job:    Job{ID: rec.JobID, Host: host, Port: port, Vantage: rec.Vantage},
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

// splitTargetPort undoes targetPort: "web01:443", "[2001:db8::1]:443".
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

func displayName(u User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.ID
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
	if err := b.auditCommand(ctx, cmd, nil, DecisionAnswer, fmt.Sprintf("stop: %d watches", len(targets))); err != nil {
		return err
	}
	if len(targets) == 0 {
		return b.ephemeral(ctx, chat, cmd, Message{Status: StatusInfo, Text: "no watch is running here"})
	}
	for _, ts := range targets {
		b.endWatch(ctx, ts, "stopped by "+displayName(cmd.User))
	}
	if cmd.Thread == nil {
		return b.ephemeral(ctx, chat, cmd, Message{Status: StatusInfo, Text: fmt.Sprintf("stopped %d watches in this channel", len(targets))})
	}
	return nil
}

// history lists the channel's recent results from the audit trail.
func (b *Bot) history(ctx context.Context, chat Chat, cmd Command, req Request) error {
	if err := b.auditCommand(ctx, cmd, nil, DecisionAnswer, "history"); err != nil {
		return err
	}
	recs, err := b.p.Audit.Query(ctx, AuditQuery{
		Chat: cmd.Channel.Chat, Channel: cmd.Channel.ID, Kind: KindResult, Target: req.Query, Limit: b.lim.HistoryLimit,
	})
	if err != nil {
		b.log.Error("history query failed", "err", err)
		return b.ephemeral(ctx, chat, cmd, Message{Status: StatusError, Text: "cannot read the audit trail right now"})
	}
	return b.ephemeral(ctx, chat, cmd, HistoryMessage(recs, req.Query))
}

// localClaims is the in-process Claims used when none is given.
type localClaims struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func newLocalClaims() *localClaims { return &localClaims{seen: map[string]time.Time{}} }

func (c *localClaims) Claim(_ context.Context, key string, ttl time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if until, ok := c.seen[key]; ok && now.Before(until) {
		return false, nil
	}
	if len(c.seen) > 100_000 {
		for k, u := range c.seen {
			if now.After(u) {
				delete(c.seen, k)
			}
		}
	}
	c.seen[key] = now.Add(ttl)
	return true, nil
}
