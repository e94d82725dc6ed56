// Package slack is portcheck's Slack adapter: it receives /portcheck
// commands, @portcheck mentions (in channels and threads) and Re-check and
// Stop clicks (Socket Mode or HTTP request URLs), turns them into
// bot.Command, and renders bot.Message as Block Kit in a thread.
package slack

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/wire"
)

// Options are the adapter's dependencies. Only Config and Handler are
// required; the rest have production defaults and exist for tests.
type Options struct {
	Config  Config
	Handler bot.Handler

	HTTPClient *http.Client // for the Web API and response_url; default: 10 s timeout
	Logger     *slog.Logger
	Now        func() time.Time
	// Sleep waits between retries of a failed post; it returns early with
	// ctx's error. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error

	// HandleTimeout bounds one Handler.Handle call, which runs detached from
	// the request that delivered the command. Default 30 s.
	HandleTimeout time.Duration
	// Attempts is how many times one Web API call is tried on 429 and 5xx.
	// Default 4.
	Attempts int
	// MaxRetryAfter caps how long one call waits in line for a 429's
	// Retry-After: beyond it the post is handed back to the bot as
	// bot.RetryLater, which queues it (bot.Outbox) rather than hold its
	// thread, or the command's 30 s, for minutes. Default 10 s.
	MaxRetryAfter time.Duration
	// SocketPingInterval is how long Socket Mode waits for Slack's ping
	// before reconnecting. Default: slack-go's (30 s).
	SocketPingInterval time.Duration
	// OnRetry, when set, is told of every retried Web API call (op is the
	// method), for the chat API retries metric.
	OnRetry func(op string)
	// UserGroups fills wire.User.Groups with the caller's user group ids
	// (usergroups.list, scope usergroups:read, refreshed every
	// UserGroupsTTL, default 5 min), which authorization by group needs:
	// Slack does not send them with a command.
	UserGroups    bool
	UserGroupsTTL time.Duration
}

// Adapter is the Slack frontend: it implements bot.Chat and the methods
// `portcheck serve` needs (Name, Chat, Routes, Run).
type Adapter struct {
	cfg           Config
	handler       bot.Handler
	api           *slackgo.Client
	http          *http.Client
	log           *slog.Logger
	now           func() time.Time
	sleep         func(context.Context, time.Duration) error
	handleTimeout time.Duration
	attempts      int
	maxRetryAfter time.Duration
	pingInterval  time.Duration
	onRetry       func(op string)
	groups        *groupCache // nil: User.Groups left empty
	seen          *seen
	inflight      sync.WaitGroup
	// connected is the Socket Mode link's state, for /readyz: a bot whose
	// websocket is down takes no commands even though the process is alive.
	connected atomic.Bool
}

