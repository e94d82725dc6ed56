package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// How a deployment's command line is checked against the real binary.
//
// cmd/portcheck has no "parse the flags and stop" mode, so the test builds
// the binary (go build ./cmd/portcheck, once per test run) and runs each
// command line in an environment where the command stops at a known point
// right after its flags and configuration were accepted, before it touches
// the network or a file it would create:
//
//	worker, agent --serve  REDIS_URL is left out, so they stop with
//	                       "REDIS_URL is not set" (exit 2) once flags,
//	                       arguments and the config file have been accepted;
//	serve                  no chat credential is passed, so it stops with
//	                       "no chat is configured" (exit 1) after its flags,
//	                       the config file and the chat settings.
//
// A command line the binary refuses never gets there: an unknown flag, a
// missing flag value or a stray argument prints the usage or "flag provided
// but not defined" (exit 2), and `portcheck agent` without --serve prints
// the one-shot usage. So "the stop marker is on stderr, and no usage text"
// means "the binary accepted these arguments". The PORTCHECK_* variables the
// deployment sets are passed along (the config loader validates them too);
// a config file the deployment mounts (a Kubernetes ConfigMap) is written to
// a temporary directory and the argument rewritten to point there. What the
// marker cannot prove: values the binary only reads after it (a --listen
// address that does not bind, a vantage name the worker refuses).
// TestCommandLineCheckRejectsBadLines shows the check failing on the lines
// it exists to catch, including the agent unit of issue 15.

// parseStops maps a subcommand to what it prints once it has accepted its
// command line in the environment described above.
var parseStops = map[string]string{
	"worker": "REDIS_URL is not set",
	"agent":  "REDIS_URL is not set", // reached only with --serve
	"serve":  "no chat is configured",
}

// usageSigns are printed by the binary when it refuses a command line.
var usageSigns = []string{"flag provided but not defined", "Usage:", "unexpected argument", "flag needs an argument", "invalid value", "unknown command", "see portcheck"}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// portcheckBinary builds ./cmd/portcheck once for all tests of the package.
func portcheckBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the portcheck binary")
	}
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("no go tool in PATH: %w", err)
			return
		}
		if binDir, err = os.MkdirTemp("", "portcheck-deploy-test-"); err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(binDir, "portcheck")
		cmd := exec.Command(goTool, "build", "-o", binPath, "./cmd/portcheck")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/portcheck: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// commandLine is one way a deployment starts portcheck.
type commandLine struct {
	where string            // file and object, for messages
	args  []string          // after the program name: subcommand first
	env   map[string]string // variables the deployment sets (only PORTCHECK_* are passed)
	// files the deployment mounts: directory -> file name -> content (a
	// ConfigMap volume). Arguments under such a directory are rewritten to
	// the temporary copy.
	mounts map[string]map[string]string
}

