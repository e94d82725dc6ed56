package policy

import (
	"context"
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// Every IPv6 form embedding IPv4, with 169.254.169.254 (denied by default)
// and 93.184.215.14 (an allowed public address) inside. The forms are
// written out by hand from the RFCs, not computed by the code under test.
type embForm struct {
	name     string
	allow    string // the wrapper, as an allow rule
	own      string // the wrapper's own rule: the default deny it cites
	in       string // the form, as the embedded-in citation names it
	metadata string // 169.254.169.254 (a9fe:a9fe) inside
	public   string // 93.184.215.14 (5db8:d70e) inside
	pubIn    string // the form, as cited for the public address; "" = in
}

func embForms() []embForm {
	return []embForm{
		{"mapped", "::ffff:0:0/96", "default deny: IPv4-mapped ::ffff:0.0.0.0/96", "IPv4-mapped ::ffff:0.0.0.0/96 as", "::ffff:a9fe:a9fe", "::ffff:5db8:d70e", ""},
		{"translated (SIIT)", "::ffff:0:0:0/96", "default deny: IPv4-translated ::ffff:0:0:0/96", "IPv4-translated ::ffff:0:0:0/96 as", "::ffff:0:a9fe:a9fe", "::ffff:0:5db8:d70e", ""},
		{"compatible", "::/96", "default deny: deprecated IPv4-compatible ::/96", "deprecated IPv4-compatible ::/96 as", "::a9fe:a9fe", "::5db8:d70e", ""},
		{"NAT64 well-known", "64:ff9b::/96", "default deny: NAT64 64:ff9b::/96", "NAT64 64:ff9b::/96 as", "64:ff9b::a9fe:a9fe", "64:ff9b::5db8:d70e", ""},
		{"6to4", "2002::/16", "default deny: 6to4 2002::/16", "6to4 2002::/16 as", "2002:a9fe:a9fe::1", "2002:5db8:d70e::1", ""},
		// Teredo: server in bits 32-63, client inverted in bits 96-127
		// (~a9fe:a9fe = 5601:5601, ~5db8:d70e = a247:28f1).
		{"Teredo client", "2001::/32", "default deny: Teredo 2001::/32", "Teredo 2001::/32 as the client address", "2001:0:5db8:d70e:8000:63bf:5601:5601", "2001:0:5db8:d70e:8000:63bf:a247:28f1", "Teredo 2001::/32 as the server address"},
		{"Teredo server", "2001::/32", "default deny: Teredo 2001::/32", "Teredo 2001::/32 as the server address", "2001:0:a9fe:a9fe:8000:63bf:a247:28f1", "2001:0:5db8:d70e:8000:63bf:a247:28f1", ""},
	}
}

// Local-use NAT64 (RFC 8215) cut into an operator's own NAT64 prefixes of
// each RFC 6052 length; the "u" octet (bits 64-71) is skipped.
type localUseForm struct {
	layout           int
	prefix           string // the operator's NAT64 prefix inside 64:ff9b:1::/48
	metadata, public string
}

func localUseForms() []localUseForm {
	return []localUseForm{
		{48, "64:ff9b:1::/48", "64:ff9b:1:a9fe:a9:fe00::", "64:ff9b:1:5db8:d7:e00::"},
		{56, "64:ff9b:1:ab00::/56", "64:ff9b:1:aba9:fe:a9fe::", "64:ff9b:1:ab5d:b8:d70e::"},
		{64, "64:ff9b:1:abcd::/64", "64:ff9b:1:abcd:a9:fea9:fe00:0", "64:ff9b:1:abcd:5d:b8d7:e00:0"},
		{96, "64:ff9b:1:abcd::/96", "64:ff9b:1:abcd::a9fe:a9fe", "64:ff9b:1:abcd::5db8:d70e"},
	}
}

// A deployment's own NAT64 prefix of every RFC 6052 length, in
// documentation space.
type configuredForm struct {
	prefix           string
	metadata, public string
}

func configuredForms() []configuredForm {
	return []configuredForm{
		{"2001:db8::/32", "2001:db8:a9fe:a9fe::", "2001:db8:5db8:d70e::"},
		{"2001:db8:100::/40", "2001:db8:1a9:fea9:fe::", "2001:db8:15d:b8d7:e::"},
		{"2001:db8:64::/48", "2001:db8:64:a9fe:a9:fe00::", "2001:db8:64:5db8:d7:e00::"},
		{"2001:db8:64:6400::/56", "2001:db8:64:64a9:fe:a9fe::", "2001:db8:64:645d:b8:d70e::"},
		{"2001:db8:64:64::/64", "2001:db8:64:64:a9:fea9:fe00:0", "2001:db8:64:64:5d:b8d7:e00:0"},
		{"2001:db8:64:64::/96", "2001:db8:64:64::a9fe:a9fe", "2001:db8:64:64::5db8:d70e"},
	}
}

// The decision on an IPv4 address inside IPv6: whatever allows the
// wrapper, a denied IPv4 address inside stays denied, citing the IPv4 rule
// and the form; an allowed IPv4 address inside is still subject to the
// wrapper's own rule (every standard wrapper is on the default deny list),
// and passes when the wrapper is allowed too, citing both.
func TestEmbeddedIPv4(t *testing.T) {
	const (
		meta      = "default deny: cloud metadata 169.254.169.254/32"
		pub       = "93.184.215.14"
		pubRule   = "public address"
		allowMeta = "169.254.169.254"
	)
	wrappers := []string{"::ffff:0:0/96", "::ffff:0:0:0/96", "::/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32"}
	allowAll := Config{Allow: wrappers}
	type tc struct {
		name  string
		p     *Policy
		addr  string
		allow bool
		rule  string
	}
	mk := func(c Config) *Policy {
		p, err := New(c, testDNS())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	def, all, shell := mk(Config{}), mk(allowAll), Shell(testDNS())
	// The IPv4 address allowed, the wrappers not: the wrapper's rule holds.
	metaAllowed := mk(Config{Allow: []string{allowMeta}})
	// Both allowed, and allowlist_only: the IPv4 address must be listed too.
	only := mk(Config{AllowOnly: true, Allow: append([]string{pub}, wrappers...)})
	onlyNoV4 := mk(Config{AllowOnly: true, Allow: wrappers})
	// An explicit deny of the IPv4 address reaches every form of it.
	denyPub := mk(Config{Allow: wrappers, Deny: []string{pub}})

	var cases []tc
	for _, f := range embForms() {
		wrapperRule := f.own
		in := " (embedded in " + f.in + " "
		pubIn := in
		if f.pubIn != "" {
			pubIn = " (embedded in " + f.pubIn + " "
		}
		cases = append(cases,
			tc{f.name + " metadata, default", def, f.metadata, false, meta + in + "169.254.169.254)"},
			tc{f.name + " metadata, wrapper allowed", all, f.metadata, false, meta + in + "169.254.169.254)"},
			tc{f.name + " metadata, shell", shell, f.metadata, false, meta + in + "169.254.169.254)"},
			tc{f.name + " metadata, metadata allowed", metaAllowed, f.metadata, false, wrapperRule},
			tc{f.name + " public, default", def, f.public, false, wrapperRule},
			tc{f.name + " public, shell", shell, f.public, false, wrapperRule},
			tc{f.name + " public, wrapper allowed", all, f.public, true, "explicit allow " + netip.MustParsePrefix(f.allow).String() + " (embeds " + pub + ": " + pubRule + ")"},
			tc{f.name + " public, allowlist only", only, f.public, true, "explicit allow " + netip.MustParsePrefix(f.allow).String() + " (embeds " + pub + ": explicit allow " + pub + "/32)"},
			tc{f.name + " public, allowlist only without it", onlyNoV4, f.public, false, "allowlist only: no allow rule covers it" + pubIn + pub + ")"},
			tc{f.name + " public, denied", denyPub, f.public, false, "explicit deny " + pub + "/32" + pubIn + pub + ")"},
		)
	}
	for _, f := range localUseForms() {
		read := ", reading it as a /" + strconv.Itoa(f.layout) + " NAT64 prefix)"
		exact := mk(Config{Allow: []string{"64:ff9b:1::/48"}, NAT64: []string{f.prefix}})
		cases = append(cases,
			tc{"local-use /" + strconv.Itoa(f.layout) + " metadata, default", def, f.metadata, false, meta + " (embedded in local-use NAT64 64:ff9b:1::/48 as 169.254.169.254" + read},
			tc{"local-use /" + strconv.Itoa(f.layout) + " metadata, wrapper allowed", all, f.metadata, false, meta + " (embedded in local-use NAT64 64:ff9b:1::/48 as 169.254.169.254" + read},
			tc{"local-use /" + strconv.Itoa(f.layout) + " metadata, prefix configured", exact, f.metadata, false, meta + " (embedded in NAT64 (configured) " + f.prefix + " as 169.254.169.254)"},
			tc{"local-use /" + strconv.Itoa(f.layout) + " public, default", def, f.public, false, "default deny: local-use NAT64 64:ff9b:1::/48"},
			tc{"local-use /" + strconv.Itoa(f.layout) + " public, prefix configured", exact, f.public, true, "explicit allow 64:ff9b:1::/48 (embeds " + pub + ": " + pubRule + ")"},
		)
	}
	// Without the operator's layout every layout is read, so a public
	// address whose other readings land in a denied range is refused;
	// naming the prefix in nat64_prefixes fixes that (the row above).
	cases = append(cases, tc{"local-use /96 public, layout unknown", all, "64:ff9b:1:abcd::5db8:d70e", false,
		"default deny: this network 0.0.0.0/8 (embedded in local-use NAT64 64:ff9b:1::/48 as 0.0.0.93, reading it as a /64 NAT64 prefix; name your NAT64 prefix in nat64_prefixes so only its layout is read)"})
	for _, f := range configuredForms() {
		pr := netip.MustParsePrefix(f.prefix)
		open := mk(Config{Allow: []string{"2001:db8::/32"}, NAT64: []string{f.prefix}})
		closed := mk(Config{NAT64: []string{f.prefix}})
		in := " (embedded in NAT64 (configured) " + pr.String() + " as "
		cases = append(cases,
			tc{"configured /" + strconv.Itoa(pr.Bits()) + " metadata", open, f.metadata, false, meta + in + "169.254.169.254)"},
			tc{"configured /" + strconv.Itoa(pr.Bits()) + " metadata, default", closed, f.metadata, false, meta + in + "169.254.169.254)"},
			tc{"configured /" + strconv.Itoa(pr.Bits()) + " public", open, f.public, true, "explicit allow 2001:db8::/32 (embeds " + pub + ": " + pubRule + ")"},
			tc{"configured /" + strconv.Itoa(pr.Bits()) + " public, prefix's own rule", closed, f.public, false, "default deny: documentation 2001:db8::/32"},
		)
	}
	cases = append(cases,
		// The bug of issue 17: SIIT's form was no rule at all.
		tc{"translated hex metadata, shell", shell, "::ffff:0:a9fe:a9fe", false, meta + " (embedded in IPv4-translated ::ffff:0:0:0/96 as 169.254.169.254)"},
		tc{"translated private, shell", shell, "::ffff:0:c0a8:101", false, "default deny: IPv4-translated ::ffff:0:0:0/96"},
		tc{"Teredo both denied cites the server", all, "2001:0:7f00:1:8000:63bf:5601:5601", false, "default deny: loopback 127.0.0.0/8 (embedded in Teredo 2001::/32 as the server address 127.0.0.1)"},
		tc{"compatible :: is unspecified", def, "::", false, "default deny: unspecified ::/128"},
		tc{"compatible ::1 is loopback", all, "::1", false, "default deny: loopback ::1/128 (allow ::/96 is broader; allow ::1/128 itself to lift it)"},
		tc{"compatible this network", all, "::2", false, "default deny: this network 0.0.0.0/8 (embedded in deprecated IPv4-compatible ::/96 as 0.0.0.2)"},
		tc{"explicit deny of the wrapper first", mk(Config{Allow: wrappers, Deny: []string{"2002::/16"}}), "2002:a9fe:a9fe::1", false, "explicit deny 2002::/16"},
		tc{"explicit allow of the exact address", mk(Config{Allow: []string{"64:ff9b::a9fe:a9fe"}}), "64:ff9b::a9fe:a9fe", false, meta + " (embedded in NAT64 64:ff9b::/96 as 169.254.169.254)"},
		tc{"both allowed explicitly", mk(Config{Allow: []string{"64:ff9b::/96", allowMeta}}), "64:ff9b::a9fe:a9fe", true, "explicit allow 64:ff9b::/96 (embeds 169.254.169.254: explicit allow 169.254.169.254/32)"},
		tc{"private inside, allow_private", mk(Config{AllowPrivate: true, Allow: wrappers}), "64:ff9b::a01:203", true, "explicit allow 64:ff9b::/96 (embeds 10.1.2.3: allow_private: private (RFC 1918) 10.0.0.0/8)"},
		tc{"private inside, not allowed", all, "64:ff9b::a01:203", false, rule10 + " (embedded in NAT64 64:ff9b::/96 as 10.1.2.3)"},
		tc{"public IPv6 embeds nothing", all, "2606:4700::1111", true, "public address"},
	)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := netip.MustParseAddr(c.addr)
			ok, rule := c.p.CheckAddr(a)
			if ok != c.allow || rule != c.rule {
				t.Fatalf("CheckAddr(%s) = %v %q\nwant %v %q", c.addr, ok, rule, c.allow, c.rule)
			}
			for _, typed := range []string{c.addr, "[" + c.addr + "]"} {
				d := c.p.Decide(context.Background(), typed, []int{80})
				if d.Allowed != c.allow || d.Rule != c.rule {
					t.Fatalf("Decide(%s) = %v %q, CheckAddr says %v %q", typed, d.Allowed, d.Rule, ok, rule)
				}
			}
		})
	}
}

