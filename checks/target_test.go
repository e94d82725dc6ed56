package checks

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in     string
		host   string
		ports  []int
		scheme string
	}{
		{"web01:443", "web01", []int{443}, ""},
		{"  web01:443\n", "web01", []int{443}, ""},
		{"WEB01.Example.COM:22", "web01.example.com", []int{22}, ""},
		{"web01.example.com.:22", "web01.example.com", []int{22}, ""},
		{"web01:22,80,443", "web01", []int{22, 80, 443}, ""},
		{"web01:443,80,443,80", "web01", []int{443, 80}, ""},
		{"web01:8000-8003", "web01", []int{8000, 8001, 8002, 8003}, ""},
		{"web01:22,8000-8002,ssh", "web01", []int{22, 8000, 8001, 8002}, ""},
		{"web01:7-7", "web01", []int{7}, ""},
		{"web01:00022", "web01", []int{22}, ""},
		{"web01:65535", "web01", []int{65535}, ""},
		{"web01:ssh", "web01", []int{22}, "ssh"},
		{"web01:SSH", "web01", []int{22}, "ssh"},
		{"db:postgresql", "db", []int{5432}, "postgresql"},
		{"db:ms-sql-s", "db", []int{1433}, "ms-sql-s"},
		{"web01:ssh,https", "web01", []int{22, 443}, ""},
		{"_ldap._tcp.corp:389", "_ldap._tcp.corp", []int{389}, ""},
		{"192.0.2.10:80", "192.0.2.10", []int{80}, ""},
		{"[2001:db8::1]:443", "2001:db8::1", []int{443}, ""},
		{"[2001:DB8:0:0::1]:443", "2001:db8::1", []int{443}, ""},
		{"[2001:db8::1]:80,443", "2001:db8::1", []int{80, 443}, ""},
		{"[::1]:22-23", "::1", []int{22, 23}, ""},
		{"[fe80::1%eth0]:22", "fe80::1%eth0", []int{22}, ""},
		{"[192.0.2.1]:80", "192.0.2.1", []int{80}, ""},
		{"https://web01/path?q=1#frag", "web01", []int{443}, "https"},
		{"HTTPS://Web01.Example.com./", "web01.example.com", []int{443}, "https"},
		{"http://web01", "web01", []int{80}, "http"},
		{"http://web01:/", "web01", []int{80}, "http"},
		{"https://web01:8443/x", "web01", []int{8443}, "https"},
		{"https://user:pw@web01/", "web01", []int{443}, "https"},
		{"ssh://git@github.com", "github.com", []int{22}, "ssh"},
		{"https://[2001:db8::1]/", "2001:db8::1", []int{443}, "https"},
		{"https://[2001:db8::1]:8443/", "2001:db8::1", []int{8443}, "https"},
		{"postgres://db.internal/app", "db.internal", []int{5432}, "postgres"},
		{"tcp://web01:9000", "web01", []int{9000}, "tcp"},
		{"xn--bcher-kva.example:443", "xn--bcher-kva.example", []int{443}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTarget(tc.in, ParseOptions{})
			if err != nil {
				t.Fatalf("ParseTarget(%q): %v", tc.in, err)
			}
			if got.Host != tc.host || !reflect.DeepEqual(got.Ports, tc.ports) || got.Scheme != tc.scheme {
				t.Errorf("ParseTarget(%q) = host %q ports %v scheme %q; want %q %v %q",
					tc.in, got.Host, got.Ports, got.Scheme, tc.host, tc.ports, tc.scheme)
			}
			if got.Input != strings.TrimSpace(tc.in) {
				t.Errorf("Input = %q, want the trimmed input", got.Input)
			}
		})
	}
}

