package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/app"
	"github.com/portcheck/portcheck/internal/redistest"
	"github.com/portcheck/portcheck/internal/testkit"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/wire"
)

// TestMain lets the test binary stand in for the portcheck binary: the
// lifecycle tests start it as a real subprocess (signals, exit codes) with
// PORTCHECK_TEST_EXEC=1, which runs main instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("PORTCHECK_TEST_EXEC") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// proc is a portcheck subprocess whose JSON log lines are watched.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	msgs chan map[string]any
	done chan error
}

func startPortcheck(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), append([]string{"PORTCHECK_TEST_EXEC=1", "PORTCHECK_CONFIG=",
		"PORTCHECK_LOG_FORMAT=json", "PORTCHECK_LOG_LEVEL=debug"}, env...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, msgs: make(chan map[string]any, 1000), done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case p.msgs <- m:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { <-scanned; p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	})
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// waitMsg waits for n log lines whose msg is msg and returns their job ids.
func (p *proc) waitMsg(msg string, n int, within time.Duration) []string {
	p.t.Helper()
	var ids []string
	deadline := time.After(within)
	for len(ids) < n {
		select {
		case m := <-p.msgs:
			if m["msg"] == msg {
				id, _ := m["job_id"].(string)
				ids = append(ids, id)
			}
		case err := <-p.done:
			p.done <- err
			p.t.Fatalf("portcheck exited (%v) before %d %q lines:\n%s", err, n, msg, p.logs())
		case <-deadline:
			p.t.Fatalf("only %d of %d %q lines within %s:\n%s", len(ids), n, msg, within, p.logs())
		}
	}
	return ids
}

// waitAttr waits for a log line whose msg is msg and returns its key attribute.
func (p *proc) waitAttr(msg, key string, within time.Duration) string {
	p.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m := <-p.msgs:
			if m["msg"] == msg {
				v, _ := m[key].(string)
				return v
			}
		case err := <-p.done:
			p.done <- err
			p.t.Fatalf("portcheck exited (%v) before a %q line:\n%s", err, msg, p.logs())
		case <-deadline:
			p.t.Fatalf("no %q line within %s:\n%s", msg, within, p.logs())
		}
	}
}

// exit waits for the process to end and returns its exit code.
func (p *proc) exit(within time.Duration) int {
	p.t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		p.t.Fatalf("wait: %v", err)
	case <-time.After(within):
		p.t.Fatalf("still running after %s:\n%s", within, p.logs())
	}
	return -1
}

