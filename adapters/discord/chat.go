package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/wire"
)

// ref is what wire.Channel.Ref and wire.Thread.Ref carry: everything needed
// to answer. The bot keeps it by run on its side (jobs carry none), so a
// result posted by another replica still lands in the right place.
type ref struct {
	App   string    `json:"a"`
	Token string    `json:"t,omitempty"`  // interaction token: works 15 minutes
	At    int64     `json:"at,omitempty"` // unix seconds when the token was issued
	IID   string    `json:"i,omitempty"`  // interaction id (Channel refs)
	Defer deferMode `json:"d,omitempty"`  // what the first response left (Channel refs)
	Orig  bool      `json:"o,omitempty"`  // the thread parent is the token's @original
	Name  string    `json:"n,omitempty"`  // thread name for the evidence
}

func (r ref) encode() string {
	b, _ := json.Marshal(r) // a struct of strings always marshals
	return string(b)
}

func decodeRef(s string) (ref, error) {
	var r ref
	if s == "" {
		return r, errors.New("discord: missing adapter reference (not a Discord channel or thread?)")
	}
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return r, fmt.Errorf("discord: bad adapter reference: %w", err)
	}
	return r, nil
}

func (r ref) interaction() *discordgo.Interaction {
	return &discordgo.Interaction{ID: r.IID, AppID: r.App, Token: r.Token}
}

// tokenValid says whether the interaction token may still be used.
func (a *Adapter) tokenValid(r ref) bool {
	return r.Token != "" && a.now().Sub(time.Unix(r.At, 0)) < tokenSafe
}

// threadsFor is how long a verdict's thread is remembered: a watch runs for
// up to a day.
const threadsFor = 24 * time.Hour

// threadState is where a verdict's replies go.
type threadState struct {
	threadID string // the thread started from the verdict message
	fallback bool   // threads not allowed here: follow-ups instead
	noted    bool   // the fallback has been explained once
}

// Start fills the deferred "thinking…" placeholder with the parent message,
// or posts a new message when there is no placeholder left to fill.
func (a *Adapter) Start(ctx context.Context, c wire.Channel, m bot.Message) (wire.Thread, error) {
	r, err := decodeRef(c.Ref)
	if err != nil {
		return wire.Thread{}, err
	}
	embeds, comps := []*discordgo.MessageEmbed{renderEmbed(m)}, renderComponents(m.Buttons)
	name := threadNameFor(m)
	tr := ref{App: r.App, Token: r.Token, At: r.At, Name: name}
	if !a.tokenValid(r) {
		// Only a watch or a late Start gets here: post with the bot token.
		msg, err := a.s.ChannelMessageSendComplex(c.ID, &discordgo.MessageSend{Embeds: embeds, Components: comps, AllowedMentions: noMentions()}, postOpts(ctx)...)
		if err != nil {
			return wire.Thread{}, fmt.Errorf("discord: post parent in channel %s: %w", c.ID, later(err))
		}
		tr.Token, tr.At = "", 0
		return wire.Thread{Channel: c, ID: msg.ID, Ref: tr.encode()}, nil
	}
	if r.Defer == deferPublic && a.claimed.Add(r.IID, struct{}{}, tokenLife) {
		msg, err := a.editOriginal(ctx, r, &discordgo.WebhookEdit{Embeds: &embeds, Components: &comps, AllowedMentions: noMentions()})
		if err != nil {
			// The placeholder is still there to fill: by a later try, or
			// by the private note that says the thread waits.
			a.claimed.Delete(r.IID)
			return wire.Thread{}, fmt.Errorf("discord: edit deferred response: %w", later(err))
		}
		tr.Orig = true
		return wire.Thread{Channel: c, ID: msg.ID, Ref: tr.encode()}, nil
	}
	if r.Defer == deferEphemeral && a.claimed.Add(r.IID, struct{}{}, tokenLife) {
		// The placeholder is private; a verdict is for everyone. Remove it so
		// the follow-up below stands on its own instead of inheriting its flag.
		if err := a.s.InteractionResponseDelete(r.interaction(), postOpts(ctx)...); err != nil {
			return wire.Thread{}, fmt.Errorf("discord: remove private placeholder: %w", later(err))
		}
	}
	msg, err := a.s.FollowupMessageCreate(r.interaction(), true, &discordgo.WebhookParams{Embeds: embeds, Components: comps, AllowedMentions: noMentions()}, postOpts(ctx)...)
	if err != nil {
		return wire.Thread{}, fmt.Errorf("discord: post follow-up parent: %w", later(err))
	}
	return wire.Thread{Channel: c, ID: msg.ID, Ref: tr.encode()}, nil
}

// editOriginal fills the deferred placeholder. In HTTP mode the
// acknowledgement travels in our HTTP response, and the bot can be quicker
// than Discord at registering it: "unknown webhook/interaction" right after
// the ack means "not yet", so retry briefly.
func (a *Adapter) editOriginal(ctx context.Context, r ref, edit *discordgo.WebhookEdit) (*discordgo.Message, error) {
	for attempt := 1; ; attempt++ {
		msg, err := a.s.InteractionResponseEdit(r.interaction(), edit, postOpts(ctx)...)
		if err == nil || attempt == 3 {
			return msg, err
		}
		if c := restCode(err); c != discordgo.ErrCodeUnknownWebhook && c != discordgo.ErrCodeUnknownInteraction {
			return msg, err
		}
		t := time.NewTimer(time.Duration(attempt) * 200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return msg, err
		case <-t.C:
		}
	}
}

