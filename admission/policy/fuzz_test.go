package policy

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// Seeds live in testdata/fuzz/<FuzzName>/ (kept in git) so every plain
// `go test` replays them; f.Add covers the few that document intent here.

// refLegacyIPv4 is an independent, slower reading of inet_aton built on
// strconv, to cross-check ParseLegacyIPv4's arithmetic.
func refLegacyIPv4(s string) (netip.Addr, bool) {
	s = strings.TrimSuffix(s, ".")
	parts := strings.Split(s, ".")
	if s == "" || len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		base, digits := 10, p
		switch {
		case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
			base, digits = 16, p[2:]
			if digits == "" {
				digits = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		// With an explicit base, ParseUint rejects signs, underscores and
		// prefixes, which inet_aton rejects too.
		if digits == "" {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	var n uint64
	for i, v := range vals {
		if i < len(vals)-1 {
			if v > 255 {
				return netip.Addr{}, false
			}
			n = n<<8 | v
			continue
		}
		rest := uint(8 * (5 - len(vals)))
		if v >= 1<<rest {
			return netip.Addr{}, false
		}
		n = n<<rest | v
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

func FuzzParseLegacyIPv4(f *testing.F) {
	for _, s := range []string{"2852039166", "0xA9FEA9FE", "0251.0376.0251.0376", "127.1", "10.1.1", "0x7f.1", "1.2.3.4."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := ParseLegacyIPv4(s)
		if ok && !a.Is4() {
			t.Fatalf("%q -> %v: not IPv4", s, a)
		}
		ra, rok := refLegacyIPv4(s)
		if ok != rok || (ok && a != ra) {
			t.Fatalf("%q: got %v %v, reference %v %v", s, a, ok, ra, rok)
		}
		// A canonical dotted quad means the same thing to both parsers.
		if n, err := netip.ParseAddr(s); err == nil && n.Is4() && (!ok || n != a) {
			t.Fatalf("%q: netip says %v, we say %v %v", s, n, a, ok)
		}
	})
}

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.168.1.5", ".corp.example.com", "*.x.y", "fe80::/10", "db.example.com."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			return
		}
		if r.Prefix.IsValid() == (r.Name != "") {
			t.Fatalf("%q: rule is both or neither address and name: %+v", s, r)
		}
		back, err := ParseRule(r.String())
		if err != nil || back != r {
			t.Fatalf("%q -> %q does not round-trip: %+v %v", s, r.String(), back, err)
		}
	})
}

func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"22", "80-443", "0", "65535-65535", "1-", "-1", "+22"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRange(s)
		if err != nil {
			return
		}
		if r.Lo < 1 || r.Hi > 65535 || r.Lo > r.Hi {
			t.Fatalf("%q -> %+v", s, r)
		}
		back, err := ParsePortRange(r.String())
		if err != nil || back != r {
			t.Fatalf("%q -> %q does not round-trip", s, r)
		}
	})
}

// FuzzConfigEnv feeds PORTCHECK_ALLOW / PORTCHECK_DENY values through the
// whole config path: it must never panic, and a config New accepts must
// never let metadata through by a hostname.
func FuzzConfigEnv(f *testing.F) {
	f.Add("10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,.corp.example.com", "10.66.0.0/16")
	f.Add(" , ,", "")
	f.Fuzz(func(t *testing.T, allow, deny string) {
		env := map[string]string{"PORTCHECK_ALLOW": allow, "PORTCHECK_DENY": deny}
		c := FromEnv(Config{}, func(k string) string { return env[k] })
		p, err := New(c, newFakeDNS(map[string][]string{"db.corp.example.com": {"169.254.169.254"}}))
		if err != nil {
			return
		}
		if d := p.Decide(context.Background(), "db.corp.example.com", nil); d.Allowed {
			t.Fatalf("allow=%q deny=%q: a name rule let metadata through: %+v", allow, deny, d)
		}
	})
}

// FuzzDecide throws arbitrary hosts at the default policy. Whatever comes
// back allowed must be public addresses that pass CheckAddr on their own;
// the fake resolver answers every name with a public and, for names
// containing "x", also a metadata address.
func FuzzDecide(f *testing.F) {
	for _, s := range []string{"0xA9FEA9FE", "[::ffff:a9fe:a9fe]", "example.com", "x.example.com", "fe80::1%eth0", "2002:a9fe:a9fe::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		p, err := New(Config{}, fuzzResolver{})
		if err != nil {
			t.Fatal(err)
		}
		d := p.Decide(context.Background(), host, []int{443})
		if d.Rule == "" || d.Reason == "" {
			t.Fatalf("%q: decision without rule or reason: %+v", host, d)
		}
		if !d.Allowed {
			if len(d.Addrs) != 0 {
				t.Fatalf("%q: denied but returned addresses %v", host, d.Addrs)
			}
			return
		}
		if len(d.Addrs) == 0 {
			t.Fatalf("%q: allowed without addresses", host)
		}
		for _, a := range d.Addrs {
			if ok, rule := p.CheckAddr(a); !ok || !p.isPublic(a.WithZone("")) {
				t.Fatalf("%q: allowed %v which is not public (%s)", host, a, rule)
			}
		}
	})
}

type fuzzResolver struct{}

func (fuzzResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	out := []netip.Addr{netip.MustParseAddr("93.184.215.14")}
	if strings.Contains(host, "x") {
		out = append(out, netip.MustParseAddr("169.254.169.254"))
	}
	return out, nil
}
