package policy_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/portcheck/portcheck/admission/policy"
	"github.com/portcheck/portcheck/checks"
)

// nxResolver knows no names: anything reaching it is a name, never an
// address in disguise.
type nxResolver struct{ t *testing.T }

func (r nxResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if host == "metadata.google.internal" {
		return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
	}
	return nil, errors.New("no such host")
}

// TestTypedTargetsThroughTheBotPath feeds what a user types in chat through
// the same two steps the bot takes — checks.ParseTarget, then Decide on the
// parsed host and ports — and requires each hostile input to be stopped by
// one of them, citing the expected rule when it is the policy.
func TestTypedTargetsThroughTheBotPath(t *testing.T) {
	const metadata = "default deny: cloud metadata 169.254.169.254/32"
	cases := []struct {
		typed string
		rule  string // "" = the parser must reject it
	}{
		{"169.254.169.254:80", metadata},
		{"http://169.254.169.254/latest/meta-data/", metadata},
		{"0xA9FEA9FE:80", metadata},
		{"0xa9fea9fe:http", metadata},
		{"[::ffff:a9fe:a9fe]:80", metadata + " (embedded in IPv4-mapped ::ffff:0.0.0.0/96 as 169.254.169.254)"},
		{"[::ffff:0:a9fe:a9fe]:80", metadata + " (embedded in IPv4-translated ::ffff:0:0:0/96 as 169.254.169.254)"},
		{"[::a9fe:a9fe]:80", metadata + " (embedded in deprecated IPv4-compatible ::/96 as 169.254.169.254)"},
		{"[64:ff9b::a9fe:a9fe]:443", metadata + " (embedded in NAT64 64:ff9b::/96 as 169.254.169.254)"},
		{"[2002:a9fe:a9fe::1]:80", metadata + " (embedded in 6to4 2002::/16 as 169.254.169.254)"},
		{"[2001:0:a9fe:a9fe::]:80", metadata + " (embedded in Teredo 2001::/32 as the server address 169.254.169.254)"},
		{"METADATA.google.internal:80", metadata},
		{"[fd00:ec2::254]:80", "default deny: cloud metadata (AWS IPv6) fd00:ec2::254/128"},
		{"[fe80::1%eth0]:22", "default deny: link-local fe80::/10"},
		{"[::1]:22", "default deny: loopback ::1/128"},
		{"0x7f000001:22", "default deny: loopback 127.0.0.0/8"},
		{"10.0.0.1:22", "private range not allowed: private (RFC 1918) 10.0.0.0/8 (add it to PORTCHECK_ALLOW or set allow_private)"},
		{"8.8.8.8:1-100", "max ports 64"},
		// Forms the target parser refuses outright.
		{"2852039166:80", ""},
		{"0251.0376.0251.0376:80", ""},
		{"127.1:22", ""},
		{"169.254.169.254.:80", ""},
		{"user@10.0.0.1:22", ""},
	}
	p, err := policy.New(policy.Config{}, nxResolver{t})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		tg, err := checks.ParseTarget(c.typed, checks.ParseOptions{})
		if err != nil {
			if c.rule != "" {
				t.Errorf("%s: parser rejected it (%v); the test expected the policy to cite %q", c.typed, err, c.rule)
			}
			continue
		}
		d := p.Decide(context.Background(), tg.Host, tg.Ports)
		if d.Allowed {
			t.Errorf("%s: host %q ALLOWED (%s) — would probe %v", c.typed, tg.Host, d.Rule, d.Addrs)
			continue
		}
		if c.rule == "" {
			// The parser got stricter than expected or changed: fine as
			// long as the policy still denies.
			t.Logf("%s: parser accepted host %q; policy denied: %s", c.typed, tg.Host, d.Rule)
			continue
		}
		if d.Rule != c.rule {
			t.Errorf("%s: rule %q, want %q", c.typed, d.Rule, c.rule)
		}
	}
}
