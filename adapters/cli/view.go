// Package cli is the one-shot terminal view of `portcheck check` and
// `portcheck agent`: it runs the checks, streams JSON or renders the human
// table, and prints a host's facts. The chat bot's views live in bot/ and
// the chat adapters.
package cli

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
)

// The human view of `portcheck check`: a table with one row per port, then
// the evidence and the fixes for every port that is not simply open. It is a
// pure function of the reports so golden files pin it down.

// collapseOver is how many ports of one verdict on one host a table shows
// before folding them into a "Not shown" line, as nmap does for scans.
const collapseOver = 25

// maxDetailed caps the detailed sections so a range scan stays readable.
const maxDetailed = 10

// runSummary is what the footer says about the run as a whole.
type runSummary struct {
	Requested   int           // ports asked for
	Elapsed     time.Duration // wall clock of the whole run
	Interrupted bool          // Ctrl-C: the reports are what finished so far
	Color       bool          // verdicts in colour (a terminal)
}

// renderHuman writes the table, the details and the footer.
func renderHuman(w io.Writer, reps []checks.Report, s runSummary) error {
	return renderDigest(w, digestOf(reps), s)
}

// renderDigest is renderHuman from a digest gathered while the reports
// streamed by.
func renderDigest(w io.Writer, d *digest, s runSummary) error {
	var b strings.Builder
	shown, hidden := d.shown(), d.hidden()
	if len(shown) > 0 {
		var table strings.Builder
		tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\tVERDICT\tTARGET\tADDRESS\tREASON\tREPORTED BY\tLAST HOP\tSERVICE\tTIME")
		for _, r := range shown {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", bot.Glyph(r.Verdict), r.Verdict, hostPort(r.Host, r.Port),
				dash(r.Address), dash(string(r.Reason)), dash(r.ReportedBy), lastHopCell(r.LastHop), serviceCell(r.Service), elapsed(r.ElapsedMS))
		}
		tw.Flush()
		// Painted after the layout: tabwriter would count the colour
		// codes as columns.
		for i, line := range strings.SplitAfter(table.String(), "\n") {
			if i > 0 && i <= len(shown) && s.Color {
				line = paintRow(line, shown[i-1].Verdict)
			}
			b.WriteString(line)
		}
	}
	for _, h := range hidden {
		fmt.Fprintf(&b, "Not shown on %s: %d %s ports (%s)\n", h.host, len(h.ports), h.verdict, cutList(strings.Join(bot.PortRanges(h.ports), ","), 120))
	}
	detailed := 0
	for _, r := range shown {
		if !needsDetail(r) {
			continue
		}
		if detailed == maxDetailed {
			more := 0
			for _, r2 := range shown {
				if needsDetail(r2) {
					more++
				}
			}
			fmt.Fprintf(&b, "\n… details of %d more ports left out: check one of them on its own (portcheck check HOST:PORT).\n", more-maxDetailed)
			break
		}
		detailed++
		b.WriteString("\n")
		renderDetail(&b, r, s.Color)
	}
	b.WriteString("\n")
	b.WriteString(footer(d, s))
	_, err := io.WriteString(w, trimLines(b.String()))
	return err
}

// Verdict colours on a terminal, by the verdict's status in the one mark
// table (bot/marks.go): open green, a problem red, neither (inconclusive,
// a verdict this build does not know) yellow.
var colors = map[bot.Status]string{
	bot.StatusOK:      "\x1b[1;32m",
	bot.StatusProblem: "\x1b[1;31m",
	bot.StatusUnknown: "\x1b[1;33m",
}

const colorReset = "\x1b[0m"

// paint wraps s in v's colour when on.
func paint(on bool, v checks.Verdict, s string) string {
	c, ok := colors[bot.VerdictStatus(v)]
	if !on || !ok || s == "" {
		return s
	}
	return c + s + colorReset
}

// paintRow colours a laid-out table row's glyph and verdict cells.
func paintRow(line string, v checks.Verdict) string {
	g := bot.Glyph(v)
	rest, ok := strings.CutPrefix(line, g)
	if !ok {
		return line
	}
	word := strings.TrimLeft(rest, " ")
	pad := rest[:len(rest)-len(word)]
	after, ok := strings.CutPrefix(word, string(v))
	if !ok {
		return line
	}
	return paint(true, v, g) + pad + paint(true, v, string(v)) + after
}

