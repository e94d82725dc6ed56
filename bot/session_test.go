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

// A watch's parent carries a Stop button; pressing it (the chat sends
// "stop" on that thread) ends that watch only, and the parent loses the
// button. A target typed in the watch's thread is refused rather than
// taking the thread over.
func TestStopButtonEndsThatWatchOnly(t *testing.T) {
	h := newHarness(t, verdictChecker(checks.VerdictOpen), func(p *bot.Params) { p.Limits.WatchesPerChannel = 5 })
	h.say(t, "watch web01:22 every 10m for 1h", nil)
	h.chat.waitFor(t, "update #1 ok: web01:22 — open · 198.18.3.10 · 12ms · watching every 10m")
	h.say(t, "watch web01:80 every 10m for 1h", nil)
	h.chat.waitFor(t, "update #2 ok: web01:80 — open · 198.18.3.10 · 12ms · watching every 10m")
	buttons := func(prefix string) []string {
		h.chat.mu.Lock()
		defer h.chat.mu.Unlock()
		var ids []string
		for i, e := range h.chat.events {
			if strings.HasPrefix(e, prefix) {
				ids = nil
				for _, b := range h.chat.msgs[i].Buttons {
					ids = append(ids, b.ID)
				}
			}
		}
		return ids
	}
	if got := strings.Join(buttons("start #1"), ","); got != "stop" {
		t.Errorf("the watch's first parent has buttons %q, want stop", got)
	}
	if got := strings.Join(buttons("update #1"), ","); got != "again,stop" {
		t.Errorf("the watch's parent has buttons %q, want again,stop", got)
	}
	th := &wire.Thread{Channel: wire.Channel{Chat: "fake", ID: "C1"}, ID: "1"}
	h.say(t, "web01:443", th)
	h.chat.waitFor(t, "ephemeral U1 info: a watch is running in this thread")
	h.say(t, "stop", th) // the button on #1
	h.chat.waitFor(t, "reply #1 info: watch ended: stopped by alice")
	if got := strings.Join(buttons("update #1"), ","); got != "again" {
		t.Errorf("after the stop the parent has buttons %q, want again", got)
	}
	if _, watches := h.bot.Busy(wire.Channel{Chat: "fake", ID: "C1"}); watches != 1 {
		t.Errorf("%d watches left, want the other one", watches)
	}
	if strings.Contains(strings.Join(h.chat.log(), "\n"), "#2 info: watch ended") {
		t.Errorf("the other watch was stopped too:\n%s", strings.Join(h.chat.log(), "\n"))
	}
}
