package bot

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

// This file builds the chat-neutral Messages; adapters only lay them out.

// Elapsed formats a duration in milliseconds the way the headline shows it.
func Elapsed(ms int64) string {
	switch {
	case ms < 1000:
		return fmt.Sprintf("%dms", ms)
	case ms < 60_000:
		return strconv.FormatFloat(float64(ms)/1000, 'f', 1, 64) + "s"
	}
	return (time.Duration(ms) * time.Millisecond).Round(time.Second).String()
}

// verdictDetail adds who said it, when that changes what to do.
func verdictDetail(rep checks.Report) string {
	w := VerdictWords(rep.Verdict)
	switch rep.Verdict {
	case checks.VerdictRejectedInPath, checks.VerdictHostUnreachable, checks.VerdictNetworkUnreachable:
		if rep.ReportedBy != "" && rep.ReportedBy != rep.Address {
			w += " by " + rep.ReportedBy
		}
	case checks.VerdictFilteredInPath:
		if rep.LastHop != nil && rep.LastHop.Address != "" {
			w += " after hop " + strconv.Itoa(rep.LastHop.TTL) + " (" + rep.LastHop.Address + ")"
		}
	case checks.VerdictOpen:
		if rep.Service != nil && rep.Service.Name != "" {
			w += " (" + rep.Service.Name + ")"
		}
	}
	return w
}

// VerdictLine is the one-line headline of a finished job:
// "web01:443 — filtered at host (firewall DROP) · 198.18.3.10 · 1.2s".
func VerdictLine(r wire.Result) string {
	tp := r.Job.HostPort()
	if r.Error != "" && r.Report.Verdict == "" {
		return tp + " — check failed: " + firstLine(r.Error)
	}
	parts := []string{tp + " — " + verdictDetail(r.Report)}
	if r.Report.Address != "" && r.Report.Address != r.Job.Host {
		parts = append(parts, r.Report.Address)
	}
	parts = append(parts, Elapsed(r.Report.ElapsedMS))
	return strings.Join(parts, " · ")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// describeTargets lists targets for a headline, shortened past a few.
func describeTargets(ts []checks.Target) string {
	var names []string
	for _, t := range ts {
		names = append(names, t.String())
	}
	if len(names) > 3 {
		return strings.Join(names[:3], ", ") + fmt.Sprintf(" and %d more", len(names)-3)
	}
	return strings.Join(names, ", ")
}

// RunningMessage is the thread parent while jobs are out.
func RunningMessage(targets []checks.Target, vantages []string, done, total int) Message {
	text := "checking " + describeTargets(targets) + " from " + strings.Join(vantages, ", ") + "…"
	if done > 0 && total > 1 {
		text += fmt.Sprintf(" %d/%d done", done, total)
	}
	return Message{Status: StatusRunning, Text: text, Fields: []Field{
		{Name: "target", Value: describeTargets(targets)},
		{Name: "vantage", Value: strings.Join(vantages, ", ")},
	}}
}

var againButton = Button{ID: "again", Label: "Re-check", Value: "again"}

// stopButton ends the watch of the thread whose parent carries it, that
// watch only (the chat sends "stop" with the thread set).
var stopButton = Button{ID: "stop", Label: "Stop", Value: "stop"}

// ParentMessage is the thread parent once every job of a run is in: one
// job's verdict line, or a per-verdict tally for many.
func ParentMessage(rs []wire.Result) Message {
	if len(rs) == 1 {
		r := rs[0]
		m := Message{Status: resultStatus(r), Text: VerdictLine(r), Buttons: []Button{againButton}}
		m.Fields = resultFields(r)
		return m
	}
	groups := groupResults(rs)
	status := StatusOK
	var parts []string
	for _, g := range groups {
		status = worse(status, g.status)
		parts = append(parts, g.label+" "+g.ports(multiHost(rs), multiVantage(rs)))
	}
	return Message{
		Status:  status,
		Text:    targetsOf(rs) + " — " + strings.Join(parts, " · "),
		Fields:  []Field{{Name: "target", Value: targetsOf(rs)}, {Name: "checks", Value: strconv.Itoa(len(rs))}, {Name: "vantage", Value: vantagesOf(rs)}, {Name: "elapsed", Value: Elapsed(maxElapsed(rs))}},
		Buttons: []Button{againButton},
	}
}

func resultFields(r wire.Result) []Field {
	f := []Field{{Name: "target", Value: r.Job.HostPort()}}
	if r.Report.Address != "" {
		f = append(f, Field{Name: "address", Value: r.Report.Address})
	}
	f = append(f, Field{Name: "vantage", Value: r.Job.Vantage})
	if r.Report.Verdict != "" {
		f = append(f, Field{Name: "elapsed", Value: Elapsed(r.Report.ElapsedMS)})
	}
	return f
}

func targetsOf(rs []wire.Result) string {
	var seen []string
	for _, r := range rs {
		h := r.Job.Host
		if !slices.Contains(seen, h) {
			seen = append(seen, h)
		}
	}
	if len(seen) > 3 {
		return strings.Join(seen[:3], ", ") + fmt.Sprintf(" +%d", len(seen)-3)
	}
	return strings.Join(seen, ", ")
}

func vantagesOf(rs []wire.Result) string {
	var seen []string
	for _, r := range rs {
		if !slices.Contains(seen, r.Job.Vantage) {
			seen = append(seen, r.Job.Vantage)
		}
	}
	return strings.Join(seen, ", ")
}

func maxElapsed(rs []wire.Result) int64 {
	var m int64
	for _, r := range rs {
		if r.Report.ElapsedMS > m {
			m = r.Report.ElapsedMS
		}
	}
	return m
}

func multiHost(rs []wire.Result) bool {
	for _, r := range rs {
		if r.Job.Host != rs[0].Job.Host {
			return true
		}
	}
	return false
}

func multiVantage(rs []wire.Result) bool {
	for _, r := range rs {
		if r.Job.Vantage != rs[0].Job.Vantage {
			return true
		}
	}
	return false
}

// group is the results sharing one outcome.
type group struct {
	label  string
	status Status
	rs     []wire.Result
}

// ports lists the group's ports compactly: "22, 80, 8000-8080", qualified
// by host when several hosts are involved and by vantage when several
// vantages are ("443 from office").
func (g group) ports(qualifyHost, qualifyVantage bool) string {
	type key struct{ host, vantage string }
	byKey := map[key][]int{}
	var keys []key
	for _, r := range g.rs {
		k := key{r.Job.Host, r.Job.Vantage}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], r.Job.Port)
	}
	var out []string
	for _, k := range keys {
		ps := compactPorts(byKey[k])
		if qualifyHost {
			ps = k.host + ":" + ps
		}
		if qualifyVantage {
			ps += " from " + k.vantage
		}
		out = append(out, ps)
	}
	return strings.Join(out, ", ")
}

