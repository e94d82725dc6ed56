package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/wire"
)

// ErrNotInChannel says the bot could not post because it is not a member of
// the channel; the caller has been told (ephemerally) how to invite it.
var ErrNotInChannel = errors.New("slack: the bot is not in the channel")

// Start posts the thread parent in the channel. For a mention it is the
// first reply in the mention's thread instead: the thread is the
// mention's (its ts, or the thread it was typed in), and Thread.Ref is
// the reply that Update edits.
func (a *Adapter) Start(ctx context.Context, c wire.Channel, m bot.Message) (wire.Thread, error) {
	r := renderParent(m)
	opts := r.options()
	root, inThread := threadOfRef(c.Ref)
	if inThread {
		opts = append(opts, slackgo.MsgOptionTS(root))
	}
	var ts string
	err := a.retry(ctx, "chat.postMessage", func(ctx context.Context) error {
		var err error
		_, ts, err = a.api.PostMessageContext(ctx, c.ID, opts...)
		return err
	})
	if err != nil {
		return wire.Thread{}, a.postFailed(ctx, c, "chat.postMessage", err)
	}
	if inThread {
		return wire.Thread{Channel: c, ID: root, Ref: ts}, nil
	}
	return wire.Thread{Channel: c, ID: ts}, nil
}

// head is the message a thread's Update edits: the parent, or for a
// mention's thread the first reply (Thread.Ref).
func head(t wire.Thread) string {
	if t.Ref != "" {
		return t.Ref
	}
	return t.ID
}

// Update edits the thread parent in place (the verdict replaces "checking…").
func (a *Adapter) Update(ctx context.Context, t wire.Thread, m bot.Message) error {
	r := renderParent(m)
	err := a.retry(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := a.api.UpdateMessageContext(ctx, t.Channel.ID, head(t), r.options()...)
		return err
	})
	if err != nil {
		return a.postFailed(ctx, t.Channel, "chat.update", err)
	}
	return nil
}

// Reply posts in the thread; a message over Slack's limits becomes several
// replies, in order.
func (a *Adapter) Reply(ctx context.Context, t wire.Thread, m bot.Message) error {
	for i, r := range renderPages(m) {
		opts := append(r.options(), slackgo.MsgOptionTS(t.ID))
		err := a.retry(ctx, "chat.postMessage", func(ctx context.Context) error {
			_, _, err := a.api.PostMessageContext(ctx, t.Channel.ID, opts...)
			return err
		})
		if err != nil {
			if i > 0 {
				err = fmt.Errorf("part %d: %w", i+1, err)
			}
			return a.postFailed(ctx, t.Channel, "chat.postMessage (reply)", err)
		}
	}
	return nil
}

// Ephemeral answers only the caller. The command's response_url (in
// Channel.Ref) works even where the bot is not a member, so it is tried
// first; chat.postEphemeral is the fallback once it has expired (30 min, 5
// uses).
func (a *Adapter) Ephemeral(ctx context.Context, c wire.Channel, u wire.User, m bot.Message) error {
	r := renderParent(m)
	opts := r.options()
	if root, ok := threadOfRef(c.Ref); ok {
		// A mention has no response_url: answered in its thread, to the
		// caller only.
		opts = append(opts, slackgo.MsgOptionTS(root))
		c.Ref = ""
	}
	var urlErr error
	if c.Ref != "" {
		if urlErr = a.allowedResponseURL(c.Ref); urlErr == nil {
			urlErr = a.retry(ctx, "response_url", func(ctx context.Context) error {
				_, _, _, err := a.api.SendMessageContext(ctx, c.ID,
					append(r.options(), slackgo.MsgOptionResponseURL(c.Ref, slackgo.ResponseTypeEphemeral))...)
				return err
			})
			if urlErr == nil {
				return nil
			}
		}
		a.log.Warn("response_url failed, trying chat.postEphemeral", "channel", c.ID, "err", urlErr)
	}
	err := a.retry(ctx, "chat.postEphemeral", func(ctx context.Context) error {
		_, err := a.api.PostEphemeralContext(ctx, c.ID, u.ID, opts...)
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: ephemeral to %s in %s: %w", u.ID, c.ID, errors.Join(urlErr, err))
	}
	return nil
}

// allowedResponseURL refuses to send to anything but Slack's hooks (or the
// configured API host, for tests and proxies): a post there carries our
// message, so a ref that is not Slack's is refused however it got here.
func (a *Adapter) allowedResponseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("slack: bad response_url: %w", err)
	}
	api, _ := url.Parse(a.cfg.APIURL)
	switch {
	case u.Scheme == "https" && u.Hostname() == "hooks.slack.com":
		return nil
	case api != nil && u.Scheme == api.Scheme && u.Host == api.Host:
		return nil
	}
	return fmt.Errorf("slack: response_url host %q is not Slack's", u.Host)
}