func TestEmbeddedIPv4ThroughDNS(t *testing.T) {
	// DNS64 answers come from a resolver, not a user: the same rule holds.
	dns := newFakeDNS(map[string][]string{
		"good.example": {"64:ff9b::5db8:d70e"},
		"evil.example": {"64:ff9b::5db8:d70e", "::ffff:0:a9fe:a9fe"},
	})
	p, err := New(Config{Allow: []string{"64:ff9b::/96", "::ffff:0:0:0/96"}}, dns)
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Decide(context.Background(), "good.example", nil); !d.Allowed {
		t.Fatalf("good: %+v", d)
	}
	d := p.Decide(context.Background(), "evil.example", nil)
	if d.Allowed || d.Rule != "default deny: cloud metadata 169.254.169.254/32 (embedded in IPv4-translated ::ffff:0:0:0/96 as 169.254.169.254)" {
		t.Fatalf("evil: %+v", d)
	}
}

func TestNAT64PrefixConfig(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"10.0.0.0/8", `policy: nat64_prefixes: "10.0.0.0/8": a NAT64 prefix is an IPv6 prefix`},
		{"::ffff:10.0.0.0/104", `policy: nat64_prefixes: "::ffff:10.0.0.0/104": a NAT64 prefix is an IPv6 prefix`},
		{"2001:db8::/33", `policy: nat64_prefixes: "2001:db8::/33": a NAT64 prefix is /32, /40, /48, /56, /64 or /96 (RFC 6052)`},
		{"2001:db8::1", `policy: nat64_prefixes: "2001:db8::1" is not a CIDR`},
	} {
		_, err := New(Config{NAT64: []string{c.in}}, nil)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.in, err, c.want)
		}
	}
	if p, err := ParseNAT64Prefix("2001:db8:64:64::1/96"); err != nil || p.String() != "2001:db8:64:64::/96" {
		t.Errorf("not masked: %v %v", p, err)
	}
}

