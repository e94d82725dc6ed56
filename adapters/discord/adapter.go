package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/internal/ttl"
	"github.com/portcheck/portcheck/wire"
)

const (
	commandName  = "portcheck"
	optionTarget = "target"
	// tokenLife is how long an interaction token works; tokenSafe stops using
	// it a minute early so a slow request does not straddle the expiry.
	tokenLife = 15 * time.Minute
	tokenSafe = tokenLife - time.Minute
	// ackTimeout keeps the first response inside Discord's 3 s.
	ackTimeout     = 2500 * time.Millisecond
	handleTimeout  = 30 * time.Second
	recentPerGuild = 20
)

// Options are the adapter's dependencies.
type Options struct {
	Handler  bot.Handler  // required: receives every command
	Client   *http.Client // REST client; nil = a client with a 20 s timeout
	Logger   *slog.Logger // nil = discard
	Now      func() time.Time
	Vantages []string // known vantage names, offered by autocomplete ("web01:443 from eu-1")
}

// Adapter is the Discord frontend: it receives interactions (gateway or
// HTTP), hands commands to the bot, and implements bot.Chat for the answers.
type Adapter struct {
	cfg      Config
	h        bot.Handler
	s        *discordgo.Session
	log      *slog.Logger
	now      func() time.Time
	vantages []string

	seen     *ttl.Cache[struct{}]    // interaction ids already handled (for tokenLife)
	claimed  *ttl.Cache[struct{}]    // interaction ids whose deferred placeholder is used (for tokenLife)
	threads  *ttl.Cache[threadState] // verdict message id -> where its replies go (for threadsFor)
	threadMu sync.Mutex              // one thread creation at a time per process

	recentMu sync.Mutex
	recent   map[string][]string // guild id -> recent targets, newest first

	wg sync.WaitGroup // in-flight Handle calls

	// connected is the gateway's state, for /readyz; discordgo reconnects
	// by itself and says so with Connect/Disconnect events.
	connected atomic.Bool
}

var _ bot.Chat = (*Adapter)(nil)

