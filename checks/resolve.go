package checks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Resolver looks names up; *net.Resolver satisfies it, tests pass fakes.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// resolve finds every A and AAAA address of req.Host. Pre-resolved Addrs and
// literal addresses skip DNS entirely. A failure is evidence (the
// dns_error verdict), so it comes back inside the result, not as an error.
func resolve(ctx context.Context, r Resolver, req Request) ([]netip.Addr, ResolveResult) {
	start := time.Now()
	done := func(addrs []netip.Addr, res ResolveResult) ([]netip.Addr, ResolveResult) {
		res.ElapsedMS = ms(time.Since(start))
		res.Addresses = make([]string, 0, len(addrs))
		for _, a := range addrs {
			res.Addresses = append(res.Addresses, a.String())
		}
		return addrs, res
	}
	if len(req.Addrs) > 0 {
		return done(unmapAll(req.Addrs), ResolveResult{})
	}
	host := strings.TrimSuffix(strings.TrimPrefix(req.Host, "["), "]")
	if a, err := netip.ParseAddr(host); err == nil {
		return done([]netip.Addr{a.Unmap()}, ResolveResult{})
	}
	if host == "" {
		return done(nil, ResolveResult{Error: "empty host name", NotFound: true})
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		res := ResolveResult{Error: fmt.Errorf("resolve %s: %w", host, err).Error()}
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			res.NotFound = true
		}
		return done(nil, res)
	}
	if len(addrs) == 0 {
		return done(nil, ResolveResult{Error: "resolve " + host + ": no A or AAAA records", NotFound: true})
	}
	return done(dedupe(unmapAll(addrs)), ResolveResult{})
}

func unmapAll(in []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(in))
	for _, a := range in {
		if a.IsValid() {
			out = append(out, a.Unmap())
		}
	}
	return out
}

func dedupe(in []netip.Addr) []netip.Addr {
	seen := make(map[netip.Addr]bool, len(in))
	out := in[:0]
	for _, a := range in {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}
