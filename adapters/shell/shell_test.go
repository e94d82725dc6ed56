package shell_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/adapters/shell"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/golden"
	"github.com/portcheck/portcheck/wire"
)

// scripted is a Handler that answers like the bot would, without a queue.
type scripted struct {
	mu   sync.Mutex
	cmds []bot.Command
}

func (h *scripted) Handle(ctx context.Context, c bot.Chat, cmd bot.Command) error {
	h.mu.Lock()
	h.cmds = append(h.cmds, cmd)
	h.mu.Unlock()
	if cmd.Text == "help" {
		return c.Ephemeral(ctx, cmd.Channel, cmd.User, bot.Message{Status: bot.StatusInfo, Text: "usage",
			Blocks: []bot.Block{{Kind: bot.BlockCode, Text: "/portcheck web01:443"}}})
	}
	th, err := c.Start(ctx, cmd.Channel, bot.Message{Status: bot.StatusRunning, Text: "checking " + cmd.Text + " from local…"})
	if err != nil {
		return err
	}
	res := wire.Result{Job: wire.Job{Host: "web01", Port: 443, Vantage: "local"}, Report: checks.Report{
		Host: "web01", Port: 443, Address: "198.18.3.10", Verdict: checks.VerdictClosed, Reason: checks.ReasonReset, ElapsedMS: 3,
		Hints: []checks.Hint{{Text: "Nothing listens.", Commands: []string{"ss -ltn"}}}}}
	if err := c.Reply(ctx, th, bot.EvidenceMessage(res)); err != nil {
		return err
	}
	return c.Update(ctx, th, bot.ParentMessage([]wire.Result{res}))
}

func TestTranscriptGolden(t *testing.T) {
	var out strings.Builder
	h := &scripted{}
	sh := shell.New(shell.Options{Out: &out, User: "alice", Handler: h,
		Now: func() time.Time { return time.Date(2026, 11, 24, 14, 2, 0, 0, time.UTC) }})
	in := "/portcheck web01:443\n\n   help\n#1 again\nagain\n"
	if err := sh.Run(context.Background(), strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "transcript.golden", []byte(out.String()))
	if len(h.cmds) != 4 {
		t.Fatalf("%d commands handled, want 4 (blank lines skipped)", len(h.cmds))
	}
	c := h.cmds[0]
	if c.Channel.Chat != "shell" || c.User.ID != "alice" || c.Text != "/portcheck web01:443" || c.ID == "" {
		t.Errorf("first command: %+v", c)
	}
	if h.cmds[2].Thread == nil || h.cmds[2].Thread.ID != "1" || h.cmds[2].Text != "again" {
		t.Errorf("#1 again: %+v", h.cmds[2])
	}
	if h.cmds[3].Thread == nil || h.cmds[3].Thread.ID != "2" {
		t.Errorf("bare again should go to the latest thread: %+v", h.cmds[3])
	}
	if h.cmds[0].ID == h.cmds[1].ID {
		t.Error("command ids repeat")
	}
}
