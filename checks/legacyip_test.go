package checks

import "testing"

// The target parser reads inet_aton forms as the address the kernel's
// resolver path would connect to, so `2852039166:80` is a check of
// 169.254.169.254 (and a policy can deny it by that address), not a DNS name.
func TestParseTargetLegacyIPv4(t *testing.T) {
	tests := []struct {
		in, host string
	}{
		{"2852039166:80", "169.254.169.254"},
		{"0xA9FEA9FE:80", "169.254.169.254"},
		{"0xa9.0xfe.0xa9.0xfe:80", "169.254.169.254"},
		{"0251.0376.0251.0376:80", "169.254.169.254"},
		{"127.1:22", "127.0.0.1"},
		{"10.1.1:22", "10.1.0.1"},
		{"127.0.0.1.:22", "127.0.0.1"},
		{"017700000001:22", "127.0.0.1"},
	}
	for _, tt := range tests {
		tg, err := ParseTarget(tt.in, ParseOptions{})
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tt.in, err)
			continue
		}
		if tg.Host != tt.host {
			t.Errorf("ParseTarget(%q).Host = %q, want %q", tt.in, tg.Host, tt.host)
		}
	}
	// Still errors: not an address and not a valid name either.
	for _, in := range []string{"1.2.3.999:80", "256.1.1.1:80", "1.2.3.08:80", "4294967296:80"} {
		if tg, err := ParseTarget(in, ParseOptions{}); err == nil {
			t.Errorf("ParseTarget(%q) = %+v, want an error", in, tg)
		}
	}
}

func TestParseLegacyIPv4(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"2852039166", "169.254.169.254", true},
		{"0x7f.1", "127.0.0.1", true},
		{"0", "0.0.0.0", true},
		{"1.2.3.4", "1.2.3.4", true},
		{"1.2.3.4.5", "", false},
		{"web01", "", false},
		{"1..2", "", false},
		{"0x", "0.0.0.0", true},
		{"09", "", false},
	}
	for _, tt := range tests {
		a, ok := ParseLegacyIPv4(tt.in)
		if ok != tt.ok || (ok && a.String() != tt.want) {
			t.Errorf("ParseLegacyIPv4(%q) = %v, %v; want %q, %v", tt.in, a, ok, tt.want, tt.ok)
		}
	}
}
