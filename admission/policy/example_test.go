package policy_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"

	"github.com/portcheck/portcheck/admission/policy"
	"github.com/portcheck/portcheck/checks"
)

type exampleDNS map[string][]string

func (d exampleDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range d[host] {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

// The bot's path: decide, then probe exactly Decision.Addrs (never the
// name again), and cite Rule when denied.
func Example() {
	dns := exampleDNS{"db.corp.example.com": {"10.1.2.3"}}
	cfg := policy.FromEnv(policy.Config{}, func(k string) string {
		return map[string]string{"PORTCHECK_ALLOW": "10.0.0.0/8,.corp.example.com"}[k]
	})
	p, err := policy.New(cfg, dns) // production: nil uses the system resolver
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	for _, host := range []string{"db.corp.example.com", "0xA9FEA9FE"} {
		d := p.Decide(context.Background(), host, []int{5432})
		if !d.Allowed {
			fmt.Printf("denied %s: %s (rule: %s)\n", host, d.Reason, d.Rule)
			continue
		}
		req := checks.Request{Target: host + ":5432", Host: host, Port: 5432, Addrs: d.Addrs}
		fmt.Printf("probe %s at %v (rule: %s)\n", req.Host, req.Addrs, d.Rule)
	}
	// Output:
	// probe db.corp.example.com at [10.1.2.3] (rule: explicit allow 10.0.0.0/8)
	// denied 0xA9FEA9FE: 169.254.169.254 is denied (rule: default deny: cloud metadata 169.254.169.254/32)
}
