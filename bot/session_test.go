package bot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

// Ctrl-C in the shell: the check in flight is answered "cancelled" at once,
// its thread completes, and the probe's late result is not posted again.
// Leaving stops the channel's watches and says so in their threads.
func TestCancelChecksAndStopWatches(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, checkerFunc(func(ctx context.Context, req checks.Request) checks.Report {
		if req.Port == 443 {
			<-release // a slow check: still running when the user presses Ctrl-C
		}
		return report(req, checks.VerdictOpen)
	}), func(p *bot.Params) {})
	ch := wire.Channel{Chat: "fake", ID: "C1"}
	other := wire.Channel{Chat: "fake", ID: "C2"}

	h.say(t, "watch web01:22 every 10m for 1h", nil)
	h.chat.waitFor(t, "watching every 10m")
	h.say(t, "web01:443", nil)
	h.chat.waitFor(t, "start #2")
	if checks, watches := h.bot.Busy(ch); checks != 1 || watches != 1 {
		t.Fatalf("Busy = %d checks, %d watches; want 1 and 1", checks, watches)
	}
	if checks, watches := h.bot.Busy(other); checks != 0 || watches != 0 {
		t.Fatalf("another channel is busy: %d, %d", checks, watches)
	}
	if n := h.bot.CancelChecks(context.Background(), other, "x"); n != 0 {
		t.Fatalf("cancelled %d checks of another channel", n)
	}
	if n := h.bot.CancelChecks(context.Background(), ch, "cancelled: you pressed Ctrl-C"); n != 1 {
		t.Fatalf("CancelChecks = %d, want 1", n)
	}
	h.chat.waitFor(t, "update #2 error: web01:443")
	if checks, _ := h.bot.Busy(ch); checks != 0 {
		t.Errorf("%d checks still busy after the cancel", checks)
	}
	close(release) // the probe finishes late: its result is a duplicate now
	if n := h.bot.StopWatches(context.Background(), ch, "you left the shell"); n != 1 {
		t.Fatalf("StopWatches = %d, want 1", n)
	}
	h.settle(t)
	log := strings.Join(h.chat.log(), "\n")
	for _, want := range []string{"update #2 error: web01:443 — check failed: cancelled: you pressed Ctrl-C", "reply #1 info: watch ended: you left the shell"} {
		if !strings.Contains(log, want) {
			t.Errorf("chat lacks %q:\n%s", want, log)
		}
	}
	if strings.Count(log, "reply #2 ") != 1 || strings.Contains(log, "#2 ok") || strings.Count(log, "update #2 ") != 1 {
		t.Errorf("the late result was posted too:\n%s", log)
	}
	if _, watches := h.bot.Busy(ch); watches != 0 {
		t.Errorf("%d watches left", watches)
	}
}
