package bot

import (
	"net/netip"
	"strings"
	"testing"
)

func TestBlankAddrs(t *testing.T) {
	hidden := map[string]bool{"10.0.0.1": true, "fd00::1": true}
	cases := []struct{ in, want string }{
		{"after hop 3 (10.0.0.1)", "after hop 3 (redacted)"},
		{"10.0.0.1 and 10.0.0.10 and 110.0.0.1", "redacted and 10.0.0.10 and 110.0.0.1"},
		{"stops at 10.0.0.1.", "stops at redacted."},
		{"mtr -T -P 80 10.0.0.1", "mtr -T -P 80 redacted"},
		{"via fd00::1 not fd00::10", "via redacted not fd00::10"},
		{"10.0.0.1.5", "10.0.0.1.5"},
		{"", ""},
	}
	for _, c := range cases {
		if got := blankAddrs(c.in, hidden); got != c.want {
			t.Errorf("blankAddrs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzBlankAddrs(f *testing.F) {
	f.Add("after hop 3 (10.0.0.1)", "10.0.0.1")
	f.Add("fd00::1:fd00::1", "fd00::1")
	f.Fuzz(func(t *testing.T, s, addr string) {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return
		}
		a = a.WithZone("")
		out := blankAddrs(s, map[string]bool{a.String(): true})
		if !strings.Contains(s, a.String()) && out != s {
			t.Errorf("changed a string without the address: %q -> %q", s, out)
		}
	})
}
