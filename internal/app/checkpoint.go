package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/config"
	"github.com/portcheck/portcheck/wire"
)

// parseCheckpointChannel reads "slack:C0AUDIT" (validated by config).
func parseCheckpointChannel(s string) (wire.Channel, bool) {
	chat, id, ok := strings.Cut(s, ":")
	if !ok || chat == "" || id == "" {
		return wire.Channel{}, false
	}
	return wire.Channel{Chat: chat, ID: id}, true
}

// checkpointPoster posts a head as a message in channel, through the chat
// chat returns for its name (nil: that chat is not up).
func checkpointPoster(chat func(name string) bot.Chat, channel wire.Channel) func(ctx context.Context, head string) error {
	return func(ctx context.Context, head string) error {
		c := chat(channel.Chat)
		if c == nil {
			return fmt.Errorf("no chat adapter %q for the checkpoint channel", channel.Chat)
		}
		m := bot.Message{Status: bot.StatusInfo, Text: "audit checkpoint " + head,
			Blocks: []bot.Block{{Kind: bot.BlockCode, Title: "Verify", Text: "portcheck audit verify --checkpoint " + head}}}
		if _, err := c.Start(ctx, channel, m); err != nil {
			return fmt.Errorf("channel %s: %w", channel.ID, err)
		}
		return nil
	}
}

// startCheckpoints starts the checkpointer when audit.checkpoint_channel is
// set and names a configured chat.
func startCheckpoints(bg *background, cfg config.Config, trail audit.Trail, fronts []Frontend, log *slog.Logger) {
	if cfg.Audit.CheckpointChannel == "" {
		return
	}
	ch, ok := parseCheckpointChannel(cfg.Audit.CheckpointChannel)
	if !ok {
		log.Error("audit checkpoints off: bad audit.checkpoint_channel", "value", cfg.Audit.CheckpointChannel)
		return
	}
	chats := map[string]bot.Chat{}
	for _, f := range fronts {
		chats[f.Name()] = f.Chat()
	}
	if chats[ch.Chat] == nil {
		log.Error("audit checkpoints off: the checkpoint channel's chat is not configured", "chat", ch.Chat)
		return
	}
	c := &audit.Checkpointer{Trail: trail, Post: checkpointPoster(func(name string) bot.Chat { return chats[name] }, ch),
		Every: cfg.Audit.CheckpointEvery.Std(), Log: log}
	log.Info("audit checkpoints", "channel", cfg.Audit.CheckpointChannel, "every", c.Every)
	bg.start(c.Run)
}
