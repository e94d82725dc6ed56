package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/portcheck/portcheck/internal/app"
)

// Every subcommand's help is asked for the same three ways, exits 0, goes
// to stdout, and has the same layout: Usage, what it does, Flags with
// -h, --help.
func TestEveryCommandHasTheSameHelp(t *testing.T) {
	for i := range commands {
		c := &commands[i]
		want := helpText(c)
		for _, args := range [][]string{{c.Name, "--help"}, {c.Name, "-h"}, {"help", c.Name}} {
			code, out, stderr := runCLI(context.Background(), args...)
			if code != 0 || out != want || stderr != "" {
				t.Errorf("%q: exit %d, stderr %q, stdout:\n%s", args, code, stderr, out)
			}
		}
		if !strings.HasPrefix(want, "Usage:") || !strings.Contains(want, "\nFlags:\n") || !strings.Contains(want, "  -h, --help ") {
			t.Errorf("%s --help does not have the common layout:\n%s", c.Name, want)
		}
		for _, l := range strings.Split(want, "\n") {
			if len([]rune(l)) > 80 && !strings.HasPrefix(l, "  ") {
				t.Errorf("%s --help: line over 80 columns: %q", c.Name, l)
			}
		}
	}
	// The help of a command with verbs answers to "help" in the verb's place too.
	if code, out, _ := runCLI(context.Background(), "audit", "help"); code != 0 || out != helpText(lookup("audit")) {
		t.Errorf("audit help: exit %d:\n%s", code, out)
	}
	// A -h after "--" is a target, not a request for help.
	if code, out, _ := runCLI(context.Background(), "check", "--", "-h"); code != 2 || out != "" {
		t.Errorf("check -- -h: exit %d, stdout %q", code, out)
	}
}

func TestTopLevelHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		if code, out, _ := runCLI(context.Background(), args...); code != 0 || out != topUsage() {
			t.Errorf("%q: exit %d:\n%s", args, code, out)
		}
	}
	if code, _, stderr := runCLI(context.Background()); code != 2 || stderr != topUsage() {
		t.Errorf("no arguments: exit %d, stderr:\n%s", code, stderr)
	}
	for _, c := range commands {
		if !strings.Contains(topUsage(), "  portcheck "+c.Name) {
			t.Errorf("the command list lacks %s", c.Name)
		}
	}
	var outs []string
	for _, arg := range []string{"version", "-v", "--version"} {
		code, out, stderr := runCLI(context.Background(), arg)
		if code != 0 || stderr != "" || !strings.HasPrefix(out, "portcheck ") {
			t.Errorf("%s: exit %d, %q %q", arg, code, out, stderr)
		}
		outs = append(outs, out)
	}
	if outs[0] != outs[1] || outs[1] != outs[2] {
		t.Errorf("version, -v and --version differ: %q", outs)
	}
}

