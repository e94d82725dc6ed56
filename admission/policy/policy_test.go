package policy

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeDNS answers from a table and counts lookups per name.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string][]string
	calls   map[string]int
}

func newFakeDNS(answers map[string][]string) *fakeDNS {
	return &fakeDNS{answers: answers, calls: map[string]int{}}
}

func (f *fakeDNS) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[host]++
	list, ok := f.answers[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, s := range list {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

func (f *fakeDNS) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

func testDNS() *fakeDNS {
	return newFakeDNS(map[string][]string{
		"example.com":              {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		"mixed.example.com":        {"93.184.215.14", "169.254.169.254"},
		"mapped.example.com":       {"::ffff:93.184.215.14"},
		"localhost":                {"127.0.0.1", "::1"},
		"db.corp.example.com":      {"10.1.2.3"},
		"corp.example.com":         {"10.1.2.4"},
		"evil.corp.example.com":    {"169.254.169.254"},
		"xcorp.example.com":        {"10.1.2.3"},
		"a.evil.example.com":       {"93.184.215.14"},
		"bad.example.com":          {"93.184.215.14"},
		"x.bad.example.com":        {"93.184.215.14"},
		"metadata.google.internal": {"169.254.169.254"},
		"empty.example.com":        {},
	})
}

const (
	ruleMetadata = "default deny: cloud metadata 169.254.169.254/32"
	ruleLoopback = "default deny: loopback 127.0.0.0/8"
	rule10       = "private range not allowed: private (RFC 1918) 10.0.0.0/8 (add it to PORTCHECK_ALLOW or set allow_private)"
)

func TestDecide(t *testing.T) {
	yes := true
	_ = yes
	cfgDefault := Config{}
	cases := []struct {
		name  string
		cfg   Config
		host  string
		ports []int
		allow bool
		rule  string
		addrs []string // when allowed
	}{
		// Cloud metadata in every spelling the kernel accepts.
		{"metadata dotted", cfgDefault, "169.254.169.254", nil, false, ruleMetadata, nil},
		{"metadata decimal", cfgDefault, "2852039166", nil, false, ruleMetadata, nil},
		{"metadata hex", cfgDefault, "0xA9FEA9FE", nil, false, ruleMetadata, nil},
		{"metadata hex lower", cfgDefault, "0xa9fea9fe", nil, false, ruleMetadata, nil},
		{"metadata hex parts", cfgDefault, "0xa9.0xfe.0xa9.0xfe", nil, false, ruleMetadata, nil},
		{"metadata octal", cfgDefault, "0251.0376.0251.0376", nil, false, ruleMetadata, nil},
		{"metadata 3 parts", cfgDefault, "169.254.43518", nil, false, ruleMetadata, nil},
		{"metadata 2 parts", cfgDefault, "169.16689662", nil, false, ruleMetadata, nil},
		{"metadata mixed", cfgDefault, "0251.0xfe.43518", nil, false, ruleMetadata, nil},
		{"metadata trailing dot", cfgDefault, "169.254.169.254.", nil, false, ruleMetadata, nil},
		{"metadata zero padded", cfgDefault, "0169.254.169.254", nil, false, "invalid host", nil}, // 0169: 9 is not octal
		{"metadata by name", cfgDefault, "metadata.google.internal", nil, false, ruleMetadata, nil},
		{"metadata by name upper", cfgDefault, "METADATA.Google.Internal.", nil, false, ruleMetadata, nil},
		{"metadata mapped", cfgDefault, "::ffff:169.254.169.254", nil, false, ruleMetadata + " (embedded in IPv4-mapped ::ffff:0.0.0.0/96 as 169.254.169.254)", nil},
		{"metadata mapped hex bracketed", cfgDefault, "[::ffff:a9fe:a9fe]", nil, false, ruleMetadata + " (embedded in IPv4-mapped ::ffff:0.0.0.0/96 as 169.254.169.254)", nil},
		{"metadata compat", cfgDefault, "::169.254.169.254", nil, false, ruleMetadata + " (embedded in deprecated IPv4-compatible ::/96 as 169.254.169.254)", nil},
		{"metadata nat64", cfgDefault, "64:ff9b::a9fe:a9fe", nil, false, ruleMetadata + " (embedded in NAT64 64:ff9b::/96 as 169.254.169.254)", nil},
		{"metadata local nat64", cfgDefault, "64:ff9b:1:a9fe:a9:fe00::", nil, false, ruleMetadata + " (embedded in local-use NAT64 64:ff9b:1::/48 as 169.254.169.254, reading it as a /48 NAT64 prefix)", nil},
		{"metadata 6to4", cfgDefault, "2002:a9fe:a9fe::1", nil, false, ruleMetadata + " (embedded in 6to4 2002::/16 as 169.254.169.254)", nil},
		{"metadata teredo", cfgDefault, "2001:0:4136:e378:8000:63bf:5601:5601", nil, false, ruleMetadata + " (embedded in Teredo 2001::/32 as the client address 169.254.169.254)", nil},
		{"metadata aws v6", cfgDefault, "fd00:ec2::254", nil, false, "default deny: cloud metadata (AWS IPv6) fd00:ec2::254/128", nil},
		{"metadata alibaba", cfgDefault, "100.100.100.200", nil, false, "default deny: cloud metadata (Alibaba) 100.100.100.200/32", nil},
		{"metadata azure", cfgDefault, "168.63.129.16", nil, false, "default deny: cloud metadata (Azure WireServer) 168.63.129.16/32", nil},

		// Loopback and friends.
		{"loopback", cfgDefault, "127.0.0.1", nil, false, ruleLoopback, nil},
		{"loopback hex short", cfgDefault, "0x7f.1", nil, false, ruleLoopback, nil},
		{"loopback octal whole", cfgDefault, "017700000001", nil, false, ruleLoopback, nil},
		{"loopback short", cfgDefault, "127.1", nil, false, ruleLoopback, nil},
		{"loopback decimal", cfgDefault, "2130706433", nil, false, ruleLoopback, nil},
		{"loopback mapped", cfgDefault, "::ffff:127.0.0.1", nil, false, ruleLoopback + " (embedded in IPv4-mapped ::ffff:0.0.0.0/96 as 127.0.0.1)", nil},
		{"localhost name", cfgDefault, "localhost", nil, false, ruleLoopback, nil},
		{"loopback v6", cfgDefault, "::1", nil, false, "default deny: loopback ::1/128", nil},
		{"loopback v6 brackets", cfgDefault, "[::1]", nil, false, "default deny: loopback ::1/128", nil},
		{"unspecified v6", cfgDefault, "::", nil, false, "default deny: unspecified ::/128", nil},
		{"zero", cfgDefault, "0", nil, false, "default deny: this network 0.0.0.0/8", nil},
		{"zero dotted", cfgDefault, "0.0.0.0", nil, false, "default deny: this network 0.0.0.0/8", nil},
		{"broadcast", cfgDefault, "255.255.255.255", nil, false, "default deny: broadcast 255.255.255.255/32", nil},
		{"broadcast decimal", cfgDefault, "4294967295", nil, false, "default deny: broadcast 255.255.255.255/32", nil},
		{"reserved", cfgDefault, "240.0.0.1", nil, false, "default deny: reserved 240.0.0.0/4", nil},
		{"benchmarking", cfgDefault, "198.18.0.1", nil, false, "default deny: benchmarking 198.18.0.0/15", nil},
		{"test-net-1", cfgDefault, "192.0.2.1", nil, false, "default deny: documentation (TEST-NET-1) 192.0.2.0/24", nil},
		{"test-net-2", cfgDefault, "198.51.100.7", nil, false, "default deny: documentation (TEST-NET-2) 198.51.100.0/24", nil},
		{"test-net-3", cfgDefault, "203.0.113.5", nil, false, "default deny: documentation (TEST-NET-3) 203.0.113.0/24", nil},
		{"ietf v4", cfgDefault, "192.0.0.8", nil, false, "default deny: IETF protocol assignments 192.0.0.0/24", nil},
		{"cgnat", cfgDefault, "100.64.0.1", nil, false, "default deny: carrier-grade NAT 100.64.0.0/10", nil},
		{"multicast", cfgDefault, "224.0.0.1", nil, false, "default deny: multicast 224.0.0.0/4", nil},
		{"link-local", cfgDefault, "169.254.1.1", nil, false, "default deny: link-local 169.254.0.0/16", nil},
		{"link-local v6 zone", cfgDefault, "fe80::1%eth0", nil, false, "default deny: link-local fe80::/10", nil},
		{"site-local", cfgDefault, "fec0::1", nil, false, "default deny: site-local (deprecated) fec0::/10", nil},
		{"multicast v6", cfgDefault, "ff02::1", nil, false, "default deny: multicast ff00::/8", nil},
		{"doc v6", cfgDefault, "2001:db8::1", nil, false, "default deny: documentation 2001:db8::/32", nil},
		{"discard v6", cfgDefault, "100::1", nil, false, "default deny: discard-only 100::/64", nil},
		{"ietf v6", cfgDefault, "2001:10::1", nil, false, "default deny: IETF protocol assignments 2001::/23", nil},
		{"nat64 public", cfgDefault, "64:ff9b::808:808", nil, false, "default deny: NAT64 64:ff9b::/96", nil},
		{"mapped public", cfgDefault, "::ffff:8.8.8.8", nil, false, "default deny: IPv4-mapped ::ffff:0.0.0.0/96", nil},

		// Private ranges: off by default.
		{"private 10", cfgDefault, "10.1.2.3", nil, false, rule10, nil},
		{"private short", cfgDefault, "10.1.1", nil, false, rule10, nil},
		{"private ula", cfgDefault, "fd12::1", nil, false, "private range not allowed: unique local (ULA) fc00::/7 (add it to PORTCHECK_ALLOW or set allow_private)", nil},
		{"private on", Config{AllowPrivate: true}, "192.168.1.1", nil, true, "allow_private: private (RFC 1918) 192.168.0.0/16", []string{"192.168.1.1"}},
		{"private on ula", Config{AllowPrivate: true}, "fd00::1", nil, true, "allow_private: unique local (ULA) fc00::/7", []string{"fd00::1"}},
		{"private on metadata", Config{AllowPrivate: true}, "169.254.169.254", nil, false, ruleMetadata, nil},
		{"private on loopback", Config{AllowPrivate: true}, "127.0.0.1", nil, false, ruleLoopback, nil},
		{"private on mapped", Config{AllowPrivate: true}, "::ffff:10.1.1.1", nil, false, "default deny: IPv4-mapped ::ffff:0.0.0.0/96", nil},

		// Public.
		{"public v4", cfgDefault, "8.8.8.8", nil, true, "public address", []string{"8.8.8.8"}},
		{"public v6", cfgDefault, "2606:4700::1111", nil, true, "public address", []string{"2606:4700::1111"}},
		{"public name", cfgDefault, "example.com", []int{443}, true, "public address", []string{"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"}},
		{"public mapped answer", cfgDefault, "mapped.example.com", nil, true, "public address", []string{"93.184.215.14"}},
		{"mixed answers", cfgDefault, "mixed.example.com", nil, false, ruleMetadata, nil},

		// Explicit rules and precedence.
		{"allow beats private", Config{Allow: []string{"10.0.0.0/8"}}, "10.1.2.3", nil, true, "explicit allow 10.0.0.0/8", []string{"10.1.2.3"}},
		{"allow other private", Config{Allow: []string{"10.0.0.0/8"}}, "172.16.0.1", nil, false, "private range not allowed: private (RFC 1918) 172.16.0.0/12 (add it to PORTCHECK_ALLOW or set allow_private)", nil},
		{"allow beats default deny", Config{Allow: []string{"127.0.0.0/8"}}, "0x7f.1", nil, true, "explicit allow 127.0.0.0/8", []string{"127.0.0.1"}},
		{"allow beats default deny benchmark", Config{Allow: []string{"198.18.0.0/15"}}, "198.18.0.20", nil, true, "explicit allow 198.18.0.0/15", []string{"198.18.0.20"}},
		{"broad allow no lift", Config{Allow: []string{"0.0.0.0/0"}}, "127.0.0.1", nil, false, ruleLoopback + " (allow 0.0.0.0/0 is broader; allow 127.0.0.0/8 itself to lift it)", nil},
		{"broad allow no private", Config{Allow: []string{"0.0.0.0/0"}}, "10.0.0.1", nil, false, rule10, nil},
		{"link-local allow not metadata", Config{Allow: []string{"169.254.0.0/16"}}, "169.254.169.254", nil, false, ruleMetadata + " (allow 169.254.0.0/16 is broader; allow 169.254.169.254/32 itself to lift it)", nil},
		{"link-local allow", Config{Allow: []string{"169.254.0.0/16"}}, "169.254.1.1", nil, true, "explicit allow 169.254.0.0/16", []string{"169.254.1.1"}},
		{"metadata explicitly allowed", Config{Allow: []string{"169.254.169.254"}}, "2852039166", nil, true, "explicit allow 169.254.169.254/32", []string{"169.254.169.254"}},
		{"deny beats allow", Config{Allow: []string{"10.0.0.0/8"}, Deny: []string{"10.9.0.0/16"}}, "10.9.1.1", nil, false, "explicit deny 10.9.0.0/16", nil},
		{"deny beats allow other", Config{Allow: []string{"10.0.0.0/8"}, Deny: []string{"10.9.0.0/16"}}, "10.8.1.1", nil, true, "explicit allow 10.0.0.0/8", []string{"10.8.1.1"}},
		{"deny same as allow", Config{Allow: []string{"8.8.8.8"}, Deny: []string{"8.8.8.8"}}, "8.8.8.8", nil, false, "explicit deny 8.8.8.8/32", nil},
		{"deny public", Config{Deny: []string{"8.8.8.0/24"}}, "8.8.8.8", nil, false, "explicit deny 8.8.8.0/24", nil},
		{"deny embedded", Config{Deny: []string{"8.8.8.8"}}, "::ffff:8.8.8.8", nil, false, "explicit deny 8.8.8.8/32 (embedded in IPv4-mapped ::ffff:0.0.0.0/96 as 8.8.8.8)", nil},
		{"allow mapped wrapper", Config{Allow: []string{"::ffff:0:0/96"}}, "::ffff:8.8.8.8", nil, true, "explicit allow ::ffff:0.0.0.0/96 (embeds 8.8.8.8: public address)", []string{"::ffff:8.8.8.8"}},
		{"allow mapped wrapper metadata", Config{Allow: []string{"::ffff:0:0/96"}}, "::ffff:169.254.169.254", nil, false, ruleMetadata + " (embedded in IPv4-mapped ::ffff:0.0.0.0/96 as 169.254.169.254)", nil},
		{"name allow private", Config{Allow: []string{".corp.example.com"}}, "db.corp.example.com", nil, true, "explicit allow .corp.example.com", []string{"10.1.2.3"}},
		{"name allow apex", Config{Allow: []string{".corp.example.com"}}, "corp.example.com", nil, true, "explicit allow .corp.example.com", []string{"10.1.2.4"}},
		{"name allow star", Config{Allow: []string{"*.corp.example.com"}}, "DB.corp.example.com.", nil, true, "explicit allow .corp.example.com", []string{"10.1.2.3"}},
		{"name allow not metadata", Config{Allow: []string{".corp.example.com"}}, "evil.corp.example.com", nil, false, ruleMetadata, nil},
		{"name allow suffix boundary", Config{Allow: []string{".corp.example.com"}}, "xcorp.example.com", nil, false, rule10, nil},
		{"name deny", Config{Deny: []string{".evil.example.com"}}, "a.evil.example.com", nil, false, "explicit deny .evil.example.com", nil},
		{"name deny beats name allow", Config{Allow: []string{".example.com"}, Deny: []string{"bad.example.com"}}, "bad.example.com", nil, false, "explicit deny bad.example.com", nil},
		{"name deny exact only", Config{Allow: []string{".example.com"}, Deny: []string{"bad.example.com"}}, "x.bad.example.com", nil, true, "explicit allow .example.com", []string{"93.184.215.14"}},
		{"address deny beats name allow", Config{Allow: []string{".corp.example.com"}, Deny: []string{"10.1.2.3"}}, "db.corp.example.com", nil, false, "explicit deny 10.1.2.3/32", nil},
		{"allowlist only", Config{AllowOnly: true, Allow: []string{"10.0.0.0/8"}}, "8.8.8.8", nil, false, "allowlist only: no allow rule covers it", nil},
		{"allowlist only name", Config{AllowOnly: true, Allow: []string{".example.com"}}, "example.com", nil, true, "explicit allow .example.com", []string{"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"}},

		// Ports.
		{"ports allowed", Config{Ports: []string{"22", "80-443"}}, "8.8.8.8", []int{22, 80, 443}, true, "public address", []string{"8.8.8.8"}},
		{"port not allowed", Config{Ports: []string{"22", "80-443"}}, "8.8.8.8", []int{22, 25}, false, "allowed ports 22, 80-443", nil},
		{"too many ports", Config{MaxPorts: 2}, "8.8.8.8", []int{1, 2, 3}, false, "max ports 2", nil},
		{"default max ports", cfgDefault, "8.8.8.8", make([]int, 65), false, "max ports 64", nil},
		{"port zero", cfgDefault, "8.8.8.8", []int{0}, false, "invalid port", nil},
		{"port huge", cfgDefault, "8.8.8.8", []int{70000}, false, "invalid port", nil},
		{"ports before address", Config{Ports: []string{"443"}}, "169.254.169.254", []int{80}, false, "allowed ports 443", nil},

		// Garbage.
		{"empty", cfgDefault, "", nil, false, "invalid host", nil},
		{"space", cfgDefault, "ex ample.com", nil, false, "invalid host", nil},
		{"bang", cfgDefault, "bad host!", nil, false, "invalid host", nil},
		{"empty label", cfgDefault, "a..b", nil, false, "invalid host", nil},
		{"overflow part", cfgDefault, "256.1.1.1", nil, false, "invalid host", nil},
		{"overflow whole", cfgDefault, "4294967296", nil, false, "invalid host", nil},
		{"bad octal", cfgDefault, "1.2.3.08", nil, false, "invalid host", nil},
		{"five parts", cfgDefault, "1.2.3.4.5", nil, false, "invalid host", nil},
		{"v4 zone", cfgDefault, "127.0.0.1%eth0", nil, false, "invalid host", nil},
		{"v4 in brackets", cfgDefault, "[127.0.0.1]", nil, false, "invalid host", nil},
		{"unicode", cfgDefault, "exаmple.com", nil, false, "invalid host", nil}, // Cyrillic a
		{"url", cfgDefault, "http://169.254.169.254/", nil, false, "invalid host", nil},
		{"user info", cfgDefault, "user@169.254.169.254", nil, false, "invalid host", nil},
		{"nxdomain", cfgDefault, "nope.example.com", nil, false, "dns", nil},
		{"no answers", cfgDefault, "empty.example.com", nil, false, "dns", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.cfg, testDNS())
			if err != nil {
				t.Fatal(err)
			}
			d := p.Decide(context.Background(), tc.host, tc.ports)
			if d.Allowed != tc.allow || d.Rule != tc.rule {
				t.Fatalf("Decide(%q) = allowed %v rule %q\nwant allowed %v rule %q\nreason: %s", tc.host, d.Allowed, d.Rule, tc.allow, tc.rule, d.Reason)
			}
			if d.Reason == "" {
				t.Errorf("empty reason")
			}
			var got []string
			for _, a := range d.Addrs {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.addrs) {
				t.Errorf("Addrs = %v, want %v", got, tc.addrs)
			}
		})
	}
}

func TestDecideLinkLocalAllowKeepsZone(t *testing.T) {
	p, err := New(Config{Allow: []string{"fe80::/10"}}, testDNS())
	if err != nil {
		t.Fatal(err)
	}
	d := p.Decide(context.Background(), "fe80::1%eth0", nil)
	if !d.Allowed || len(d.Addrs) != 1 || d.Addrs[0].Zone() != "eth0" {
		t.Fatalf("got %+v; the zone must survive so the prober uses the right link", d)
	}
}

func TestDeniedNameIsNotLookedUp(t *testing.T) {
	dns := testDNS()
	p, err := New(Config{Deny: []string{".evil.example.com"}}, dns)
	if err != nil {
		t.Fatal(err)
	}
	p.Decide(context.Background(), "a.evil.example.com", nil)
	p.Decide(context.Background(), "0xA9FEA9FE", nil) // literal: no DNS either
	p.Decide(context.Background(), "256.1.1.1", nil)  // numeric garbage never reaches a resolver
	if n := dns.total(); n != 0 {
		t.Fatalf("%d lookups, want 0", n)
	}
}

func TestDNSErrorIsNotADenial(t *testing.T) {
	p, _ := New(Config{}, testDNS())
	d := p.Decide(context.Background(), "nope.example.com", []int{443})
	if d.Allowed || !d.DNSError || !strings.Contains(d.Reason, "no such host") {
		t.Fatalf("got %+v", d)
	}
}

// rebinder answers a public address first and cloud metadata afterwards, the
// classic DNS rebinding trick against check-then-connect code.
type rebinder struct {
	mu    sync.Mutex
	calls int
}

func (r *rebinder) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls == 1 {
		return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
}

func TestRebindingOneLookupAndVettedAddrs(t *testing.T) {
	r := &rebinder{}
	p, err := New(Config{}, r)
	if err != nil {
		t.Fatal(err)
	}
	d := p.Decide(context.Background(), "rebind.example.com", []int{80})
	if r.calls != 1 {
		t.Fatalf("%d lookups, want exactly 1", r.calls)
	}
	if !d.Allowed || len(d.Addrs) != 1 || d.Addrs[0] != netip.MustParseAddr("93.184.215.14") {
		t.Fatalf("got %+v, want allowed with exactly the checked address", d)
	}
	// Every address handed back passes on its own (what a worker re-checks).
	for _, a := range d.Addrs {
		if ok, rule := p.CheckAddr(a); !ok {
			t.Fatalf("returned %s which is denied: %s", a, rule)
		}
	}
	// The second answer is the rebinding one: a new decision sees and denies it.
	d2 := p.Decide(context.Background(), "rebind.example.com", []int{80})
	if d2.Allowed || d2.Rule != ruleMetadata || r.calls != 2 {
		t.Fatalf("second decision %+v after %d calls", d2, r.calls)
	}
	// The first decision's addresses were copied, not shared.
	if d.Addrs[0] != netip.MustParseAddr("93.184.215.14") {
		t.Fatal("first decision mutated")
	}
}

func TestShellAndUnrestricted(t *testing.T) {
	ctx := context.Background()
	sh := Shell(testDNS())
	for host, want := range map[string]string{
		"127.0.0.1":       "explicit allow 127.0.0.0/8",
		"localhost":       "explicit allow 127.0.0.0/8; explicit allow ::1/128",
		"::1":             "explicit allow ::1/128",
		"192.168.1.1":     "allow_private: private (RFC 1918) 192.168.0.0/16",
		"169.254.169.254": ruleMetadata,
		"2852039166":      ruleMetadata,
		"fd00:ec2::254":   "default deny: cloud metadata (AWS IPv6) fd00:ec2::254/128",
	} {
		if d := sh.Decide(ctx, host, nil); d.Rule != want || d.Allowed == strings.HasPrefix(want, "default deny") {
			t.Errorf("Shell %s: %v %q, want %q", host, d.Allowed, d.Rule, want)
		}
	}
	un := Unrestricted(testDNS())
	d := un.Decide(ctx, "0xA9FEA9FE", make([]int, 1000))
	if !d.Allowed || d.Rule != "no policy" || d.Addrs[0] != netip.MustParseAddr("169.254.169.254") {
		t.Errorf("Unrestricted: %+v", d)
	}
	if d := un.Decide(ctx, "bad host!", nil); d.Allowed {
		t.Errorf("Unrestricted must still reject unparseable hosts: %+v", d)
	}
}

func TestRedactHop(t *testing.T) {
	no := false
	p, _ := New(Config{Allow: []string{"10.0.0.0/8"}, Deny: []string{"9.9.9.0/24"}}, testDNS())
	off, _ := New(Config{RedactHops: &no}, testDNS())
	a := netip.MustParseAddr
	cases := []struct {
		p           *Policy
		target, hop string
		want        bool
	}{
		{p, "8.8.8.8", "10.0.0.1", true},           // private hop of a public target
		{p, "8.8.8.8", "100.64.0.1", true},         // CGNAT hop
		{p, "8.8.8.8", "::ffff:192.168.0.1", true}, // mapped spelling of a private hop
		{p, "8.8.8.8", "9.9.9.9", true},            // explicitly denied hop
		{p, "8.8.8.8", "4.4.4.4", false},           // public hop
		{p, "8.8.8.8", "8.8.8.8", false},           // the target itself
		{p, "10.1.2.3", "10.0.0.1", false},         // internal target: nothing to hide
		{p, "8.8.8.8", "", false},                  // unanswered hop
		{off, "8.8.8.8", "10.0.0.1", false},        // configured off
	}
	for _, c := range cases {
		var hop netip.Addr
		if c.hop != "" {
			hop = a(c.hop)
		}
		if got := c.p.RedactHop(a(c.target), hop); got != c.want {
			t.Errorf("RedactHop(%s, %s) = %v, want %v", c.target, c.hop, got, c.want)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Allow: []string{"10.0.0.0/33"}}, `policy: allow: "10.0.0.0/33" is not a CIDR`},
		{Config{Allow: []string{"bad host!"}}, `policy: allow: "bad host!" is not a CIDR, address or hostname`},
		{Config{Deny: []string{"10.1"}}, `policy: deny: "10.1" is not a canonical address`},
		{Config{Deny: []string{"fe80::1%eth0"}}, `policy: deny: "fe80::1%eth0": a rule cannot carry an IPv6 zone`},
		{Config{Ports: []string{"90-80"}}, `policy: ports: "90-80": range runs backwards`},
		{Config{Ports: []string{"0"}}, `policy: ports: "0": must be a port`},
		{Config{Ports: []string{"+22"}}, `policy: ports: "+22": must be a port`},
		{Config{MaxPorts: -1}, `policy: max_ports -1 must be positive`},
	} {
		_, err := New(c.cfg, nil)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want prefix %q", c.cfg, err, c.want)
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		"PORTCHECK_ALLOW": "10.0.0.0/8, 172.16.0.0/12,192.168.0.0/16,.corp.example.com,",
		"PORTCHECK_DENY":  "10.66.0.0/16",
	}
	base := Config{Allow: []string{"fd00::/8"}}
	c := FromEnv(base, func(k string) string { return env[k] })
	want := []string{"fd00::/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", ".corp.example.com"}
	if !slices.Equal(c.Allow, want) || !slices.Equal(c.Deny, []string{"10.66.0.0/16"}) {
		t.Fatalf("got allow %v deny %v", c.Allow, c.Deny)
	}
	if len(base.Allow) != 1 {
		t.Fatal("FromEnv modified its base")
	}
	p, err := New(c, testDNS())
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Decide(context.Background(), "db.corp.example.com", []int{22}); !d.Allowed {
		t.Fatalf("%+v", d)
	}
	if d := p.Decide(context.Background(), "10.66.1.1", []int{22}); d.Allowed || d.Rule != "explicit deny 10.66.0.0/16" {
		t.Fatalf("%+v", d)
	}
}

func TestDNS64AllowStillJudgesInner(t *testing.T) {
	dns := newFakeDNS(map[string][]string{
		"example.com": {"64:ff9b::5db8:d70e"},
		"evil.com":    {"64:ff9b::5db8:d70e", "64:ff9b::a9fe:a9fe"},
	})
	p, err := New(Config{Allow: []string{"64:ff9b::/96"}}, dns)
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Decide(context.Background(), "example.com", nil); !d.Allowed || d.Rule != "explicit allow 64:ff9b::/96 (embeds 93.184.215.14: public address)" {
		t.Fatalf("%+v", d)
	}
	d := p.Decide(context.Background(), "evil.com", nil)
	if d.Allowed || d.Rule != ruleMetadata+" (embedded in NAT64 64:ff9b::/96 as 169.254.169.254)" {
		t.Fatalf("%+v", d)
	}
}