// New builds the adapter. It does no network I/O: Run registers the command
// and opens the gateway.
func New(cfg Config, opt Options) (*Adapter, error) {
	if opt.Handler == nil {
		return nil, errors.New("discord: Options.Handler is required")
	}
	if cfg.AppID == "" || !cfg.BotToken.set() {
		return nil, errors.New("discord: config needs a bot token and an application id")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	client := opt.Client
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	if cfg.APIURL != "" && cfg.APIURL != DefaultAPIURL {
		rt, err := newAPIRewrite(cfg.APIURL, client.Transport)
		if err != nil {
			return nil, err
		}
		c := *client
		c.Transport = rt
		client = &c
	}
	s, err := discordgo.New("Bot " + cfg.BotToken.reveal())
	if err != nil {
		return nil, fmt.Errorf("discord: session: %w", err)
	}
	s.Client = client
	s.StateEnabled = false // the adapter reads nothing from the cache
	// Interactions arrive without any intent; asking for none keeps the bot
	// free of privileged-intent approval.
	s.Identify.Intents = discordgo.IntentsNone

	a := &Adapter{
		cfg:      cfg,
		h:        opt.Handler,
		s:        s,
		log:      opt.Logger,
		now:      opt.Now,
		vantages: opt.Vantages,
		seen:     ttl.New[struct{}](opt.Now, 50_000),
		claimed:  ttl.New[struct{}](opt.Now, 50_000),
		threads:  ttl.New[threadState](opt.Now, 10_000),
		recent:   map[string][]string{},
	}
	s.AddHandler(a.onInteractionCreate)
	return a, nil
}

// Run registers /portcheck, then in gateway mode holds the gateway open
// until ctx ends; in HTTP mode it returns once the command is registered.
// It waits for in-flight commands before returning.
func (a *Adapter) Run(ctx context.Context) error {
	if err := a.Register(ctx); err != nil {
		return err
	}
	if a.cfg.HTTPMode() {
		return nil
	}
	a.s.AddHandler(func(*discordgo.Session, *discordgo.Connect) { a.connected.Store(true) })
	a.s.AddHandler(func(*discordgo.Session, *discordgo.Disconnect) { a.connected.Store(false) })
	if err := a.s.Open(); err != nil {
		return fmt.Errorf("discord: open gateway: %w", err)
	}
	a.connected.Store(true) // Open returns once the gateway said READY
	defer a.connected.Store(false)
	a.log.Info("discord gateway connected", "config", a.cfg)
	<-ctx.Done()
	err := a.s.Close()
	a.wg.Wait()
	if err != nil {
		return fmt.Errorf("discord: close gateway: %w", err)
	}
	return nil
}

// Wait blocks until every Handle started so far has returned.
func (a *Adapter) Wait() { a.wg.Wait() }

// Command is the /portcheck definition registered on start-up.
func Command() *discordgo.ApplicationCommand {
	return &discordgo.ApplicationCommand{
		Name:        commandName,
		Type:        discordgo.ChatApplicationCommand,
		Description: "Why can't I reach this port? Checks host:port and explains the answer",
		Options: []*discordgo.ApplicationCommandOption{{
			Type:         discordgo.ApplicationCommandOptionString,
			Name:         optionTarget,
			Description:  "web01:443, help, history web01, watch web01:443 every 30s, web01:443 from all",
			Required:     true,
			Autocomplete: true,
			MaxLength:    400,
		}},
	}
}

// Register creates or updates /portcheck: in DISCORD_GUILD_ID's guild (shows
// up instantly) or globally. Creating a command with an existing name
// replaces it, so this is safe on every start and leaves the
// application's other commands alone.
func (a *Adapter) Register(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := a.s.ApplicationCommandCreate(a.cfg.AppID, a.cfg.GuildID, Command(), discordgo.WithContext(ctx)); err != nil {
		where := "globally"
		if a.cfg.GuildID != "" {
			where = "in guild " + a.cfg.GuildID
		}
		return fmt.Errorf("discord: register /%s %s: %w", commandName, where, err)
	}
	return nil
}

// deferMode says what the first response left behind, so the Chat methods
// know whether there is a "thinking…" placeholder to fill.
type deferMode string

const (
	deferPublic    deferMode = "p" // "portcheck is thinking…" visible to all: Start fills it
	deferEphemeral deferMode = "e" // the same, only the caller sees it: Ephemeral fills it
	deferUpdate    deferMode = "u" // a button click: no placeholder, the clicked message stays
)

// received is what an interaction asks for: the first response to send, and
// the command to hand to the bot after that response is on its way.
type received struct {
	resp *discordgo.InteractionResponse
	cmd  *bot.Command
	ref  ref
	dup  bool
}

// receive is shared by the gateway and the HTTP endpoint.
func (a *Adapter) receive(i *discordgo.Interaction) received {
	switch i.Type {
	case discordgo.InteractionPing:
		return received{resp: &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong}}
	case discordgo.InteractionApplicationCommandAutocomplete:
		return received{resp: a.autocomplete(i)}
	case discordgo.InteractionApplicationCommand:
		data := i.ApplicationCommandData()
		if data.Name != commandName {
			return received{resp: ephemeralResponse("Unknown command /" + data.Name)}
		}
		text := ""
		if o := optionValue(data.Options, optionTarget); o != nil {
			text = strings.TrimSpace(o.StringValue())
		}
		mode := deferPublic
		if isHelp(text) {
			mode = deferEphemeral
		}
		r := a.newRef(i, mode)
		cmd := a.command(i, text, r)
		a.remember(i.GuildID, text)
		resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource}
		if mode == deferEphemeral {
			resp.Data = &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}
		}
		return received{resp: resp, cmd: &cmd, ref: r, dup: !a.seen.Add(i.ID, struct{}{}, tokenLife)}
	case discordgo.InteractionMessageComponent:
		data := i.MessageComponentData()
		r := a.newRef(i, deferUpdate)
		cmd := a.command(i, decodeCustomID(data.CustomID), r)
		if i.Message != nil {
			// The clicked message is the thread parent; this interaction's
			// token edits it as @original for the next 15 minutes.
			tr := r
			tr.IID, tr.Defer, tr.Orig = "", "", true
			tr.Name = threadName(i.Message)
			cmd.Thread = &wire.Thread{Channel: cmd.Channel, ID: i.Message.ID, Ref: tr.encode()}
		}
		// Acknowledge without a placeholder: the bot decides whether the
		// answer is a new verdict (Start) or goes in the existing thread.
		resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
		return received{resp: resp, cmd: &cmd, ref: r, dup: !a.seen.Add(i.ID, struct{}{}, tokenLife)}
	}
	return received{resp: ephemeralResponse("portcheck does not handle this kind of interaction")}
}

