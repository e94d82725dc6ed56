// Package leaktest builds reports for a public target whose evidence names
// routers in private and documentation ranges, one for every template of
// checks' summaries and hints that quotes a router (and the ones that show
// it only in the trace), and checks that none of those addresses reaches a
// chat once the bot has redacted the report. Each chat's renderer runs the
// same fuzz test (Fuzz) with its own rendering; the lab test in
// internal/e2e does the same with real probes.
package leaktest

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/portcheck/portcheck/admission/policy"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

// Params pick one case; every value is valid (each is taken modulo its
// range), so a fuzzer can drive them.
type Params struct {
	Kind  uint8  // which template (Kinds)
	Range uint8  // which internal range the routers are in
	Bits  uint64 // host bits of the first router
	V6    bool   // an IPv6 target and IPv6 routers
	Port  uint16 // the port checked; 0 is 443
	Hops  uint8  // routers on the path before the one that decides (0..4)
}

// Case is one report and the router addresses its evidence holds.
type Case struct {
	Name    string
	Report  checks.Report
	Routers []string
	// Quotes: the report's own summary or hints (before redaction) name a
	// router, so the case proves the texts are redacted, not only the trace.
	Quotes bool
}

// Public targets: only their own addresses may show.
var (
	target4, other4 = netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("93.184.215.15")
	target6, other6 = netip.MustParseAddr("2606:4700::1111"), netip.MustParseAddr("2606:4700::1001")
)

// ranges are where the routers sit: private, shared, link-local and
// documentation space, which the default policy never calls public.
var (
	ranges4 = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
		"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15"}
	ranges6 = []string{"fd00::/8", "fc00::/8", "fe80::/10", "2001:db8::/32", "::ffff:10.0.0.0/104", "::ffff:192.168.0.0/112"}
)

// kind builds the evidence of one template from the routers on the path
// (r[0] the first hop; last is the one that decides).
type kind struct {
	name   string
	quotes bool
	build  func(b *builder) checks.Evidence
}