// Update edits the parent: through the interaction token while it lives
// (needs no permission), then with the bot token (a watch outlives 15 min).
func (a *Adapter) Update(ctx context.Context, t wire.Thread, m bot.Message) error {
	r, err := decodeRef(t.Ref)
	if err != nil {
		return err
	}
	embeds, comps := []*discordgo.MessageEmbed{renderEmbed(m)}, renderComponents(m.Buttons)
	if a.tokenValid(r) {
		edit := &discordgo.WebhookEdit{Embeds: &embeds, Components: &comps, AllowedMentions: noMentions()}
		id := t.ID
		if r.Orig {
			id = "@original"
		}
		_, err := a.s.WebhookMessageEdit(r.App, r.Token, id, edit, postOpts(ctx)...)
		if err == nil {
			return nil
		}
		if !tokenExpired(err) {
			return fmt.Errorf("discord: edit message %s: %w", t.ID, later(err))
		}
		// Clocks disagree about the 15 minutes: try the bot token.
	}
	_, err = a.s.ChannelMessageEditComplex(&discordgo.MessageEdit{
		ID: t.ID, Channel: t.Channel.ID, Embeds: &embeds, Components: &comps, AllowedMentions: noMentions(),
	}, postOpts(ctx)...)
	if err != nil {
		return fmt.Errorf("discord: edit message %s with bot token: %w", t.ID, later(err))
	}
	return nil
}

// Reply posts in the thread started from the verdict message, starting it on
// the first reply. Where threads are not allowed (DMs, threads, missing
// permission) it falls back to follow-up messages and says so once.
func (a *Adapter) Reply(ctx context.Context, t wire.Thread, m bot.Message) error {
	r, err := decodeRef(t.Ref)
	if err != nil {
		return err
	}
	st, err := a.threadFor(ctx, t, r)
	if err != nil {
		return err
	}
	posts := renderPosts(m)
	if st.fallback && !st.noted {
		posts = append([]string{"ℹ️ Threads are not available here, so the details follow as separate messages."}, posts...)
	}
	comps := renderComponents(m.Buttons)
	for i, p := range posts {
		var c []discordgo.MessageComponent
		if i == len(posts)-1 {
			c = comps
		}
		if err := a.post(ctx, t, r, st, p, c); err != nil {
			return err
		}
		if st.fallback && !st.noted {
			st.noted = true
			a.threads.Set(t.ID, st, threadsFor)
		}
	}
	return nil
}

func (a *Adapter) post(ctx context.Context, t wire.Thread, r ref, st threadState, content string, comps []discordgo.MessageComponent) error {
	if !st.fallback {
		_, err := a.s.ChannelMessageSendComplex(st.threadID, &discordgo.MessageSend{Content: content, Components: comps, AllowedMentions: noMentions()}, postOpts(ctx)...)
		if err != nil {
			return fmt.Errorf("discord: post in thread %s: %w", st.threadID, later(err))
		}
		return nil
	}
	if a.tokenValid(r) {
		_, err := a.s.FollowupMessageCreate(&discordgo.Interaction{AppID: r.App, Token: r.Token}, true,
			&discordgo.WebhookParams{Content: content, Components: comps, AllowedMentions: noMentions()}, postOpts(ctx)...)
		if err == nil {
			return nil
		}
		if !tokenExpired(err) {
			return fmt.Errorf("discord: post follow-up: %w", later(err))
		}
	}
	// Past the token's life: a reply to the verdict with the bot token.
	_, err := a.s.ChannelMessageSendComplex(t.Channel.ID, &discordgo.MessageSend{
		Content: content, Components: comps, AllowedMentions: noMentions(),
		Reference: &discordgo.MessageReference{MessageID: t.ID, ChannelID: t.Channel.ID, GuildID: t.Channel.Team},
	}, postOpts(ctx)...)
	if err != nil {
		return fmt.Errorf("discord: post reply to %s: %w", t.ID, later(err))
	}
	return nil
}

