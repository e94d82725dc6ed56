package bot

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/suggest"
)

// Verb is what a command asks for.
type Verb string

const (
	VerbCheck    Verb = "check"    // web01:443 [from V]
	VerbHelp     Verb = "help"     // help
	VerbHistory  Verb = "history"  // history [target]
	VerbWatch    Verb = "watch"    // watch web01:443 [every 30s] [for 1h]
	VerbStop     Verb = "stop"     // stop (a watch)
	VerbAgain    Verb = "again"    // again (in a thread, or the Re-check button)
	VerbVantages Verb = "vantages" // vantages
)

// Request is a parsed command.
type Request struct {
	Verb    Verb
	Targets []checks.Target // check, watch
	// Vantages named with "from"; empty means the local vantage. AllVantages
	// is "from all".
	Vantages    []string
	AllVantages bool
	Every, For  time.Duration // watch
	Query       string        // history's optional target filter
	AllChannels bool          // "history all": every channel's records (admins only)
}

// Ports is how many ports the request's targets expand to.
func (r Request) Ports() int {
	n := 0
	for _, t := range r.Targets {
		n += len(t.Ports)
	}
	return n
}

// GrammarLimits bounds what one command may ask for.
type GrammarLimits struct {
	MaxText    int           // longest command text accepted; default 1000 bytes
	MaxTargets int           // default 10
	MaxPorts   int           // over all targets; default checks.DefaultMaxPorts
	Every      time.Duration // watch default interval; default 30s
	MinEvery   time.Duration // default 10s
	For        time.Duration // watch default length; default 1h
	MaxFor     time.Duration // default 24h
}

func (l GrammarLimits) withDefaults() GrammarLimits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxText, 1000)
	def(&l.MaxTargets, 10)
	def(&l.MaxPorts, checks.DefaultMaxPorts)
	defD(&l.Every, 30*time.Second)
	defD(&l.MinEvery, 10*time.Second)
	defD(&l.For, time.Hour)
	defD(&l.MaxFor, 24*time.Hour)
	return l
}

// InputError is a command the bot cannot act on, phrased for the person who
// typed it: what is wrong and an example that works.
type InputError struct {
	Msg     string
	Example string // a command that works, without the leading /portcheck
}

func (e *InputError) Error() string {
	if e.Example == "" {
		return e.Msg
	}
	return e.Msg + " — e.g. /portcheck " + e.Example
}

func inputErr(example, format string, a ...any) *InputError {
	return &InputError{Msg: fmt.Sprintf(format, a...), Example: example}
}

// Parse turns command text into a Request. A leading "/portcheck" is
// dropped. Errors are *InputError. It never panics (see FuzzParse).
func Parse(text string, lim GrammarLimits) (Request, error) {
	lim = lim.withDefaults()
	if len(text) > lim.MaxText {
		return Request{}, inputErr("web01:443", "that command is %d characters long; the limit is %d", len(text), lim.MaxText)
	}
	if !utf8.ValidString(text) {
		return Request{}, inputErr("web01:443", "that command is not valid UTF-8 text")
	}
	words := strings.FieldsFunc(text, func(r rune) bool { return unicode.IsSpace(r) || r == 0 })
	if len(words) > 0 && strings.EqualFold(words[0], "/portcheck") {
		words = words[1:]
	}
	if len(words) == 0 {
		return Request{Verb: VerbHelp}, nil
	}
	verb, args := strings.ToLower(words[0]), words[1:]
	switch verb {
	case "help", "-h", "--help", "?", "usage":
		return Request{Verb: VerbHelp}, nil
	case "stop", "again", "vantages":
		if len(args) > 0 {
			return Request{}, inputErr(verb, "%s takes nothing after it (you typed %q)", verb, strings.Join(args, " "))
		}
		return Request{Verb: Verb(verb)}, nil
	case "recheck", "re-check", "retry":
		return Request{Verb: VerbAgain}, nil
	case "history":
		r := Request{Verb: VerbHistory}
		if len(args) > 0 && strings.EqualFold(args[0], "all") {
			r.AllChannels, args = true, args[1:]
		}
		if len(args) > 1 {
			return Request{}, inputErr("history web01", "history takes at most one target to filter on")
		}
		if len(args) == 1 {
			r.Query = strings.ToLower(strings.TrimSuffix(args[0], ","))
		}
		return r, nil
	case "watch":
		r, err := parseTargetsAndOptions(args, lim, true)
		r.Verb = VerbWatch
		return r, err
	case "check":
		args = words[1:]
	default:
		args = words
	}
	r, err := parseTargetsAndOptions(args, lim, false)
	r.Verb = VerbCheck
	return r, err
}

