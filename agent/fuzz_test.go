package agent

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzzers hold the parsers to two promises: never panic on what a
// listing or a file might contain, and keep the invariants the diagnosis
// relies on. Seeds are the fixtures plus testdata/fuzz/<Name>.

func FuzzParseProcNet(f *testing.F) {
	f.Add(procTCP, "tcp")
	f.Add(procTCP6, "tcp")
	f.Add(procUDP, "udp")
	f.Fuzz(func(t *testing.T, text, proto string) {
		socks, _ := ParseProcNet(strings.NewReader(text), proto)
		for _, s := range socks {
			if !s.Addr.IsValid() || s.Port < 0 || s.Port > 65535 || s.Addr.Is4In6() {
				t.Fatalf("bad socket %+v", s)
			}
		}
	})
}

func FuzzParseIptablesSave(f *testing.F) {
	f.Add(readFixture(f, "iptables-save.txt"))
	f.Add(readFixture(f, "ip6tables-save.txt"))
	f.Add(readFixture(f, "etc-ufw/ufw/user.rules"))
	f.Fuzz(func(t *testing.T, text string) {
		rs, _ := ParseIptablesSave(text, "iptables")
		for _, r := range rs {
			checkRule(t, r)
			if !r.Policy && r.Position < 1 {
				t.Fatalf("rule without position: %+v", r)
			}
		}
	})
}

func FuzzParseNftJSON(f *testing.F) {
	f.Add([]byte(readFixture(f, "nft-ruleset.json")))
	f.Add([]byte(`{"nftables":[{"rule":{"family":"ip","table":"t","chain":"c","handle":1,"expr":[{"match":{"op":"in","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":{"set":[{"range":[9,1]},22]}}},{"jump":{"target":"x"}}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, _ := ParseNftJSON(data)
		for _, r := range rs {
			checkRule(t, r)
		}
	})
}

func FuzzParseUFWStatus(f *testing.F) {
	f.Add(readFixture(f, "ufw-status.txt"))
	f.Fuzz(func(t *testing.T, text string) {
		for _, r := range ParseUFWStatus(text).Rules {
			checkRule(t, r)
		}
	})
}

// checkRule asserts what Merge assumes of every parsed rule.
func checkRule(t *testing.T, r Rule) {
	t.Helper()
	for _, p := range r.Ports {
		if p.From > p.To || p.From < 0 || p.To > 65535 {
			t.Fatalf("bad port range %+v in %+v", p, r)
		}
	}
	_ = r.Describe()
	_ = r.Relevant(8443, "tcp")
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("rule does not marshal: %v", err)
	}
}

func FuzzParseHostsAccess(f *testing.F) {
	f.Add(readFixture(f, "hosts.deny"), "sshd")
	f.Add(readFixture(f, "hosts.allow"), "vsftpd")
	f.Add("ALL EXCEPT a EXCEPT b: [::1]:opt\\\n", "b")
	f.Fuzz(func(t *testing.T, text, daemon string) {
		for _, a := range ParseHostsAccess(text, "/etc/hosts.deny") {
			if len(a.Daemons) == 0 || a.Line < 1 {
				t.Fatalf("bad line %+v", a)
			}
			_ = a.NamesDaemon(daemon)
		}
	})
}

func FuzzParseRoutes(f *testing.F) {
	f.Add(procRoute, procIPv6Route)
	f.Add(procRouteNoDefault, "")
	f.Fuzz(func(t *testing.T, v4text, v6text string) {
		v4, _ := ParseRouteV4(strings.NewReader(v4text))
		v6, _ := ParseRouteV6(strings.NewReader(v6text))
		for _, rs := range [][]Route{v4, v6} {
			for _, r := range rs {
				if !r.Dest.IsValid() {
					t.Fatalf("invalid prefix %+v", r)
				}
				_ = r.String()
			}
			if d := defaultOf(rs, true); d != nil && d.Dest.Bits() != 0 {
				t.Fatalf("default with bits: %+v", d)
			}
		}
	})
}

func FuzzRedact(f *testing.F) {
	f.Add("password=hunter2 Authorization: Bearer abc token: x")
	f.Add("postgres://u:p@h/db xoxb-1234567890-abcdef")
	f.Fuzz(func(t *testing.T, line string) {
		r := NewRedactor()
		out := r.Redact(line)
		// Idempotent: redacting twice changes nothing more.
		if again := r.Redact(out); again != out {
			t.Fatalf("not idempotent:\n in %q\n1st %q\n2nd %q", line, out, again)
		}
		// The obvious secret shape never survives.
		if utf8.ValidString(line) && strings.Contains(strings.ToLower(out), "password=hunter2") {
			t.Fatalf("secret survived: %q", out)
		}
		_ = NewLogMatcher(8443, []string{"sshd"}).Match(out)
		_ = TailMatches(bytes.NewReader([]byte(out)), int64(len(out)), NewLogMatcher(22, nil), 3)
	})
}

func FuzzParsePortList(f *testing.F) {
	for _, s := range []string{"22", "1000:2000", "80,443", "1024:", ":1023", "5-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		prs, err := parsePortList(s)
		if err != nil {
			return
		}
		for _, p := range prs {
			if p.From > p.To || p.From < 0 || p.To > 65535 {
				t.Fatalf("parsePortList(%q) = %+v", s, prs)
			}
		}
	})
}