var kinds = []kind{
	{"rejected in path, admin-prohibited", true, func(b *builder) checks.Evidence {
		e := b.reject(checks.ReasonICMPAdminProhibited, 3, 13, 1, 1, "admin-prohibited")
		e.Resolve.Addresses = append(e.Resolve.Addresses, b.other.String())
		return e
	}},
	{"rejected in path, port-unreachable", true, func(b *builder) checks.Evidence {
		return b.reject(checks.ReasonICMPPortUnreachable, 3, 3, 1, 4, "port-unreachable")
	}},
	{"rejected in path, protocol-unreachable", true, func(b *builder) checks.Evidence {
		return b.reject(checks.ReasonICMPProtoUnreachable, 3, 2, 4, 0, "proto-unreachable")
	}},
	{"rejected in path, other ICMP", true, func(b *builder) checks.Evidence {
		return b.reject(checks.ReasonICMPOther, 3, 10, 1, 5, "icmp-other")
	}},
	{"host unreachable from a router", true, func(b *builder) checks.Evidence {
		return b.reject(checks.ReasonICMPHostUnreachable, 3, 1, 1, 3, "host-unreachable")
	}},
	{"network unreachable from a router (On ROUTER:)", true, func(b *builder) checks.Evidence {
		return b.reject(checks.ReasonICMPNetUnreachable, 3, 0, 1, 0, "net-unreachable")
	}},
	{"routing loop, time-exceeded", true, func(b *builder) checks.Evidence {
		e := b.reject(checks.ReasonICMPTimeExceeded, 11, 0, 3, 0, "time-exceeded")
		// A loop: the last two routers pass the packets back and forth.
		for i := range 4 {
			e.Trace.Hops = append(e.Trace.Hops, checks.Hop{TTL: len(e.Trace.Hops) + 1, Address: b.r[len(b.r)-1-i%2], ICMP: "time-exceeded"})
		}
		return e
	}},
	{"closed, the reset sent by a middlebox", true, func(b *builder) checks.Evidence {
		last := b.last()
		e := b.base(&checks.ConnectResult{Reason: checks.ReasonReset, ReportedBy: last, RTTMS: 0.8})
		e.Trace = b.path(len(b.r) - 1)
		e.Trace.Hops = append(e.Trace.Hops, checks.Hop{TTL: len(b.r), Address: last, ICMP: "reset"})
		e.ControlTrace = b.control(len(b.r)+2, true)
		return e
	}},
	{"filtered at host, a TTL-limited SYN expires at the router before it", true, func(b *builder) checks.Evidence {
		e := b.asked(true)
		dec := &e.Trace.Hops[len(e.Trace.Hops)-1]
		dec.Address, dec.ICMP, dec.Reach = b.last(), "time-exceeded", checks.ReachYes
		return e
	}},
	{"filtered in path, the router before the host never reached", true, func(b *builder) checks.Evidence {
		e := b.asked(true)
		dec := &e.Trace.Hops[len(e.Trace.Hops)-1]
		dec.Router, dec.Reach, dec.Asks = b.last(), checks.ReachNo, 2
		e.ControlTrace.Hops[len(e.ControlTrace.Hops)-1].Address = b.last()
		return e
	}},
	{"inconclusive, the router before the host rate-limits", true, func(b *builder) checks.Evidence {
		e := b.asked(false)
		dec := &e.Trace.Hops[len(e.Trace.Hops)-1]
		dec.Address, dec.ICMP, dec.Reach, dec.Asks = b.last(), "time-exceeded", checks.ReachYes, 3
		e.Path.RouterRateLimited = true
		return e
	}},
	{"inconclusive, the router before the host silent", true, func(b *builder) checks.Evidence {
		e := b.asked(true)
		dec := &e.Trace.Hops[len(e.Trace.Hops)-1]
		dec.Router, dec.Reach, dec.Asks, dec.RateLimited = b.last(), checks.ReachUnknown, 3, true
		c := &e.ControlTrace.Hops[len(e.ControlTrace.Hops)-1]
		c.Address, c.Asks = b.last(), 2
		return e
	}},
	{"rejected on the way, a TTL-limited SYN rejected by a router", true, func(b *builder) checks.Evidence {
		e := b.asked(false)
		dec := &e.Trace.Hops[len(e.Trace.Hops)-1]
		dec.Address, dec.ICMP = b.last(), "admin-prohibited"
		return e
	}},
	{"host unreachable, a guess, TTL-limited SYNs get as far as a router", true, func(b *builder) checks.Evidence {
		e := b.silent()
		e.Trace = b.silentAfter(b.path(len(b.r)), 3)
		e.Path = &checks.PathEvidence{SYNs: 3, Control: "ICMP echo"}
		return e
	}},
	{"filtered at host, the host answers ping (path not asked)", true, func(b *builder) checks.Evidence {
		e := b.silent()
		e.Ping = &checks.PingResult{Sent: 3, Received: 3, RTTMS: 9.5}
		e.Trace = b.silentAfter(b.path(len(b.r)), 2)
		return e
	}},
	{"open through a middlebox", false, func(b *builder) checks.Evidence {
		e := b.base(&checks.ConnectResult{Reason: checks.ReasonSynAck, ReportedBy: b.target.String(), RTTMS: 1.2})
		e.Trace = b.path(len(b.r) - 1)
		e.Trace.Hops = append(e.Trace.Hops, checks.Hop{TTL: len(b.r), Address: b.target.String(), ICMP: "syn-ack"})
		e.ControlTrace = b.control(len(b.r)+2, true)
		e.Service = &checks.Service{Name: "https", TLS: &checks.TLSInfo{Version: "TLS 1.3", Subject: "CN=www.example.com", DaysLeft: 3}}
		return e
	}},
	{"rejected by the host itself, traced", false, func(b *builder) checks.Evidence {
		t := b.target.String()
		e := b.base(&checks.ConnectResult{Reason: checks.ReasonICMPPortUnreachable, ReportedBy: t, ICMP: &checks.ICMP{Type: 3, Code: 3, From: t}})
		e.Trace = b.path(len(b.r))
		e.Trace.Hops = append(e.Trace.Hops, checks.Hop{TTL: len(b.r) + 1, Address: t, ICMP: "port-unreachable"})
		return e
	}},
}

type builder struct {
	target, other netip.Addr
	r             []string // the routers, first hop first
	port          int
	v6            bool
}

func (b *builder) last() string { return b.r[len(b.r)-1] }

func (b *builder) base(c *checks.ConnectResult) checks.Evidence {
	c.Address = b.target.String()
	host := "www.example.com"
	return checks.Evidence{Target: fmt.Sprintf("%s:%d", host, b.port), Host: host, Port: b.port,
		Resolve: checks.ResolveResult{Addresses: []string{b.target.String()}}, Connect: c}
}

