package bot

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // fmt of the parsed request, or "error: ..." prefix
	}{
		{"web01:443", "check [web01:[443]] from []"},
		{"/portcheck web01:443", "check [web01:[443]] from []"},
		{"  web01:22,80,443  ", "check [web01:[22 80 443]] from []"},
		{"https://web01/", "check [web01:[443]] from []"},
		{"web01:443 db1:5432", "check [web01:[443] db1:[5432]] from []"},
		{"web01:443, db1:5432", "check [web01:[443] db1:[5432]] from []"},
		{"check web01:443", "check [web01:[443]] from []"},
		{"web01:443 from office", "check [web01:[443]] from [office]"},
		{"web01:443 from office,internet", "check [web01:[443]] from [office internet]"},
		{"web01:443 from office, internet", "check [web01:[443]] from [office internet]"},
		{"web01:443 FROM all", "check [web01:[443]] from [] all"},
		{"", "help"},
		{"/portcheck", "help"},
		{"help", "help"},
		{"HELP", "help"},
		{"history", "history \"\""},
		{"history web01", "history \"web01\""},
		{"watch web01:443", "watch [web01:[443]] from [] every 30s for 1h0m0s"},
		{"watch web01:443 every 1m for 2h", "watch [web01:[443]] from [] every 1m0s for 2h0m0s"},
		{"watch web01:443 for 1d", "watch [web01:[443]] from [] every 30s for 24h0m0s"},
		{"watch web01:443 every 45", "watch [web01:[443]] from [] every 45s for 1h0m0s"},
		{"stop", "stop"},
		{"again", "again"},
		{"vantages", "vantages"},
		{"web01", "error: web01: missing port (e.g. web01:443"},
		{"hepl", `error: "hepl" is not a command: did you mean help?`},
		{"histroy", `error: "histroy" is not a command: did you mean history?`},
		{"vantage", `error: "vantage" is not a command: did you mean vantages?`},
		{"stpo", `error: "stpo" is not a command: did you mean stop?`},
		{"clear", `error: "clear" is not a command (help, history, watch, stop, again, vantages) nor a target with a port`},
		{"status", `error: "status" is not a command (help`},
		{"web01:http", "check [web01:[80]] from []"},
		{"web01:99999", "error: web01:99999: "},
		{"web01:443 from", "error: from needs a vantage name"},
		{"web01:443 from bad!name", "error: \"bad!name\" is not a vantage name"},
		{"watch web01:443 every 1s", "error: every 1s is too often"},
		{"watch web01:443 every soon", "error: every soon: not a duration"},
		{"watch web01:443 for 30d", "error: for 720h0m0s is too long"},
		{"watch web01:443 every 5m for 1m", "error: for 1m0s is shorter than every 5m0s"},
		{"watch", "error: watch what?"},
		{"stop now", "error: stop takes nothing after it"},
		{"history a b", "error: history takes at most one target"},
		{"web01:1-2000", "error: web01:1-2000 expands to more than 1024 ports"},
		{"a:1-600 b:1-600", "error: these targets add up to 1200 ports"},
		{"a:1 b:1 c:1 d:1 e:1 f:1 g:1 h:1 i:1 j:1 k:1", "error: 11 targets in one command"},
		{strings.Repeat("a", 2000), "error: that command is 2000 characters long"},
		{"from all", "error: check what?"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := Parse(tc.in, GrammarLimits{})
			got := describe(r)
			if err != nil {
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("error %T is not an *InputError", err)
				}
				if ie.Example == "" {
					t.Errorf("correction %q has no example", ie.Msg)
				}
				got = "error: " + ie.Msg
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func describe(r Request) string {
	switch r.Verb {
	case VerbCheck, VerbWatch:
		var ts []string
		for _, t := range r.Targets {
			ts = append(ts, fmt.Sprintf("%s:%v", t.Host, t.Ports))
		}
		s := fmt.Sprintf("%s [%s] from %v", r.Verb, strings.Join(ts, " "), r.Vantages)
		if r.AllVantages {
			s += " all"
		}
		if r.Verb == VerbWatch {
			s += fmt.Sprintf(" every %s for %s", r.Every, r.For)
		}
		return s
	case VerbHistory:
		return fmt.Sprintf("history %q", r.Query)
	}
	return string(r.Verb)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"web01:443", "web01:22,80,443", "https://web01/", "watch a:1 every 30s for 1h",
		"history web01", "x:1 from a,b", "again", "[::1]:22", "web01:1-1024 from all", "/portcheck help",
		"watch a:1 every 99999999999h", "a:1 from ,,,", "\x00:1", "web01:ssh,http"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s, GrammarLimits{MinEvery: time.Second})
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Msg == "" {
				t.Fatalf("Parse(%q): error %v is not a friendly *InputError", s, err)
			}
			return
		}
		if r.Ports() > 1024 {
			t.Fatalf("Parse(%q) accepted %d ports", s, r.Ports())
		}
		if (r.Verb == VerbCheck || r.Verb == VerbWatch) && len(r.Targets) == 0 {
			t.Fatalf("Parse(%q): %s without targets", s, r.Verb)
		}
		if r.Verb == VerbWatch && (r.Every <= 0 || r.For < r.Every) {
			t.Fatalf("Parse(%q): watch every %s for %s", s, r.Every, r.For)
		}
	})
}
