package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/ttl"
	"github.com/portcheck/portcheck/wire"
)

// Policy decides whether a command may check a target (issue 7 plugs the
// real one in; AllowAll is the default). Decisions carry the addresses that
// were vetted so workers probe exactly those.
type Policy interface {
	Decide(ctx context.Context, cmd Command, t checks.Target) PolicyDecision
}

// PolicyDecision is a Policy's answer for one target.
type PolicyDecision struct {
	Allowed bool
	Addrs   []string // when Allowed: probe exactly these (empty: the worker resolves)
	Rule    string   // the rule that decided, cited to the user
	Reason  string   // a sentence for the user
	// DNSError: the name did not resolve. No policy was broken, so the
	// thread answers dns_error; no job is queued for it, since a worker
	// would look the name up again and that answer would be unchecked.
	DNSError bool
	NotFound bool // with DNSError: no such name (NXDOMAIN), not a resolver failure
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

// Runner is something Run runs until its context ends (the local worker).
type Runner interface {
	Run(ctx context.Context)
}

// Vantages lists the vantages workers currently serve (Redis heartbeats in
// distributed mode).
type Vantages interface {
	Vantages(ctx context.Context) ([]string, error)
}

// Limits tunes the bot; zero values mean the defaults in parentheses.
type Limits struct {
	Vantage           string        // the local vantage's name ("local")
	JobTimeout        time.Duration // per-job deadline (60s)
	DetailPorts       int           // runs with at most this many jobs get one evidence reply per job; more get one grouped reply (5)
	WatchesPerChannel int           // concurrent watches a channel may hold (3)
	HistoryLimit      int           // rows in `history` (10)
	DrainTimeout      time.Duration // on shutdown, how long to wait for in-flight results (5s)
	Threads           int           // threads remembered for again/stop; the oldest idle ones are forgotten past this (10000)
	AgentWait         time.Duration // once a run's external checks are in, how long its host agents may take before the thread goes on without them (5s)
	// RetryPostsFor is how long a post the chat refuses for now (see
	// RetryLater) is tried again before the user is told it failed (15m:
	// Discord's interaction token lives 15 minutes, Slack's response_url 30).
	RetryPostsFor  time.Duration
	OutboxTick     time.Duration // how often queued posts are looked at (1s)
	StillListening time.Duration // a run still waiting this long says so on its parent (1.5s)
	Grammar        GrammarLimits
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
	def(&l.DetailPorts, 5)
	def(&l.WatchesPerChannel, 3)
	def(&l.HistoryLimit, 10)
	def(&l.Threads, 10000)
	defD(&l.JobTimeout, 60*time.Second)
	defD(&l.DrainTimeout, 5*time.Second)
	defD(&l.AgentWait, 5*time.Second)
	defD(&l.RetryPostsFor, 15*time.Minute)
	defD(&l.OutboxTick, time.Second)
	defD(&l.StillListening, 1500*time.Millisecond)
	l.Grammar = l.Grammar.withDefaults()
	return l
}

// Params are the Bot's dependencies. Queue, Results and Audit are required.
type Params struct {
	Queue   wire.Queue
	Results wire.Results
	Audit   audit.Trail
	Claims  wire.Claims // dedupe of command ids and posts; default in-process
	// Threads keeps each run's thread with its chat refs, which jobs do
	// not carry (threads.go); default in-process. Share it (Redis) between
	// bot processes that share a results store.
	Threads Threads
	// Outbox keeps the posts a chat refused for now until they are due
	// (outbox.go); default in-process. Share it (Redis) between bot
	// processes, so a queued post outlives the process that queued it.
	Outbox Outbox
	// Local, when set, is this process's own worker pool (a
	// *worker.Worker on Queue and Results, serving Limits.Vantage): Run runs
	// it beside the results loop and, on shutdown, lets it finish before
	// draining the results. Nil: every vantage is served elsewhere.
	Local   Runner
	Policy  Policy   // default AllowAll
	Gate    Gate     // authorization and rate limits; nil admits all
	Observe Observer // metrics; nil observes nothing
	Others  Vantages // remote vantages besides the local one; nil: local only
	// Workers, when set, lists the live workers behind Others for
	// `/portcheck vantages` (version, labels, last seen); nil: names only.
	Workers VantageWorkers
	// Redact, when set, hides trace hops from the chat (see HopRedactor).
	Redact HopRedactor
	// AuditAccess, when set, lets the admins it admits read every
	// channel's history (`history all`); nil: nobody may.
	AuditAccess AuditGate
	// ChargeTrace, when set, charges each traced job to its run's rate
	// limits once its result is in (see TraceCharger); nil: traces are free.
	ChargeTrace TraceCharger
	// HostFacts, when set, turns on the host agent (issue 8): targets with
	// a live agent get a host-local job beside the external probes and a
	// merged reply; targets without one get what could not be seen.
	HostFacts AgentMerger
	Agents    Agents // the live host agents; nil: the host:<name> vantages of Others
	Now       func() time.Time
	After     func(time.Duration) <-chan time.Time // waits between watch checks, and between looks at queued posts
	NewID     func() string
	// Instance names this bot process in Job.ReplyTo (default: a random
	// id). A results store that routes per bot process (Redis) must be
	// given its own name for it, so the results of this process's runs
	// come back here.
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
	waiting map[string]int            // posts this process queued in the Outbox, by lane
	told    *ttl.Cache[struct{}]      // lanes whose user was told a post failed
}

// New builds a Bot.
func New(p Params) (*Bot, error) {
	if p.Queue == nil || p.Results == nil || p.Audit == nil {
		return nil, errors.New("bot: Params needs Queue, Results and Audit")
	}
	if p.Claims == nil {
		p.Claims = newLocalClaims()
	}
	if p.Threads == nil {
		p.Threads = newLocalThreads()
	}
	if p.Outbox == nil {
		p.Outbox = newLocalOutbox()
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
		watches: map[string][]*threadState{}, idle: make(chan struct{}), waiting: map[string]int{}, told: newTold(),
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

// threadState is one conversation: what was asked, where, and its runs.
type threadState struct {
	chat     string
	thread   wire.Thread
	req      Request
	vantages []string
	addrs    map[string][]string   // vetted addresses by target input
	dns      map[string]dnsFailure // targets whose policy lookup failed: answered dns_error, never queued
	by       wire.User
	last     *run // the last finished run
	active   *run
	watch    *watchState
}

func threadKey(t wire.Thread) string {
	return t.Channel.Chat + "\x00" + t.Channel.ID + "\x00" + t.ID
}

func channelKey(c wire.Channel) string { return c.Chat + "\x00" + c.Team + "\x00" + c.ID }

func userLabel(u wire.User) string {
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
		// Bounded: a Redis that black-holes packets must not hold the
		// answer past the chat's deadline (dial timeouts are longer).
		cctx, cancel := context.WithTimeout(ctx, ingressTimeout)
		first, err := b.p.Claims.Claim(cctx, "cmd:"+cmd.ID, 24*time.Hour)
		cancel()
		if err != nil {
			// The shared store (Redis) is down: say so at once rather than
			// risk running a retried command twice.
			b.log.Error("command dedupe unavailable", "command_id", cmd.ID, "err", err)
			why := "portcheck cannot reach its job queue right now; nothing was started — try again in a minute"
			if aerr := b.auditCommand(ctx, cmd, nil, audit.DecisionDenied, why+" ("+err.Error()+")"); aerr != nil {
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
		if aerr := b.auditCommand(ctx, cmd, nil, audit.DecisionInvalid, ie.Msg); aerr != nil {
			return aerr
		}
		return b.ephemeral(ctx, chat, cmd, InputErrorMessage(ie))
	}
	switch req.Verb {
	case VerbHelp:
		if err := b.auditCommand(ctx, cmd, nil, audit.DecisionAnswer, "help"); err != nil {
			return err
		}
		return b.ephemeral(ctx, chat, cmd, HelpMessage(b.lim.Vantage, b.lim.Grammar.MaxPorts))
	case VerbVantages:
		if err := b.auditCommand(ctx, cmd, nil, audit.DecisionAnswer, "vantages"); err != nil {
			return err
		}
		return b.ephemeral(ctx, chat, cmd, b.vantagesMessage(ctx)) // vantages.go
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
	err := b.p.Audit.Append(ctx, audit.Record{
		At: cmd.At, Kind: audit.KindCommand, Chat: cmd.Channel.Chat, Team: cmd.Channel.Team, Channel: cmd.Channel.ID,
		User: userLabel(cmd.User), Text: cmd.Text, Targets: targets, Decision: decision, Why: why, CommandID: cmd.ID,
	})
	if err != nil {
		// Nothing runs unrecorded: refuse the command.
		return fmt.Errorf("bot: audit of command %s: %w", cmd.ID, err)
	}
	return nil
}

func (b *Bot) auditPostError(ctx context.Context, c wire.Channel, u wire.User, cmdID, jobID string, err error) {
	why := scrubCredentials(err.Error())
	b.log.Error("posting failed", "chat", c.Chat, "channel", c.ID, "command_id", cmdID, "job_id", jobID, "err", why)
	if aerr := b.p.Audit.Append(context.WithoutCancel(ctx), audit.Record{
		At: b.p.Now(), Kind: audit.KindPostError, Chat: c.Chat, Team: c.Team, Channel: c.ID, User: userLabel(u),
		CommandID: cmdID, JobID: jobID, Why: why,
	}); aerr != nil {
		b.log.Error("audit of post error failed", "command_id", cmdID, "job_id", jobID, "err", aerr)
	}
}

// scrubCredentials keeps an error's text fit for the audit trail and logs:
// the chat libraries quote the URL they called, and for an interaction
// reply that URL is the credential (a Discord webhook or interaction token
// in its path, a Slack response_url); a bot token may be quoted too.
func scrubCredentials(s string) string {
	end := func(s string, from int) int {
		for i := from; i < len(s); i++ {
			switch s[i] {
			case '/', ' ', '"', '?', '\n', '\t', '\'':
				return i
			}
		}
		return len(s)
	}
	for _, m := range []struct {
		mark     string
		skipPath int // path segments kept after the mark (the application id)
	}{{"/webhooks/", 1}, {"/interactions/", 1}, {"hooks.slack.com/actions/", 0}, {"hooks.slack.com/commands/", 0}, {"hooks.slack.com/services/", 0}} {
		for at := 0; ; {
			k := strings.Index(s[at:], m.mark)
			if k < 0 {
				break
			}
			p := at + k + len(m.mark)
			for range m.skipPath {
				p = end(s, p)
				if p < len(s) && s[p] == '/' {
					p++
				}
			}
			q := end(s, p) // Discord: the token is one path segment
			if m.skipPath == 0 {
				// Slack: everything after the mark is the secret.
				for q < len(s) && s[q] != ' ' && s[q] != '"' && s[q] != '?' && s[q] != '\n' {
					q++
				}
			}
			if q > p {
				s = s[:p] + "REDACTED" + s[q:]
			}
			at = p + len("REDACTED")
		}
	}
	for _, pre := range []string{"xoxb-", "xoxp-", "xoxa-", "xoxr-", "xapp-"} {
		for at := 0; ; {
			k := strings.Index(s[at:], pre)
			if k < 0 {
				break
			}
			p := at + k + len(pre)
			q := end(s, p)
			s = s[:p] + "REDACTED" + s[q:]
			at = p + len("REDACTED")
		}
	}
	return s
}

func displayName(u wire.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.ID
}

// history lists the channel's recent results from the audit trail.
func (b *Bot) history(ctx context.Context, chat Chat, cmd Command, req Request) error {
	if req.AllChannels {
		return b.historyAll(ctx, chat, cmd, req)
	}
	if err := b.auditCommand(ctx, cmd, nil, audit.DecisionAnswer, "history"); err != nil {
		return err
	}
	recs, err := b.p.Audit.Query(ctx, audit.Query{
		Chat: cmd.Channel.Chat, Channel: cmd.Channel.ID, Kind: audit.KindResult, Target: req.Query, Limit: b.lim.HistoryLimit,
	})
	if err != nil {
		b.log.Error("history query failed", "err", err)
		return b.ephemeral(ctx, chat, cmd, Message{Status: StatusError, Text: "cannot read the audit trail right now"})
	}
	return b.ephemeral(ctx, chat, cmd, HistoryMessage(recs, req.Query))
}

// localClaims is the in-process Claims used when none is given.
type localClaims struct{ c *ttl.Cache[struct{}] }

func newLocalClaims() localClaims { return localClaims{ttl.New[struct{}](nil, 1<<20)} }

func (l localClaims) Claim(_ context.Context, key string, d time.Duration) (bool, error) {
	return l.c.Add(key, struct{}{}, d), nil
}