const notInChannelHelp = "I can't post in this channel because I'm not a member of it. Invite me with `/invite @portcheck`, then try again."

// postFailed wraps a failed post. When Slack says the bot is not in the
// channel, the caller learns it ephemerally instead of the command failing
// in silence (and the error says so: bot.ErrUserTold).
func (a *Adapter) postFailed(ctx context.Context, c wire.Channel, op string, err error) error {
	var se slackgo.SlackErrorResponse
	if errors.As(err, &se) && (se.Err == "not_in_channel" || se.Err == "channel_not_found") {
		if c.Ref != "" {
			if eerr := a.Ephemeral(ctx, c, wire.User{}, bot.Message{Status: bot.StatusError, Text: notInChannelHelp}); eerr != nil {
				a.log.Warn("telling the caller to invite the bot", "channel", c.ID, "err", eerr)
			} else {
				err = fmt.Errorf("%w: %w", bot.ErrUserTold, err)
			}
		}
		return fmt.Errorf("slack: %s in %s: %w: %w", op, c.ID, ErrNotInChannel, err)
	}
	return fmt.Errorf("slack: %s in %s: %w", op, c.ID, err)
}

// retry runs call until it succeeds, fails for good, or is to be tried
// later. 429 waits Retry-After (Slack's per-method, per-channel limits are
// what throttle a busy bot); 5xx and transport errors back off
// exponentially. Slack errors (ok:false) are final: retrying would get the
// same answer. A wait longer than MaxRetryAfter, attempts run out on a
// retryable error, or the caller's deadline: a *bot.RetryLater, which the
// bot queues (bot.Outbox) instead of holding its caller that long.
func (a *Adapter) retry(ctx context.Context, op string, call func(context.Context) error) error {
	backoff := 250 * time.Millisecond
	var err error
	for attempt := 1; ; attempt++ {
		err = call(ctx)
		if err == nil {
			return nil
		}
		wait, retryable := a.retryWait(err, backoff)
		if !retryable {
			break
		}
		if wait > a.maxRetryAfter || attempt >= a.attempts || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", op, later(err))
		}
		a.log.Info("retrying slack call", "op", op, "attempt", attempt, "wait", wait, "err", err)
		if a.onRetry != nil {
			a.onRetry(op)
		}
		if serr := a.sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%s: %w (while waiting to retry: %w)", op, later(err), serr)
		}
		backoff = min(backoff*2, 8*time.Second)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// later is a retryable error as the bot's "not now", with Slack's
// Retry-After when it gave one.
func later(err error) *bot.RetryLater {
	rl := &bot.RetryLater{Err: err}
	var rle *slackgo.RateLimitedError
	if errors.As(err, &rle) {
		rl.After = rle.RetryAfter
	}
	return rl
}

func (a *Adapter) retryWait(err error, backoff time.Duration) (time.Duration, bool) {
	var rl *slackgo.RateLimitedError
	if errors.As(err, &rl) {
		return max(rl.RetryAfter, time.Second), true
	}
	var sc slackgo.StatusCodeError
	if errors.As(err, &sc) {
		switch {
		case sc.Code == http.StatusTooManyRequests: // 429 without Retry-After
			return time.Second, true
		case sc.Code >= 500:
			return backoff, true
		}
		return 0, false
	}
	var se slackgo.SlackErrorResponse
	if errors.As(err, &se) {
		// Slack reports some transient failures as ok:false.
		switch se.Err {
		case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
			return backoff, true
		}
		return 0, false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return 0, false
	}
	// Transport errors (connection reset, timeouts) are worth another try.
	return backoff, true
}
