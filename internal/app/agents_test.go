package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/agent"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/golden"
	"github.com/portcheck/portcheck/internal/redistest"
	"github.com/portcheck/portcheck/internal/testkit"
	"github.com/portcheck/portcheck/store/memory"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

// threadChat records a thread as the shell would print it, one message
// after another, so a whole conversation is compared with a golden file.
type threadChat struct {
	mu  sync.Mutex
	out strings.Builder
	n   int
}

func (c *threadChat) add(what string, m bot.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(&c.out, "── %s\n%s", what, bot.RenderText(m))
}

func (c *threadChat) Start(_ context.Context, ch wire.Channel, m bot.Message) (wire.Thread, error) {
	c.add("start", m)
	c.mu.Lock()
	c.n++
	id := strconv.Itoa(c.n)
	c.mu.Unlock()
	return wire.Thread{Channel: ch, ID: id}, nil
}

func (c *threadChat) Reply(_ context.Context, _ wire.Thread, m bot.Message) error {
	c.add("reply", m)
	return nil
}

func (c *threadChat) Update(_ context.Context, _ wire.Thread, m bot.Message) error {
	c.add("update", m)
	return nil
}

func (c *threadChat) Ephemeral(_ context.Context, _ wire.Channel, _ wire.User, m bot.Message) error {
	c.add("ephemeral", m)
	return nil
}

func (c *threadChat) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// fixtureAgent answers host-local jobs with facts read from a JSON fixture,
// the way agentChecker answers with gathered ones.
type fixtureAgent struct {
	facts   agent.Facts
	vantage string
}

func (a fixtureAgent) CheckFacts(_ context.Context, req checks.Request) (checks.Report, json.RawMessage) {
	b, err := json.Marshal(a.facts)
	if err != nil {
		panic(err)
	}
	return agent.HostReport(a.facts, req.Target, req.Host, a.vantage), b
}

type externalChecker func(req checks.Request) checks.Report

func (f externalChecker) Check(_ context.Context, req checks.Request) checks.Report { return f(req) }

type staticVantages []string

func (v staticVantages) Vantages(context.Context) ([]string, error) { return v, nil }

func loadFacts(t *testing.T, name string) agent.Facts {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "agentfacts", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var f agent.Facts
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}

func externalReport(req checks.Request, v checks.Verdict) checks.Report {
	r := checks.Report{Target: req.Target, Host: req.Host, Port: req.Port, Address: "198.18.0.1", Addresses: []string{"198.18.0.1"},
		Verdict: v, ElapsedMS: 12, Summary: "external: " + string(v)}
	switch v {
	case checks.VerdictClosed:
		r.Reason = checks.ReasonReset
		r.Hints = []checks.Hint{{Text: "Start the service or fix its listen address."}}
	case checks.VerdictFilteredAtHost:
		r.Reason = checks.ReasonNoResponse
	case checks.VerdictServiceRefused:
		r.Reason = checks.ReasonSynAck
		r.Service = &checks.Service{Name: "ssh", Refused: true, Detail: "closed before the greeting"}
	default:
		r.Reason = checks.ReasonSynAck
	}
	return r
}

// The thread of a check whose host runs an agent holds the external
// evidence and then the verdict explained with the host's facts; without an
// agent it says what could not be seen and the commands to see it.
func TestAgentMergedThread(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		verdict checks.Verdict
		facts   string // fixture in testdata/agentfacts; "" runs no agent
		want    []string
	}{
		{"loopback-only", "web01:8443", checks.VerdictClosed, "loopback",
			[]string{"listens on 127.0.0.1:8443 only", "listen 0.0.0.0:8443;"}},
		{"stopped", "web01:22", checks.VerdictClosed, "stopped",
			[]string{"nothing listens on port 22/tcp on the host", "sudo systemctl start ssh", "iptables rules: iptables-save -c needs CAP_NET_ADMIN"}},
		{"drop-rule", "web01:8443", checks.VerdictFilteredAtHost, "drop",
			[]string{"DROP rule #3 in INPUT has 14 packets", "sudo iptables -I INPUT 3 -p tcp --dport 8443 -j ACCEPT"}},
		{"hosts-deny", "web01:22", checks.VerdictServiceRefused, "libwrap",
			[]string{`/etc/hosts.deny:7 denies it: "sshd: ALL"`, "| sudo tee -a /etc/hosts.allow"}},
		{"no-agent-closed", "web02:8443", checks.VerdictClosed, "",
			[]string{"no portcheck agent on web02", "sudo ss -tlnp 'sport = :8443'", "systemctl status"}},
		{"no-agent-filtered", "web02:8443", checks.VerdictFilteredAtHost, "",
			[]string{"sudo iptables -L INPUT -v -n --line-numbers", "ip route get VANTAGE_IP"}},
		{"open", "web01:443", checks.VerdictOpen, "loopback", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, res := memory.NewQueue(), memory.NewResults()
			var ids int
			b, err := bot.New(bot.Params{
				Queue: q, Results: res, Audit: memory.NewAudit(),
				Local:  testLocal(t, q, res, externalChecker(func(req checks.Request) checks.Report { return externalReport(req, tc.verdict) }), nil),
				Others: staticVantages{"host:web01"}, HostFacts: agentMerger{},
				Now:   func() time.Time { return time.Date(2026, 11, 24, 14, 2, 0, 0, time.UTC) },
				NewID: func() string { ids++; return "r" + strconv.Itoa(ids) },
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer func() { cancel(); wg.Wait() }()
			wg.Add(1)
			go func() { defer wg.Done(); _ = b.Run(ctx) }()
			if tc.facts != "" {
				w, err := worker.New(worker.Params{Queue: q, Results: res, Vantage: "host:web01", Concurrency: 1,
					Facts: fixtureAgent{facts: loadFacts(t, tc.facts), vantage: "host:web01"}, ProgressAfter: -1})
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() { defer wg.Done(); w.Run(ctx) }()
			}
			chat := &threadChat{}
			cmd := bot.Command{ID: "c1", Channel: wire.Channel{Chat: "test", ID: "C1"}, User: wire.User{ID: "U1", Name: "alice"}, Text: tc.text}
			if err := b.Handle(ctx, chat, cmd); err != nil {
				t.Fatal(err)
			}
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			defer wcancel()
			if err := b.Wait(wctx); err != nil {
				t.Fatalf("the run never finished:\n%s", chat)
			}
			got := chat.String()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("thread lacks %q", w)
				}
			}
			if tc.verdict == checks.VerdictOpen && strings.Contains(got, "as its agent host:web01 sees it") {
				t.Errorf("an open port got a host note")
			}
			golden.Check(t, "agentthread_"+tc.name+".golden", []byte(got))
		})
	}
}

