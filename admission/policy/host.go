package policy

import (
	"fmt"
	"net/netip"
	"strings"
)

// target is a host string after parsing: either a literal address (Addr
// valid) or a normalised DNS name.
type target struct {
	Addr netip.Addr
	Name string
}

// parseHost turns what a user typed into an address or a name. Literal
// addresses include every form the kernel would connect to (brackets, IPv6
// zones, inet_aton spellings); anything else must be a plausible DNS name,
// because the string will be handed to a resolver.
func parseHost(s string) (target, error) {
	if s == "" {
		return target{}, fmt.Errorf("empty host")
	}
	if len(s) > 255 {
		return target{}, fmt.Errorf("host longer than 255 characters")
	}
	h := s
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is6() {
			return target{}, fmt.Errorf("%q: brackets must hold an IPv6 address", s)
		}
		return target{Addr: a}, nil
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return target{Addr: a}, nil
	}
	if a, ok := ParseLegacyIPv4(h); ok {
		return target{Addr: a}, nil
	}
	name := strings.ToLower(strings.TrimSuffix(h, "."))
	if err := checkName(name); err != nil {
		return target{}, fmt.Errorf("%q: %w", s, err)
	}
	if looksNumeric(name) {
		return target{}, fmt.Errorf("%q looks like an IPv4 address but is not a valid one", s)
	}
	return target{Name: name}, nil
}

// checkName accepts DNS names made of letters, digits, '-' and '_' (the
// latter appears in real service names). Internationalised names must be
// typed in their xn-- form: Unicode look-alikes never reach a resolver.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	if len(name) > 253 {
		return fmt.Errorf("name longer than 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return fmt.Errorf("empty label in name")
		}
		if len(label) > 63 {
			return fmt.Errorf("label longer than 63 characters")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%q is not allowed in a hostname", c)
			}
		}
	}
	return nil
}