// PortRanges turns [22 80 81 82 443] into ["22" "80-82" "443"] (sorted;
// the CLI and the chat headlines both list ports this way).
func PortRanges(ps []int) []string {
	ps = append([]int(nil), ps...)
	sort.Ints(ps)
	var out []string
	for i := 0; i < len(ps); {
		j := i
		for j+1 < len(ps) && ps[j+1] <= ps[j]+1 {
			j++
		}
		if j > i {
			out = append(out, fmt.Sprintf("%d-%d", ps[i], ps[j]))
		} else {
			out = append(out, strconv.Itoa(ps[i]))
		}
		i = j + 1
	}
	return out
}

// compactPorts turns [22 80 81 82 443] into "22, 80-82, 443".
func compactPorts(ps []int) string {
	out := PortRanges(ps)
	s := strings.Join(out, ", ")
	if len(out) > 12 { // keep a headline a headline
		s = strings.Join(out[:12], ", ") + fmt.Sprintf(" +%d more", len(out)-12)
	}
	return s
}

// groupResults groups by outcome, open first, then by size.
func groupResults(rs []wire.Result) []group {
	idx := map[string]int{}
	var gs []group
	for _, r := range rs {
		label := VerdictWords(r.Report.Verdict)
		if r.Error != "" && r.Report.Verdict == "" {
			label = "failed"
		}
		i, ok := idx[label]
		if !ok {
			i = len(gs)
			idx[label] = i
			gs = append(gs, group{label: label, status: resultStatus(r)})
		}
		gs[i].rs = append(gs[i].rs, r)
	}
	sort.SliceStable(gs, func(i, j int) bool {
		if (gs[i].status == StatusOK) != (gs[j].status == StatusOK) {
			return gs[i].status == StatusOK
		}
		return len(gs[i].rs) > len(gs[j].rs)
	})
	return gs
}