// SIGTERM drains `portcheck worker`: it stops taking jobs, finishes those
// in flight within worker.drain_grace, hands back what the grace cuts
// short, and exits 0. Whatever the case, every job gets exactly one result.
func TestWorkerDrainOnSIGTERMLosesNoJob(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	cases := []struct {
		name        string
		grace       string
		concurrency int
		jobs        int
		// handedBack: jobs the first worker was running when the grace
		// ran out, which a second worker must finish.
		handedBack bool
	}{
		{name: "in-flight jobs finish within the grace", grace: "20s", concurrency: 3, jobs: 5},
		{name: "grace too short: jobs are handed back", grace: "100ms", concurrency: 2, jobs: 4, handedBack: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			port := testkit.StalledPort(t)
			env := []string{"REDIS_URL=" + srv.URL(0), "PORTCHECK_ALLOW=127.0.0.1/32", "PORTCHECK_TIMEOUT=2s",
				"PORTCHECK_DRAIN_GRACE=" + tc.grace, fmt.Sprintf("PORTCHECK_CONCURRENCY=%d", tc.concurrency)}

			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			st, err := rstore.Open(ctx, srv.URL(0), rstore.Options{Consumer: "test-bot"})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			target := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			for i := 0; i < tc.jobs; i++ {
				j := wire.Job{ID: fmt.Sprintf("j%d", i), CommandID: "c1", Target: target, Host: "127.0.0.1", Port: port,
					Addrs: []string{"127.0.0.1"}, Vantage: "drain", Timeout: 10 * time.Second, EnqueuedAt: time.Now(),
					Thread: wire.Thread{Channel: wire.Channel{Chat: "test", ID: "C1"}, ID: "T1"}}
				if err := st.Queue().Enqueue(ctx, j); err != nil {
					t.Fatal(err)
				}
			}

			a := startPortcheck(t, env, "worker", "--vantage", "drain")
			running := a.waitMsg("job started", tc.concurrency, 20*time.Second)
			if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := a.exit(30 * time.Second); code != 0 {
				t.Fatalf("worker exit %d after SIGTERM:\n%s", code, a.logs())
			}
			if !strings.Contains(a.logs(), `"msg":"draining`) {
				t.Errorf("no draining line in the log:\n%s", a.logs())
			}
			for _, id := range running {
				handed := strings.Contains(a.logs(), `"msg":"handed back an interrupted job","cmd":"worker","job_id":"`+id+`"`)
				if handed != tc.handedBack {
					t.Errorf("job %s handed back = %v, want %v:\n%s", id, handed, tc.handedBack, a.logs())
				}
			}

			// A second worker takes what is left: the jobs never started
			// and those handed back (at once, not after ClaimIdle's minutes).
			b := startPortcheck(t, env, "worker", "--vantage", "drain")
			results := map[string]int{}
			var finals []wire.Result
			for len(finals) < tc.jobs {
				rctx, rcancel := context.WithTimeout(ctx, 40*time.Second)
				rd, err := st.Results().Next(rctx)
				rcancel()
				if err != nil {
					t.Fatalf("%d of %d results (%v): %v\nfirst worker:\n%s\nsecond worker:\n%s", len(finals), tc.jobs, results, err, a.logs(), b.logs())
				}
				_ = rd.Ack(ctx)
				r := rd.Result()
				if r.Progress != "" {
					continue
				}
				results[r.Job.ID]++
				finals = append(finals, r)
			}
			_ = b.cmd.Process.Signal(syscall.SIGTERM)
			if code := b.exit(30 * time.Second); code != 0 {
				t.Errorf("second worker exit %d:\n%s", code, b.logs())
			}
			// Nothing more may arrive: a duplicate would be a job run twice.
			rctx, rcancel := context.WithTimeout(ctx, 500*time.Millisecond)
			if rd, err := st.Results().Next(rctx); err == nil && rd.Result().Progress == "" {
				results[rd.Result().Job.ID]++
			}
			rcancel()
			for i := 0; i < tc.jobs; i++ {
				if n := results[fmt.Sprintf("j%d", i)]; n != 1 {
					t.Errorf("job j%d: %d results, want exactly 1 (all: %v)", i, n, results)
				}
			}
			wasRunning := map[string]bool{}
			for _, id := range running {
				wasRunning[id] = true
			}
			for _, r := range finals {
				if r.Error != "" || r.Report.Verdict == "" {
					t.Errorf("job %s: error %q verdict %q (attempt %d)", r.Job.ID, r.Error, r.Report.Verdict, r.Job.Attempt)
				}
				// A handed-back job is the second attempt; the rest, the first.
				if want := 1; r.Job.Attempt != want+btoi(tc.handedBack && wasRunning[r.Job.ID]) {
					t.Errorf("job %s: attempt %d", r.Job.ID, r.Job.Attempt)
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SIGHUP re-reads the config file and swaps the target policy of a running
// serve; a bad file keeps the policy in force and logs why.
func TestServeReloadsPolicyOnSIGHUP(t *testing.T) {
	// While this test runs, SIGHUP must never reach the default action
	// (exit): serve's own handler may not be registered yet when one is
	// sent.
	guard := make(chan os.Signal, 16)
	signal.Notify(guard, syscall.SIGHUP)
	defer signal.Stop(guard)

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "portcheck.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("policy:\n  allow: [127.0.0.2/32]\n")
	ln := greeter(t, "127.0.0.3:0")

	addr := freePort(t)
	env := map[string]string{"HOME": dir, "PORTCHECK_LISTEN": addr, "PORTCHECK_LOG_FORMAT": "json", "PORTCHECK_TIMEOUT": "2s"}
	ff := &fakeFrontend{got: make(chan string, 100)}
	factory := func(d app.FrontendDeps) (app.Frontend, bool, error) {
		ff.h = d.Handler
		return ff, true, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testkit.Buffer
	done := make(chan int, 1)
	go func() {
		done <- serve(ctx, []string{"--config", cfgPath}, stdio{strings.NewReader(""), io.Discard, &logs}, func(k string) string { return env[k] }, []app.FrontendFactory{factory})
	}()
	base := "http://" + addr
	waitHTTP(t, base+"/healthz")

	post := func(text string) string {
		t.Helper()
		r, err := http.Post(base+"/fake?text="+text, "text/plain", nil)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("POST /fake: %v %v", r, err)
		}
		r.Body.Close()
		select {
		case s := <-ff.got:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no answer from the bot")
			return ""
		}
	}
	drain := func() { // the rest of a check's thread
		for {
			select {
			case <-ff.got:
			case <-time.After(3 * time.Second):
				return
			}
		}
	}
	// hup sends SIGHUP until the log shows want (serve registers its
	// handler just after /healthz starts answering).
	hup := func(want string) {
		t.Helper()
		before := strings.Count(logs.String(), want)
		for i := 0; i < 100; i++ {
			if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			if strings.Count(logs.String(), want) > before {
				return
			}
		}
		t.Fatalf("no %q in the log after SIGHUP:\n%s", want, logs.String())
	}

	target := ln.Addr().String()
	if s := post(target); !strings.HasPrefix(s, "ephemeral not allowed to check") {
		t.Fatalf("before reload: %q", s)
	}
	write("policy:\n  allow: [127.0.0.2/32, 127.0.0.3/32]\n")
	hup(`"msg":"config reloaded: policy changed"`)
	if !strings.Contains(logs.String(), `policy.allow: [127.0.0.2/32] -> [127.0.0.2/32, 127.0.0.3/32]`) {
		t.Errorf("the log does not say what changed:\n%s", logs.String())
	}
	if s := post(target); !strings.HasPrefix(s, "start checking 127.0.0.3:") {
		t.Fatalf("after reload: %q", s)
	}
	drain()

	write("policy:\n  allow: [127.0.0.2/32]\n  alow: [0.0.0.0/0]\n")
	hup(`"msg":"config reload failed; keeping the current policy"`)
	if !strings.Contains(logs.String(), `unknown key \"alow\"`) {
		t.Errorf("the log does not say what is wrong:\n%s", logs.String())
	}
	if s := post(target); !strings.HasPrefix(s, "start checking 127.0.0.3:") {
		t.Fatalf("a bad file changed the policy: %q", s)
	}
	drain()

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if r, err := http.Get(url); err == nil {
			r.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

// SIGHUP does not kill `portcheck worker` (the default action would): it
// reloads the policy the worker re-checks job addresses with, and keeps the
// old one when the file is bad.
func TestWorkerReloadsPolicyOnSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	srv := redistest.Start(t)
	cfgPath := filepath.Join(t.TempDir(), "portcheck.yaml")
	write := func(s string) {
		if err := os.WriteFile(cfgPath, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("policy:\n  allow: [10.0.0.0/8]\n")
	w := startPortcheck(t, []string{"REDIS_URL=" + srv.URL(0)}, "worker", "--vantage", "hup", "--config", cfgPath, "--listen", "127.0.0.1:0")
	w.waitMsg("worker serving", 1, 20*time.Second)
	// --listen: probes and metrics for workers too.
	base := "http://" + w.waitAttr("ops endpoints", "listen", 10*time.Second)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": `"redis":"ok"`, "/metrics": `portcheck_queue_depth{vantage="hup"} 0`} {
		if code, body := get(t, base+path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d, lacks %s:\n%s", path, code, want, body)
		}
	}
	cases := []struct {
		file, want string
	}{
		{"policy:\n  allow: [10.0.0.0/8, 192.168.0.0/16]\n", "config reloaded: policy changed"},
		{"policy:\n  allow: [10.0.0.0/8]\n  max_ports: many\n", "config reload failed; keeping the current policy"},
		{"policy:\n  allow: [10.0.0.0/8, 192.168.0.0/16]\n", "config reloaded: policy unchanged"},
	}
	for _, tc := range cases {
		write(tc.file)
		if err := w.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		w.waitMsg(tc.want, 1, 10*time.Second)
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	if code := w.exit(30 * time.Second); code != 0 {
		t.Errorf("exit %d:\n%s", code, w.logs())
	}
}

// The agent's systemd unit has ExecReload: SIGHUP must be logged, not kill
// it (Go's default for an unhandled SIGHUP is to exit), and SIGTERM must
// still end it cleanly.
func TestAgentSurvivesSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	srv := redistest.Start(t)
	a := startPortcheck(t, []string{"REDIS_URL=" + srv.URL(0)}, "agent", "--serve", "--alias", "hupagent")
	a.waitMsg("agent serving", 1, 20*time.Second)
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	a.waitMsg("SIGHUP: the agent has nothing to reload; restart it to change its flags", 1, 10*time.Second)
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.exit(30 * time.Second); code != 0 {
		t.Errorf("exit %d:\n%s", code, a.logs())
	}
}