func TestParseTargetErrors(t *testing.T) {
	tests := []struct {
		in   string
		opts ParseOptions
		kind ParseErrorKind
		msg  string // the exact one-line message
	}{
		{"web01", ParseOptions{}, ErrMissingPort, "web01: missing port (e.g. web01:443, web01:ssh or https://web01/)"},
		{"web01:", ParseOptions{}, ErrMissingPort, "web01:: missing port after ':'"},
		{"192.0.2.1", ParseOptions{}, ErrMissingPort, "192.0.2.1: missing port (e.g. 192.0.2.1:443, 192.0.2.1:ssh or https://192.0.2.1/)"},
		{"2001:db8::1", ParseOptions{}, ErrMissingPort, "2001:db8::1: missing port (e.g. [2001:db8::1]:443, [2001:db8::1]:ssh or https://[2001:db8::1]/)"},
		{"[2001:db8::1]", ParseOptions{}, ErrMissingPort, "[2001:db8::1]: missing port (e.g. [2001:db8::1]:443, [2001:db8::1]:ssh or https://[2001:db8::1]/)"},
		{"web01:0", ParseOptions{}, ErrPortRange, "web01:0: port 0 is out of range (1-65535)"},
		{"web01:65536", ParseOptions{}, ErrPortRange, "web01:65536: port 65536 is out of range (1-65535)"},
		{"web01:99999999999999999999999", ParseOptions{}, ErrPortRange, "web01:99999999999999999999999: port 99999999999999999999999 is out of range (1-65535)"},
		{"web01:0-10", ParseOptions{}, ErrPortRange, "web01:0-10: port 0 is out of range (1-65535)"},
		{":80", ParseOptions{}, ErrEmptyHost, ":80: empty host"},
		{"", ParseOptions{}, ErrEmptyHost, `"": empty target (want host:port, e.g. web01:443)`},
		{"   ", ParseOptions{}, ErrEmptyHost, `"": empty target (want host:port, e.g. web01:443)`},
		{"[]:80", ParseOptions{}, ErrEmptyHost, "[]:80: empty host"},
		{"https:///x", ParseOptions{}, ErrEmptyHost, "https:///x: empty host in URL"},
		{"web01:100-20", ParseOptions{}, ErrBadRange, "web01:100-20: bad port range \"100-20\": 100 is above 20"},
		{"web01:80-", ParseOptions{}, ErrBadRange, "web01:80-: bad port range \"80-\" (want FIRST-LAST, e.g. 8000-8100)"},
		{"web01:-80", ParseOptions{}, ErrBadRange, "web01:-80: bad port range \"-80\" (want FIRST-LAST, e.g. 8000-8100)"},
		{"web01:1-2-3", ParseOptions{}, ErrBadRange, "web01:1-2-3: bad port range \"1-2-3\" (want FIRST-LAST, e.g. 8000-8100)"},
		{"web01:sshh", ParseOptions{}, ErrUnknownService, "web01:sshh: unknown service \"sshh\" (give the port number instead)"},
		{"foo://web01/", ParseOptions{}, ErrUnknownService, "foo://web01/: no default port for scheme \"foo\" (add one: foo://web01:PORT/)"},
		{"web01:1-2000", ParseOptions{}, ErrTooManyPorts, "web01:1-2000: 1-2000 is 2000 ports, more than 1024 (raise the cap with --max-ports 2048)"},
		{"web01:1-65535", ParseOptions{}, ErrTooManyPorts, "web01:1-65535: 1-65535 is 65535 ports, more than 1024 (raise the cap with --max-ports 65535)"},
		{"web01:1-3,10-12", ParseOptions{MaxPorts: 4}, ErrTooManyPorts, "web01:1-3,10-12: 6 ports, more than 4 (raise the cap with --max-ports 2048)"},
		{"web 01:80", ParseOptions{}, ErrMalformed, `"web 01:80": spaces or control characters inside the target`},
		{"web01;rm -rf /:80", ParseOptions{}, ErrMalformed, `"web01;rm -rf /:80": spaces or control characters inside the target`},
		{"$(reboot):80", ParseOptions{}, ErrInvalidHost, `$(reboot):80: invalid host name "$(reboot)": character '$' not allowed`},
		{"web01|id:80", ParseOptions{}, ErrInvalidHost, `web01|id:80: invalid host name "web01|id": character '|' not allowed`},
		{"web01:80;id", ParseOptions{}, ErrMalformed, `web01:80;id: bad port "80;id" (want a number 1-65535, a range or a service name)`},
		{"web01:22/tcp", ParseOptions{}, ErrMalformed, `web01:22/tcp: bad port "22/tcp" (want a number 1-65535, a range or a service name)`},
		{"web01:80,,443", ParseOptions{}, ErrMalformed, "web01:80,,443: empty port in the list (e.g. web01:22,80,443)"},
		{"-web01:80", ParseOptions{}, ErrInvalidHost, `-web01:80: invalid host name "-web01": label starts or ends with '-'`},
		{"web..01:80", ParseOptions{}, ErrInvalidHost, `web..01:80: invalid host name "web..01": empty label`},
		{"web01..:80", ParseOptions{}, ErrInvalidHost, `web01..:80: invalid host name "web01..": empty label`},
		{".:80", ParseOptions{}, ErrInvalidHost, `.:80: invalid host name ".": empty label`},
		{strings.Repeat("a", 64) + ".com:80", ParseOptions{}, ErrInvalidHost, strings.Repeat("a", 64) + `.com:80: invalid host name "` + strings.Repeat("a", 64) + `.com": label longer than 63 characters`},
		{strings.Repeat("abcdefg.", 32) + "com:80", ParseOptions{}, ErrInvalidHost, strings.Repeat("abcdefg.", 32) + "com:80: host name longer than 253 characters"},
		{"bücher.example:80", ParseOptions{}, ErrInvalidHost, `bücher.example:80: invalid host name "bücher.example": non-ASCII characters (use the xn-- form of the name)`},
		{"1.2.3.999:80", ParseOptions{}, ErrInvalidHost, `1.2.3.999:80: invalid IPv4 address "1.2.3.999"`},
		{"1.2.3.999:80", ParseOptions{}, ErrInvalidHost, `1.2.3.999:80: invalid IPv4 address "1.2.3.999"`},
		{"web01:80:90", ParseOptions{}, ErrMalformed, "web01:80:90: too many ':' (write IPv6 with a port as [2001:db8::1]:443)"},
		{"2001:db8:::1:443", ParseOptions{}, ErrMalformed, "2001:db8:::1:443: too many ':' (write IPv6 with a port as [2001:db8::1]:443)"},
		{"[2001:db8::1:443", ParseOptions{}, ErrMalformed, "[2001:db8::1:443: missing ']' after the IPv6 address"},
		{"[2001:db8::1]443", ParseOptions{}, ErrMalformed, `[2001:db8::1]443: unexpected "443" after ']' (want [address]:port)`},
		{"[web01]:80", ParseOptions{}, ErrInvalidHost, `[web01]:80: brackets hold an IP address, "web01" is not one`},
		{"web01]:80", ParseOptions{}, ErrMalformed, "web01]:80: stray brackets (write IPv6 with a port as [2001:db8::1]:443)"},
		{"[fe80::1%eth0;id]:22", ParseOptions{}, ErrInvalidHost, `[fe80::1%eth0;id]:22: invalid IPv6 zone "eth0;id"`},
		{"https://web01:99999/", ParseOptions{}, ErrPortRange, "https://web01:99999/: port 99999 is out of range (1-65535)"},
		{"https://web01:443,80/", ParseOptions{}, ErrMalformed, `https://web01:443,80/: bad port "443,80" in URL (one number 1-65535)`},
		{"://web01", ParseOptions{}, ErrMalformed, `://web01: bad URL scheme ""`},
		{"1http://web01", ParseOptions{}, ErrMalformed, `1http://web01: bad URL scheme "1http"`},
		{"https://web%2e01/", ParseOptions{}, ErrInvalidHost, "https://web%2e01/: percent-encoded host names are not supported"},
		{"web01/path:80", ParseOptions{}, ErrInvalidHost, `web01/path:80: invalid host name "web01/path": character '/' not allowed`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseTarget(tc.in, tc.opts)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseTarget(%q) error = %v, want a *ParseError", tc.in, err)
			}
			if pe.Kind != tc.kind {
				t.Errorf("kind = %s, want %s", pe.Kind, tc.kind)
			}
			if err.Error() != tc.msg {
				t.Errorf("message\n got: %s\nwant: %s", err.Error(), tc.msg)
			}
		})
	}
}

