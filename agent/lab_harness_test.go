package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/netlab"
)

// Lab tests run the agent inside network namespaces they create. Go cannot
// move a whole (multi-threaded) process into a namespace, so the test
// binary re-executes itself under `ip netns exec NS` with PCA_LAB_ROLE set,
// and TestMain dispatches to the child role instead of running tests.

const labRoleEnv = "PCA_LAB_ROLE"

func TestMain(m *testing.M) {
	netlab.ServeIfChild() // the bot-level lab test (botlab_test.go) runs netlab's services
	if role := os.Getenv(labRoleEnv); role != "" {
		os.Exit(labChild(role))
	}
	os.Exit(m.Run())
}

// labChild runs one role and returns the exit code.
//   - gather: print Gather's Facts as JSON (PCA_LAB_PORT, PCA_LAB_PEER, PCA_LAB_ETC)
//   - listen: listen on PCA_LAB_ADDR, print "ready", exit when stdin closes
//   - dial: connect to PCA_LAB_ADDR (from PCA_LAB_SRC) PCA_LAB_N times, print each outcome
func labChild(role string) int {
	switch role {
	case "gather":
		port, _ := strconv.Atoi(os.Getenv("PCA_LAB_PORT"))
		q := Query{Port: port, Proto: "tcp"}
		if p := os.Getenv("PCA_LAB_PEER"); p != "" {
			q.Peer = netip.MustParseAddr(p)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		f := Gather(ctx, q, Options{Etc: os.Getenv("PCA_LAB_ETC")})
		if err := json.NewEncoder(os.Stdout).Encode(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "probe": // the external probe from the client namespace: checks.Report of PCA_LAB_HOST:PCA_LAB_PORT
		port, _ := strconv.Atoi(os.Getenv("PCA_LAB_PORT"))
		p := checks.NewProber(checks.Config{Timeout: 2 * time.Second, Vantage: "lab-client"})
		rep := p.Check(context.Background(), checks.Request{Target: os.Getenv("PCA_LAB_HOST") + ":" + strconv.Itoa(port), Host: os.Getenv("PCA_LAB_HOST"), Port: port})
		if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "listen":
		ln, err := net.Listen("tcp", os.Getenv("PCA_LAB_ADDR"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin) // the parent closes stdin (or dies) to stop us
		ln.Close()
		return 0
	case "dial":
		n, _ := strconv.Atoi(os.Getenv("PCA_LAB_N"))
		d := net.Dialer{Timeout: 400 * time.Millisecond}
		if src := os.Getenv("PCA_LAB_SRC"); src != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		}
		for i := 0; i < n; i++ {
			c, err := d.Dial("tcp", os.Getenv("PCA_LAB_ADDR"))
			switch {
			case err == nil:
				c.Close()
				fmt.Println("open")
			case errors.Is(err, syscall.ECONNREFUSED):
				fmt.Println("refused")
			case isTimeout(err):
				fmt.Println("timeout")
			default:
				fmt.Println("error " + err.Error())
			}
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown lab role", role)
	return 2
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// lab is a server namespace and a client namespace joined by a veth pair:
// server 198.18.0.1/30 (vs), client 198.18.0.2/30 (vc). 198.18.0.0/15 is
// reserved for benchmarking, so nothing real is ever addressed.
type lab struct {
	t        *testing.T
	srv, cli string
	exe      string
}

const (
	labServerIP = "198.18.0.1"
	labClientIP = "198.18.0.2"
)

// requireLab skips (or fails under CI=true) when the lab cannot run.
func requireLab(t *testing.T) {
	t.Helper()
	ci := os.Getenv("CI") == "true"
	fail := t.Skipf
	if ci {
		fail = t.Fatalf
	}
	if os.Geteuid() != 0 {
		fail("lab tests need root to create network namespaces")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-save", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			fail("lab tests need %s: %v", tool, err)
		}
	}
}

// newLab creates the namespaces, named pca-<pid>-<tag>-{s,c} so parallel
// test processes never collide, and always tears them down.
func newLab(t *testing.T, tag string) *lab {
	t.Helper()
	requireLab(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{t: t, exe: exe,
		srv: fmt.Sprintf("pca-%d-%s-s", os.Getpid(), tag),
		cli: fmt.Sprintf("pca-%d-%s-c", os.Getpid(), tag)}
	l.run("ip", "netns", "add", l.srv)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", l.srv).Run() })
	l.run("ip", "netns", "add", l.cli)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", l.cli).Run() })
	l.run("ip", "-n", l.srv, "link", "add", "vs", "type", "veth", "peer", "name", "vc", "netns", l.cli)
	l.run("ip", "-n", l.srv, "addr", "add", labServerIP+"/30", "dev", "vs")
	l.run("ip", "-n", l.cli, "addr", "add", labClientIP+"/30", "dev", "vc")
	for _, ns := range []string{l.srv, l.cli} {
		l.run("ip", "-n", ns, "link", "set", "lo", "up")
	}
	l.run("ip", "-n", l.srv, "link", "set", "vs", "up")
	l.run("ip", "-n", l.cli, "link", "set", "vc", "up")
	return l
}

// run executes a fixed command (no shell) and fails the test on error.
func (l *lab) run(name string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// in runs a command inside namespace ns.
func (l *lab) in(ns, name string, args ...string) string {
	l.t.Helper()
	return l.run("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// child runs this test binary in role inside ns and returns its stdout.
func (l *lab) child(ns, role string, env ...string) string {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, l.exe)
	cmd.Env = append(os.Environ(), append(env, labRoleEnv+"="+role)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		l.t.Fatalf("lab child %s in %s: %v\n%s", role, ns, err, stderr)
	}
	return string(out)
}

// daemon starts a long-running process in ns (the listen role or a
// fixture binary), waits for its "ready" line and stops it at cleanup.
// The returned pid is the daemon's own: `ip netns exec` execs in place.
func (l *lab) daemon(ns string, env []string, name string, args ...string) int {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("daemon said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			l.t.Fatalf("daemon %s: %v", name, err)
		}
	case <-time.After(10 * time.Second):
		l.t.Fatalf("daemon %s: not ready after 10s", name)
	}
	return cmd.Process.Pid
}

// listen runs the listen role on addr in the server namespace.
func (l *lab) listen(addr string) int {
	return l.daemon(l.srv, []string{labRoleEnv + "=listen", "PCA_LAB_ADDR=" + addr}, l.exe)
}

// dial connects from the client namespace n times and returns the outcomes.
func (l *lab) dial(addr string, n int, env ...string) []string {
	out := l.child(l.cli, "dial", append(env, "PCA_LAB_ADDR="+addr, "PCA_LAB_N="+strconv.Itoa(n))...)
	return strings.Fields(out)
}

// gather runs Gather inside the server namespace.
func (l *lab) gather(port int, peer, etc string) Facts {
	l.t.Helper()
	out := l.child(l.srv, "gather", "PCA_LAB_PORT="+strconv.Itoa(port), "PCA_LAB_PEER="+peer, "PCA_LAB_ETC="+etc)
	var f Facts
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		l.t.Fatalf("gather output: %v\n%s", err, out)
	}
	return f
}
