package bot_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/store/memory"
	"github.com/portcheck/portcheck/store/sqlite"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

// renderChat renders every message as the shell would and throws it away,
// so the benchmark pays for rendering but not for a terminal.
type renderChat struct{ n atomic.Int64 }

func (c *renderChat) Start(_ context.Context, ch wire.Channel, m bot.Message) (wire.Thread, error) {
	_, _ = io.WriteString(io.Discard, bot.RenderText(m))
	return wire.Thread{Channel: ch, ID: strconv.FormatInt(c.n.Add(1), 10)}, nil
}
func (c *renderChat) Reply(_ context.Context, _ wire.Thread, m bot.Message) error {
	_, _ = io.WriteString(io.Discard, bot.RenderText(m))
	return nil
}
func (c *renderChat) Update(_ context.Context, _ wire.Thread, m bot.Message) error {
	_, _ = io.WriteString(io.Discard, bot.RenderText(m))
	return nil
}
func (c *renderChat) Ephemeral(context.Context, wire.Channel, wire.User, bot.Message) error {
	return nil
}

// stubChecker answers at once: the benchmark measures the bot, not the network.
type stubChecker struct{}

func (stubChecker) Check(_ context.Context, req checks.Request) checks.Report {
	return checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Address: "198.18.3.10",
		Addresses: []string{"198.18.3.10"}, Verdict: checks.VerdictClosed, Reason: checks.ReasonReset, ElapsedMS: 1,
		Hints: []checks.Hint{{Text: "Nothing listens.", Commands: []string{"ss -ltn"}}}}
}

// benchBot measures one command of one port end to end: parse, audit
// (command and result records), thread start, enqueue, dequeue, stub
// check, result publish/consume, render of the reply and the update.
func benchBot(b *testing.B, audit audit.Trail) {
	q, rs := memory.NewQueue(), memory.NewResults()
	w, err := worker.New(worker.Params{Queue: q, Results: rs, Checker: stubChecker{}, Concurrency: 2})
	if err != nil {
		b.Fatal(err)
	}
	bt, err := bot.New(bot.Params{Queue: q, Results: rs, Audit: audit, Claims: memory.NewClaims(), Local: w})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = bt.Run(ctx) }()
	chat := &renderChat{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := bot.Command{ID: fmt.Sprint("c", i), Channel: wire.Channel{Chat: "bench", ID: "C1"},
			User: wire.User{ID: "U1"}, Text: "/portcheck web01:443"}
		if err := bt.Handle(ctx, chat, cmd); err != nil {
			b.Fatal(err)
		}
	}
	if err := bt.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	cancel()
	<-done
}

func BenchmarkBotPathMemoryAudit(b *testing.B) { benchBot(b, memory.NewAudit()) }

func BenchmarkBotPathSQLiteAudit(b *testing.B) {
	a, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "audit.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	benchBot(b, a)
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := bot.Parse("/portcheck web01:22,80,443 db1:5432 from all", bot.GrammarLimits{}); err != nil {
			b.Fatal(err)
		}
	}
}
