package checks

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Request is one port to check. Addrs, when set, are probed literally and no
// DNS lookup happens (the policy layer resolved and vetted them already, so
// DNS rebinding cannot slip a different address in).
type Request struct {
	Target string // as typed, for the report
	Host   string // name or literal address, no brackets
	Port   int
	Scheme string       // "https", "ssh", ... when known from the input: picks the protocol probe
	Addrs  []netip.Addr // optional pre-resolved addresses
	Trace  bool         // always trace, not only when the verdict needs it
}

// Config tunes a Prober. Zero values mean sensible defaults.
type Config struct {
	Timeout time.Duration // overall deadline per port; default 5s
	Vantage string        // name stamped on reports
}

// Prober runs the chain. STUB: replaced by the real engine (tcp.go, ping.go,
// trace.go, banner.go); kept minimal so callers can be written against it.
type Prober struct {
	cfg Config
}

// NewProber builds a Prober.
func NewProber(cfg Config) *Prober {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &Prober{cfg: cfg}
}

// Check runs the chain for one port and always returns a Report.
func (p *Prober) Check(ctx context.Context, req Request) Report {
	start := time.Now()
	r := Report{Target: req.Target, Host: req.Host, Port: req.Port, Vantage: p.cfg.Vantage}
	d := net.Dialer{Timeout: p.cfg.Timeout}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(req.Host, strconv.Itoa(req.Port)))
	if err == nil {
		c.Close()
		r.Verdict, r.Reason = VerdictOpen, ReasonSynAck
	} else {
		r.Verdict, r.Reason = VerdictClosed, ReasonReset
	}
	r.ElapsedMS = time.Since(start).Milliseconds()
	return r
}

// CheckMany checks many ports (ranges, several targets) with bounded
// concurrency, sharing per-host work (resolution, ping) between ports.
// onReport, when set, is called as each port finishes (progress, streaming
// output); it must be safe for concurrent use. On ctx cancellation it returns
// what finished so far. STUB: the real engine replaces it.
func (p *Prober) CheckMany(ctx context.Context, reqs []Request, onReport func(Report)) []Report {
	out := make([]Report, 0, len(reqs))
	for _, r := range reqs {
		if ctx.Err() != nil {
			break
		}
		rep := p.Check(ctx, r)
		if onReport != nil {
			onReport(rep)
		}
		out = append(out, rep)
	}
	return out
}
