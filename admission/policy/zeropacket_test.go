package policy_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/admission/policy"
	"github.com/portcheck/portcheck/admission/policy/policytest"
	"github.com/portcheck/portcheck/checks"
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
//
// The same namespace proves it for the cloud metadata address itself and
// every IPv6 form embedding it (policytest.MetadataForms). Those are not put on an
// interface: the namespace's default routes lead into a veth pair inside
// it (policytest.Sink), so a probe to any of them would really be sent and
// counted, and nothing leaves. 2001:db8::20 (on the loopback) and
// 64:ff9b::c612:14 (NAT64 of the allowed control, into the sink) are the
// IPv6 controls, allowed only where the NAT64 wrapper is allowed too.

const (
	zpDenied    = "198.18.0.10"
	zpAllowed   = "198.18.0.20"
	zpAllowed6  = "2001:db8::20"
	zpAllowedNA = "64:ff9b::c612:14" // 198.18.0.20 through the well-known NAT64 prefix
)

func TestZeroPacket(t *testing.T) {
	if policytest.IsChild() {
		t.Skip("running as the child")
	}
	denied, allowed := netip.MustParseAddr(zpDenied), netip.MustParseAddr(zpAllowed)
	allowed6, allowedNAT64 := netip.MustParseAddr(zpAllowed6), netip.MustParseAddr(zpAllowedNA)
	c := policytest.Start(t, denied, allowed, allowed6)
	sunk := c.SinkMetadata(t)
	c.Sink(t, allowedNAT64)
	c.RunChild(t, "TestZeroPacketChild")
	counts := c.Packets(t)
	if counts[denied] != 0 {
		t.Errorf("%d packets were sent to the denied address %s, want 0", counts[denied], zpDenied)
	}
	for _, a := range sunk {
		if counts[a] != 0 {
			t.Errorf("%d packets were sent to %s (cloud metadata or a form of it), want 0", counts[a], a)
		}
	}
	for _, a := range []netip.Addr{allowed, allowed6, allowedNAT64} {
		if counts[a] == 0 {
			t.Errorf("no packets counted to the allowed control %s: the counter does not work, so the zeros above prove nothing", a)
		}
	}
	t.Logf("packets: %v", counts)
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

	// Cloud metadata in every IPv6 form, under the policies of serve (the
	// default, and one allowing every IPv4-embedding wrapper and its own
	// NAT64 prefixes) and of the shell: never allowed, so never probed.
	// The embedding of the allowed control passes where its wrapper is
	// allowed, and is probed.
	wrappers, err := policy.New(policy.Config{
		Allow: []string{"198.18.0.0/15", "2001:db8::/32", "169.254.0.0/16",
			"::ffff:0:0/96", "::ffff:0:0:0/96", "::/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32"},
		NAT64: policytest.MetadataNAT64Prefixes(),
	}, res)
	if err != nil {
		t.Fatal(err)
	}
	serve, err := policy.New(policy.Config{NAT64: policytest.MetadataNAT64Prefixes()}, res)
	if err != nil {
		t.Fatal(err)
	}
	policies := []struct {
		name string
		p    *policy.Policy
	}{{"serve", serve}, {"serve, wrappers allowed", wrappers}, {"shell", policy.Shell(res)}}
	probe := func(pol *policy.Policy, host string, allow bool) {
		d := pol.Decide(ctx, host, []int{80, 443})
		if d.Allowed != allow {
			t.Errorf("%s: allowed %v (%s), want %v", host, d.Allowed, d.Rule, allow)
		}
		t.Logf("%-40s allowed=%v rule=%q", host, d.Allowed, d.Rule)
		if !d.Allowed {
			return
		}
		var reqs []checks.Request
		for _, port := range []int{80, 443} {
			reqs = append(reqs, checks.Request{Target: host, Host: host, Port: port, Addrs: d.Addrs, Trace: true})
		}
		for _, r := range prober.CheckMany(ctx, reqs, nil) {
			t.Logf("  probed %s:%d -> %s (%s) addresses %v", r.Host, r.Port, r.Verdict, r.Reason, r.Addresses)
		}
	}
	for _, pol := range policies {
		t.Logf("policy %s:", pol.name)
		for _, f := range append([]string{policytest.Metadata}, policytest.MetadataForms()...) {
			probe(pol.p, f, false)
		}
	}
	probe(wrappers, zpAllowed6, true)
	probe(wrappers, zpAllowedNA, true)
	probe(serve, zpAllowedNA, false) // the wrapper's own default deny
}