func TestParseTargetMaxPorts(t *testing.T) {
	got, err := ParseTarget("web01:1-65535", ParseOptions{MaxPorts: 65535})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Ports) != 65535 || got.Ports[0] != 1 || got.Ports[65534] != 65535 {
		t.Errorf("got %d ports, first %d", len(got.Ports), got.Ports[0])
	}
	if got.String() != "web01:1-65535" {
		t.Errorf("String() = %q", got.String())
	}
}

func TestParseTargets(t *testing.T) {
	got, err := ParseTargets([]string{"web01:22,80", "[::1]:443", "https://web02/"}, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var reqs []Request
	for _, tg := range got {
		reqs = append(reqs, tg.Requests()...)
	}
	want := []Request{
		{Target: "web01:22,80", Host: "web01", Port: 22},
		{Target: "web01:22,80", Host: "web01", Port: 80},
		{Target: "[::1]:443", Host: "::1", Port: 443},
		{Target: "https://web02/", Host: "web02", Port: 443, Scheme: "https"},
	}
	if !reflect.DeepEqual(reqs, want) {
		t.Errorf("requests\n got %+v\nwant %+v", reqs, want)
	}

	_, err = ParseTargets([]string{"web01:1-600", "web02:1-600"}, ParseOptions{})
	if err == nil || err.Error() != "web02:1-600: the 2 targets add up to 1200 ports, more than 1024 (raise the cap with --max-ports 2048)" {
		t.Errorf("over the cap: %v", err)
	}
	_, err = ParseTargets([]string{"web01:22", "web02"}, ParseOptions{})
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Kind != ErrMissingPort || pe.Input != "web02" {
		t.Errorf("bad second target: %v", err)
	}
}

func TestTargetString(t *testing.T) {
	tests := map[string]string{
		"web01:22,80,81,82,443,8000-8002": "web01:22,80-82,443,8000-8002",
		"[2001:db8::1]:443":               "[2001:db8::1]:443",
		"https://web01/":                  "web01:443",
		"web01:82,81,80":                  "web01:82,81,80",
	}
	for in, want := range tests {
		tg, err := ParseTarget(in, ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := tg.String(); got != want {
			t.Errorf("%s: String() = %q, want %q", in, got, want)
		}
	}
}

func TestServiceTableRoundTrip(t *testing.T) {
	for port := 1; port <= maxPort; port++ {
		name := ServiceName(port)
		if name == "" {
			continue
		}
		if p, ok := ServicePort(name); !ok || p != port {
			t.Errorf("ServiceName(%d) = %q but ServicePort(%q) = %d, %v", port, name, name, p, ok)
		}
	}
}
