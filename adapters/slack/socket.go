package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// slogOutput lets slack-go's logger interface write to our slog.Logger
// instead of its default stderr logger.
type slogOutput struct{ log *slog.Logger }

func (o slogOutput) Output(_ int, s string) error {
	o.log.Debug(strings.TrimSpace(s))
	return nil
}

// runSocket connects over Socket Mode and serves envelopes until ctx is done.
func (a *Adapter) runSocket(ctx context.Context) error {
	opts := []socketmode.Option{socketmode.OptionLog(slogOutput{a.log})}
	if a.pingInterval > 0 {
		opts = append(opts, socketmode.OptionPingInterval(a.pingInterval))
	}
	client := socketmode.New(a.api, opts...)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- client.RunContext(ctx)
		cancel()
	}()
	defer a.connected.Store(false)
	for {
		select {
		case <-ctx.Done():
			err := <-errc
			if err == nil || errors.Is(err, context.Canceled) {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case evt := <-client.Events:
			a.onEvent(ctx, client, evt)
		}
	}
}

// onEvent acks an envelope at once (Slack redelivers after 3 s without one)
// and hands a command to the bot unless it was seen before.
func (a *Adapter) onEvent(ctx context.Context, client *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		a.connected.Store(true)
		a.log.Info("socket mode connected")
		return
	case socketmode.EventTypeConnecting, socketmode.EventTypeDisconnect:
		a.connected.Store(false)
		return
	case socketmode.EventTypeConnectionError:
		a.connected.Store(false)
		a.log.Warn("socket mode", "event", string(evt.Type), "detail", fmt.Sprint(evt.Data))
		return
	case socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage, socketmode.EventTypeErrorWriteFailed:
		a.log.Warn("socket mode", "event", string(evt.Type), "detail", fmt.Sprint(evt.Data))
		return
	case socketmode.EventTypeInvalidAuth:
		a.connected.Store(false)
		a.log.Error("socket mode: invalid app token (SLACK_APP_TOKEN)")
		return
	case socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive, socketmode.EventTypeEventsAPI:
	default:
		return
	}
	if evt.Request == nil {
		return
	}
	if err := client.AckCtx(ctx, evt.Request.EnvelopeID, nil); err != nil {
		a.log.Warn("socket mode ack", "envelope", evt.Request.EnvelopeID, "err", err)
	}
	envKey := ""
	if evt.Request.EnvelopeID != "" {
		envKey = "env:" + evt.Request.EnvelopeID
	}
	if evt.Type == socketmode.EventTypeEventsAPI {
		env, err := eventFromSocket(evt.Request.Payload)
		if err != nil {
			a.log.Warn("socket mode: unreadable event", "envelope", evt.Request.EnvelopeID, "err", err)
			return
		}
		a.onMention(env, evt.Request.Payload, fmt.Sprint(evt.Request.RetryAttempt), evt.Request.RetryReason, envKey)
		return
	}
	switch data := evt.Data.(type) {
	case slackgo.SlashCommand:
		if !a.seen.first(envKey, dedupeKey("cmd", data.TriggerID, evt.Request.Payload)) {
			a.log.Info("dropping redelivered command", "command_id", data.TriggerID,
				"retry_attempt", evt.Request.RetryAttempt, "retry_reason", evt.Request.RetryReason)
			return
		}
		a.dispatch(a.commandFromSlash(data))
	case slackgo.InteractionCallback:
		cmd, ok := a.commandFromAction(data)
		if !ok {
			return
		}
		if !a.seen.first(envKey, dedupeKey("cmd", cmd.ID, evt.Request.Payload)) {
			return
		}
		a.dispatch(cmd)
	}
}