// reject is an ICMP error from the last router, which the trace shows
// answering with the same ICMP at its hop.
func (b *builder) reject(r checks.Reason, typ, code, typ6, code6 uint8, word string) checks.Evidence {
	if b.v6 {
		typ, code = typ6, code6
	}
	last := b.last()
	e := b.base(&checks.ConnectResult{Reason: r, ReportedBy: last, ICMP: &checks.ICMP{Type: typ, Code: code, From: last}, RTTMS: 2.5})
	e.Trace = b.path(len(b.r) - 1)
	e.Trace.Hops = append(e.Trace.Hops, checks.Hop{TTL: len(b.r), Address: last, ICMP: word})
	return e
}

// asked is a silent port whose path was asked (the path questions): the
// host is one hop past the last router, which decides; the routers before
// it answered TTL-limited SYNs to the port, the deciding hop is left for
// the kind to fill, and an ICMP echo control went through every router.
func (b *builder) asked(ping bool) checks.Evidence {
	e := b.silent()
	if ping {
		e.Ping.Received, e.Ping.RTTMS = 3, 9.5
	}
	n := len(b.r)
	e.Path = &checks.PathEvidence{HostHops: n + 1, HostHopsBy: "the ping reply's TTL", SYNs: 3, Control: "ICMP echo"}
	e.Trace = b.path(n - 1)
	for i := range e.Trace.Hops {
		e.Trace.Hops[i].Reach, e.Trace.Hops[i].Asks = checks.ReachYes, 1
	}
	e.Trace.Hops = append(e.Trace.Hops, checks.Hop{TTL: n, Asks: 1})
	e.ControlTrace = b.path(n - 1)
	e.ControlTrace.Proto, e.ControlTrace.Port = "icmp", 0
	e.ControlTrace.Hops = append(e.ControlTrace.Hops, checks.Hop{TTL: n, Asks: 1})
	return e
}

func (b *builder) silent() checks.Evidence {
	e := b.base(&checks.ConnectResult{Reason: checks.ReasonNoResponse})
	e.Ping = &checks.PingResult{Sent: 3}
	return e
}

// path is a port trace through the first n routers (time-exceeded each).
func (b *builder) path(n int) *checks.Trace {
	t := &checks.Trace{Proto: "tcp", Port: b.port}
	for i := 0; i < n; i++ {
		t.Hops = append(t.Hops, checks.Hop{TTL: i + 1, Address: b.r[i], RTTMS: float64(i+1) * 1.5, ICMP: "time-exceeded"})
	}
	return t
}

func (b *builder) silentAfter(t *checks.Trace, n int) *checks.Trace {
	for i := 0; i < n; i++ {
		t.Hops = append(t.Hops, checks.Hop{TTL: len(t.Hops) + 1})
	}
	return t
}

// control is an ICMP trace through every router, reaching the target at
// hop at (when reached) or going on past the last router.
func (b *builder) control(at int, reached bool) *checks.Trace {
	t := b.path(len(b.r))
	t.Proto, t.Port = "icmp", 0
	for len(t.Hops) < at-1 {
		t.Hops = append(t.Hops, checks.Hop{TTL: len(t.Hops) + 1})
	}
	if reached {
		t.Hops = append(t.Hops, checks.Hop{TTL: len(t.Hops) + 1, Address: b.target.String(), ICMP: "echo-reply"})
		t.Reached = true
	}
	return t
}

// Build is the case p picks.
func Build(p Params) Case {
	k := kinds[int(p.Kind)%len(kinds)]
	b := &builder{target: target4, other: other4, port: int(p.Port), v6: p.V6}
	rs := ranges4
	if p.V6 {
		b.target, b.other, rs = target6, other6, ranges6
	}
	if b.port == 0 {
		b.port = 443
	}
	pfx := netip.MustParsePrefix(rs[int(p.Range)%len(rs)])
	n := 2 + int(p.Hops)%4 // at least two: the first hop and the one that decides
	for i := 0; i < n; i++ {
		b.r = append(b.r, inPrefix(pfx, p.Bits+uint64(i)).String())
	}
	ev := k.build(b)
	c := Case{Name: fmt.Sprintf("%s, routers in %s", k.name, pfx), Report: Report(ev), Routers: b.r, Quotes: k.quotes}
	return c
}