// checkCommandLine runs c through the binary as described at the top of
// this file and returns why the binary refused it, or nil.
func checkCommandLine(t *testing.T, bin string, c commandLine) error {
	t.Helper()
	if len(c.args) == 0 {
		return errors.New("no subcommand")
	}
	stop, ok := parseStops[c.args[0]]
	if !ok {
		return fmt.Errorf("subcommand %q: not a long-running command this check knows (want one of serve, worker, agent)", c.args[0])
	}
	dir := t.TempDir()
	args := append([]string(nil), c.args...)
	for mountPath, files := range c.mounts {
		for name, content := range files {
			p := filepath.Join(dir, "mount", mountPath, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for i, a := range args {
			if a == mountPath || strings.HasPrefix(a, strings.TrimSuffix(mountPath, "/")+"/") {
				args[i] = filepath.Join(dir, "mount", a)
			}
		}
	}
	env := []string{"HOME=" + dir, "XDG_STATE_HOME=" + filepath.Join(dir, "state"), "PATH=/usr/bin:/bin"}
	for k, v := range c.env {
		if strings.HasPrefix(k, "PORTCHECK_") {
			if k == "PORTCHECK_CONFIG" {
				for mountPath := range c.mounts {
					if strings.HasPrefix(v, strings.TrimSuffix(mountPath, "/")+"/") {
						v = filepath.Join(dir, "mount", v)
					}
				}
			}
			env = append(env, k+"="+v)
		}
	}
	sort.Strings(env)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	err := cmd.Run()
	out := stderr.String()
	if ctx.Err() != nil {
		return fmt.Errorf("portcheck %s did not stop at %q: it went past it (is the environment as this test expects?)\n%s", strings.Join(args, " "), stop, out)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return fmt.Errorf("running portcheck: %v", err)
	}
	for _, s := range usageSigns {
		if strings.Contains(out, s) {
			return fmt.Errorf("portcheck %s: the binary refused the command line (%q):\n%s", strings.Join(c.args, " "), s, indent(out))
		}
	}
	if !strings.Contains(out, stop) {
		return fmt.Errorf("portcheck %s: expected it to accept the command line and stop at %q, got exit %v:\n%s", strings.Join(c.args, " "), stop, err, indent(out))
	}
	return nil
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// The check itself must fail on the lines it exists to catch, or a green
// deploy test would mean nothing.
func TestCommandLineCheckRejectsBadLines(t *testing.T) {
	bin := portcheckBinary(t)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		ok   bool
	}{
		{args: []string{"agent"}},                                                         // issue 15: the one-shot mode, usage and exit 2
		{args: []string{"agent", "--serve", "--port", "22"}},                              // one-shot flags with --serve
		{args: []string{"worker", "--vantge", "office"}},                                  // a typo
		{args: []string{"worker", "--listen"}},                                            // a flag without its value
		{args: []string{"worker", "office"}},                                              // a stray argument
		{args: []string{"worker", "--label", "nolabel"}},                                  // a value the flag refuses
		{args: []string{"serve", "--bogus"}},                                              // serve's own error format
		{args: []string{"serve", "extra"}},                                                // a stray argument to serve
		{args: []string{"worker"}, env: map[string]string{"PORTCHECK_LOG_FORMAT": "jsn"}}, // a variable the config refuses
		{args: []string{"agent", "--serve", "--alias", "web01", "--share-logs"}, ok: true},
		{args: []string{"worker", "--vantage", "office", "--listen", ":8081", "--label", "site=fra1"}, ok: true},
		{args: []string{"serve", "--db", "/var/lib/portcheck/audit.db", "--listen", ":8080"}, ok: true},
	} {
		err := checkCommandLine(t, bin, commandLine{where: "test", args: tc.args, env: tc.env})
		if tc.ok && err != nil {
			t.Errorf("%q: want accepted, got %v", tc.args, err)
		}
		if !tc.ok && err == nil {
			t.Errorf("%q (env %v): want refused, the check accepted it", tc.args, tc.env)
		}
	}
}

// binaryEnv is every environment variable the binary reads, from its
// sources: the config overlay (config/env.go), the chat adapters and the
// composition root (string literals naming PORTCHECK_*, REDIS_*, SLACK_*,
// DISCORD_* variables), plus NAME_FILE for each secret read by
// secretFromEnv. Test files are not read: their variables are not the
// product's.
func binaryEnv(t *testing.T) map[string]bool {
	t.Helper()
	nameRE := regexp.MustCompile(`"((?:PORTCHECK|REDIS|SLACK|DISCORD)_[A-Z0-9_]+)"`)
	secretRE := regexp.MustCompile(`secretFromEnv\([^)]*"([A-Z0-9_]+)"\)`)
	out := map[string]bool{}
	for _, dir := range []string{"../config", "../adapters/slack", "../adapters/discord", "../cmd/portcheck", "../internal/app"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s (%v)", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range nameRE.FindAllStringSubmatch(string(b), -1) {
				out[m[1]] = true
			}
			for _, m := range secretRE.FindAllStringSubmatch(string(b), -1) {
				out[m[1]+"_FILE"] = true
			}
		}
	}
	// Sanity: the reader above must see the variables we know exist.
	for _, must := range []string{"REDIS_URL", "PORTCHECK_LISTEN", "SLACK_BOT_TOKEN_FILE", "DISCORD_APP_ID", "DISCORD_PUBLIC_KEY_FILE", "REDIS_SENTINEL_PASSWORD"} {
		if !out[must] {
			t.Fatalf("binaryEnv missed %s: the source scan is broken", must)
		}
	}
	return out
}

// suggest names the known variable closest to a misspelt one.
func suggest(name string, known map[string]bool) string {
	best, bestD := "", 1<<30
	for k := range known {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	if bestD <= 3 {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