func ephemeralResponse(text string) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: text, Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: noMentions()},
	}
}

func optionValue(opts []*discordgo.ApplicationCommandInteractionDataOption, name string) *discordgo.ApplicationCommandInteractionDataOption {
	for _, o := range opts {
		if o.Name == name {
			return o
		}
	}
	return nil
}

func isHelp(text string) bool {
	t := strings.ToLower(strings.TrimSpace(text))
	return t == "" || t == "help" || t == "?" || strings.HasPrefix(t, "help ")
}

func threadName(m *discordgo.Message) string {
	if m != nil {
		for _, e := range m.Embeds {
			if e != nil && e.Title != "" {
				return e.Title
			}
		}
		if m.Content != "" {
			return m.Content
		}
	}
	return "portcheck"
}

func (a *Adapter) newRef(i *discordgo.Interaction, mode deferMode) ref {
	return ref{App: i.AppID, Token: i.Token, At: a.now().Unix(), IID: i.ID, Defer: mode}
}

// command normalises an interaction for the bot.
func (a *Adapter) command(i *discordgo.Interaction, text string, r ref) bot.Command {
	u := wire.User{}
	var du *discordgo.User
	if i.Member != nil {
		du = i.Member.User
		u.Groups = append(u.Groups, i.Member.Roles...)
	} else {
		du = i.User
	}
	if du != nil {
		u.ID = du.ID
		u.Name = du.GlobalName
		if u.Name == "" {
			u.Name = du.Username
		}
	}
	return bot.Command{
		ID:      "discord:" + i.ID,
		Channel: wire.Channel{Chat: "discord", Team: i.GuildID, ID: i.ChannelID, Ref: r.encode()},
		User:    u,
		Text:    text,
		At:      a.now(),
	}
}

// onInteractionCreate is the gateway path.
func (a *Adapter) onInteractionCreate(s *discordgo.Session, ic *discordgo.InteractionCreate) {
	if ic == nil || ic.Interaction == nil {
		return
	}
	rc := a.receive(ic.Interaction)
	if rc.dup {
		// A resumed gateway can replay an event: it was answered already.
		a.log.Debug("discord: duplicate interaction ignored", "interaction", ic.ID)
		return
	}
	if rc.resp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
		err := s.InteractionRespond(ic.Interaction, rc.resp, discordgo.WithContext(ctx))
		cancel()
		if err != nil {
			// Without an acknowledgement the token is dead: running the
			// command would only produce failing posts.
			a.log.Error("discord: acknowledge interaction", "interaction", ic.ID, "err", err)
			return
		}
	}
	if rc.cmd != nil {
		a.dispatch(*rc.cmd, rc.ref)
	}
}

