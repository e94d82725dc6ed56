package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	typo "github.com/portcheck/portcheck/internal/suggest"
)

// One help style for every subcommand, rendered from the table
// (commands.go): usage, what it does, its flags, then anything more. Help
// asked for goes to stdout with exit 0; a command line that is wrong gets
// one line saying what, the short usage line, and exit 2.

const helpWidth = 80

// topUsage is `portcheck --help`: every command with its summary.
func topUsage() string {
	var b strings.Builder
	b.WriteString("portcheck: why can't I reach this port?\n\nUsage:\n")
	type row struct{ left, right string }
	var rows []row
	for _, c := range commands {
		left := "portcheck " + c.Name
		if len(c.Verbs) > 0 {
			left += " " + verbList(&c)
		} else if a := shortArgs(c.Args); a != "" {
			left += " " + a
		}
		rows = append(rows, row{left, c.Summary})
	}
	w := 0
	for _, r := range rows {
		w = max(w, len(r.left))
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-*s  %s\n", w, r.left, r.right)
	}
	b.WriteString("\nRun 'portcheck COMMAND --help' (or 'portcheck help COMMAND') for a command's flags.\n")
	return b.String()
}

// shortArgs keeps what a command must be given, for the one-line list:
// its arguments without "[flags]" (but check's, whose flags come first).
func shortArgs(args string) string {
	if strings.HasPrefix(args, "[flags] ") {
		return args
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(args, "[flags]", "")), " ")
}

func verbList(c *commandDoc) string {
	names := make([]string, len(c.Verbs))
	for i, v := range c.Verbs {
		names[i] = v.Name
	}
	return strings.Join(names, "|")
}

// usageLines are the command's synopsis lines, without "Usage:".
func (c *commandDoc) usageLines() []string {
	if len(c.Verbs) == 0 {
		return []string{strings.TrimSpace("portcheck " + c.Name + " " + c.Args)}
	}
	var out []string
	for _, v := range c.Verbs {
		out = append(out, strings.TrimSpace("portcheck "+c.Name+" "+v.Name+" "+v.Args))
	}
	return out
}

// shortUsage is the one line printed after a usage error.
func (c *commandDoc) shortUsage() string {
	line := strings.TrimSpace("portcheck " + c.Name + " " + c.Args)
	if len(c.Verbs) > 0 {
		line = "portcheck " + c.Name + " " + verbList(c) + " [flags]"
	}
	return "Usage: " + line + "  (portcheck " + c.Name + " --help for more)"
}

// helpText is `portcheck COMMAND --help`.
func helpText(c *commandDoc) string {
	var b strings.Builder
	lines := c.usageLines()
	if len(lines) == 1 {
		b.WriteString("Usage: " + lines[0] + "\n")
	} else {
		b.WriteString("Usage:\n")
		w := 0
		for _, l := range lines {
			w = max(w, len(l))
		}
		for i, l := range lines {
			fmt.Fprintf(&b, "  %-*s  %s\n", w, l, c.Verbs[i].Summary)
		}
	}
	if c.About != "" {
		b.WriteString("\n" + reflow(c.About) + "\n")
	}
	b.WriteString("\nFlags:\n")
	writeFlags(&b, c)
	if c.More != "" {
		b.WriteString("\n" + reflow(c.More) + "\n")
	}
	return b.String()
}

// flagLeft is a flag as typed: "--timeout DURATION".
func flagLeft(f flagDoc) string {
	s := "--" + f.Name
	if f.Arg != "" {
		s += " " + f.Arg
	}
	return s
}

