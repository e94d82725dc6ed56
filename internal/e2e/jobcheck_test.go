package e2e_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/redistest"
	"github.com/portcheck/portcheck/wire"
)

// tamper is someone with write access to Redis rewriting jobs between the
// bot and the workers: the bot's queue with a hook on each job.
type tamper struct {
	wire.Queue
	mod func(*wire.Job)
}

func (q tamper) Enqueue(ctx context.Context, j wire.Job) error {
	q.mod(&j)
	return q.Queue.Enqueue(ctx, j)
}

// Jobs rewritten in Redis to port 0 and port 70000 (the hostile run of
// issue 17 saw port 0 probed and 70000 answered "network unreachable") are
// dead-lettered by the worker with the reason, never reach the prober, and
// the thread says why; the run's untouched port is probed as usual.
func TestForgedPortsDeadLetteredUnprobed(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL(0)
	var mu sync.Mutex
	probed := map[int]int{}
	startWorker(t, url, fast("forged", "w1"), "local", checkFunc(func(_ context.Context, req checks.Request) checks.Report {
		mu.Lock()
		probed[req.Port]++
		mu.Unlock()
		return checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Address: "198.18.3.10", Verdict: checks.VerdictOpen, Reason: checks.ReasonSynAck}
	}))
	forged := map[int]int{80: 0, 81: 70000}
	p := startBot(t, url, fast("forged", "bot"), func(bp *bot.Params) {
		bp.Queue = tamper{Queue: bp.Queue, mod: func(j *wire.Job) {
			if to, ok := forged[j.Port]; ok {
				j.Port = to
			}
		}}
	})
	st := openStore(t, url, fast("forged", "ops"))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if vs, err := st.Vantages(context.Background()); err == nil && len(vs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker never registered")
		}
	}
	if err := p.ask(t, "forged1", "web01:80-82"); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 20*time.Second)
	chat := p.chat.text()
	t.Logf("chat:\n%s", chat)

	mu.Lock()
	if probed[0] != 0 || probed[70000] != 0 || probed[82] != 1 || len(probed) != 1 {
		t.Errorf("probed %v, want only port 82, once", probed)
	}
	mu.Unlock()
	for _, want := range []string{
		"refused: port 0 is not a TCP port (1-65535); no command asks for that, so the job was set aside unprobed",
		"refused: port 70000 is not a TCP port (1-65535)",
		"web01:82 from local: open",
	} {
		if !strings.Contains(chat, want) {
			t.Errorf("the thread lacks %q", want)
		}
	}
	dead, err := st.DeadLetters(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	ports := map[int]string{}
	for _, d := range dead {
		var j wire.Job
		if err := json.Unmarshal([]byte(d.Payload), &j); err != nil {
			t.Fatal(err)
		}
		ports[j.Port] = d.Reason
	}
	if !strings.HasPrefix(ports[0], "refused: port 0") || !strings.HasPrefix(ports[70000], "refused: port 70000") || len(ports) != 2 {
		t.Errorf("dead letters %v, want the port 0 and 70000 jobs with their reasons", ports)
	}
}