// TestRedactHopEmbedded: a hop under a NAT64 prefix is only as public as
// the IPv4 address inside.
func TestRedactHopEmbedded(t *testing.T) {
	p, err := New(Config{NAT64: []string{"2001:db8:64::/96"}, Allow: []string{"2001:db8::/32"}}, testDNS())
	if err != nil {
		t.Fatal(err)
	}
	target := netip.MustParseAddr("2606:4700::1111")
	if !p.RedactHop(target, netip.MustParseAddr("2001:db8:64::a00:1")) {
		t.Error("hop embedding 10.0.0.1 shown for a public target")
	}
	if !p.RedactHop(target, netip.MustParseAddr("::ffff:0:a00:1")) {
		t.Error("translated hop embedding 10.0.0.1 shown for a public target")
	}
}

// embedRef writes v4 into a the way each RFC describes it, bit by bit: an
// independent reading of the layouts to check the extractor against.
type refForm struct {
	prefix string
	pieces [][2]int // (first bit, number of bits) of the IPv4 address, in order
	invert bool
}

func refForms() []refForm {
	v96 := [][2]int{{96, 32}}
	return []refForm{
		{"::ffff:0:0/96", v96, false},
		{"::ffff:0:0:0/96", v96, false},
		{"::/96", v96, false},
		{"64:ff9b::/96", v96, false},
		{"64:ff9b:1::/48", [][2]int{{48, 16}, {72, 16}}, false}, // RFC 6052 /48
		{"2002::/16", [][2]int{{16, 32}}, false},
		{"2001::/32", [][2]int{{32, 32}}, false}, // Teredo server
		{"2001::/32", v96, true},                 // Teredo client
		// The configured prefixes of the fuzz policy (RFC 6052 §2.2).
		{"2001:db8::/32", [][2]int{{32, 32}}, false},
		{"2001:db8:100::/40", [][2]int{{40, 24}, {72, 8}}, false},
		{"2001:db8:64::/48", [][2]int{{48, 16}, {72, 16}}, false},
		{"2001:db8:64:6400::/56", [][2]int{{56, 8}, {72, 24}}, false},
		{"2001:db8:64:64::/64", [][2]int{{72, 32}}, false},
		{"2001:db8:64:64::/96", v96, false},
	}
}

