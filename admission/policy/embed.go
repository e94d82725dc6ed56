package policy

import (
	"fmt"
	"net/netip"
)

// IPv6 has many ways of carrying an IPv4 address, and each is a way for
// packets sent to an IPv6 address to end up at that IPv4 address: the
// kernel's own dual-stack sockets (mapped), a SIIT or NAT64 translator
// (translated, NAT64, a deployment's own NAT64 prefix), a tunnel (6to4,
// Teredo, the deprecated compatible form, still routed by a sit device).
// The policy therefore judges every IPv4 address an IPv6 address embeds
// with the IPv4 rules, in one place (Policy.checkAddr), so no spelling of a
// denied IPv4 address gets through an allow of its IPv6 wrapper.

// slot is where one IPv4 address sits inside the 16 bytes of an IPv6
// address: the byte offsets of its four octets, and a mask XORed over them
// (Teredo stores its client address inverted).
type slot struct {
	at     [4]int
	xor    byte
	role   string // "" or, when a form carries two, which one ("server", "client")
	layout int    // when the form's own length does not say where the address is: the NAT64 prefix length read
}

// rfc6052 gives, for each NAT64 prefix length RFC 6052 §2.2 allows, where
// the IPv4 address goes. Bits 64-71 (byte 8, "u") are always skipped.
func rfc6052(bits int) (at [4]int, ok bool) {
	switch bits {
	case 32:
		return [4]int{4, 5, 6, 7}, true
	case 40:
		return [4]int{5, 6, 7, 9}, true
	case 48:
		return [4]int{6, 7, 9, 10}, true
	case 56:
		return [4]int{7, 9, 10, 11}, true
	case 64:
		return [4]int{9, 10, 11, 12}, true
	case 96:
		return [4]int{12, 13, 14, 15}, true
	}
	return at, false
}

// at6052 is rfc6052 for the lengths written in this file.
func at6052(bits int) [4]int {
	at, ok := rfc6052(bits)
	if !ok {
		panic(fmt.Sprintf("policy: no RFC 6052 layout for /%d", bits))
	}
	return at
}

// embedding is one IPv6 form that carries IPv4.
type embedding struct {
	prefix netip.Prefix
	what   string
	slots  []slot
	// except are addresses inside prefix that are not this form (:: and
	// ::1 are not IPv4-compatible addresses, RFC 4291 §2.5.5.1).
	except netip.Prefix
	// configured marks a deployment's own NAT64 prefix. Under one, the
	// guesses of the local-use prefix give way: the operator has said
	// where the address is.
	configured bool
}

// embeddedV4 is one IPv4 address found inside an IPv6 address.
type embeddedV4 struct {
	v4   netip.Addr
	form embedding
	slot slot
	// unlikely marks a reading of the local-use prefix by a layout other
	// than the one the address looks like (see embedded). It is judged all
	// the same, since a translator need not check the bits RFC 6052 wants
	// zero, but after the address's own rule, so that the rule cited is
	// the telling one.
	unlikely bool
}

// String describes where the address was found, for the rule cited:
// "IPv4-translated ::ffff:0:0:0/96 as 169.254.169.254".
func (e embeddedV4) String() string {
	s := e.form.what + " " + e.form.prefix.String() + " as "
	if e.slot.role != "" {
		s += "the " + e.slot.role + " address "
	}
	s += e.v4.String()
	if e.slot.layout != 0 {
		s += fmt.Sprintf(", reading it as a /%d NAT64 prefix", e.slot.layout)
	}
	if e.unlikely {
		s += "; name your NAT64 prefix in nat64_prefixes so only its layout is read"
	}
	return s
}

