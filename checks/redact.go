package checks

import (
	"fmt"
	"net/netip"
	"strings"
)

// Redaction is what stands in a report for an address Redacted hid.
const Redaction = "redacted"

// Redacted returns r with every hop and sender address hide says to hide
// replaced by Redaction (the port trace and the control trace, the last
// hop, who reported, the connect's ICMP sender, the same on the host's
// other addresses), and its Summary and Hints written again by Diagnose
// from that redacted evidence. Redaction works on the evidence, before any
// text exists: a sentence can only quote an address the evidence still
// holds, however the sentence punctuates it ("On 10.0.0.1:",
// "ssh 10.0.0.1:22"). The probed address and the host's own addresses are
// never hidden (they are what was asked about), and the verdict is kept.
//
// A report whose texts Diagnose did not write (an older worker's rules, a
// hand-built report) comes out of Diagnose with another verdict: its own
// texts are kept then, except each one quoting a hidden address at all,
// which is withheld.
func Redacted(r Report, hide func(addr string) bool) Report {
	own := map[string]bool{r.Address: true}
	for _, a := range r.Addresses {
		own[a] = true
	}
	hidden := map[string]bool{}
	mask := func(s string) string {
		if s == "" || s == Redaction || own[s] || !hide(s) {
			return s
		}
		hidden[s] = true
		if a, err := netip.ParseAddr(hostOnly(s)); err == nil {
			hidden[a.String()] = true // the spelling a sentence would use
		}
		return Redaction
	}
	out := r
	out.Trace = maskHops(r.Trace, mask)
	if r.ControlTrace != nil {
		ct := *r.ControlTrace
		ct.Hops = maskHops(ct.Hops, mask)
		out.ControlTrace = &ct
	}
	if r.LastHop != nil {
		lh := maskHop(*r.LastHop, mask)
		out.LastHop = &lh
	}
	out.ReportedBy = mask(r.ReportedBy)
	out.Connect = maskConnect(r.Connect, mask)
	if len(r.Others) > 0 {
		out.Others = make([]ConnectResult, len(r.Others))
		for i, o := range r.Others {
			out.Others[i] = *maskConnect(&o, mask)
		}
	}
	if len(hidden) == 0 {
		return r
	}
	if out.Connect == nil {
		// Nothing was connected to: no evidence to write texts from.
		return withheld(out, hidden)
	}
	d := Diagnose(evidenceOf(out))
	if d.Verdict != r.Verdict || d.Reason != r.Reason {
		return withheld(out, hidden)
	}
	out.Summary, out.Hints = d.Summary, d.Hints
	return out
}

// maskHop hides a hop's address. Every address field of Hop goes through
// here, so a field added to Hop is redacted by adding it once.
func maskHop(h Hop, mask func(string) string) Hop {
	h.Address, h.Router = mask(h.Address), mask(h.Router)
	return h
}

func maskHops(hs []Hop, mask func(string) string) []Hop {
	if hs == nil {
		return nil
	}
	out := make([]Hop, len(hs))
	for i, h := range hs {
		out[i] = maskHop(h, mask)
	}
	return out
}

func maskConnect(c *ConnectResult, mask func(string) string) *ConnectResult {
	if c == nil {
		return nil
	}
	cc := *c
	cc.ReportedBy = mask(c.ReportedBy)
	if c.ICMP != nil {
		ic := *c.ICMP
		ic.From = mask(ic.From)
		cc.ICMP = &ic
	}
	return &cc
}

// evidenceOf is the Evidence a Report was diagnosed from, as far as the
// report keeps it: everything Diagnose reads. The port trace's Reached is
// not kept; Diagnose does not read it.
func evidenceOf(r Report) Evidence {
	e := Evidence{
		Target: r.Target, Host: r.Host, Port: r.Port,
		Resolve: ResolveResult{Addresses: r.Addresses},
		Connect: r.Connect, Ping: r.Ping, ControlTrace: r.ControlTrace, Service: r.Service, Path: r.Path,
	}
	if len(r.Trace) > 0 {
		t := &Trace{Proto: "tcp", Port: r.Port, Hops: r.Trace}
		if last := t.LastAnswered(); last != nil && last.Address == r.Address {
			t.Reached = true
		}
		e.Trace = t
	}
	if r.Connect == nil {
		e.Resolve.Error, e.Resolve.NotFound = r.Error, r.Error == ""
	}
	return e
}

// withheld keeps r's own texts but those quoting a hidden address, which
// are replaced (the summary) or left out (hints, commands). Any mention
// counts, even inside a longer address: too much withheld beats a leak.
func withheld(r Report, hidden map[string]bool) Report {
	quotes := func(s string) bool {
		for a := range hidden {
			if strings.Contains(s, a) {
				return true
			}
		}
		return false
	}
	if quotes(r.Summary) {
		r.Summary = fmt.Sprintf("Verdict %s; the details are withheld because they name an internal address.", r.Verdict)
	}
	hints := []Hint{}
	for _, h := range r.Hints {
		if quotes(h.Text) {
			continue
		}
		var cmds []string
		for _, c := range h.Commands {
			if !quotes(c) {
				cmds = append(cmds, c)
			}
		}
		if len(h.Commands) > 0 && len(cmds) == 0 {
			continue // a hint whose every command was withheld says nothing to do
		}
		h.Commands = cmds
		hints = append(hints, h)
	}
	r.Hints = hints
	return r
}
