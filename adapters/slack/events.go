package slack

import (
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"regexp"
	"strings"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/wire"
)

// Mentions: Slack allows no slash commands inside threads, so people talk
// to portcheck there by name. `@portcheck web01:443` in a channel runs a
// check answered in a thread on the mention; `@portcheck stop` and
// `@portcheck again` in a thread act on that thread's watch and check
// only. They arrive as the Events API's app_mention, over Socket Mode or
// POSTed to /slack/events, signed and retried like commands.

// eventEnvelope is the Events API's outer event (event_callback), with the
// parts portcheck reads.
type eventEnvelope struct {
	Type           string          `json:"type"` // event_callback, url_verification, app_rate_limited
	Challenge      string          `json:"challenge"`
	TeamID         string          `json:"team_id"`
	EventID        string          `json:"event_id"`
	Event          json.RawMessage `json:"event"`
	Authorizations []struct {
		UserID string `json:"user_id"` // the bot user the event was delivered for
	} `json:"authorizations"`
}

// mentionEvent is an app_mention.
type mentionEvent struct {
	Type     string          `json:"type"`
	Subtype  string          `json:"subtype"`
	User     string          `json:"user"`
	BotID    string          `json:"bot_id"`
	Text     string          `json:"text"`
	TS       string          `json:"ts"`
	ThreadTS string          `json:"thread_ts"`
	Channel  string          `json:"channel"`
	Team     string          `json:"team"`
	Edited   json.RawMessage `json:"edited"`
}

// threadRefPrefix marks a Channel.Ref that is not a response_url but the
// thread a mention was typed in (or its own ts, for a mention in the
// channel): Start posts there instead of opening a thread in the channel.
const threadRefPrefix = "thread:"

// threadOfRef returns the thread ts a Channel.Ref names, if it names one.
func threadOfRef(ref string) (string, bool) {
	ts, ok := strings.CutPrefix(ref, threadRefPrefix)
	return ts, ok && ts != ""
}

// commandFromEvent turns an Events API payload into a command. ok is false
// for what portcheck does not act on: other events, the bot's own
// messages and other bots', edits, mentions without a user.
func (a *Adapter) commandFromEvent(env eventEnvelope) (bot.Command, bool) {
	if env.Type != "event_callback" || len(env.Event) == 0 {
		return bot.Command{}, false
	}
	var ev mentionEvent
	if err := json.Unmarshal(env.Event, &ev); err != nil {
		a.log.Warn("unreadable event", "event_id", env.EventID, "err", err)
		return bot.Command{}, false
	}
	self := ""
	if len(env.Authorizations) > 0 {
		self = env.Authorizations[0].UserID
	}
	switch {
	case ev.Type != "app_mention":
		return bot.Command{}, false
	case ev.BotID != "" || ev.Subtype != "" || ev.User == "" || (self != "" && ev.User == self):
		return bot.Command{}, false // a bot (this one too), or a message that is not a person's
	case len(ev.Edited) > 0 && string(ev.Edited) != "null":
		return bot.Command{}, false // an edit of a mention answered already
	case ev.Channel == "" || ev.TS == "":
		return bot.Command{}, false
	}
	root := ev.ThreadTS
	if root == "" {
		root = ev.TS // a mention in the channel: answered in a thread on it
	}
	team := env.TeamID
	if team == "" {
		team = ev.Team
	}
	ch := wire.Channel{Chat: "slack", Team: team, ID: ev.Channel, Ref: threadRefPrefix + root}
	cmd := bot.Command{
		ID:      "event:" + env.EventID,
		Channel: ch,
		User:    wire.User{ID: ev.User},
		Text:    mentionText(ev.Text, self),
		At:      a.now(),
	}
	if env.EventID == "" {
		cmd.ID = "mention:" + ev.Channel + ":" + ev.TS
	}
	if ev.ThreadTS != "" {
		cmd.Thread = &wire.Thread{Channel: ch, ID: ev.ThreadTS}
	}
	return cmd, true
}

var (
	mentionRE = regexp.MustCompile(`<@([UW][A-Z0-9]+)(\|[^>]*)?>`)
	linkRE    = regexp.MustCompile(`<([^<>|]*)(\|([^<>]*))?>`)
)

// mentionText is what a person typed after @portcheck: the bot's mention
// taken out (all of them; the first one when who the bot is is unknown),
// Slack's markup undone — <http://web01:443|web01:443> is web01:443,
// <#C1|ops> is #ops — and &amp; &lt; &gt; decoded.
func mentionText(s, self string) string {
	first := true
	s = mentionRE.ReplaceAllStringFunc(s, func(m string) string {
		id := mentionRE.FindStringSubmatch(m)[1]
		if id == self || (self == "" && first) {
			first = false
			return " "
		}
		return m
	})
	s = linkRE.ReplaceAllStringFunc(s, func(m string) string {
		p := linkRE.FindStringSubmatch(m)
		target, label := p[1], p[3]
		switch {
		case strings.HasPrefix(target, "@"):
			return m // another user: left as typed
		case strings.HasPrefix(target, "#") && label != "":
			return "#" + label
		case label != "":
			return label
		case strings.HasPrefix(target, "mailto:"):
			return strings.TrimPrefix(target, "mailto:")
		}
		return target
	})
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

// EventsHandler serves /slack/events (the Events API request URL): the
// url_verification challenge, and app_mention events, acknowledged at once.
func (a *Adapter) EventsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := a.fresh(w, r)
		if !ok {
			return
		}
		var env eventEnvelope
		if err := json.Unmarshal(body, &env); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		switch env.Type {
		case "url_verification":
			// Slack checking the request URL when it is saved.
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"challenge": env.Challenge}) //nolint:errcheck
			return
		case "app_rate_limited":
			a.log.Warn("slack is dropping this app's events: over its rate limit")
			w.WriteHeader(http.StatusOK)
			return
		}
		a.onMention(env, body, r.Header.Get("X-Slack-Retry-Num"), r.Header.Get("X-Slack-Retry-Reason"))
		w.WriteHeader(http.StatusOK)
	})
}

// onMention dispatches an event's command unless the event was seen
// before (Slack redelivers an event it got no timely 200 for, with the
// same event_id: over HTTP with X-Slack-Retry-Num, over Socket Mode with
// retry_attempt).
func (a *Adapter) onMention(env eventEnvelope, raw []byte, retry, reason string, keys ...string) {
	cmd, ok := a.commandFromEvent(env)
	if !ok {
		return
	}
	if !a.seen.first(append(keys, dedupeKey("event", env.EventID, raw))...) {
		a.log.Info("dropping redelivered event", "event_id", env.EventID, "retry", retry, "retry_reason", reason)
		return
	}
	a.dispatch(cmd)
}

// errNoEnvelope: a Socket Mode events_api envelope without a payload.
var errNoEnvelope = errors.New("slack: events_api envelope without a payload")

// eventFromSocket reads the Events API payload of a Socket Mode envelope.
func eventFromSocket(payload json.RawMessage) (eventEnvelope, error) {
	if len(payload) == 0 {
		return eventEnvelope{}, errNoEnvelope
	}
	var env eventEnvelope
	err := json.Unmarshal(payload, &env)
	return env, err
}