// EvidenceMessage is the thread reply for one job: what each probe saw, the
// trace with the hop where packets stop, and the hints.
func EvidenceMessage(r wire.Result) Message {
	rep := r.Report
	m := Message{Status: resultStatus(r), Fields: resultFields(r)}
	if r.Error != "" && rep.Verdict == "" {
		m.Text = r.Job.HostPort() + " from " + r.Job.Vantage + ": the check failed"
		m.Blocks = append(m.Blocks, Block{Kind: BlockCode, Title: "Error", Text: r.Error})
		return m
	}
	m.Text = r.Job.HostPort() + " from " + r.Job.Vantage + ": " + verdictDetail(rep)
	if rep.Summary != "" {
		m.Blocks = append(m.Blocks, Block{Kind: BlockText, Text: rep.Summary})
	}
	m.Blocks = append(m.Blocks, Block{Kind: BlockCode, Title: "Probes", Text: probeLines(r)})
	if tr := traceLines(rep); tr != "" {
		m.Blocks = append(m.Blocks, Block{Kind: BlockCode, Title: "Trace to port " + strconv.Itoa(rep.Port), Text: tr})
	}
	if r.Error != "" {
		m.Blocks = append(m.Blocks, Block{Kind: BlockText, Title: "Incomplete", Text: "A probe failed: " + r.Error})
	}
	m.Blocks = append(m.Blocks, hintBlocks(rep.Hints)...)
	return m
}