// inPrefix is the address of pfx whose host part is bits (wrapped).
func inPrefix(pfx netip.Prefix, bits uint64) netip.Addr {
	a := pfx.Addr().As16()
	hostBits := 128 - pfx.Bits()
	if pfx.Addr().Is4() {
		hostBits = 32 - pfx.Bits()
		a = netip.AddrFrom4(pfx.Addr().As4()).As16()
	}
	if pfx.Addr().Is4In6() {
		hostBits = 128 - pfx.Bits()
	}
	if hostBits < 64 {
		bits %= 1<<hostBits - 1
	}
	bits++ // never the network's own address
	for i := 15; i >= 0 && bits > 0; i-- {
		a[i] |= byte(bits)
		bits >>= 8
	}
	out := netip.AddrFrom16(a)
	if pfx.Addr().Is4() {
		out = out.Unmap()
	}
	return out
}

// Report is the Report the prober makes of ev (checks.Prober's finish).
func Report(ev checks.Evidence) checks.Report {
	d := checks.Diagnose(ev)
	r := checks.Report{
		Target: ev.Target, Host: ev.Host, Port: ev.Port, Addresses: append([]string{}, ev.Resolve.Addresses...),
		Verdict: d.Verdict, Reason: d.Reason, ReportedBy: d.ReportedBy, LastHop: d.LastHop,
		Service: ev.Service, Ping: ev.Ping, Trace: []checks.Hop{}, ControlTrace: ev.ControlTrace, Connect: ev.Connect,
		Summary: d.Summary, Hints: d.Hints, Confidence: d.Confidence, Likely: d.Likely, Path: ev.Path, ElapsedMS: 1200,
	}
	if ev.Trace != nil {
		r.Trace = ev.Trace.Hops
	}
	if ev.Connect == nil {
		return r
	}
	r.Address = ev.Connect.Address
	for _, a := range ev.Resolve.Addresses {
		if a == r.Address {
			continue
		}
		// The host's other address got the same answer from the same router.
		c := *ev.Connect
		c.Address = a
		r.Others = append(r.Others, c)
	}
	return r
}

// Seeds are the fuzz corpus: every template, both families, every range.
func Seeds() []Params {
	var out []Params
	for k := range kinds {
		for r := range max(len(ranges4), len(ranges6)) {
			for _, v6 := range []bool{false, true} {
				out = append(out, Params{Kind: uint8(k), Range: uint8(r), Bits: uint64(k*7 + r), V6: v6, Port: []uint16{443, 22, 25, 8080}[(k+r)%4], Hops: uint8(k + r)})
			}
		}
	}
	return out
}

// Leaks returns the routers s names.
func (c Case) Leaks(s string) []string {
	var out []string
	for _, r := range c.Routers {
		if strings.Contains(s, r) {
			out = append(out, r)
		}
	}
	return out
}

// Redactor is the policy serve runs by default (redact_hops on).
func Redactor(t testing.TB) bot.HopRedactor {
	p, err := policy.New(policy.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Messages are the chat messages made of c's report once the bot has
// redacted it: the evidence reply, the parent's verdict and the grouped
// reply of a big run.
func Messages(t testing.TB, hr bot.HopRedactor, c Case) []bot.Message {
	t.Helper()
	rep := bot.RedactHops(hr, c.Report)
	if rep.Verdict != c.Report.Verdict {
		t.Errorf("%s: redaction changed the verdict %s -> %s", c.Name, c.Report.Verdict, rep.Verdict)
	}
	res := wire.Result{Job: wire.Job{ID: "run.1", CommandID: "run", Target: c.Report.Target, Host: c.Report.Host, Port: c.Report.Port, Vantage: "local"}, Report: rep}
	rs := []wire.Result{res}
	return []bot.Message{bot.EvidenceMessage(res), bot.ParentMessage(rs), bot.GroupedMessage(rs)}
}

// Fuzz is the fuzz test of one chat's rendering: no router address of any
// case in anything render makes of its messages.
func Fuzz(f *testing.F, render func(t *testing.T, m bot.Message) []string) {
	for _, p := range Seeds() {
		f.Add(p.Kind, p.Range, p.Bits, p.V6, p.Port, p.Hops)
	}
	hr := Redactor(f)
	f.Fuzz(func(t *testing.T, k, rng uint8, bits uint64, v6 bool, port uint16, hops uint8) {
		c := Build(Params{Kind: k, Range: rng, Bits: bits, V6: v6, Port: port, Hops: hops})
		for _, m := range Messages(t, hr, c) {
			for _, out := range render(t, m) {
				if l := c.Leaks(out); len(l) > 0 {
					t.Fatalf("%s: router %v in the chat:\n%s", c.Name, l, out)
				}
			}
		}
	})
}
