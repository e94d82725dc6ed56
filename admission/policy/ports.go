package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of TCP ports; a single port has Lo == Hi.
type PortRange struct{ Lo, Hi int }

func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(r.Lo)
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// ParsePortRange parses "22" or "8000-8100".
func ParsePortRange(s string) (PortRange, error) {
	s = strings.TrimSpace(s)
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := parsePort(lo)
	if err != nil {
		return PortRange{}, fmt.Errorf("%q: %w", s, err)
	}
	if !isRange {
		return PortRange{a, a}, nil
	}
	b, err := parsePort(hi)
	if err != nil {
		return PortRange{}, fmt.Errorf("%q: %w", s, err)
	}
	if b < a {
		return PortRange{}, fmt.Errorf("%q: range runs backwards", s)
	}
	return PortRange{a, b}, nil
}

// parsePort accepts plain decimal only: no signs, no spaces, no leading
// "0x" (strconv.Atoi would take "+22").
func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("must be a port (1-65535) or a range like 8000-8100")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("must be a port (1-65535) or a range like 8000-8100")
		}
	}
	n, _ := strconv.Atoi(s)
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("must be a port (1-65535) or a range like 8000-8100")
	}
	return n, nil
}

func portsString(rs []PortRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}