// needsDetail: open ports need no explanation unless they carry a hint (a
// certificate about to expire), a probe error or a trace the user asked for.
func needsDetail(r checks.Report) bool {
	return r.Verdict != checks.VerdictOpen || len(r.Hints) > 0 || r.Error != "" || len(r.Trace) > 0
}

// hiddenGroup is one host's ports of one verdict folded out of the table.
type hiddenGroup struct {
	host    string
	verdict checks.Verdict
	ports   []int
}

// digest is what the human view needs of a run, gathered report by
// report as they stream in, in request order: the reports it will show,
// the port numbers of what it folds into "Not shown" lines, and the
// counts of the footer. A 65535-port range keeps a few dozen reports, not
// all of them.
//
// It folds as collapse always did: when the run has more than collapseOver
// ports, each non-open verdict that covers more than collapseOver ports of
// a host is folded (a group can only grow past that in such a run).
type digest struct {
	reps   []*checks.Report // shown, in order; nil where a group was folded since
	groups map[groupKey]*digestGroup
	folded []*digestGroup // by first appearance
	hosts  map[string]bool
	counts map[checks.Verdict]int
	n      int
	open   int
}

type groupKey struct {
	host string
	v    checks.Verdict
}

type digestGroup struct {
	hiddenGroup
	members []int // indices into reps while the group is shown
	count   int
}

func newDigest() *digest {
	return &digest{groups: map[groupKey]*digestGroup{}, hosts: map[string]bool{}, counts: map[checks.Verdict]int{}}
}

func digestOf(reps []checks.Report) *digest {
	d := newDigest()
	for _, r := range reps {
		d.add(r)
	}
	return d
}

// add takes the next report in order.
func (d *digest) add(r checks.Report) {
	d.n++
	d.hosts[r.Host] = true
	d.counts[r.Verdict]++
	if r.Verdict == checks.VerdictOpen {
		d.open++
	}
	k := groupKey{r.Host, r.Verdict}
	g := d.groups[k]
	if g == nil {
		g = &digestGroup{hiddenGroup: hiddenGroup{host: r.Host, verdict: r.Verdict}}
		d.groups[k] = g
	}
	g.count++
	switch {
	case r.Verdict != checks.VerdictOpen && g.count == collapseOver+1:
		for _, i := range g.members {
			g.ports = append(g.ports, d.reps[i].Port)
			d.reps[i] = nil
		}
		g.members = nil
		g.ports = append(g.ports, r.Port)
		d.folded = append(d.folded, g)
	case r.Verdict != checks.VerdictOpen && g.count > collapseOver:
		g.ports = append(g.ports, r.Port)
	default:
		d.reps = append(d.reps, &r)
		g.members = append(g.members, len(d.reps)-1)
	}
}

// shown is the table's rows, in order.
func (d *digest) shown() []checks.Report {
	var out []checks.Report
	for _, r := range d.reps {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out
}

// hidden is the folded groups, in the order they first appeared.
func (d *digest) hidden() []hiddenGroup {
	var out []hiddenGroup
	for _, g := range d.folded {
		out = append(out, g.hiddenGroup)
	}
	return out
}

// renderDetail writes one port's summary, evidence, trace and hints.
func renderDetail(b *strings.Builder, r checks.Report, color bool) {
	fmt.Fprintf(b, "%s %s  %s\n", paint(color, r.Verdict, bot.Glyph(r.Verdict)), hostPort(r.Host, r.Port), paint(color, r.Verdict, string(r.Verdict)))
	if r.Summary != "" {
		writeWrapped(b, clean(r.Summary, 0), "  ", "  ")
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, v) }
	if len(r.Addresses) > 1 {
		row("resolved", strings.Join(r.Addresses, ", "))
	}
	if r.Connect != nil {
		row("connect", connectCell(*r.Connect))
	}
	for _, o := range r.Others {
		row("also", connectCell(o))
	}
	if r.Ping != nil {
		row("ping", pingCell(*r.Ping))
	}
	if r.Service != nil {
		row("service", serviceDetail(*r.Service))
	}
	if r.Error != "" {
		row("error", clean(r.Error, 200))
	}
	tw.Flush()
	renderTrace(b, r)
	if len(r.Hints) > 0 {
		b.WriteString("  what to do:\n")
		for i, h := range r.Hints {
			num := strconv.Itoa(i+1) + ". "
			writeWrapped(b, h.Text, "  "+num, "  "+strings.Repeat(" ", len(num)))
			for _, c := range h.Commands {
				b.WriteString("       " + c + "\n")
			}
		}
	}
}

