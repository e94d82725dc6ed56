package deploy

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/config"
)

// unit is a systemd unit file: section -> key -> values (keys repeat).
type unit map[string]map[string][]string

func parseUnit(path string) (unit, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case strings.HasSuffix(line, "\\"):
			return nil, fmt.Errorf("%s:%d: line continuations are not supported by this test", path, n)
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("%s:%d: not key=value in a section: %q", path, n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u, sc.Err()
}

func (u unit) get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// splitExec splits an ExecStart= value the way systemd does for the forms
// our units use: words separated by spaces, "double" or 'single' quotes.
// Specifiers (%) and variable expansion ($) are refused rather than
// guessed at, so a unit that starts using them gets this test extended.
func splitExec(v string) ([]string, error) {
	v = strings.TrimLeft(v, "-@:+!") // exec prefixes
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range v {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '%' || r == '$' || r == '\\':
			return nil, fmt.Errorf("ExecStart %q: %q (specifiers, variables, escapes) is not understood by this test", v, r)
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("ExecStart %q: unterminated quote", v)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// unitEnv is the unit's Environment= assignments (EnvironmentFile= is the
// operator's, not ours).
func unitEnv(u unit) (map[string]string, error) {
	env := map[string]string{}
	for _, v := range u["Service"]["Environment"] {
		words, err := splitExec(v)
		if err != nil {
			return nil, err
		}
		for _, w := range words {
			k, val, ok := strings.Cut(w, "=")
			if !ok {
				return nil, fmt.Errorf("Environment=%s: %q is not NAME=VALUE", v, w)
			}
			env[k] = val
		}
	}
	return env, nil
}

func systemdUnits(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("systemd/*.service")
	if err != nil || len(files) == 0 {
		t.Fatalf("no systemd units (%v)", err)
	}
	return files
}

// Every unit's ExecStart goes through the real binary's flag parser (see
// cmdline_test.go), and the unit has what a drain and a restart need.
func TestSystemdUnitsStartWhatTheBinaryAccepts(t *testing.T) {
	bin := portcheckBinary(t)
	known := binaryEnv(t)
	grace := config.Defaults().Worker.DrainGrace.Std()
	subcommands := map[string]bool{}
	for _, f := range systemdUnits(t) {
		u, err := parseUnit(f)
		if err != nil {
			t.Fatal(err)
		}
		starts := u["Service"]["ExecStart"]
		if len(starts) != 1 {
			t.Errorf("%s: want one ExecStart, got %d", f, len(starts))
			continue
		}
		words, err := splitExec(starts[0])
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(words) < 2 || filepath.Base(words[0]) != "portcheck" || !filepath.IsAbs(words[0]) {
			t.Errorf("%s: ExecStart %q does not run an absolute path to portcheck with a subcommand", f, starts[0])
			continue
		}
		env, err := unitEnv(u)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for k := range env {
			if !known[k] {
				t.Errorf("%s: Environment=%s: the binary does not read this variable%s", f, k, suggest(k, known))
			}
		}
		if err := checkCommandLine(t, bin, commandLine{where: f, args: words[1:], env: env}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		subcommands[words[1]] = true

		if u.get("Service", "Restart") == "" {
			t.Errorf("%s: no Restart=", f)
		}
		stop, err := time.ParseDuration(u.get("Service", "TimeoutStopSec"))
		if err != nil || stop <= grace {
			t.Errorf("%s: TimeoutStopSec=%q must be a duration above worker.drain_grace (%s), or systemd kills the drain", f, u.get("Service", "TimeoutStopSec"), grace)
		}
		if u.get("Service", "DynamicUser") != "yes" && u.get("Service", "User") == "" {
			t.Errorf("%s: runs as root: set DynamicUser=yes or User=", f)
		}
		if u.get("Service", "NoNewPrivileges") != "yes" {
			t.Errorf("%s: NoNewPrivileges=yes missing", f)
		}
		// Ambient capabilities must be inside the bounding set, or systemd
		// refuses to start the unit.
		bound := map[string]bool{}
		for _, c := range strings.Fields(u.get("Service", "CapabilityBoundingSet")) {
			bound[c] = true
		}
		for _, c := range strings.Fields(u.get("Service", "AmbientCapabilities")) {
			if !bound[c] {
				t.Errorf("%s: AmbientCapabilities %s is not in CapabilityBoundingSet", f, c)
			}
		}
		if strings.Contains(u.get("Service", "AmbientCapabilities"), "CAP_NET_RAW") && words[1] != "agent" {
			t.Errorf("%s: CAP_NET_RAW is only the raw-ICMP fallback: leave it commented out (the ping socket needs no capability)", f)
		}
	}
	for _, want := range []string{"serve", "worker", "agent"} {
		if !subcommands[want] {
			t.Errorf("no systemd unit runs portcheck %s", want)
		}
	}
}

// systemd-analyze verify, when the machine has it, catches unknown keys and
// values systemd would ignore or refuse (it runs offline on unit files).
// The ExecStart path is pointed at the built binary, which verify requires
// to exist.
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze on this machine")
	}
	bin := portcheckBinary(t)
	dir := t.TempDir()
	for _, f := range systemdUnits(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/portcheck", bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", "--man=no", p).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", f, err, out)
		}
	}
}