func probeLines(r wire.Result) string {
	rep := r.Report
	var b strings.Builder
	line := func(name, format string, a ...any) {
		fmt.Fprintf(&b, "%-8s %s\n", name, fmt.Sprintf(format, a...))
	}
	if len(rep.Addresses) > 0 && rep.Host != "" && rep.Host != rep.Address {
		line("dns", "%s → %s", rep.Host, strings.Join(rep.Addresses, ", "))
	} else if rep.Verdict == checks.VerdictDNSError {
		line("dns", "%s: no address", rep.Host)
	}
	if c := rep.Connect; c != nil {
		s := string(c.Reason)
		if c.ICMP != nil {
			s += fmt.Sprintf(" (ICMP type %d code %d from %s)", c.ICMP.Type, c.ICMP.Code, c.ICMP.From)
		} else if c.ReportedBy != "" && c.ReportedBy != c.Address {
			s += " from " + c.ReportedBy
		}
		if c.RTTMS > 0 {
			s += fmt.Sprintf(" in %.1fms", c.RTTMS)
		}
		if c.Error != "" {
			s += ": " + c.Error
		}
		line("connect", "%s → %s", joinHostPort(c.Address, rep.Port), s)
	} else if rep.Reason != "" {
		addr := rep.Address
		if addr == "" {
			addr = rep.Host
		}
		line("connect", "%s → %s", joinHostPort(addr, rep.Port), rep.Reason)
	}
	for _, o := range rep.Others {
		line("", "%s → %s", joinHostPort(o.Address, rep.Port), o.Reason)
	}
	if p := rep.Ping; p != nil {
		switch {
		case p.Error != "":
			line("ping", "not run: %s", p.Error)
		case p.Received > 0:
			line("ping", "%d/%d replies, %.1fms", p.Received, p.Sent, p.RTTMS)
		default:
			line("ping", "0/%d replies (ICMP may be filtered; not proof the host is down)", p.Sent)
		}
	}
	if s := rep.Service; s != nil {
		// "ftp: 220 ..." when the protocol is known, the bare banner when
		// not; a refusal's detail usually quotes the banner already, so the
		// banner is not said twice.
		desc := s.Name
		if s.Banner != "" && !(s.Refused && strings.Contains(s.Detail, s.Banner)) {
			if desc != "" {
				desc += ": "
			}
			desc += s.Banner
		}
		if s.Refused {
			if desc != "" {
				desc += " — "
			}
			desc += "refused: " + s.Detail
		}
		if s.TLS != nil && s.TLS.Error == "" {
			desc += fmt.Sprintf(" (TLS %s, cert %s, %d days left)", s.TLS.Version, s.TLS.Subject, s.TLS.DaysLeft)
		}
		if desc = strings.TrimSpace(desc); desc != "" {
			line("service", "%s", desc)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func joinHostPort(h string, p int) string { return net.JoinHostPort(h, strconv.Itoa(p)) }

// traceLines renders the trace compactly; the last hop that answered is
// marked when the destination never did.
func traceLines(rep checks.Report) string {
	if len(rep.Trace) == 0 {
		return ""
	}
	stop := -1
	if rep.LastHop != nil {
		stop = rep.LastHop.TTL
	} else if last := (&checks.Trace{Hops: rep.Trace}).LastAnswered(); last != nil && rep.Verdict != checks.VerdictOpen {
		stop = last.TTL
	}
	var b strings.Builder
	for _, h := range rep.Trace {
		addr, rtt := h.Address, ""
		if addr == "" {
			addr = "*"
		} else if h.RTTMS > 0 {
			rtt = fmt.Sprintf("%.1fms", h.RTTMS)
		}
		s := fmt.Sprintf("%2d  %-39s %8s  %s", h.TTL, addr, rtt, h.ICMP)
		if note := h.Note(); note != "" {
			s = fmt.Sprintf("%2d  *  %s", h.TTL, note)
		}
		s = strings.TrimRight(s, " ")
		if h.TTL == stop && rep.Verdict != checks.VerdictOpen && rep.Verdict != checks.VerdictInconclusive {
			s += "   ◀ packets stop here"
		}
		b.WriteString(s + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func hintBlocks(hs []checks.Hint) []Block {
	var out []Block
	for i, h := range hs {
		title := "Try"
		if len(hs) > 1 {
			title = fmt.Sprintf("Try (%d/%d)", i+1, len(hs))
		}
		out = append(out, Block{Kind: BlockText, Title: title, Text: h.Text})
		if len(h.Commands) > 0 {
			out = append(out, Block{Kind: BlockCode, Text: strings.Join(h.Commands, "\n")})
		}
	}
	return out
}

// GroupedMessage is the single thread reply for a run too big for one reply
// per port: every outcome with its ports, and one example's hints per outcome.
func GroupedMessage(rs []wire.Result) Message {
	gs := groupResults(rs)
	m := Message{Status: ParentMessage(rs).Status, Text: fmt.Sprintf("%d ports checked from %s", len(rs), vantagesOf(rs))}
	var b strings.Builder
	for _, g := range gs {
		fmt.Fprintf(&b, "%s %-40s %s\n", Mark(g.status), g.label, g.ports(multiHost(rs), multiVantage(rs)))
	}
	m.Blocks = append(m.Blocks, Block{Kind: BlockCode, Title: "Outcomes", Text: strings.TrimRight(b.String(), "\n")})
	seen := map[string]bool{}
	for _, g := range gs {
		if g.status == StatusOK {
			continue
		}
		ex := g.rs[0]
		if ex.Error != "" && ex.Report.Verdict == "" {
			m.Blocks = append(m.Blocks, Block{Kind: BlockCode, Title: "Failed, e.g. " + ex.Job.HostPort(), Text: ex.Error})
			continue
		}
		title := g.label + ", e.g. " + ex.Job.HostPort()
		for _, h := range ex.Report.Hints {
			if seen[h.Text] {
				continue
			}
			seen[h.Text] = true
			m.Blocks = append(m.Blocks, Block{Kind: BlockText, Title: title, Text: h.Text})
			title = "" // once per outcome
			if len(h.Commands) > 0 {
				m.Blocks = append(m.Blocks, Block{Kind: BlockCode, Text: strings.Join(h.Commands, "\n")})
			}
		}
	}
	return m
}

// change is one port whose outcome differs between two runs.
type change struct {
	job      wire.Job
	from, to wire.Result
}

// ChangeMessage says what changed since the previous run (again, watch).
func changeMessage(changes []change, unchanged []wire.Result, since time.Time, at time.Time) Message {
	if len(changes) == 0 {
		m := Message{Status: StatusInfo, Text: "no change since " + since.Format("15:04")}
		if len(unchanged) == 1 {
			m.Text += ": " + unchanged[0].Job.HostPort() + " still " + VerdictWords(unchanged[0].Report.Verdict)
		}
		return m
	}
	var lines []string
	status := StatusOK
	for _, c := range changes {
		if resultStatus(c.to) != StatusOK {
			status = resultStatus(c.to)
		}
		lines = append(lines, fmt.Sprintf("%s now %s (was %s)", c.job.HostPort(), outcomeWords(c.to), outcomeWords(c.from)))
	}
	m := Message{Status: status}
	if len(changes) == 1 {
		m.Text = fmt.Sprintf("%s now %s — first seen %s", changes[0].job.HostPort(), outcomeWords(changes[0].to), at.Format("15:04"))
		m.Blocks = []Block{{Kind: BlockText, Text: "was " + outcomeWords(changes[0].from)}}
		return m
	}
	m.Text = fmt.Sprintf("%d ports changed — first seen %s", len(changes), at.Format("15:04"))
	m.Blocks = []Block{{Kind: BlockCode, Title: "Changes", Text: strings.Join(lines, "\n")}}
	return m
}

func outcomeWords(r wire.Result) string {
	if r.Error != "" && r.Report.Verdict == "" {
		return "failing (" + firstLine(r.Error) + ")"
	}
	return VerdictWords(r.Report.Verdict)
}

// InputErrorMessage is the ephemeral correction for bad input.
func InputErrorMessage(e *InputError) Message {
	m := Message{Status: StatusInfo, Text: e.Msg}
	if e.Example != "" {
		m.Blocks = []Block{{Kind: BlockCode, Title: "For example", Text: "/portcheck " + e.Example}}
	}
	return m
}

// HelpMessage is the ephemeral usage text; maxPorts is the most ports one
// command may check (policy.max_ports), which the range line states.
func HelpMessage(vantage string, maxPorts int) Message {
	rng := fmt.Sprintf("%-36s a range (up to %d ports)", fmt.Sprintf("/portcheck web01:8000-%d", 8000+min(maxPorts, 101)-1), maxPorts)
	return Message{Status: StatusInfo, Text: "portcheck answers “why can't I reach this port?”", Blocks: []Block{
		{Kind: BlockCode, Title: "Check", Text: strings.Join([]string{
			"/portcheck web01:443                 one port",
			"/portcheck web01:22,80,443           several ports",
			rng,
			"/portcheck https://web01/            a URL",
			"/portcheck web01:443 db1:5432        several targets",
			"/portcheck web01:443 from office     from another vantage (or from all)",
		}, "\n")},
		{Kind: BlockCode, Title: "Follow up", Text: strings.Join([]string{
			"/portcheck watch web01:443 every 30s for 1h   tell me when it changes",
			"/portcheck stop                               end the watch (in its thread)",
			"/portcheck again                              re-check (in a thread)",
			"/portcheck history [web01]                    this channel's recent checks",
			"/portcheck vantages                           where checks can run from",
		}, "\n")},
		{Kind: BlockText, Text: "The answer arrives in a thread: the verdict on top, the evidence and the commands to try inside. Checks run from " + vantage + " unless you say otherwise."},
		{Kind: BlockText, Text: "In a Slack thread, where slash commands do not run, mention the bot instead: @portcheck again, @portcheck stop (that thread's watch only), or @portcheck web01:443 in a channel for a thread on your message. A watch's Stop button ends that watch."},
	}}
}

// HistoryMessage lists a channel's recent results, newest first.
func HistoryMessage(records []audit.Record, query string) Message {
	return historyMessage(records, "Recent checks in this channel", query, false)
}

// historyMessage renders history rows; withChannel adds each row's chat and
// channel (the admins' view across channels).
func historyMessage(records []audit.Record, title, query string, withChannel bool) Message {
	if query != "" {
		title += " for " + query
	}
	if len(records) == 0 {
		return Message{Status: StatusInfo, Text: title + ": none yet"}
	}
	var b strings.Builder
	for i := len(records) - 1; i >= 0; i-- {
		r := records[i]
		v := VerdictWords(checks.Verdict(r.Verdict))
		if r.Verdict == "" && r.Why != "" {
			v = "failed: " + firstLine(r.Why)
		}
		fmt.Fprintf(&b, "%s  ", r.At.Format("01-02 15:04"))
		if withChannel {
			fmt.Fprintf(&b, "%-20s ", r.Chat+"/"+r.Channel)
		}
		fmt.Fprintf(&b, "%-12s %-24s %s\n", r.User, r.Target, v)
	}
	return Message{Status: StatusInfo, Text: title, Blocks: []Block{{Kind: BlockCode, Text: strings.TrimRight(b.String(), "\n")}}}
}
