// Package redistest starts a real redis-server for tests: on a free loopback
// port, in the test's temporary directory, stopped when the test ends.
//
// Tests that need Redis call Start; without a redis-server binary they are
// skipped with a message saying how to install it, except under CI=true
// where a missing server is a failure (CI must not silently test less).
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one redis-server process owned by a test.
type Server struct {
	// Addr is host:port on 127.0.0.1; it stays the same across Restart.
	Addr string
	// Dir is the server's working directory (AOF files, log).
	Dir string

	tb   testing.TB
	bin  string
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

type config struct {
	appendOnly  bool
	appendFsync string
	password    string
	extra       []string
}

// Option configures Start.
type Option func(*config)

// AppendOnly turns on AOF persistence with the given appendfsync policy
// ("always", "everysec", "no"); tests that restart Redis and count what
// survived want "always", so nothing depends on the fsync timer.
func AppendOnly(fsync string) Option {
	return func(c *config) { c.appendOnly, c.appendFsync = true, fsync }
}

// Password requires AUTH with this password (requirepass).
func Password(p string) Option {
	return func(c *config) { c.password = p }
}

// Args passes extra configuration to redis-server, as pairs of
// "--name", "value" the way the command line takes them.
func Args(args ...string) Option {
	return func(c *config) { c.extra = append(c.extra, args...) }
}

// Start runs redis-server for the rest of the test (it is stopped in
// t.Cleanup). It skips the test when redis-server is not installed, unless
// CI=true.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redistest: redis-server not found in PATH (install it: apt-get install redis-server)"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	cfg := config{appendFsync: "everysec"}
	for _, o := range opts {
		o(&cfg)
	}
	dir := tb.TempDir()
	return launch(tb, bin, dir, func(port int) ([]string, error) {
		return buildArgs(cfg, dir, port), nil
	})
}

// StartSentinel runs a Redis Sentinel monitoring master under the name
// masterName (quorum 1), for testing failover-client configuration. Its
// Addr is the sentinel's own address.
func StartSentinel(tb testing.TB, master *Server, masterName string) *Server {
	tb.Helper()
	bin := master.bin
	dir := tb.TempDir()
	host, mport, err := net.SplitHostPort(master.Addr)
	if err != nil {
		tb.Fatalf("redistest: master address %q: %v", master.Addr, err)
	}
	return launch(tb, bin, dir, func(port int) ([]string, error) {
		// Sentinel rewrites its config file, so it must be a writable file
		// of its own rather than command-line flags.
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"+
			"sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 1000\n",
			port, dir, filepath.Join(dir, "redis.log"), masterName, host, mport, masterName)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return nil, fmt.Errorf("writing sentinel config: %w", err)
		}
		return []string{conf, "--sentinel"}, nil
	})
}

// launch starts bin on a free port. A free port found by listening on :0
// can be taken by someone else before the server binds it: try a few ports
// before giving up.
func launch(tb testing.TB, bin, dir string, argsFor func(port int) ([]string, error)) *Server {
	tb.Helper()
	s := &Server{Dir: dir, tb: tb, bin: bin}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if s.args, err = argsFor(port); err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			tb.Cleanup(s.Stop)
			return s
		}
	}
	tb.Fatalf("redistest: starting %s: %v", bin, lastErr)
	return nil
}

func buildArgs(cfg config, dir string, port int) []string {
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"),
		"--daemonize", "no",
		"--save", "", // no RDB snapshots: AOF (when asked) is the only persistence
		"--protected-mode", "yes",
	}
	if cfg.appendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", cfg.appendFsync)
	} else {
		args = append(args, "--appendonly", "no")
	}
	if cfg.password != "" {
		args = append(args, "--requirepass", cfg.password)
	}
	return append(args, cfg.extra...)
}

// URL is redis://127.0.0.1:PORT/DB for Open-style configuration.
func (s *Server) URL(db int) string {
	return fmt.Sprintf("redis://%s/%d", s.Addr, db)
}

// start launches the process and waits until it answers PING.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.Dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ping(s.Addr); err == nil {
			s.cmd, s.done = cmd, done
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server exited at start-up: %s", s.logTail())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server did not answer PING within 10s: %s", s.logTail())
		}
	}
}

// ping speaks just enough RESP to tell "accepting commands" from "still
// loading the AOF" (which answers -LOADING) without a client library.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	// With requirepass, PING answers -NOAUTH once loaded: also ready.
	if strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH") {
		return nil
	}
	return fmt.Errorf("PING: %q", strings.TrimSpace(line))
}

// Stop shuts the server down gracefully (SIGTERM: Redis flushes the AOF).
// Stopping a stopped server does nothing.
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

// Kill ends the server abruptly (SIGKILL), like a crash: only what the
// appendfsync policy already wrote survives.
func (s *Server) Kill() { s.stop(syscall.SIGKILL) }

func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// Restart stops the server (gracefully) if it runs and starts it again on
// the same address and directory, so AOF data survives when AppendOnly was
// given.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	// The port was ours a moment ago; retry briefly in case the old socket
	// is still being torn down.
	var err error
	for range 50 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.tb.Fatalf("redistest: restarting redis-server on %s: %v", s.Addr, err)
}

func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
