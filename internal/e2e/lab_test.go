package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/netlab"
	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/worker"
)

// workerEnv makes this test binary a `portcheck worker` with the real
// prober (TestMain): the lab test starts it inside a lab namespace, where
// it reaches Redis through a unix socket (the namespaces have no route to
// the host's loopback).
const workerEnv = "PORTCHECK_E2E_WORKER"

// helperWorker serves one vantage until killed. Env: PORTCHECK_E2E_WORKER
// = redis URL, _VANTAGE, _PREFIX, _CONTROL (control target, may be empty).
func helperWorker() int {
	url := os.Getenv(workerEnv)
	vantage, prefix, control := os.Getenv(workerEnv+"_VANTAGE"), os.Getenv(workerEnv+"_PREFIX"), os.Getenv(workerEnv+"_CONTROL")
	o := fast(prefix, "w-"+vantage)
	o.ClaimIdle = time.Minute
	st, err := rstore.Open(context.Background(), url, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	timeout, conc := 2*time.Second, 8
	if d, err := time.ParseDuration(os.Getenv(workerEnv + "_TIMEOUT")); err == nil {
		timeout = d
	}
	if n, err := strconv.Atoi(os.Getenv(workerEnv + "_CONCURRENCY")); err == nil {
		conc = n
	}
	// As internal/app builds a worker's prober.
	var c worker.Checker = checks.NewProber(checks.Config{Timeout: timeout, Vantage: vantage, CoalesceWithin: checks.WorkerCoalesce})
	if control != "" {
		c = worker.EgressChecker{Checker: c, Control: control}
	}
	w, err := worker.New(worker.Params{Queue: st.Queue(), Results: st.Results(), Checker: c, Vantage: vantage, ProgressAfter: -1,
		Concurrency: conc, Timeout: 4 * timeout})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	go func() { _ = st.Heartbeat(ctx, rstore.VantageInfo{Name: vantage, Version: "lab"}) }()
	w.Run(ctx)
	return 0
}

func needLab(t testing.TB) {
	t.Helper()
	if err := netlab.Requirements(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("lab required under CI=true: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
}

// labWorker starts a helper worker inside namespace ns.
func labWorker(t testing.TB, ns, url, prefix, vantage, control string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+url, workerEnv+"_VANTAGE="+vantage, workerEnv+"_PREFIX="+prefix, workerEnv+"_CONTROL="+control)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// ip netns exec execs the binary in place: this kills the worker.
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// The differential with real probes. r1 drops TCP 7004 toward the server
// (FORWARD DROP): a worker in the client namespace ("outside") sees it
// filtered, one in r2's namespace ("inside", past r1) sees it open. The
// merged verdict names the perimeter. A second outside worker with a
// control target behind the same r1 ("outside-ctl") proves with its egress
// self-check that its own path drops port 7004 outbound, and the verdict
// says so instead of blaming the target.
func TestDifferentialInTheLab(t *testing.T) {
	needLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lab, err := netlab.Up(ctx, netlab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lab.Close() })

	sock := t.TempDir() + "/redis.sock"
	srv := redistest.Start(t, redistest.Args("--unixsocket", sock, "--unixsocketperm", "777"))
	unix := "unix://" + sock
	labWorker(t, lab.NS.R2, unix, "lab", "inside", "")
	labWorker(t, lab.NS.Client, unix, "lab", "outside", "")
	labWorker(t, lab.NS.Client, unix, "lab", "outside-ctl", lab.Addr.Server6.String())
	p := startBot(t, srv.URL(0), fast("lab", "bot"))

	deadline := time.Now().Add(20 * time.Second)
	for {
		vs, err := openStore(t, srv.URL(0), fast("lab", "probe")).Vantages(ctx)
		if err == nil && len(vs) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lab workers never registered: %v %v", vs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	target := fmt.Sprintf("%s:%d", lab.Addr.Server, lab.Ports.PathDrop)
	if err := p.ask(t, "lab1", target+" from inside,outside"); err != nil {
		t.Fatal(err)
	}
	if err := p.ask(t, "lab2", target+" from inside,outside-ctl"); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 60*time.Second)
	got := p.chat.text()
	t.Logf("chat:\n%s", got)
	for _, want := range []string{
		"update #1 problem: " + target + " — open from inside but filtered",
		"from outside → a perimeter firewall, security group or missing port forward blocks outside",
		"update #2 problem: " + target + " — open from inside; outside-ctl's own network blocks outbound port 7004 (the control target is unreachable too)",
		"egress blocked (control [" + lab.Addr.Server6.String() + "]:7004",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("chat lacks %q", want)
		}
	}
}
