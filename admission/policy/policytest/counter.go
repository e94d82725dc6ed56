// Package policytest proves "zero packets to a denied address" in tests: a
// throwaway network namespace whose loopback carries the addresses under
// test, with an iptables OUTPUT rule counting packets to each. A test
// re-runs its own binary inside the namespace (RunChild), drives the real
// code path there, and then reads the counters from outside.
//
// The addresses put on the loopback (Start) must be in 198.18.0.0/15 or
// 2001:db8::/32 (benchmarking, documentation). Addresses a test must prove
// are never sent to, whatever they are (the cloud metadata address and its
// IPv6 spellings), go to Sink: they are routed into a veth pair whose both
// ends live in the namespace, so a packet to them is sent and counted but
// never answered and never leaves. Nothing outside the namespace is touched.
// It needs root, ip, iptables and ip6tables: without them the test is
// skipped, except under CI=true where that is a failure.
package policytest

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ChildEnv is set in the environment of the re-executed test binary.
const ChildEnv = "PORTCHECK_POLICYTEST_CHILD"

// IsChild reports whether this process is the re-executed child running
// inside a Counter's namespace.
func IsChild() bool { return os.Getenv(ChildEnv) != "" }

// Counter is one namespace with packet counters.
type Counter struct {
	NS    string
	Addrs []netip.Addr // every counted address, local and sink
	sink  bool
}

// Start builds the namespace (name "pczp-<pid>-<n>", unique) with addrs on
// its loopback and a counting rule per address; it is deleted when the test
// ends, whatever happens.
func Start(t testing.TB, addrs ...netip.Addr) *Counter {
	t.Helper()
	if err := requirements(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("policytest: %v", err)
		}
		t.Skipf("policytest: %v", err)
	}
	bench, doc := netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("2001:db8::/32")
	for _, a := range addrs {
		if !bench.Contains(a) && !doc.Contains(a) {
			t.Fatalf("policytest: %s is outside 198.18.0.0/15 and 2001:db8::/32", a)
		}
	}
	c := &Counter{NS: fmt.Sprintf("pczp-%d-%d", os.Getpid(), time.Now().UnixNano()%1000000)}
	run(t, "ip", "netns", "add", c.NS)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", c.NS).CombinedOutput(); err != nil {
			t.Errorf("policytest: teardown of %s: %v %s", c.NS, err, out)
		}
	})
	c.Exec(t, "ip", "link", "set", "lo", "up")
	for _, a := range addrs {
		if a.Is4() {
			c.Exec(t, "ip", "addr", "add", a.String()+"/32", "dev", "lo")
		} else {
			c.Exec(t, "ip", "-6", "addr", "add", a.String()+"/128", "dev", "lo", "nodad")
		}
		c.count(t, a)
	}
	return c
}

// Sink counts packets to addrs without anyone answering: the namespace's
// default routes (IPv4 and IPv6) lead into a veth pair with both ends
// inside it, so a connect, ping or trace to them really sends (and the
// OUTPUT counter sees it) where a namespace without routes would fail
// before sending anything and prove nothing. Any address may be given:
// the namespace has no link to anywhere else.
func (c *Counter) Sink(t testing.TB, addrs ...netip.Addr) {
	t.Helper()
	if !c.sink {
		c.Exec(t, "ip", "link", "add", "pcsink0", "type", "veth", "peer", "name", "pcsink1")
		c.Exec(t, "ip", "link", "set", "pcsink0", "up")
		c.Exec(t, "ip", "link", "set", "pcsink1", "up")
		c.Exec(t, "ip", "route", "add", "default", "dev", "pcsink0")
		c.Exec(t, "ip", "-6", "route", "add", "default", "dev", "pcsink0")
		c.sink = true
	}
	for _, a := range addrs {
		c.count(t, a)
	}
}

// count adds the OUTPUT rule whose counter Packets reads.
func (c *Counter) count(t testing.TB, a netip.Addr) {
	t.Helper()
	a = a.Unmap()
	tool := "iptables"
	if a.Is6() {
		tool = "ip6tables"
	}
	c.Exec(t, tool, "-w", "-A", "OUTPUT", "-d", a.String(), "-j", "ACCEPT")
	c.Addrs = append(c.Addrs, a)
}

// Exec runs a command inside the namespace and returns its output.
func (c *Counter) Exec(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, append([]string{"ip", "netns", "exec", c.NS}, args...)...)
}

// RunChild re-runs this test binary inside the namespace, running only the
// test named (exactly), with ChildEnv set. It fails t if the child fails;
// the child's output is logged either way.
func (c *Counter) RunChild(t testing.TB, test string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", c.NS, exe, "-test.run=^"+regexp.QuoteMeta(test)+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("child %s:\n%s", test, out)
	if err != nil {
		t.Fatalf("policytest: child %s failed: %v", test, err)
	}
}

// Packets returns the packets sent to each address so far.
func (c *Counter) Packets(t testing.TB) map[netip.Addr]int {
	t.Helper()
	listing := c.Exec(t, "iptables-save", "-c") + c.Exec(t, "ip6tables-save", "-c")
	return parseCounters(t, listing, c.Addrs)
}

// parseCounters reads iptables-save -c lines such as
// "[3:180] -A OUTPUT -d 169.254.169.254/32 -j ACCEPT" (the same for both
// families, unlike the -L listings).
func parseCounters(t testing.TB, listing string, want []netip.Addr) map[netip.Addr]int {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\[(\d+):\d+\] -A OUTPUT -d (\S+)/(?:32|128) -j ACCEPT\s*$`)
	got := map[netip.Addr]int{}
	seen := map[netip.Addr]bool{}
	for _, m := range re.FindAllStringSubmatch(listing, -1) {
		a, err := netip.ParseAddr(m[2])
		if err != nil {
			continue
		}
		a = a.Unmap()
		n, _ := strconv.Atoi(m[1])
		got[a] += n
		seen[a] = true
	}
	for _, a := range want {
		if !seen[a] {
			t.Fatalf("policytest: no counter for %s in:\n%s", a, listing)
		}
	}
	return got
}

func requirements() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces, iptables)")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-save", "ip6tables", "ip6tables-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("needs %s in PATH", tool)
		}
	}
	return nil
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("policytest: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
