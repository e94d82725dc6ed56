// Package policytest proves "zero packets to a denied address" in tests: a
// throwaway network namespace whose loopback carries the addresses under
// test, with an iptables OUTPUT rule counting packets to each. A test
// re-runs its own binary inside the namespace (RunChild), drives the real
// code path there, and then reads the counters from outside.
//
// Addresses must be in 198.18.0.0/15 (benchmarking): nothing outside the
// namespace is touched and nothing can leak to a real network. It needs
// root, ip and iptables: without them the test is skipped, except under
// CI=true where that is a failure.
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
	Addrs []netip.Addr
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
	bench := netip.MustParsePrefix("198.18.0.0/15")
	for _, a := range addrs {
		if !a.Is4() || !bench.Contains(a) {
			t.Fatalf("policytest: %s is outside 198.18.0.0/15", a)
		}
	}
	c := &Counter{NS: fmt.Sprintf("pczp-%d-%d", os.Getpid(), time.Now().UnixNano()%1000000), Addrs: addrs}
	run(t, "ip", "netns", "add", c.NS)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", c.NS).CombinedOutput(); err != nil {
			t.Errorf("policytest: teardown of %s: %v %s", c.NS, err, out)
		}
	})
	c.Exec(t, "ip", "link", "set", "lo", "up")
	for _, a := range addrs {
		c.Exec(t, "ip", "addr", "add", a.String()+"/32", "dev", "lo")
		c.Exec(t, "iptables", "-w", "-A", "OUTPUT", "-d", a.String(), "-j", "ACCEPT")
	}
	return c
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
	return parseCounters(t, c.Exec(t, "iptables", "-w", "-nvxL", "OUTPUT"), c.Addrs)
}

func parseCounters(t testing.TB, listing string, want []netip.Addr) map[netip.Addr]int {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*(\d+)\s+\d+\s+ACCEPT\s+.*?\s(\d+\.\d+\.\d+\.\d+)\s*$`)
	got := map[netip.Addr]int{}
	seen := map[netip.Addr]bool{}
	for _, m := range re.FindAllStringSubmatch(listing, -1) {
		a, err := netip.ParseAddr(m[2])
		if err != nil {
			continue
		}
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
	for _, tool := range []string{"ip", "iptables"} {
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
