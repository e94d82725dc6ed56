package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/netlab"
	"github.com/portcheck/portcheck/store/memory"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

// The bot end to end in the network lab: the external probe runs in the
// client namespace, the agent in the server namespace (both by
// re-executing this test binary under `ip netns exec`), and the bot in
// between queues both jobs and posts the merged finding in the thread.

// nsChild runs this test binary's role inside ns and decodes its JSON.
func nsChild(ctx context.Context, ns, role string, out any, env ...string) error {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), labRoleEnv+"="+role), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s in %s: %w: %s", role, ns, err, stderr.String())
	}
	return json.Unmarshal(stdout.Bytes(), out)
}

// nsProber is the external vantage: checks from the client namespace.
type nsProber struct{ ns string }

func (p nsProber) Check(ctx context.Context, req checks.Request) checks.Report {
	var r checks.Report
	if err := nsChild(ctx, p.ns, "probe", &r, "PCA_LAB_HOST="+req.Host, "PCA_LAB_PORT="+strconv.Itoa(req.Port)); err != nil {
		return checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Summary: err.Error()}
	}
	return r
}

// nsAgent is `portcheck agent` inside the server namespace.
type nsAgent struct{ ns, vantage string }

func (a nsAgent) CheckFacts(ctx context.Context, req checks.Request) (checks.Report, json.RawMessage) {
	var f Facts
	if err := nsChild(ctx, a.ns, "gather", &f, "PCA_LAB_PORT="+strconv.Itoa(req.Port)); err != nil {
		return checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Summary: err.Error()}, nil
	}
	b, _ := json.Marshal(f)
	return HostReport(f, req.Target, req.Host, a.vantage), b
}

// labMerger is what cmd/portcheck wires: bot.AgentMerger on Merge.
type labMerger struct{}

func (labMerger) Merge(r checks.Report, raw json.RawMessage) (bot.HostFinding, error) {
	var f Facts
	if err := json.Unmarshal(raw, &f); err != nil {
		return bot.HostFinding{}, err
	}
	fd := Merge(r, f)
	return bot.HostFinding{Summary: fd.Summary, Evidence: fd.Evidence, Hints: fd.Hints, Unseen: fd.Unseen}, nil
}

func (labMerger) WithoutAgent(r checks.Report) []string { return WithoutAgent(r) }

type labAgents []bot.AgentInfo

func (a labAgents) Agents(context.Context) ([]bot.AgentInfo, error) { return a, nil }

// textChat keeps every message rendered as text.
type textChat struct {
	mu  sync.Mutex
	out strings.Builder
}

func (c *textChat) add(m bot.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.WriteString(bot.RenderText(m))
	return nil
}

func (c *textChat) Start(_ context.Context, ch wire.Channel, m bot.Message) (wire.Thread, error) {
	return wire.Thread{Channel: ch, ID: "1"}, c.add(m)
}
func (c *textChat) Reply(_ context.Context, _ wire.Thread, m bot.Message) error  { return c.add(m) }
func (c *textChat) Update(_ context.Context, _ wire.Thread, m bot.Message) error { return c.add(m) }
func (c *textChat) Ephemeral(_ context.Context, _ wire.Channel, _ wire.User, m bot.Message) error {
	return c.add(m)
}

func (c *textChat) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func TestLabBotMergesAgent(t *testing.T) {
	if err := netlab.Requirements(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("lab required under CI=true: %v", err)
		}
		t.Skipf("skipping lab test: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lab, err := netlab.Up(ctx, netlab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	server := lab.Addr.Server.String()

	tests := []struct {
		name    string
		port    int
		verdict checks.Verdict
		want    []string
	}{
		{"loopback only", lab.Ports.Loopback, checks.VerdictClosed,
			[]string{"listens on 127.0.0.1:" + strconv.Itoa(lab.Ports.Loopback) + " only", "change its listen address"}},
		{"stopped", lab.Ports.Closed, checks.VerdictClosed,
			[]string{"nothing listens on port " + strconv.Itoa(lab.Ports.Closed) + "/tcp on the host", "start it"}},
		{"host drop", lab.Ports.HostDrop, checks.VerdictFilteredAtHost,
			[]string{"the host firewall drops it: DROP rule", "in INPUT", "--dport " + strconv.Itoa(lab.Ports.HostDrop), "-j ACCEPT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, res := memory.NewQueue(), memory.NewResults()
			local, err := worker.New(worker.Params{Queue: q, Results: res, Checker: nsProber{lab.NS.Client}, Concurrency: 1, ProgressAfter: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			b, err := bot.New(bot.Params{
				Queue: q, Results: res, Audit: memory.NewAudit(), Local: local,
				HostFacts: labMerger{}, Agents: labAgents{{Vantage: "host:server", Names: []string{server}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			w, err := worker.New(worker.Params{Queue: q, Results: res, Vantage: "host:server", Concurrency: 1,
				Facts: nsAgent{ns: lab.NS.Server, vantage: "host:server"}, ProgressAfter: -1})
			if err != nil {
				t.Fatal(err)
			}
			rctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); _ = b.Run(rctx) }()
			go func() { defer wg.Done(); w.Run(rctx) }()
			defer func() { stop(); wg.Wait() }()

			chat := &textChat{}
			cmd := bot.Command{ID: "lab-" + strconv.Itoa(tc.port), Channel: wire.Channel{Chat: "lab", ID: "C"}, User: wire.User{ID: "U"},
				Text: server + ":" + strconv.Itoa(tc.port)}
			if err := b.Handle(rctx, chat, cmd); err != nil {
				t.Fatal(err)
			}
			wctx, wcancel := context.WithTimeout(rctx, time.Minute)
			defer wcancel()
			if err := b.Wait(wctx); err != nil {
				t.Fatalf("run never finished:\n%s", chat)
			}
			got := chat.String()
			t.Logf("thread:\n%s", got)
			if !strings.Contains(got, bot.VerdictWords(tc.verdict)) {
				t.Errorf("external verdict is not %s", tc.verdict)
			}
			if !strings.Contains(got, "as its agent host:server sees it") {
				t.Errorf("no merged reply")
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("thread lacks %q", w)
				}
			}
		})
	}
}