// renderTrace prints the hops toward the port and marks where the packets
// stop; trailing silent hops fold into one line.
func renderTrace(b *strings.Builder, r checks.Report) {
	if len(r.Trace) == 0 {
		if r.Verdict != checks.VerdictOpen && r.Verdict != checks.VerdictDNSError {
			b.WriteString("  trace: not run (--trace runs it for every port)\n")
		}
		return
	}
	last := -1
	reached := false
	for i, h := range r.Trace {
		if h.Address != "" {
			last = i
			if h.Address == r.Address {
				reached = true
			}
		}
	}
	head := fmt.Sprintf("  trace tcp/%d:", r.Port)
	switch {
	case reached:
		head += " reaches the target"
	case last >= 0:
		head += fmt.Sprintf(" stops after hop %d (%s)", r.Trace[last].TTL, r.Trace[last].Address)
	default:
		head += " no hop answered"
	}
	b.WriteString(head + "\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for i := 0; i < len(r.Trace); i++ {
		h := r.Trace[i]
		if note := h.Note(); note != "" {
			// A path question's hop: what it found, in words.
			mark := ""
			if i == last+1 && !reached {
				mark = "  ◀ packets stop here"
			}
			fmt.Fprintf(tw, "  %5d\t*\t\t\t%s%s\n", h.TTL, note, mark)
			continue
		}
		if i > last && !reached {
			mark := "◀ packets stop here"
			end := r.Trace[len(r.Trace)-1].TTL
			if end > h.TTL {
				fmt.Fprintf(tw, "  %5d\t*\t\t\t%s (no answer up to hop %d)\n", h.TTL, mark, end)
			} else {
				fmt.Fprintf(tw, "  %5d\t*\t\t\t%s\n", h.TTL, mark)
			}
			break
		}
		mark := ""
		switch {
		case h.Address != "" && h.Address == r.Address:
			mark = "◀ target"
		case i == last && !reached:
			mark = "◀ last answer"
		}
		addr, rtt := "*", ""
		if h.Address != "" {
			addr, rtt = h.Address, fmt.Sprintf("%.2f ms", h.RTTMS)
		}
		fmt.Fprintf(tw, "  %5d\t%s\t%s\t%s\t%s\n", h.TTL, addr, rtt, h.ICMP, mark)
	}
	tw.Flush()
	if ct := r.ControlTrace; ct != nil {
		name := ct.Proto
		if ct.Port != 0 {
			name = fmt.Sprintf("%s/%d", ct.Proto, ct.Port)
		}
		switch h := ct.LastAnswered(); {
		case r.Path != nil:
			for _, c := range ct.Hops {
				if c.Address != "" {
					fmt.Fprintf(b, "  control %s at hop %d: answered by %s (%s)\n", name, c.TTL, c.Address, c.ICMP)
				} else {
					fmt.Fprintf(b, "  control %s at hop %d: no answer to %d\n", name, c.TTL, c.Asks)
				}
			}
		case ct.Reached && h != nil:
			fmt.Fprintf(b, "  control trace %s: reaches %s at hop %d\n", name, h.Address, h.TTL)
		case h != nil:
			fmt.Fprintf(b, "  control trace %s: also stops after hop %d (%s)\n", name, h.TTL, h.Address)
		default:
			fmt.Fprintf(b, "  control trace %s: no hop answered\n", name)
		}
	}
}

func connectCell(c checks.ConnectResult) string {
	s := dash(c.Address) + "  " + dash(string(c.Reason))
	if c.ICMP != nil {
		s += fmt.Sprintf(" (ICMP type %d code %d from %s)", c.ICMP.Type, c.ICMP.Code, c.ICMP.From)
	} else if c.ReportedBy != "" && c.ReportedBy != c.Address {
		s += " from " + c.ReportedBy
	}
	if c.RTTMS > 0 {
		s += fmt.Sprintf(" in %.2f ms", c.RTTMS)
	}
	if c.Error != "" {
		s += ": " + clean(c.Error, 120)
	}
	return s
}

func pingCell(p checks.PingResult) string {
	mode := "unprivileged"
	if p.Privileged {
		mode = "privileged"
	}
	switch {
	case p.Error != "":
		return "not run: " + clean(p.Error, 120)
	case p.Sent == 0:
		return "not run"
	case p.Received == 0:
		return fmt.Sprintf("no reply to %d echo requests (%s): ICMP may be filtered", p.Sent, mode)
	}
	return fmt.Sprintf("%d/%d replies, %.2f ms average (%s)", p.Received, p.Sent, p.RTTMS, mode)
}

