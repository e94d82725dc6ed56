package policy_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/policy"
	"github.com/portcheck/portcheck/policy/policytest"
)

// The zero-packet proof: a denied decision must send nothing at all to the
// denied address — no connect, no ping, no trace, no DNS-then-connect.
//
// The parent builds one network namespace with policytest (unique name,
// torn down always) with two addresses on its loopback, in 198.18.0.0/15:
//
//	198.18.0.10  denied by an explicit rule (the "metadata" stand-in)
//	198.18.0.20  allowed: the positive control, proving the counter counts
//
// and an iptables OUTPUT rule counting packets to each. It re-runs this test
// binary inside the namespace (TestZeroPacketChild), where hostile inputs
// go through the same path the bot takes: policy.Decide, then, only when
// allowed, checks.Prober.CheckMany with Request.Addrs = Decision.Addrs.
// Then it reads the counters: 0 for the denied address, > 0 for the other.

const (
	zpDenied  = "198.18.0.10"
	zpAllowed = "198.18.0.20"
)

func TestZeroPacket(t *testing.T) {
	if policytest.IsChild() {
		t.Skip("running as the child")
	}
	denied, allowed := netip.MustParseAddr(zpDenied), netip.MustParseAddr(zpAllowed)
	c := policytest.Start(t, denied, allowed)
	c.RunChild(t, "TestZeroPacketChild")
	counts := c.Packets(t)
	if counts[denied] != 0 {
		t.Errorf("%d packets were sent to the denied address %s, want 0", counts[denied], zpDenied)
	}
	if counts[allowed] == 0 {
		t.Errorf("no packets counted to the allowed control %s: the counter does not work, so the zero above proves nothing", zpAllowed)
	}
}

// zpResolver answers "rebind.test" with the allowed address first and the
// denied one on every later lookup, and "mixed.test" with both. The prober
// gets it too: if anything looked the name up again after the decision,
// the denied address would be probed and counted.
type zpResolver struct {
	mu    sync.Mutex
	calls map[string]int
}

func (r *zpResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[host]++
	switch {
	case host == "rebind.test" && r.calls[host] == 1:
		return []netip.Addr{netip.MustParseAddr(zpAllowed)}, nil
	case host == "rebind.test", host == "denied.test":
		return []netip.Addr{netip.MustParseAddr(zpDenied)}, nil
	case host == "mixed.test":
		return []netip.Addr{netip.MustParseAddr(zpAllowed), netip.MustParseAddr(zpDenied)}, nil
	}
	return nil, fmt.Errorf("no such host %s", host)
}

func TestZeroPacketChild(t *testing.T) {
	if !policytest.IsChild() {
		t.Skip("only runs inside the zero-packet namespace (see TestZeroPacket)")
	}
	res := &zpResolver{calls: map[string]int{}}
	p, err := policy.New(policy.Config{Allow: []string{"198.18.0.0/15"}, Deny: []string{zpDenied}}, res)
	if err != nil {
		t.Fatal(err)
	}
	prober := checks.NewProber(checks.Config{Timeout: 2 * time.Second, Resolver: res, MaxTTL: 3, PingCount: 1})
	ctx := context.Background()

	cases := []struct {
		host  string
		allow bool
	}{
		{zpDenied, false},
		{"0xC612000A", false},         // 198.18.0.10 in hex
		{"3323068426", false},         // ... in decimal
		{"198.18.10", false},          // ... short form
		{"::ffff:198.18.0.10", false}, // ... mapped
		{"[::ffff:c612:a]", false},    // ... mapped, hex, bracketed
		{"64:ff9b::c612:a", false},    // ... NAT64
		{"2002:c612:a::1", false},     // ... 6to4
		{"denied.test", false},        // a name for it
		{"mixed.test", false},         // one good and one denied answer
		{"rebind.test", true},         // allowed now, denied on the next lookup
		{zpAllowed, true},             // the control
	}
	for _, c := range cases {
		d := p.Decide(ctx, c.host, []int{80, 443})
		if d.Allowed != c.allow {
			t.Errorf("%s: allowed %v (%s), want %v", c.host, d.Allowed, d.Rule, c.allow)
		}
		t.Logf("%-22s allowed=%v rule=%q addrs=%v", c.host, d.Allowed, d.Rule, d.Addrs)
		if !d.Allowed {
			continue // the bot's path: a denial probes nothing
		}
		var reqs []checks.Request
		for _, port := range []int{80, 443} {
			reqs = append(reqs, checks.Request{Target: c.host, Host: c.host, Port: port, Addrs: d.Addrs, Trace: true})
		}
		for _, r := range prober.CheckMany(ctx, reqs, nil) {
			t.Logf("  probed %s:%d -> %s (%s) addresses %v", r.Host, r.Port, r.Verdict, r.Reason, r.Addresses)
		}
	}
	if n := res.calls["rebind.test"]; n != 1 {
		t.Errorf("rebind.test was looked up %d times, want exactly 1 (the policy's)", n)
	}
}