// writeFlags writes the flag rows, the help wrapped beside them, and the
// help flag every command has.
func writeFlags(b *strings.Builder, c *commandDoc) {
	rows := append([]flagDoc(nil), c.Flags...)
	rows = append(rows, flagDoc{Name: "help", Help: "show this help"})
	left := func(f flagDoc) string {
		if f.Name == "help" {
			return "-h, --help"
		}
		return flagLeft(f)
	}
	w := 0
	for _, f := range rows {
		w = max(w, len(left(f)))
	}
	w = min(w, 24)
	for _, f := range rows {
		left := left(f)
		help := f.Help
		if len(f.Verbs) > 0 && len(c.Verbs) > 0 {
			help = "(" + strings.Join(f.Verbs, ", ") + ") " + help
		}
		indent := strings.Repeat(" ", 2+w+3)
		text := wrap(help, helpWidth-len(indent))
		if len(left) > w {
			fmt.Fprintf(b, "  %s\n%s%s\n", left, indent, strings.ReplaceAll(text, "\n", "\n"+indent))
			continue
		}
		fmt.Fprintf(b, "  %-*s   %s\n", w, left, strings.ReplaceAll(text, "\n", "\n"+indent))
	}
}

// reflow wraps the paragraphs of text that are prose (no line indented)
// at 78 columns, and leaves the others as written.
func reflow(text string) string {
	paras := strings.Split(text, "\n\n")
	for i, p := range paras {
		if !strings.Contains("\n"+p, "\n  ") {
			paras[i] = wrap(p, 78)
		}
	}
	return strings.Join(paras, "\n\n")
}

// wrap breaks text at spaces so no line is longer than width.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(text) {
		switch {
		case n == 0:
		case n+1+len([]rune(w)) > width:
			b.WriteString("\n")
			n = 0
		default:
			b.WriteString(" ")
			n++
		}
		b.WriteString(w)
		n += len([]rune(w))
	}
	return b.String()
}

// fail reports a command line that is wrong: what (after "portcheck
// WHO:"), then the short usage line. It returns exit status 2.
func (c *commandDoc) fail(io stdio, who, format string, a ...any) int {
	if who == "" {
		who = c.Name
	}
	fmt.Fprintf(io.err, "portcheck %s: %s\n%s\n", who, fmt.Sprintf(format, a...), c.shortUsage())
	return 2
}

// parse parses args with fs, flags anywhere among the arguments (people
// add --json at the end; "--" ends the flags), and returns the arguments
// that are not flags. Its errors are phrased from the table.
func (c *commandDoc) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	return c.parseVerb("", fs, args)
}

