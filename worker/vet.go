package worker

import (
	"fmt"
	"net/netip"

	"github.com/portcheck/portcheck/wire"
)

// AddrChecker judges one literal address with no DNS (*policy.Policy has
// it). Params.Vet set to one makes the worker refuse jobs without vetted
// addresses and re-check each address before probing:
// defence in depth, should a job ever reach the queue unvetted (a bug, or a
// job written into a shared Redis by someone else).
type AddrChecker interface {
	CheckAddr(a netip.Addr) (allowed bool, rule string)
}

// vetJob is the worker side of the fence: with a checker, a job must carry
// addresses and each must pass. It returns the addresses to probe, or why
// the job is refused.
func vetJob(c AddrChecker, j wire.Job) ([]netip.Addr, string) {
	var out []netip.Addr
	for _, s := range j.Addrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Sprintf("refused: the job's address %q is not an IP address", s)
		}
		if c == nil {
			out = append(out, a)
			continue
		}
		if ok, rule := c.CheckAddr(a); !ok {
			return nil, fmt.Sprintf("refused: %s is not allowed (rule: %s)", a, rule)
		}
		out = append(out, a)
	}
	if c != nil && len(out) == 0 {
		// The worker would resolve the name itself, and that second answer
		// was never checked (DNS rebinding): refuse rather than look it up.
		return nil, "refused: the job carries no vetted addresses, and this worker does not resolve names itself"
	}
	return out, ""
}