func putBits(b *[16]byte, first, n int, v uint32) {
	for i := 0; i < n; i++ {
		bit := (v >> (n - 1 - i)) & 1
		pos := first + i
		mask := byte(0x80) >> (pos % 8)
		if bit == 1 {
			b[pos/8] |= mask
		} else {
			b[pos/8] &^= mask
		}
	}
}

func embedRef(f refForm, raw [16]byte, v4 uint32) netip.Addr {
	pr := netip.MustParsePrefix(f.prefix)
	pb := pr.Addr().As16()
	for i := 0; i < pr.Bits(); i++ { // the prefix bits, the rest from raw
		putBits(&raw, i, 1, uint32(pb[i/8]>>(7-i%8)&1))
	}
	if f.invert {
		v4 = ^v4
	}
	left := 32
	for _, piece := range f.pieces {
		putBits(&raw, piece[0], piece[1], v4>>(left-piece[1]))
		left -= piece[1]
	}
	return netip.AddrFrom16(raw)
}

// FuzzEmbeddedIPv4 checks the extractor against the bitwise reference for
// every form, and the decision built on it: an IPv6 address embedding an
// IPv4 address the IPv4 rules deny is denied by the default policy, the
// shell and a policy allowing every wrapper, whatever else its bits say.
func FuzzEmbeddedIPv4(f *testing.F) {
	f.Add([]byte{}, uint32(0xa9fea9fe), uint8(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint32(0x7f000001), uint8(7))
	f.Add([]byte("0123456789abcdef"), uint32(0x5db8d70e), uint8(4))
	wrappers := []string{"::ffff:0:0/96", "::ffff:0:0:0/96", "::/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32", "2001:db8::/32"}
	var nat64 []string
	forms := refForms()
	for _, rf := range forms[8:] {
		nat64 = append(nat64, rf.prefix)
	}
	f.Fuzz(func(t *testing.T, rawIn []byte, v4 uint32, which uint8) {
		var raw [16]byte
		copy(raw[:], rawIn)
		rf := forms[int(which)%len(forms)]
		// One configured prefix at a time: they overlap (all in 2001:db8::/32).
		var cfgNAT64 []string
		if int(which)%len(forms) >= 8 {
			cfgNAT64 = []string{rf.prefix}
		}
		all, err := New(Config{Allow: wrappers, NAT64: cfgNAT64}, testDNS())
		if err != nil {
			t.Fatal(err)
		}
		def, err := New(Config{NAT64: cfgNAT64}, testDNS())
		if err != nil {
			t.Fatal(err)
		}
		shell := Shell(testDNS())

		// Arbitrary bits: never a panic, only IPv4 results, only from forms
		// that hold the address.
		anyAddr := netip.AddrFrom16(raw)
		for _, e := range embedded(all.embeddings, anyAddr) {
			if !e.v4.Is4() || !e.form.prefix.Contains(anyAddr) {
				t.Fatalf("%s: bad extraction %+v", anyAddr, e)
			}
		}

		a := embedRef(rf, raw, v4)
		var v4b [4]byte
		binary.BigEndian.PutUint32(v4b[:], v4)
		want := netip.AddrFrom4(v4b)
		found := false
		for _, e := range embedded(all.embeddings, a) {
			found = found || e.v4 == want
		}
		excepted := rf.prefix == "::/96" && netip.MustParsePrefix("::/127").Contains(a)
		if !found && !excepted {
			t.Fatalf("%s (%s with %s inside): extractor found %v", a, rf.prefix, want, embedded(all.embeddings, a))
		}
		for _, p := range []*Policy{def, shell, all} {
			if ok, _ := p.CheckAddr(want); ok {
				continue
			}
			if ok, rule := p.CheckAddr(a); ok {
				t.Fatalf("%s embeds denied %s but is allowed: %s", a, want, rule)
			}
			if d := p.Decide(context.Background(), "["+a.String()+"]", []int{80}); d.Allowed {
				t.Fatalf("%s embeds denied %s but Decide allows it: %s", a, want, d.Rule)
			}
		}
	})
}