// parseVerb is parse for one verb of a command with verbs (audit export).
func (c *commandDoc) parseVerb(verb string, fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var rest []string
	for len(args) > 0 {
		before := args
		if err := fs.Parse(args); err != nil {
			return nil, c.flagError(verb, err)
		}
		args = fs.Args()
		if endedWithDashes(before, args) {
			rest = append(rest, args...)
			break
		}
		if len(args) == 0 {
			break
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
	return rest, nil
}

// endedWithDashes reports whether the flag parse of args that left rest
// stopped at a "--" (which flag consumes): everything after it is an argument.
func endedWithDashes(args, rest []string) bool {
	i := len(args) - len(rest) - 1
	return i >= 0 && args[i] == "--"
}

var (
	undefinedRE = regexp.MustCompile(`^flag provided but not defined: -(.*)$`)
	needsArgRE  = regexp.MustCompile(`^flag needs an argument: -(.*)$`)
	invalidRE   = regexp.MustCompile(`^invalid value (".*") for flag -([^\s:]+): (.*)$`)
	boolRE      = regexp.MustCompile(`^invalid boolean value (".*") for -([^\s:]+): (.*)$`)
)

// flagError rephrases the flag package's errors: the flag as people type
// it (--timeout), a suggestion for a typo, and what a value should look
// like.
func (c *commandDoc) flagError(verb string, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	msg := err.Error()
	if m := undefinedRE.FindStringSubmatch(msg); m != nil {
		name := strings.TrimLeft(m[1], "-")
		out := "unknown flag --" + name
		if f := c.flag(name); f != nil && verb != "" {
			return fmt.Errorf("--%s is a flag of %s, not of %s", name, strings.Join(f.Verbs, " and "), verb)
		}
		if s := suggest(name, c.flagNames(verb)); s != "" {
			out += " (did you mean --" + s + "?)"
		}
		return errors.New(out)
	}
	if m := needsArgRE.FindStringSubmatch(msg); m != nil {
		f := c.flag(m[1])
		if f == nil {
			return fmt.Errorf("--%s needs a value", m[1])
		}
		return fmt.Errorf("--%s needs a value: %s", f.Name, valueHint(*f))
	}
	if m := boolRE.FindStringSubmatch(msg); m != nil {
		v, _ := strconv.Unquote(m[1])
		return fmt.Errorf("--%s is a switch: give --%s alone (or --%s=false), not --%s=%s", m[2], m[2], m[2], m[2], v)
	}
	if m := invalidRE.FindStringSubmatch(msg); m != nil {
		v, _ := strconv.Unquote(m[1])
		name, why := m[2], m[3]
		f := c.flag(name)
		if f != nil && (why == "parse error" || why == "value out of range") {
			switch f.Arg {
			case "DURATION":
				if isDigits(v) {
					return fmt.Errorf("--%s %s: give a unit, e.g. %ss", name, v, v)
				}
				return fmt.Errorf("--%s %s: not a duration (e.g. 5s, 500ms, 1m30s)", name, v)
			case "N":
				return fmt.Errorf("--%s %s: not a whole number", name, v)
			}
		}
		return fmt.Errorf("--%s %s: %s", name, v, why)
	}
	return err
}

// valueHint says what a flag's value looks like.
func valueHint(f flagDoc) string {
	switch {
	case len(f.Values) > 0:
		return strings.Join(f.Values, ", ") + " (--" + f.Name + " " + f.Values[0] + ")"
	case f.Arg == "DURATION":
		return "a duration such as 5s (--" + f.Name + " 5s)"
	case f.Arg == "N":
		return "a number (--" + f.Name + " 10)"
	}
	return "--" + f.Name + " " + f.Arg
}

// flagNames are the flags a command (or one of its verbs) takes.
func (c *commandDoc) flagNames(verb string) []string {
	names := []string{"help"}
	for _, f := range c.Flags {
		if verb == "" || len(f.Verbs) == 0 || slices.Contains(f.Verbs, verb) {
			names = append(names, f.Name)
		}
	}
	return names
}

func commandNames() []string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.Name
	}
	return names
}

// suggest returns the candidate a typo most likely meant: the closest by
// edit distance when it is close (at most 2 edits, fewer than the word's
// length), else the only candidate starting with word; "" when none fits.
func suggest(word string, candidates []string) string {
	word = strings.ToLower(word)
	best, bestD := "", 3
	for _, c := range candidates {
		if d := typo.Distance(word, c); d < bestD && d < len(word) {
			best, bestD = c, d
		}
	}
	if best != "" {
		return best
	}
	var prefixed []string
	for _, c := range candidates {
		if len(word) >= 2 && strings.HasPrefix(c, word) {
			prefixed = append(prefixed, c)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	return ""
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// wantsHelp says whether args ask for the command's help: -h, --help or
// -help before any "--", or "help" as the first word of a command with
// verbs (portcheck audit help).
func wantsHelp(c *commandDoc, args []string) bool {
	if len(c.Verbs) > 0 && len(args) > 0 && args[0] == "help" {
		return true
	}
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "-h" || a == "--help" || a == "-help" {
			return true
		}
	}
	return false
}

// badVerb phrases a verb the command does not have, with a suggestion.
func (c *commandDoc) badVerb(verb string) string {
	names := make([]string, len(c.Verbs))
	for i, v := range c.Verbs {
		names[i] = v.Name
	}
	if s := suggest(verb, names); s != "" {
		return fmt.Sprintf("unknown verb %q (did you mean %s?)", verb, s)
	}
	return fmt.Sprintf("unknown verb %q (want %s)", verb, strings.Join(names, " or "))
}