// New builds the adapter. It does not contact Slack.
func New(o Options) (*Adapter, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.Handler == nil {
		return nil, errors.New("slack: Options.Handler is nil")
	}
	a := &Adapter{
		cfg:           o.Config,
		handler:       o.Handler,
		http:          o.HTTPClient,
		log:           o.Logger,
		now:           o.Now,
		sleep:         o.Sleep,
		handleTimeout: o.HandleTimeout,
		attempts:      o.Attempts,
		maxRetryAfter: o.MaxRetryAfter,
		pingInterval:  o.SocketPingInterval,
		onRetry:       o.OnRetry,
	}
	if a.http == nil {
		a.http = &http.Client{Timeout: 10 * time.Second}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("chat", "slack")
	if a.now == nil {
		a.now = time.Now
	}
	if a.sleep == nil {
		a.sleep = sleepCtx
	}
	if a.handleTimeout <= 0 {
		a.handleTimeout = 30 * time.Second
	}
	if a.attempts <= 0 {
		a.attempts = 4
	}
	if a.maxRetryAfter <= 0 {
		a.maxRetryAfter = 10 * time.Second
	}
	// Signed requests are valid for 5 minutes, so remembering keys for 10
	// covers every replay the verifier would still accept.
	a.seen = newSeen(10*time.Minute, a.now)
	opts := []slackgo.Option{
		slackgo.OptionHTTPClient(a.http),
		slackgo.OptionAPIURL(a.cfg.APIURL),
	}
	if a.cfg.AppToken != "" {
		opts = append(opts, slackgo.OptionAppLevelToken(a.cfg.AppToken))
	}
	a.api = slackgo.New(a.cfg.BotToken, opts...)
	if o.UserGroups {
		ttl := o.UserGroupsTTL
		if ttl <= 0 {
			ttl = 5 * time.Minute
		}
		var warned atomic.Bool // once at warn level, then quietly: it repeats every TTL
		a.groups = newGroupCache(a.api, ttl, a.now, func(err error) {
			level := slog.LevelDebug
			if !warned.Swap(true) {
				level = slog.LevelWarn
			}
			a.log.Log(context.Background(), level, "cannot list user groups (the app needs the usergroups:read scope); group-based authorization sees no groups", "err", err)
		})
	}
	return a, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Name is the frontend's name in logs and audit records.
func (a *Adapter) Name() string { return "slack" }

// Chat is how the bot talks back in Slack.
func (a *Adapter) Chat() bot.Chat { return a }

// Routes mounts the HTTP endpoints when a signing secret is configured:
// without one no request could be verified, so none is accepted.
func (a *Adapter) Routes(mux *http.ServeMux) {
	if !a.cfg.HTTP() {
		return
	}
	mux.Handle("POST /slack/commands", a.CommandsHandler())
	mux.Handle("POST /slack/interactions", a.InteractionsHandler())
	mux.Handle("POST /slack/events", a.EventsHandler())
}

// Run runs Socket Mode until ctx is done; in HTTP mode it returns nil at
// once. Commands still being handed to the bot are waited for on return.
func (a *Adapter) Run(ctx context.Context) error {
	if !a.cfg.SocketMode() {
		return nil
	}
	defer a.inflight.Wait()
	return a.runSocket(ctx)
}

// Wait blocks until every command handed to the bot has been handled. Tests
// and graceful shutdown use it.
func (a *Adapter) Wait() { a.inflight.Wait() }

// dispatch hands cmd to the bot without making the caller (an HTTP request
// or a Socket Mode envelope, both with a 3 s ack deadline) wait. The context
// is detached from the request's: Slack closing the request must not cancel
// the command.
func (a *Adapter) dispatch(cmd bot.Command) {
	a.inflight.Add(1)
	go func() {
		defer a.inflight.Done()
		ctx, cancel := context.WithTimeout(context.Background(), a.handleTimeout)
		defer cancel()
		if a.groups != nil && cmd.User.ID != "" {
			cmd.User.Groups = a.groups.of(ctx, cmd.User.ID)
		}
		if err := a.handler.Handle(ctx, a, cmd); err != nil {
			a.log.Error("handling command", "command_id", cmd.ID, "channel", cmd.Channel.ID, "user", cmd.User.ID, "err", err)
		}
	}()
}

// commandFromSlash normalises a slash command (HTTP or Socket Mode).
func (a *Adapter) commandFromSlash(s slackgo.SlashCommand) bot.Command {
	return bot.Command{
		ID: s.TriggerID,
		Channel: wire.Channel{
			Chat: "slack",
			Team: s.TeamID,
			ID:   s.ChannelID,
			Name: s.ChannelName,
			Ref:  s.ResponseURL,
		},
		User: wire.User{ID: s.UserID, Name: s.UserName},
		Text: s.Text,
		At:   a.now(),
	}
}

// threadActions are the action_ids of the buttons on a thread parent, each
// the command it sends on that thread: Re-check and a watch's Stop.
var threadActions = []string{"again", "stop"}

// commandFromAction turns a Re-check or Stop click into the `again` or
// `stop` command on the clicked message's thread; ok is false for any
// other interaction.
func (a *Adapter) commandFromAction(ic slackgo.InteractionCallback) (bot.Command, bool) {
	if ic.Type != slackgo.InteractionTypeBlockActions {
		return bot.Command{}, false
	}
	clicked := ""
	for _, act := range ic.ActionCallback.BlockActions {
		if act != nil && slices.Contains(threadActions, act.ActionID) {
			clicked = act.ActionID
		}
	}
	if clicked == "" {
		return bot.Command{}, false
	}
	channelID := ic.Channel.ID
	if channelID == "" {
		channelID = ic.Container.ChannelID
	}
	ch := wire.Channel{Chat: "slack", Team: ic.Team.ID, ID: channelID, Name: ic.Channel.Name, Ref: ic.ResponseURL}
	// The button sits on the thread parent, whose ts is the thread id; a
	// button in a reply carries the parent in thread_ts.
	parent := ic.Container.ThreadTs
	if parent == "" {
		parent = ic.Container.MessageTs
	}
	if parent == "" {
		parent = ic.Message.Timestamp
	}
	id := ic.TriggerID
	if id == "" {
		id = "action:" + channelID + ":" + parent + ":" + ic.ActionTs
	}
	th := &wire.Thread{Channel: ch, ID: parent}
	if m := ic.Container.MessageTs; m != "" && m != parent {
		th.Ref = m // the clicked parent is a reply in a mention's thread: the message to edit
	}
	return bot.Command{
		ID:      id,
		Channel: ch,
		User:    wire.User{ID: ic.User.ID, Name: ic.User.Name},
		Text:    clicked,
		Thread:  th,
		At:      a.now(),
	}, true
}

// Ready reports whether the adapter can take commands now: in Socket Mode,
// whether the websocket to Slack is connected; in HTTP mode Slack calls us,
// so there is no connection of ours to be down.
func (a *Adapter) Ready(context.Context) error {
	if a.cfg.SocketMode() && !a.connected.Load() {
		return errors.New("slack socket mode not connected")
	}
	return nil
}
