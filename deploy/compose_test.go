package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/portcheck/portcheck/config"
)

// composeFile is the part of the Compose specification deploy/compose.yaml
// uses. It is decoded with KnownFields, so a misspelt or unexpected key
// (healtcheck, enviroment) fails here instead of being ignored by a
// tolerant reader; a key we start using is added here on purpose.
type composeFile struct {
	Name     string                     `yaml:"name"`
	Services map[string]composeService  `yaml:"services"`
	Networks map[string]*composeNetwork `yaml:"networks"`
	Volumes  map[string]*struct{}       `yaml:"volumes"`
}

type composeService struct {
	Image           string                       `yaml:"image"`
	Build           string                       `yaml:"build"`
	Command         []string                     `yaml:"command"`
	StopGracePeriod string                       `yaml:"stop_grace_period"`
	Environment     map[string]string            `yaml:"environment"`
	Ports           []string                     `yaml:"ports"`
	Volumes         []string                     `yaml:"volumes"`
	Tmpfs           []string                     `yaml:"tmpfs"`
	Networks        []string                     `yaml:"networks"`
	Healthcheck     *composeHealth               `yaml:"healthcheck"`
	ReadOnly        bool                         `yaml:"read_only"`
	CapDrop         []string                     `yaml:"cap_drop"`
	SecurityOpt     []string                     `yaml:"security_opt"`
	DependsOn       map[string]composeDependency `yaml:"depends_on"`
	Restart         string                       `yaml:"restart"`
}

type composeHealth struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

type composeDependency struct {
	Condition string `yaml:"condition"`
}

type composeNetwork struct {
	Internal bool `yaml:"internal"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c composeFile
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("compose.yaml: no services")
	}
	return c
}

func (s composeService) isPortcheck() bool {
	name, _, _ := strings.Cut(s.Image[strings.LastIndex(s.Image, "/")+1:], ":")
	return name == "portcheck"
}

var interpRE = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])([^${}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$\{[^}]*\}`)