// parseTargetsAndOptions reads TARGET... [every D] [for D] [from V,...].
func parseTargetsAndOptions(args []string, lim GrammarLimits, watch bool) (Request, error) {
	example := "web01:443"
	if watch {
		example = "watch web01:443 every 30s for 1h"
	}
	var r Request
	var targets []string
	sawEvery, sawFor := false, false
	for i := 0; i < len(args); i++ {
		w := args[i]
		kw := strings.ToLower(w)
		switch {
		case kw == "from":
			if i+1 >= len(args) {
				return r, inputErr("web01:443 from all", "from needs a vantage name (or all)")
			}
			i++
			if err := parseVantages(&r, strings.Join(args[i:], "")); err != nil {
				return r, err
			}
			i = len(args)
		case watch && (kw == "every" || kw == "for"):
			if i+1 >= len(args) {
				return r, inputErr(example, "%s needs a duration such as 30s, 5m or 1h", kw)
			}
			i++
			d, err := parseDuration(args[i])
			if err != nil {
				return r, inputErr(example, "%s %s: %v", kw, args[i], err)
			}
			if kw == "every" {
				if sawEvery {
					return r, inputErr(example, "every is given twice")
				}
				sawEvery, r.Every = true, d
			} else {
				if sawFor {
					return r, inputErr(example, "for is given twice")
				}
				sawFor, r.For = true, d
			}
		default:
			if t := strings.Trim(w, ","); t != "" {
				targets = append(targets, t)
			}
		}
	}
	if len(targets) == 0 {
		if watch {
			return r, inputErr(example, "watch what? Name a target with its port")
		}
		return r, inputErr(example, "check what? Name a target with its port")
	}
	if len(targets) > lim.MaxTargets {
		return r, inputErr("web01:443 db1:5432", "%d targets in one command; the limit is %d", len(targets), lim.MaxTargets)
	}
	total := 0
	for _, s := range targets {
		t, err := checks.ParseTarget(s, checks.ParseOptions{MaxPorts: lim.MaxPorts})
		if err != nil {
			return r, targetError(s, err, lim)
		}
		total += len(t.Ports)
		r.Targets = append(r.Targets, t)
	}
	if total > lim.MaxPorts {
		return r, inputErr(fmt.Sprintf("web01:1-%d", lim.MaxPorts), "these targets add up to %d ports; one command may check at most %d", total, lim.MaxPorts)
	}
	if watch {
		if r.Every == 0 {
			r.Every = lim.Every
		}
		if r.For == 0 {
			r.For = lim.For
		}
		if r.Every < lim.MinEvery {
			return r, inputErr(example, "every %s is too often; the shortest interval is %s", r.Every, lim.MinEvery)
		}
		if r.For > lim.MaxFor {
			return r, inputErr(example, "for %s is too long; a watch lasts at most %s", r.For, lim.MaxFor)
		}
		if r.For < r.Every {
			return r, inputErr(example, "for %s is shorter than every %s: nothing would be re-checked", r.For, r.Every)
		}
	}
	return r, nil
}

// targetError turns a checks.ParseError into a correction; a lone word that
// is neither a command nor a host:port gets the list of commands too.
func targetError(s string, err error, lim GrammarLimits) *InputError {
	var pe *checks.ParseError
	if errors.As(err, &pe) {
		if pe.Kind == checks.ErrMissingPort && isWord(s) {
			if verb := closestVerb(s); verb != "" {
				return inputErr(verb, "%q is not a command: did you mean %s?", s, verb)
			}
			return inputErr(strings.ToLower(s)+":443",
				"%q is not a command (help, history, watch, stop, again, vantages) nor a target with a port", s)
		}
		if pe.Kind == checks.ErrTooManyPorts {
			return inputErr(fmt.Sprintf("web01:1-%d", lim.MaxPorts), "%s expands to more than %d ports, the most one command may check", s, lim.MaxPorts)
		}
		return inputErr("web01:443", "%s", pe.Error())
	}
	return inputErr("web01:443", "%s: %v", s, err)
}

// verbs are the words the grammar reads as commands, for "did you mean".
var verbs = []string{"help", "history", "watch", "stop", "again", "vantages", "check", "recheck"}

// closestVerb is the command a lone word is one typo away from (two for
// longer words: "histroy", "vantage", "wacth"), or "".
func closestVerb(word string) string {
	word = strings.ToLower(word)
	for _, v := range verbs {
		d := suggest.Distance(word, v)
		if d == 1 || (d == 2 && len(word) >= 6) {
			return v
		}
	}
	return ""
}

func isWord(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return s != ""
}

func parseVantages(r *Request, spec string) error {
	for _, v := range strings.Split(spec, ",") {
		v = strings.ToLower(strings.TrimSpace(v))
		if v == "" {
			continue
		}
		if v == "all" {
			r.AllVantages = true
			continue
		}
		if !validVantage(v) {
			return inputErr("web01:443 from office", "%q is not a vantage name (letters, digits, -, _ and ., or host:NAME for a host agent)", v)
		}
		if !slices.Contains(r.Vantages, v) {
			r.Vantages = append(r.Vantages, v)
		}
	}
	if !r.AllVantages && len(r.Vantages) == 0 {
		return inputErr("web01:443 from all", "from needs a vantage name (or all)")
	}
	return nil
}

func validVantage(v string) bool {
	// host:<name> is a host agent's vantage (docs/agent.md).
	if name, ok := strings.CutPrefix(v, "host:"); ok {
		v = name
		if v == "" {
			return false
		}
	}
	if len(v) > 64 {
		return false
	}
	for _, r := range v {
		if !(r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// parseDuration accepts Go durations (30s, 1h30m) and a bare number of
// seconds; "d" for days is accepted because people type it.
func parseDuration(s string) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && isDigits(n) && len(n) < 4 {
		d := 0
		for _, c := range n {
			d = d*10 + int(c-'0')
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	if isDigits(s) && len(s) < 7 {
		s += "s"
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("not a duration; use e.g. 30s, 5m or 1h")
	}
	return d, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