// threadFor finds or starts the verdict's thread.
func (a *Adapter) threadFor(ctx context.Context, t wire.Thread, r ref) (threadState, error) {
	a.threadMu.Lock()
	defer a.threadMu.Unlock()
	if st, ok := a.threads.Get(t.ID); ok {
		return st, nil
	}
	if t.Channel.Team == "" {
		// Direct messages have no threads.
		st := threadState{fallback: true}
		a.threads.Set(t.ID, st, threadsFor)
		return st, nil
	}
	name := r.Name
	if name == "" {
		name = "portcheck"
	}
	ch, err := a.s.MessageThreadStartComplex(t.Channel.ID, t.ID, &discordgo.ThreadStart{
		Name: cutWords(name, maxThreadName), AutoArchiveDuration: 1440,
	}, postOpts(ctx)...)
	var st threadState
	switch {
	case err == nil:
		st.threadID = ch.ID
	case restCode(err) == discordgo.ErrCodeThreadAlreadyCreatedForThisMessage:
		// Another replica (or an earlier run) started it; a thread started
		// from a message has that message's id.
		st.threadID = t.ID
	case threadsNotAllowed(err):
		a.log.Info("discord: threads not allowed, using follow-ups", "channel", t.Channel.ID, "err", err)
		st.fallback = true
	default:
		return st, fmt.Errorf("discord: start thread on message %s: %w", t.ID, later(err))
	}
	a.threads.Set(t.ID, st, threadsFor)
	return st, nil
}

// Ephemeral answers only the caller (help, input errors, denials). It needs
// the interaction token: Discord has no other way to whisper in a channel.
func (a *Adapter) Ephemeral(ctx context.Context, c wire.Channel, _ wire.User, m bot.Message) error {
	r, err := decodeRef(c.Ref)
	if err != nil {
		return err
	}
	if !a.tokenValid(r) {
		return errors.New("discord: ephemeral message after the interaction token expired")
	}
	embeds, comps := []*discordgo.MessageEmbed{renderEmbed(m)}, renderComponents(m.Buttons)
	switch {
	case r.Defer == deferEphemeral && a.claimed.Add(r.IID, struct{}{}, tokenLife):
		_, err := a.editOriginal(ctx, r, &discordgo.WebhookEdit{Embeds: &embeds, Components: &comps, AllowedMentions: noMentions()})
		if err != nil {
			return fmt.Errorf("discord: edit private response: %w", err)
		}
		return nil
	case r.Defer == deferPublic && a.claimed.Add(r.IID, struct{}{}, tokenLife):
		// The first follow-up after a deferral takes over the public
		// placeholder and its visibility; removing the placeholder first
		// keeps the answer private.
		if err := a.s.InteractionResponseDelete(r.interaction(), postOpts(ctx)...); err != nil {
			return fmt.Errorf("discord: remove public placeholder: %w", err)
		}
	}
	_, err = a.s.FollowupMessageCreate(r.interaction(), false, &discordgo.WebhookParams{
		Embeds: embeds, Components: comps, Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: noMentions(),
	}, postOpts(ctx)...)
	if err != nil {
		return fmt.Errorf("discord: post private follow-up: %w", err)
	}
	return nil
}

// threadNameFor names the evidence thread after the target when the parent
// has one, else after its headline.
func threadNameFor(m bot.Message) string {
	for _, f := range m.Fields {
		if f.Name == "target" || f.Name == "Target" {
			return "portcheck " + f.Value
		}
	}
	head, _ := splitFirstLine(m.Text)
	return head
}

// postOpts are the request options of every post: the caller's deadline,
// and a 429 returned rather than slept through. discordgo would sleep the
// whole Retry-After in line (deaf to the context); returned, it becomes
// the bot's "not now" (later), and the bot queues the post (bot.Outbox).
func postOpts(ctx context.Context) []discordgo.RequestOption {
	return []discordgo.RequestOption{discordgo.WithContext(ctx), discordgo.WithRetryOnRatelimit(false)}
}

// later turns a failure worth retrying (a 429, with its Retry-After; a 5xx;
// a broken connection) into the bot's "not now"; a 4xx and the caller's
// own deadline stay what they are.
func later(err error) error {
	var rl *discordgo.RateLimitError
	switch {
	case errors.As(err, &rl):
		return &bot.RetryLater{After: rl.RetryAfter, Err: err}
	case restStatus(err) >= 500:
		return &bot.RetryLater{Err: err}
	case restStatus(err) != 0, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, discordgo.ErrJSONUnmarshal):
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || strings.Contains(err.Error(), "Exceeded Max retries") {
		return &bot.RetryLater{Err: err}
	}
	return err
}

func restCode(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil {
		return re.Message.Code
	}
	return 0
}

func restStatus(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.StatusCode
	}
	return 0
}

// threadsNotAllowed: the channel cannot hold a thread or the bot may not
// start one; anything else (5xx, rate limit) is a real failure.
func threadsNotAllowed(err error) bool {
	switch restCode(err) {
	case discordgo.ErrCodeCannotExecuteActionOnThisChannelType,
		discordgo.ErrCodeMissingAccess,
		discordgo.ErrCodeMissingPermissions,
		discordgo.ErrCodeThreadIsLocked,
		discordgo.ErrCodeCannotSendMessagesInVoiceChannel:
		return true
	}
	return restStatus(err) == http.StatusForbidden
}

// tokenExpired: Discord answers an expired interaction token with 401
// "Invalid Webhook Token" (50027) or 404 "Unknown Webhook" (10015).
func tokenExpired(err error) bool {
	switch restCode(err) {
	case discordgo.ErrCodeInvalidWebhookTokenProvided, discordgo.ErrCodeUnknownWebhook:
		return true
	}
	return restStatus(err) == http.StatusUnauthorized
}