// interpolate applies Compose's variable interpolation with env (the
// operator's deploy/.env and shell) and returns the variables it named.
// Nested expressions are refused rather than guessed at.
func interpolate(s string, env map[string]string) (string, []string, error) {
	var names []string
	var bad error
	out := interpRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := interpRE.FindStringSubmatch(m)
		name, op, arg := sub[1], sub[2], sub[3]
		if name == "" && sub[4] != "" {
			name = sub[4]
		}
		if name == "" {
			bad = fmt.Errorf("%q: interpolation this test does not understand", m)
			return m
		}
		names = append(names, name)
		v, set := env[name]
		switch op {
		case "":
			return v
		case ":-":
			if v == "" {
				return arg
			}
			return v
		case "-":
			if !set {
				return arg
			}
			return v
		case ":+":
			if v != "" {
				return arg
			}
			return ""
		case "+":
			if set {
				return arg
			}
			return ""
		default: // :? and ?: required
			if v == "" {
				bad = fmt.Errorf("%s is required (%s)", name, arg)
			}
			return v
		}
	})
	return out, names, bad
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"SET": "v", "EMPTY": ""}
	for in, want := range map[string]string{
		"${SET}": "v", "${UNSET}": "", "$SET/x": "v/x", "$$SET": "$SET",
		"${UNSET:-d}": "d", "${EMPTY:-d}": "d", "${EMPTY-d}": "", "${UNSET-d}": "d",
		"${SET:+alt}": "alt", "${EMPTY:+alt}": "", "${EMPTY+alt}": "alt", "${UNSET+alt}": "",
	} {
		got, _, err := interpolate(in, env)
		if err != nil || got != want {
			t.Errorf("interpolate(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, _, err := interpolate("${A:-${B}}", env); err == nil {
		t.Error("nested interpolation accepted")
	}
}

func TestComposeIsConsistentWithTheBinary(t *testing.T) {
	c := loadCompose(t)
	known := binaryEnv(t)
	grace := config.Defaults().Worker.DrainGrace.Std()
	workerVantages := map[string]string{}
	workerNetworks := map[string]string{}
	internal := false
	for _, n := range c.Networks {
		internal = internal || (n != nil && n.Internal)
	}
	if !internal {
		t.Error("compose.yaml: no internal-only network: the two vantages must see different networks")
	}
	var botVantage string
	botLocalWorker := true
	for name, s := range c.Services {
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 || (s.Healthcheck.Test[0] != "CMD" && s.Healthcheck.Test[0] != "CMD-SHELL") {
			t.Errorf("service %s: needs a healthcheck (test: [CMD, ...])", name)
			continue
		}
		for _, d := range []string{s.Healthcheck.Interval, s.Healthcheck.Timeout} {
			if _, err := time.ParseDuration(d); err != nil {
				t.Errorf("service %s: healthcheck duration %q: %v", name, d, err)
			}
		}
		if _, tag, ok := strings.Cut(s.Image[strings.LastIndex(s.Image, "/")+1:], ":"); !ok || tag == "latest" {
			t.Errorf("service %s: image %q: name a tag other than latest", name, s.Image)
		}
		for _, n := range s.Networks {
			if _, ok := c.Networks[n]; !ok {
				t.Errorf("service %s: network %s is not defined", name, n)
			}
		}
		if !s.isPortcheck() {
			continue
		}
		if d, err := time.ParseDuration(s.StopGracePeriod); err != nil || d <= grace {
			t.Errorf("service %s: stop_grace_period %q must exceed worker.drain_grace (%s)", name, s.StopGracePeriod, grace)
		}
		if !s.ReadOnly || len(s.CapDrop) != 1 || s.CapDrop[0] != "ALL" {
			t.Errorf("service %s: want read_only: true and cap_drop: [ALL]", name)
		}
		env := map[string]string{}
		for k, v := range s.Environment {
			if !known[k] {
				t.Errorf("service %s: sets %s, which the binary does not read%s", name, k, suggest(k, known))
			}
			val, vars, err := interpolate(v, nil)
			if err != nil {
				t.Errorf("service %s: %s: %v", name, k, err)
			}
			// The operator's knobs in deploy/.env are the binary's own names.
			for _, n := range vars {
				if !known[n] {
					t.Errorf("service %s: %s interpolates ${%s}, which the binary does not read%s", name, k, n, suggest(n, known))
				}
			}
			env[k] = val
		}
		if len(s.Command) == 0 {
			t.Errorf("service %s: no command", name)
			continue
		}
		switch s.Command[0] {
		case "serve":
			botVantage = env["PORTCHECK_VANTAGE"]
			botLocalWorker = env["PORTCHECK_LOCAL_WORKER"] != "false"
		case "worker":
			v := flagValue(s.Command, "--vantage")
			if prev, dup := workerVantages[v]; dup || v == "" {
				t.Errorf("service %s: vantage %q is also %s's: each worker service is a different vantage", name, v, prev)
			}
			workerVantages[v] = name
			nets := append([]string(nil), s.Networks...)
			sort.Strings(nets)
			key := strings.Join(nets, ",")
			if prev, dup := workerNetworks[key]; dup {
				t.Errorf("service %s: on the same networks (%s) as %s: two vantages that see the same thing are one vantage", name, key, prev)
			}
			workerNetworks[key] = name
		}
	}
	if len(workerVantages) < 2 {
		t.Errorf("compose.yaml: want two worker vantages, got %v", workerVantages)
	}
	if !botLocalWorker {
		if _, ok := workerVantages[botVantage]; !ok {
			t.Errorf("the bot's local worker is off, so its vantage %q needs a worker service: have %v", botVantage, workerVantages)
		}
	}

	// Secrets are mounted from deploy/secrets/, which git must ignore.
	gi, err := os.ReadFile("../.gitignore")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^/?deploy/secrets/?$`).Match(gi) {
		t.Error(".gitignore: deploy/secrets/ (where the chat tokens go) is not ignored")
	}
}

// Every portcheck service's command goes through the real binary
// (cmdline_test.go), with its literal PORTCHECK_* settings after
// interpolation with an empty deploy/.env.
func TestComposeCommandLinesParse(t *testing.T) {
	bin := portcheckBinary(t)
	for name, s := range loadCompose(t).Services {
		if !s.isPortcheck() {
			continue
		}
		env := map[string]string{}
		for k, v := range s.Environment {
			env[k], _, _ = interpolate(v, nil)
		}
		if err := checkCommandLine(t, bin, commandLine{where: "compose service " + name, args: s.Command, env: env}); err != nil {
			t.Errorf("compose service %s: %v", name, err)
		}
	}
}

// The portcheck services' healthcheck is the binary itself (the image has
// no shell or curl): `portcheck check 127.0.0.1:PORT` on the port the
// service listens on. Run for real against a loopback HTTP listener it
// must pass, and against a closed port it must fail.
func TestComposeHealthchecksWork(t *testing.T) {
	bin := portcheckBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	live := ln.Addr().String()
	closedLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := closedLn.Addr().String()
	closedLn.Close()

	for name, s := range loadCompose(t).Services {
		if !s.isPortcheck() || s.Healthcheck == nil {
			continue
		}
		test := s.Healthcheck.Test
		if len(test) < 3 || test[0] != "CMD" || test[1] != "/usr/local/bin/portcheck" || test[2] != "check" {
			t.Errorf("service %s: healthcheck %q: want [CMD, /usr/local/bin/portcheck, check, ...] (distroless: no shell)", name, test)
			continue
		}
		target := test[len(test)-1]
		listen := flagValue(s.Command, "--listen")
		if listen == "" {
			listen, _, _ = interpolate(s.Environment["PORTCHECK_LISTEN"], nil)
		}
		if listen == "" || target != "127.0.0.1:"+portOf(listen) {
			t.Errorf("service %s: healthcheck probes %s but the service listens on %q", name, target, listen)
			continue
		}
		run := func(addr string) (int, string) {
			args := append(append([]string(nil), test[3:len(test)-1]...), addr)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append([]string{"check"}, args...)...)
			cmd.Env = []string{"HOME=" + t.TempDir()}
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode(), string(out)
			}
			if err != nil {
				t.Fatal(err)
			}
			return 0, string(out)
		}
		if code, out := run(live); code != 0 {
			t.Errorf("service %s: healthcheck against a live listener exited %d:\n%s", name, code, indent(out))
		}
		if code, out := run(closed); code != 1 {
			t.Errorf("service %s: healthcheck against a closed port exited %d, want 1:\n%s", name, code, indent(out))
		}
	}
}