// serviceCell is the table's short service column.
func serviceCell(s *checks.Service) string {
	if s == nil {
		return "-"
	}
	parts := []string{}
	if s.Name != "" {
		parts = append(parts, s.Name)
	}
	switch {
	case s.Refused && s.Banner == "":
		parts = append(parts, "refused")
	case s.Banner != "":
		parts = append(parts, clean(s.Banner, 40))
	case s.TLS != nil && s.TLS.Error == "":
		parts = append(parts, fmt.Sprintf("%s %dd left", s.TLS.Version, s.TLS.DaysLeft))
	case s.TLS == nil:
		parts = append(parts, "(no banner)")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// serviceDetail is the full service line of a detail section.
func serviceDetail(s checks.Service) string {
	out := dash(s.Name)
	if !s.Refused && s.Detail != "" {
		out += "  " + clean(s.Detail, 200)
	}
	if s.Banner != "" {
		out += "  " + strconv.Quote(clean(s.Banner, 200))
	}
	if s.Refused {
		out += "  refused"
		if s.Detail != "" {
			out += ": " + clean(s.Detail, 200)
		}
	}
	if t := s.TLS; t != nil {
		if t.Error != "" {
			out += "  TLS error: " + clean(t.Error, 200)
		} else {
			out += fmt.Sprintf("  %s, %s, expires %s (%d days)", t.Version, clean(t.Subject, 80), t.NotAfter.UTC().Format("2006-01-02"), t.DaysLeft)
		}
	}
	return out
}

func lastHopCell(h *checks.Hop) string {
	if h == nil || h.Address == "" {
		return "-"
	}
	if h.TTL == 0 {
		return h.Address // the sender of an ICMP answer; no trace placed it
	}
	return fmt.Sprintf("%s (%d)", h.Address, h.TTL)
}

func footer(d *digest, s runSummary) string {
	counts := make(map[checks.Verdict]int, len(d.counts))
	for v, n := range d.counts {
		counts[v] = n
	}
	hosts := d.hosts
	var parts []string
	for _, v := range verdictOrder() {
		if n := counts[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
			delete(counts, v)
		}
	}
	for v, n := range counts { // verdicts added after this view was written
		parts = append(parts, fmt.Sprintf("%d %s", n, v))
	}
	what := fmt.Sprintf("%d %s on %d %s", d.n, plural(d.n, "port", "ports"), len(hosts), plural(len(hosts), "host", "hosts"))
	if s.Interrupted {
		what = fmt.Sprintf("Interrupted: checked %d of %d ports on %d %s", d.n, s.Requested, len(hosts), plural(len(hosts), "host", "hosts"))
	} else {
		what = "Checked " + what
	}
	if len(parts) == 0 {
		return what + fmt.Sprintf(" in %s.\n", roundDuration(s.Elapsed))
	}
	return fmt.Sprintf("%s in %s: %s.\n", what, roundDuration(s.Elapsed), strings.Join(parts, ", "))
}

// verdictOrder lists verdicts from good to bad, for the footer.
func verdictOrder() []checks.Verdict { return bot.Verdicts() }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func roundDuration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func elapsed(ms int64) string {
	if ms < 1000 {
		return fmt.Sprintf("%dms", ms)
	}
	return fmt.Sprintf("%.1fs", float64(ms)/1000)
}

func hostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clean makes text a remote peer chose (banners, certificate names, error
// strings) safe for a terminal: no escape sequences, no line breaks, and at
// most max runes (0: no limit).
func clean(s string, max int) string {
	var b strings.Builder
	n := 0
	s = strings.Join(strings.Fields(s), " ") // line breaks and tabs become one space
	for _, r := range s {
		if max > 0 && n == max {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// writeWrapped wraps text at about 100 columns, the first line after
// first, the rest after rest.
func writeWrapped(b *strings.Builder, text, first, rest string) {
	const width = 100
	line := first
	empty := true
	for _, w := range strings.Fields(text) {
		if !empty && len([]rune(line))+1+len([]rune(w)) > width {
			b.WriteString(line + "\n")
			line, empty = rest, true
		}
		if !empty {
			line += " "
		}
		line += w
		empty = false
	}
	b.WriteString(line + "\n")
}

// trimLines drops the spaces tabwriter leaves after an empty last column.
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// cutList shortens a comma list to about max bytes, at a comma.
func cutList(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := strings.LastIndexByte(s[:max], ',')
	if cut <= 0 {
		return s[:max] + "…"
	}
	return s[:cut] + ",…"
}