// End to end through Redis: `portcheck agent --serve` (hostname web01)
// gathers real facts on this host for a port bound to 127.0.0.1 only, and
// the bot, finding the agent by its heartbeat, merges them with the
// external "closed" into "listens on 127.0.0.1:PORT only".
func TestAgentMergedThroughRedis(t *testing.T) {
	srv := redistest.Start(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	ctx := context.Background()
	var agentLog testkit.Buffer
	actx, astop := context.WithCancel(ctx)
	agentDone := make(chan error, 1)
	go func() {
		agentDone <- Agent(actx, AgentOptions{Vantages: []string{"host:pcamerge", "web01"}, Hostname: "pcamerge", Timeout: 10 * time.Second},
			Env{Getenv: func(k string) string { return map[string]string{"REDIS_URL": srv.URL(0)}[k] }, Stderr: &agentLog})
	}()
	defer func() {
		astop()
		if err := <-agentDone; err != nil {
			t.Errorf("agent: %v", err)
		}
	}()
	st, err := rstore.Open(ctx, srv.URL(0), rstore.Options{Consumer: "test-bot"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	agents := redisAgents{st}
	registered, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	for {
		as, err := agents.Agents(registered)
		if err == nil && len(as) == 1 && len(as[0].Names) == 2 {
			if as[0].Vantage != "host:pcamerge" || as[0].Names[1] != "web01" {
				t.Fatalf("agents = %+v", as)
			}
			break
		}
		select {
		case <-registered.Done():
			t.Fatalf("the agent never registered; its log:\n%s", agentLog.String())
		case <-time.After(20 * time.Millisecond):
		}
	}

	b, err := bot.New(bot.Params{
		Queue: st.Queue(), Results: st.Results(), Audit: memory.NewAudit(), Claims: st,
		Local:  testLocal(t, st.Queue(), st.Results(), externalChecker(func(req checks.Request) checks.Report { return externalReport(req, checks.VerdictClosed) }), nil),
		Others: st, Agents: agents, HostFacts: agentMerger{}, Instance: st.Results().Instance(),
	})
	if err != nil {
		t.Fatal(err)
	}
	bctx, bstop := context.WithCancel(ctx)
	botDone := make(chan struct{})
	go func() { defer close(botDone); _ = b.Run(bctx) }()
	defer func() { bstop(); <-botDone }()

	chat := &threadChat{}
	cmd := bot.Command{ID: "e2e1", Channel: wire.Channel{Chat: "test", ID: "C1"}, User: wire.User{ID: "U1"}, Text: "web01:" + strconv.Itoa(port)}
	if err := b.Handle(ctx, chat, cmd); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.Wait(wait); err != nil {
		t.Fatalf("the run never finished; thread:\n%s\nagent log:\n%s", chat, agentLog.String())
	}
	got := chat.String()
	for _, w := range []string{"as its agent host:pcamerge sees it", "listens on 127.0.0.1:" + strconv.Itoa(port) + " only", "change its listen address"} {
		if !strings.Contains(got, w) {
			t.Errorf("thread lacks %q:\n%s", w, got)
		}
	}
	// `from all` means the external vantages: the agent is not asked to
	// probe other hosts as if it were one.
	req, _ := bot.Parse("db1:5432 from all", bot.GrammarLimits{})
	if len(req.Vantages) != 0 || !req.AllVantages {
		t.Fatalf("parse: %+v", req)
	}
}

// testLocal is a bot's local worker pool on q and rs (vet: the policy's
// second look at each job's addresses).
func testLocal(t *testing.T, q wire.Queue, rs wire.Results, c worker.Checker, vet worker.AddrChecker) *worker.Worker {
	t.Helper()
	w, err := worker.New(worker.Params{Queue: q, Results: rs, Checker: c, Vet: vet, Concurrency: 1, ProgressAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return w
}