// dispatch calls the bot asynchronously: the acknowledgement is already on
// its way, and Handle may take longer than Discord's 3 s.
func (a *Adapter) dispatch(cmd bot.Command, r ref) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), handleTimeout)
		defer cancel()
		err := a.h.Handle(ctx, a, cmd)
		if err != nil {
			a.log.Error("discord: handle command", "command_id", cmd.ID, "err", err)
		}
		// A placeholder nobody filled would say "thinking…" until Discord
		// gives up: say what happened, or remove it when the bot answered
		// elsewhere (in an existing thread).
		if r.Defer == deferUpdate || !a.claimed.Add(r.IID, struct{}{}, tokenLife) {
			if err != nil && r.Defer == deferUpdate {
				a.followupError(ctx, r)
			}
			return
		}
		i := r.interaction()
		if err != nil {
			msg := bot.Message{Status: bot.StatusError, Text: "portcheck could not take this request; please try again"}
			edit := &discordgo.WebhookEdit{Embeds: &[]*discordgo.MessageEmbed{renderEmbed(msg)}, AllowedMentions: noMentions()}
			if _, e := a.s.InteractionResponseEdit(i, edit, discordgo.WithContext(ctx)); e != nil {
				a.log.Error("discord: report failure", "command_id", cmd.ID, "err", e)
			}
			return
		}
		if e := a.s.InteractionResponseDelete(i, discordgo.WithContext(ctx)); e != nil {
			a.log.Warn("discord: remove unused placeholder", "command_id", cmd.ID, "err", e)
		}
	}()
}

func (a *Adapter) followupError(ctx context.Context, r ref) {
	msg := bot.Message{Status: bot.StatusError, Text: "portcheck could not take this request; please try again"}
	_, err := a.s.FollowupMessageCreate(r.interaction(), false, &discordgo.WebhookParams{
		Embeds: []*discordgo.MessageEmbed{renderEmbed(msg)}, Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: noMentions(),
	}, discordgo.WithContext(ctx))
	if err != nil {
		a.log.Error("discord: report failure", "err", err)
	}
}

// remember keeps a guild's recent targets for autocomplete.
func (a *Adapter) remember(guild, text string) {
	target := firstWord(text)
	switch strings.ToLower(target) {
	case "", "help", "history", "watch", "stop", "again", "?":
		return
	}
	a.recentMu.Lock()
	defer a.recentMu.Unlock()
	list := []string{target}
	for _, t := range a.recent[guild] {
		if t != target && len(list) < recentPerGuild {
			list = append(list, t)
		}
	}
	if _, ok := a.recent[guild]; !ok && len(a.recent) >= 1000 {
		return // bounded: an unknown guild past the cap gets no memory
	}
	a.recent[guild] = list
}

func firstWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// autocomplete offers the guild's recent targets and "… from <vantage>":
// both are in memory, so answering costs nothing.
func (a *Adapter) autocomplete(i *discordgo.Interaction) *discordgo.InteractionResponse {
	typed := ""
	data := i.ApplicationCommandData()
	if o := optionValue(data.Options, optionTarget); o != nil {
		typed = strings.TrimSpace(o.StringValue())
	}
	var out []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s == "" || textLen(s) > 100 || len(out) >= 25 {
			return
		}
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	add(typed)
	a.recentMu.Lock()
	recent := append([]string(nil), a.recent[i.GuildID]...)
	a.recentMu.Unlock()
	lower := strings.ToLower(typed)
	for _, t := range recent {
		if strings.Contains(strings.ToLower(t), lower) {
			add(t)
		}
	}
	if typed != "" && !strings.Contains(lower, " from ") && !strings.Contains(lower, " ") {
		for _, v := range a.vantages {
			add(typed + " from " + v)
		}
		if len(a.vantages) > 1 {
			add(typed + " from all")
		}
	}
	if typed == "" {
		add("help")
	}
	choices := make([]*discordgo.ApplicationCommandOptionChoice, 0, len(out))
	for _, s := range out {
		choices = append(choices, &discordgo.ApplicationCommandOptionChoice{Name: s, Value: s})
	}
	return &discordgo.InteractionResponse{
		Type: discordgo.InteractionApplicationCommandAutocompleteResult,
		Data: &discordgo.InteractionResponseData{Choices: choices},
	}
}

// Ready reports whether the adapter can take commands now: in gateway mode,
// whether the gateway websocket is up; in HTTP mode Discord calls us, so
// there is no connection of ours to be down.
func (a *Adapter) Ready(context.Context) error {
	if !a.cfg.HTTPMode() && !a.connected.Load() {
		return errors.New("discord gateway not connected")
	}
	return nil
}