// Typos get a suggestion; usage errors exit 2 with what is wrong and the
// command's short usage line on stderr, nothing on stdout.
func TestUsageErrorsSuggest(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the first line of stderr
	}{
		{[]string{"chek", "web01:443"}, `portcheck: unknown command "chek" (did you mean check?)`},
		{[]string{"shel"}, `portcheck: unknown command "shel" (did you mean shell?)`},
		{[]string{"wroker"}, `portcheck: unknown command "wroker" (did you mean worker?)`},
		{[]string{"vers"}, `portcheck: unknown command "vers" (did you mean version?)`},
		{[]string{"frob"}, `portcheck: unknown command "frob"`},
		{[]string{"--verbose"}, `portcheck: unknown flag --verbose (portcheck itself takes only --help and --version)`},
		{[]string{"help", "chek"}, `portcheck help: unknown command "chek" (did you mean check?)`},
		{[]string{"check", "--timout", "5s", "web01:443"}, `portcheck check: unknown flag --timout (did you mean --timeout?)`},
		{[]string{"check", "--timeout", "5", "web01:443"}, `portcheck check: --timeout 5: give a unit, e.g. 5s`},
		{[]string{"shell", "--timeout", "5"}, `portcheck shell: --timeout 5: give a unit, e.g. 5s`},
		{[]string{"shell", "--concurency", "3"}, `portcheck shell: unknown flag --concurency (did you mean --concurrency?)`},
		{[]string{"worker", "--vantge", "office"}, `portcheck worker: unknown flag --vantge (did you mean --vantage?)`},
		{[]string{"worker", "--label", "nolabel"}, `portcheck worker: --label nolabel: want k=v, got "nolabel"`},
		{[]string{"worker", "office"}, `portcheck worker: unexpected argument "office"`},
		{[]string{"serve", "--lisen", ":8080"}, `portcheck serve: unknown flag --lisen (did you mean --listen?)`},
		{[]string{"agent"}, `portcheck agent: say which port: --port N (or --serve to answer the bot)`},
		{[]string{"agent", "--prot", "22"}, `portcheck agent: unknown flag --prot (did you mean --port?)`},
		{[]string{"agent", "--port", "22", "--proto", "sctp"}, `portcheck agent: --proto sctp: want tcp or udp`},
		{[]string{"agent", "--timeout", "10", "--port", "22"}, `portcheck agent: --timeout 10: give a unit, e.g. 10s`},
		{[]string{"audit"}, `portcheck audit: say what to do: export or verify`},
		{[]string{"audit", "exprot"}, `portcheck audit: unknown verb "exprot" (did you mean export?)`},
		{[]string{"audit", "verify", "--format", "csv"}, `portcheck audit verify: --format is a flag of export, not of verify`},
		{[]string{"audit", "export", "--sinse", "1h"}, `portcheck audit export: unknown flag --sinse (did you mean --since?)`},
		{[]string{"config"}, `portcheck config: say what to do: check or show`},
		{[]string{"config", "chek"}, `portcheck config: unknown verb "chek" (did you mean check?)`},
		{[]string{"completion"}, `portcheck completion: say which shell: bash, zsh or fish`},
		{[]string{"completion", "bsh"}, `portcheck completion: unknown shell "bsh" (did you mean bash?)`},
		{[]string{"version", "extra"}, `portcheck version: unexpected argument "extra"`},
		{[]string{"man", "1"}, `portcheck man: unexpected argument "1"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Setenv("PORTCHECK_CONFIG", "")
			code, out, stderr := runCLI(context.Background(), tc.args...)
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if code != 2 || out != "" || lines[0] != tc.want {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant first line %q", code, out, stderr, tc.want)
			}
			if len(lines) != 2 || !strings.HasPrefix(lines[1], "Usage: portcheck ") {
				t.Errorf("want one line and the short usage line, got:\n%s", stderr)
			}
		})
	}
}

// flagSets are the real parsers of every command (and verb), by name.
func flagSets() map[string]*flag.FlagSet {
	return map[string]*flag.FlagSet{
		"check":        newCheckFlags(&checkFlags{}),
		"shell":        newShellFlags(&shellConfig{}),
		"serve":        newServeFlags(&app.ServeOptions{}, os.Getenv),
		"worker":       newWorkerFlags(&app.WorkerOptions{Labels: map[string]string{}}),
		"agent":        newAgentFlags(&agentFlags{}),
		"audit export": newAuditFlags("export", &auditFlags{}, os.Getenv),
		"audit verify": newAuditFlags("verify", &auditFlags{}, os.Getenv),
		"config check": newConfigFlags(new(string)),
		"config show":  newConfigFlags(new(string)),
		"version":      flag.NewFlagSet("version", flag.ContinueOnError),
		"completion":   flag.NewFlagSet("completion", flag.ContinueOnError),
		"man":          flag.NewFlagSet("man", flag.ContinueOnError),
		"help":         flag.NewFlagSet("help", flag.ContinueOnError),
	}
}

// The help, the completions and the man page come from the table; the
// table must say exactly what each parser accepts.
func TestFlagTableMatchesParsers(t *testing.T) {
	sets := flagSets()
	seen := 0
	for i := range commands {
		c := &commands[i]
		verbs := []string{""}
		if len(c.Verbs) > 0 {
			verbs = nil
			for _, v := range c.Verbs {
				verbs = append(verbs, v.Name)
			}
		}
		for _, v := range verbs {
			name := strings.TrimSpace(c.Name + " " + v)
			fs, ok := sets[name]
			if !ok {
				t.Errorf("no parser listed for %q", name)
				continue
			}
			seen++
			var parsed []string
			fs.VisitAll(func(f *flag.Flag) { parsed = append(parsed, f.Name) })
			var table []string
			for _, f := range flagsOf(c, v) {
				if f.Name != "help" {
					table = append(table, f.Name)
				}
			}
			slices.Sort(parsed)
			slices.Sort(table)
			if !slices.Equal(parsed, table) {
				t.Errorf("%s: the parser takes %q, the table lists %q", name, parsed, table)
			}
			for _, f := range flagsOf(c, v) {
				ff := fs.Lookup(f.Name)
				if ff == nil {
					continue
				}
				isBool := false
				if b, ok := ff.Value.(interface{ IsBoolFlag() bool }); ok {
					isBool = b.IsBoolFlag()
				}
				if isBool != (f.Arg == "") {
					t.Errorf("%s --%s: a switch in one and takes %q in the other", name, f.Name, f.Arg)
				}
			}
		}
	}
	if seen != len(sets) {
		t.Errorf("%d parsers listed, %d commands and verbs in the table", len(sets), seen)
	}
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct{ word, want string }{
		{"chek", "check"}, {"chekc", "check"}, {"ceck", "check"}, {"CHECK", "check"}, {"serv", "serve"},
		{"audt", "audit"}, {"agnet", "agent"}, {"x", ""}, {"zzzzzz", ""}, {"comp", "completion"},
	} {
		if got := suggest(tc.word, commandNames()); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}

// The bash completion, sourced into a real bash, completes commands,
// verbs, flags and flag values from the table.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := filepath.Join(t.TempDir(), "portcheck.bash")
	if err := os.WriteFile(script, []byte(bashCompletion()), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(line string) []string {
		t.Helper()
		words := strings.Split(line, " ")
		var arr strings.Builder
		for _, w := range words {
			arr.WriteString(" '" + w + "'")
		}
		prog := "source " + script + "\nCOMP_WORDS=(" + arr.String() + ")\nCOMP_CWORD=" + strconv.Itoa(len(words)-1) +
			"\n_portcheck\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"portcheck ch", []string{"check"}},
		{"portcheck c", []string{"check", "config", "completion"}},
		{"portcheck check --t", []string{"--timeout", "--trace"}},
		{"portcheck check web01:443 --js", []string{"--json"}},
		{"portcheck agent --proto ", []string{"tcp", "udp"}},
		{"portcheck audit ", []string{"export", "verify", "--help"}},
		{"portcheck audit export --format ", []string{"jsonl", "csv"}},
		{"portcheck audit verify --", []string{"--checkpoint", "--db", "--help"}},
		{"portcheck completion ", []string{"bash", "zsh", "fish"}},
		{"portcheck help wo", []string{"worker"}},
		{"portcheck check --timeout ", nil},
	} {
		got := complete(tc.line)
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%q completes to %q, want %q", tc.line, got, want)
		}
	}
}

// zsh and fish read their scripts (and fish completes with them) when
// they are installed; CI images without them skip.
func TestZshAndFishCompletion(t *testing.T) {
	dir := t.TempDir()
	if zsh, err := exec.LookPath("zsh"); err == nil {
		script := filepath.Join(dir, "_portcheck")
		os.WriteFile(script, []byte(zshCompletion()), 0o644)
		if out, err := exec.Command(zsh, "-n", script).CombinedOutput(); err != nil {
			t.Errorf("zsh -n: %v\n%s", err, out)
		}
	} else {
		t.Log("no zsh: its script is not checked")
	}
	fish, err := exec.LookPath("fish")
	if err != nil {
		t.Skip("no fish")
	}
	script := filepath.Join(dir, "portcheck.fish")
	os.WriteFile(script, []byte(fishCompletion()), 0o644)
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"portcheck ch", []string{"check"}},
		{"portcheck check --ti", []string{"--timeout"}},
		{"portcheck audit ", []string{"export", "verify"}},
		{"portcheck audit export --format ", []string{"jsonl", "csv"}},
		{"portcheck config check --", []string{"--config", "--help"}},
	} {
		out, err := exec.Command(fish, "--no-config", "-c", "source "+script+"; complete -C '"+tc.line+"'").CombinedOutput()
		if err != nil {
			t.Fatalf("fish: %v\n%s", err, out)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if w, _, _ := strings.Cut(l, "\t"); w != "" {
				got = append(got, w)
			}
		}
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("fish: %q completes to %q, want %q", tc.line, got, want)
		}
	}
}

// The man page is valid roff (groff, when installed, warns about nothing)
// and names every command and flag of the table.
func TestManPage(t *testing.T) {
	code, page, stderr := runCLI(context.Background(), "man")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, c := range commands {
		if !strings.Contains(page, `.SS "portcheck `+roff(c.Name)) {
			t.Errorf("man page lacks the %s section", c.Name)
		}
		for _, f := range c.Flags {
			if !strings.Contains(page, `\-\-`+roff(f.Name)) {
				t.Errorf("man page lacks %s --%s", c.Name, f.Name)
			}
		}
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("no groff")
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(page)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil || errb.Len() > 0 {
		t.Errorf("groff: %v\n%s", err, errb.String())
	}
}
