package checks

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseTarget checks the parser's promises on any input: no panic, a
// *ParseError of one line on failure, and on success a host that is safe to
// put in a command line and ports that round-trip through String. The seed
// corpus lives in testdata/fuzz/FuzzParseTarget.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"web01:443", "web01:22,80,443", "web01:8000-8100", "web01:ssh", "https://web01/path",
		"[2001:db8::1]:443", "[::1]:80,443", "192.0.2.1", "2001:db8::1", "web01.", "WEB01:HTTP",
		"web01:0", "web01:65536", ":80", "web01:100-20", "web01:nope", "a b:1", "[fe80::1%eth0]:22",
	} {
		f.Add(s, 0)
	}
	f.Fuzz(func(t *testing.T, in string, max int) {
		if max < 0 || max > maxPort {
			max = 0 // negative and huge caps only mean "default"; keep runs fast
		}
		opts := ParseOptions{MaxPorts: max}
		tg, err := ParseTarget(in, opts)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\n\r") && !strings.ContainsAny(in, "\n\r") || pe.Msg == "" || pe.Kind == "" {
				t.Fatalf("bad error message %q (kind %q)", msg, pe.Kind)
			}
			if strings.ContainsAny(pe.Msg, "\n\r") {
				t.Fatalf("problem text spans lines: %q", pe.Msg)
			}
			return
		}
		if tg.Host == "" || len(tg.Ports) == 0 || len(tg.Ports) > opts.maxPorts() {
			t.Fatalf("%q parsed to host %q with %d ports", in, tg.Host, len(tg.Ports))
		}
		if strings.ContainsAny(tg.Host, " \t\n;|&$`'\"\\<>(){}*?!/[]") {
			t.Fatalf("%q: host %q carries shell metacharacters", in, tg.Host)
		}
		seen := map[int]bool{}
		for _, p := range tg.Ports {
			if p < 1 || p > maxPort || seen[p] {
				t.Fatalf("%q: bad or repeated port %d in %v", in, p, tg.Ports)
			}
			seen[p] = true
		}
		again, err := ParseTarget(tg.String(), ParseOptions{MaxPorts: maxPort})
		if err != nil {
			t.Fatalf("%q: canonical form %q does not parse: %v", in, tg.String(), err)
		}
		if again.Host != tg.Host || !reflect.DeepEqual(again.Ports, tg.Ports) {
			t.Fatalf("%q: round trip through %q gave %q %v", in, tg.String(), again.Host, again.Ports)
		}
	})
}
