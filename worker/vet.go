package worker

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/portcheck/portcheck/checks"
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
func vetJob(c AddrChecker, j *wire.Job) ([]netip.Addr, string) {
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

// checkJob looks at a job taken from the queue as the command grammar
// would have written it, before anything is probed: a queue is shared
// (Redis), so a job is not trusted for being there. The port is 1-65535,
// the job is for this worker's vantage, its target parses as a command's
// target would (checks.ParseTarget), and its host, port and scheme are
// the ones that target gives; it asks for no trace, which no command can
// (the prober decides when to trace, and the bot charges it afterwards),
// so a forced trace on every job is an amplifier, not a request. It
// returns why the job is refused, or "".
func checkJob(j wire.Job, vantage string) string {
	refuse := func(format string, a ...any) string {
		return "refused: " + fmt.Sprintf(format, a...) + "; no command asks for that, so the job was set aside unprobed"
	}
	if j.Port < 1 || j.Port > maxPort {
		return refuse("port %d is not a TCP port (1-65535)", j.Port)
	}
	if j.Vantage != vantage {
		return refuse("the job is for vantage %q and this worker serves %q", j.Vantage, vantage)
	}
	t, err := checks.ParseTarget(j.Target, checks.ParseOptions{MaxPorts: maxPort})
	if err != nil {
		return refuse("the job's target does not parse (%v)", err)
	}
	if t.Host != j.Host {
		return refuse("the job's host %q is not its target's (%q)", j.Host, t.Host)
	}
	if !slices.Contains(t.Ports, j.Port) {
		return refuse("port %d is not one of its target's (%s)", j.Port, t)
	}
	if j.Scheme != t.Scheme {
		return refuse("the job's scheme %q is not its target's (%q)", j.Scheme, t.Scheme)
	}
	if j.Trace {
		return refuse("the job asks for a trace")
	}
	return ""
}

const maxPort = 65535