// builtinEmbeddings are the standard forms. The NAT64 local-use prefix
// (RFC 8215) may be cut into /48, /56, /64 or /96 NAT64 prefixes by each
// network, and nothing in an address says which, so every one of those
// layouts is read: an address is denied when any reading of it is a denied
// IPv4 address. A network that allows its local-use prefix names it in
// nat64_prefixes, and then only its layout is read.
func builtinEmbeddings() []embedding {
	p := netip.MustParsePrefix
	last := []slot{{at: at6052(96)}}
	var localUse []slot
	for _, bits := range []int{48, 56, 64, 96} {
		localUse = append(localUse, slot{at: at6052(bits), layout: bits})
	}
	return []embedding{
		{prefix: p("::ffff:0:0/96"), what: "IPv4-mapped", slots: last},
		{prefix: p("::ffff:0:0:0/96"), what: "IPv4-translated", slots: last},
		{prefix: p("::/96"), what: "deprecated IPv4-compatible", slots: last, except: p("::/127")},
		{prefix: p("64:ff9b::/96"), what: "NAT64", slots: last},
		{prefix: p("64:ff9b:1::/48"), what: "local-use NAT64", slots: localUse},
		{prefix: p("2002::/16"), what: "6to4", slots: []slot{{at: [4]int{2, 3, 4, 5}}}},
		{prefix: p("2001::/32"), what: "Teredo", slots: []slot{
			{at: [4]int{4, 5, 6, 7}, role: "server"},
			{at: at6052(96), xor: 0xff, role: "client"},
		}},
	}
}

// ParseNAT64Prefix parses one configured NAT64 (or SIIT/CLAT) prefix: an
// IPv6 CIDR of a length RFC 6052 defines (32, 40, 48, 56, 64 or 96).
func ParseNAT64Prefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (example: 64:ff9b::/96): %w", s, err)
	}
	if !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: a NAT64 prefix is an IPv6 prefix", s)
	}
	if _, ok := rfc6052(p.Bits()); !ok {
		return netip.Prefix{}, fmt.Errorf("%q: a NAT64 prefix is /32, /40, /48, /56, /64 or /96 (RFC 6052)", s)
	}
	return p.Masked(), nil
}

func configuredNAT64(p netip.Prefix) embedding {
	return embedding{prefix: p, what: "NAT64 (configured)", slots: []slot{{at: at6052(p.Bits())}}, configured: true}
}

// embedded lists every IPv4 address a carries, by every form whose prefix
// holds it, without duplicates. An IPv4 address embeds nothing.
func embedded(forms []embedding, a netip.Addr) []embeddedV4 {
	if !a.Is6() {
		return nil
	}
	b := a.As16()
	configured := false
	for _, f := range forms {
		configured = configured || (f.configured && f.prefix.Contains(a))
	}
	var out []embeddedV4
	for _, f := range forms {
		if !f.prefix.Contains(a) || (f.except.IsValid() && f.except.Contains(a)) {
			continue
		}
		if configured && !f.configured && len(f.slots) > 0 && f.slots[0].layout != 0 {
			continue // the operator's own layout replaces the guesses
		}
		// Of the guessed layouts, the shortest one the address has the
		// shape of is the likely one (a longer layout's reading of it
		// picks up the zero suffix); f.slots run from short to long.
		likely := -1
		for i, s := range f.slots {
			if s.layout != 0 && rfc6052Shape(b, s.at) {
				likely = i
				break
			}
		}
		for i, s := range f.slots {
			v4 := netip.AddrFrom4([4]byte{b[s.at[0]] ^ s.xor, b[s.at[1]] ^ s.xor, b[s.at[2]] ^ s.xor, b[s.at[3]] ^ s.xor})
			e := embeddedV4{v4: v4, form: f, slot: s, unlikely: s.layout != 0 && i != likely}
			dup := false
			for i := range out {
				if out[i].v4 == v4 {
					dup = true
					out[i].unlikely = out[i].unlikely && e.unlikely
				}
			}
			if !dup {
				out = append(out, e)
			}
		}
	}
	return out
}

// rfc6052Shape reports whether b has the shape RFC 6052 §2.2 gives an
// address with the IPv4 address at at: bits 64-71 and the suffix after the
// IPv4 address zero.
func rfc6052Shape(b [16]byte, at [4]int) bool {
	if b[8] != 0 {
		return false
	}
	for i := at[3] + 1; i < 16; i++ {
		if b[i] != 0 {
			return false
		}
	}
	return true
}
