package bot

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

// The differential diagnosis compares what several vantages saw of one
// target port. Each vantage alone can only say "filtered"; side by side
// they say where: open from inside but silent from outside is the
// perimeter, silent from one vantage only is that vantage's egress, refused
// from everywhere is the service. It is a pure function of the results so
// the rules are table-tested without a network.

// DiffKind names the merged verdict's finding; the codes are stable (tests,
// and possibly the audit trail later).
type DiffKind string

const (
	DiffOpen       DiffKind = "open"       // open from every vantage
	DiffPerimeter  DiffKind = "perimeter"  // open from some, not from others: a firewall/security group/port forward in between
	DiffEgress     DiffKind = "egress"     // one vantage's own network blocks the port
	DiffService    DiffKind = "service"    // refused (closed) from everywhere: nothing listens
	DiffSame       DiffKind = "same"       // the same non-open verdict everywhere
	DiffMixed      DiffKind = "mixed"      // not open anywhere, for different reasons
	DiffIncomplete DiffKind = "incomplete" // too few vantages answered to compare
	DiffSplitView  DiffKind = "split_view" // open from some; the others reached other addresses
)

// VantageRow is one vantage's outcome in a differential.
type VantageRow struct {
	Vantage string
	Result  wire.Result
}

// Differential is the merged verdict over every vantage for one target port.
type Differential struct {
	Target  string // host:port
	Rows    []VantageRow
	Kind    DiffKind
	Status  Status
	Verdict string   // one line: what only the comparison shows
	Blame   []string // the vantages the verdict is about (the ones blocked, the one whose egress fails)
	Hint    string   // what to do about it
}

// rowClass sorts one vantage's outcome for comparison.
type rowClass int

const (
	classFailed  rowClass = iota // the check itself failed
	classOpen                    // reached and accepted (service_refused too: the network let it through)
	classClosed                  // the target host answered no: RST, or its own ICMP reject
	classBlocked                 // silence, or a reject/unreachable from the path
	classEgress                  // blocked, and the egress self-check says this vantage blocks the port outbound
	classDNS                     // the name does not resolve here
)

func classify(r wire.Result) rowClass {
	if r.Error != "" && r.Report.Verdict == "" {
		return classFailed
	}
	switch r.Report.Verdict {
	case checks.VerdictOpen, checks.VerdictServiceRefused:
		return classOpen
	case checks.VerdictClosed, checks.VerdictRejectedByHost:
		return classClosed
	case checks.VerdictDNSError:
		return classDNS
	case "":
		return classFailed
	}
	if r.Report.Egress.Blocked() {
		return classEgress
	}
	return classBlocked
}

// Differentials merges a run's results per target port, for the target
// ports checked from more than one vantage, in the order first seen.
func Differentials(rs []wire.Result) []Differential {
	var order []string
	by := map[string][]wire.Result{}
	for _, r := range rs {
		k := r.Job.HostPort()
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		by[k] = append(by[k], r)
	}
	var out []Differential
	for _, k := range order {
		if vs := distinctVantages(by[k]); len(vs) > 1 {
			out = append(out, Differentiate(k, by[k]))
		}
	}
	return out
}

func distinctVantages(rs []wire.Result) []string {
	var vs []string
	for _, r := range rs {
		if !slices.Contains(vs, r.Job.Vantage) {
			vs = append(vs, r.Job.Vantage)
		}
	}
	return vs
}

// Differentiate is the merged verdict for one target port over the results
// of several vantages (one each).
func Differentiate(target string, rs []wire.Result) Differential {
	d := Differential{Target: target}
	classes := map[rowClass][]string{}
	for _, r := range rs {
		d.Rows = append(d.Rows, VantageRow{Vantage: r.Job.Vantage, Result: r})
		c := classify(r)
		classes[c] = append(classes[c], r.Job.Vantage)
	}
	open, closed, blocked, egress := classes[classOpen], classes[classClosed], classes[classBlocked], classes[classEgress]
	failed, dns := classes[classFailed], classes[classDNS]
	usable := len(rs) - len(failed)
	port := portOf(target)
	d.Status = StatusProblem

	// Vantages whose own network is proven to block the port say nothing
	// about the target: name them first, compare the rest.
	egressNote := ""
	if len(egress) > 0 {
		egressNote = list(egress) + "'s own network blocks outbound port " + port + " (the control target is unreachable too)"
	}
	compared := usable - len(egress)
	notOpen := append(append(append([]string(nil), closed...), blocked...), dns...)

	switch {
	case usable == 0:
		d.Kind, d.Status = DiffIncomplete, StatusError
		d.Verdict = "no vantage could check it (" + list(failed) + " failed)"
	case compared == 0:
		d.Kind, d.Blame = DiffEgress, egress
		d.Verdict = egressNote + " — the target was not tested from anywhere else"
		d.Hint = "Allow outbound TCP " + port + " from " + list(egress) + " (egress firewall, proxy, security group outbound rules), or check from another vantage."
	case len(open) == compared && len(egress) == 0:
		d.Kind, d.Status = DiffOpen, StatusOK
		d.Verdict = "open from every vantage (" + list(open) + ")"
	case len(open) > 0 && len(notOpen) > 0:
		d.Blame = notOpen
		otherAddrs := differentAddresses(rs, open, notOpen)
		switch {
		case otherAddrs != "":
			d.Kind = DiffSplitView
			d.Verdict = "open from " + list(open) + " but " + outcomes(rs, notOpen) + " — they reached different addresses (" + otherAddrs + ")"
			d.Hint = "The name resolves differently per vantage (split DNS, GeoDNS, different backends): check the record each vantage gets and the host behind each address."
		case len(blocked) == 1 && len(closed) == 0 && len(dns) == 0 && len(open) >= 2 && !egressPasses(rs, blocked[0]):
			d.Kind = DiffEgress
			d.Verdict = outcomes(rs, blocked) + " only (open from " + list(open) + ") → " + blocked[0] +
				"'s own egress (outbound firewall, proxy or its security group) likely blocks port " + port
			d.Hint = "Set PORTCHECK_CONTROL_TARGET on the " + blocked[0] + " worker to a host known to be open on " + port +
				" to confirm, then allow outbound TCP " + port + " there."
		default:
			d.Kind = DiffPerimeter
			d.Verdict = "open from " + list(open) + " but " + outcomes(rs, notOpen) +
				" → a perimeter firewall, security group or missing port forward blocks " + list(notOpen)
			if len(blocked) > 0 && allEgressPass(rs, blocked) {
				d.Verdict += " (their own egress is fine: the control target answers)"
			}
			d.Hint = "Open TCP " + port + " for " + list(notOpen) + " where the paths differ: the security group / network ACL, " +
				"the edge firewall, or the NAT port forward to the host."
		}
	case len(open) > 0: // the others are egress-blocked
		d.Kind, d.Blame = DiffEgress, egress
		d.Verdict = "open from " + list(open) + "; " + egressNote
		d.Hint = "The target is fine. Allow outbound TCP " + port + " from " + list(egress) + "."
	case len(closed) == compared && allVerdict(rs, closed, checks.VerdictClosed):
		d.Kind, d.Blame = DiffService, closed
		d.Verdict = "refused (closed) from every vantage (" + list(closed) + ") → the service: nothing listens on port " + port
		d.Hint = "Start the service or fix its listen address (ss -ltnp | grep :" + port + " on the host); the network is not the problem."
	case sameVerdict(rs, notOpen):
		d.Kind, d.Blame = DiffSame, notOpen
		d.Verdict = VerdictWords(verdictOf(rs, notOpen[0])) + " from every vantage (" + list(notOpen) + ")"
		if len(blocked) > 0 && allEgressPass(rs, blocked) {
			d.Verdict += "; the vantages' own egress is fine, so it is the target's side"
		}
	default:
		d.Kind, d.Blame = DiffMixed, notOpen
		d.Verdict = "not open from any vantage: " + outcomes(rs, notOpen)
		if len(closed) > 0 {
			d.Verdict += " → " + list(closed) + " reached the host and nothing listens: start with the service"
		}
	}
	if egressNote != "" && d.Kind != DiffEgress {
		d.Verdict += "; " + egressNote
		d.Blame = append(d.Blame, egress...)
	}
	if len(failed) > 0 && usable > 0 {
		d.Verdict += " (" + list(failed) + ": the check failed)"
	}
	return d
}

func portOf(target string) string {
	if i := strings.LastIndexByte(target, ':'); i >= 0 {
		return target[i+1:]
	}
	return target
}

func list(vs []string) string {
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return vs[0]
	}
	return strings.Join(vs[:len(vs)-1], ", ") + " and " + vs[len(vs)-1]
}

func resultOf(rs []wire.Result, vantage string) wire.Result {
	for _, r := range rs {
		if r.Job.Vantage == vantage {
			return r
		}
	}
	return wire.Result{}
}

func verdictOf(rs []wire.Result, vantage string) checks.Verdict {
	return resultOf(rs, vantage).Report.Verdict
}

// outcomes says what each vantage saw, grouping vantages with the same
// verdict: "filtered at host (firewall DROP) from internet and vpn".
func outcomes(rs []wire.Result, vantages []string) string {
	var order []checks.Verdict
	by := map[checks.Verdict][]string{}
	for _, v := range vantages {
		vd := verdictOf(rs, v)
		if _, ok := by[vd]; !ok {
			order = append(order, vd)
		}
		by[vd] = append(by[vd], v)
	}
	parts := make([]string, 0, len(order))
	for _, vd := range order {
		parts = append(parts, VerdictWords(vd)+" from "+list(by[vd]))
	}
	return strings.Join(parts, ", ")
}

func sameVerdict(rs []wire.Result, vantages []string) bool {
	for _, v := range vantages {
		if verdictOf(rs, v) != verdictOf(rs, vantages[0]) {
			return false
		}
	}
	return len(vantages) > 0
}

func allVerdict(rs []wire.Result, vantages []string, want checks.Verdict) bool {
	for _, v := range vantages {
		if verdictOf(rs, v) != want {
			return false
		}
	}
	return true
}

func egressPasses(rs []wire.Result, vantage string) bool {
	return resultOf(rs, vantage).Report.Egress.Passes()
}

func allEgressPass(rs []wire.Result, vantages []string) bool {
	for _, v := range vantages {
		if !egressPasses(rs, v) {
			return false
		}
	}
	return len(vantages) > 0
}

// differentAddresses returns "office: 10.0.0.5, internet: 203.0.113.5"
// when the vantages that got in reached none of the addresses the others
// tried: then the comparison is between two different hosts.
func differentAddresses(rs []wire.Result, open, notOpen []string) string {
	seen := map[string]bool{}
	for _, v := range open {
		a := resultOf(rs, v).Report.Address
		if a == "" {
			return ""
		}
		seen[a] = true
	}
	for _, v := range notOpen {
		a := resultOf(rs, v).Report.Address
		if a == "" || seen[a] {
			return ""
		}
	}
	var parts []string
	for _, v := range append(append([]string(nil), open...), notOpen...) {
		parts = append(parts, v+": "+resultOf(rs, v).Report.Address)
	}
	return strings.Join(parts, ", ")
}

// DifferentialMessage is the thread reply comparing the vantages: a row per
// vantage, then the merged verdict and what to do.
func DifferentialMessage(ds []Differential) Message {
	m := Message{Status: StatusOK}
	var heads []string
	for _, d := range ds {
		m.Status = worse(m.Status, d.Status)
		heads = append(heads, d.Target)
		m.Blocks = append(m.Blocks, Block{Kind: BlockCode, Title: d.Target + " from each vantage", Text: vantageRows(d)})
		m.Blocks = append(m.Blocks, Block{Kind: BlockText, Title: "Compared", Text: d.Verdict})
		if d.Hint != "" {
			m.Blocks = append(m.Blocks, Block{Kind: BlockText, Title: "What to do", Text: d.Hint})
		}
	}
	// The parent carries the merged verdict already: the reply's headline
	// only says what it compares.
	m.Text = "compared from " + strconv.Itoa(len(ds[0].Rows)) + " vantages: " + strings.Join(heads, ", ")
	return m
}

// DifferentialParent is the thread parent's one line once every vantage
// answered: the merged verdict(s).
func DifferentialParent(ds []Differential, rs []wire.Result) Message {
	m := Message{Status: StatusOK, Buttons: []Button{againButton}}
	var heads []string
	for _, d := range ds {
		m.Status = worse(m.Status, d.Status)
		heads = append(heads, d.Target+" — "+d.Verdict)
	}
	m.Text = strings.Join(heads, " · ")
	m.Fields = []Field{{Name: "target", Value: targetsOf(rs)}, {Name: "vantage", Value: vantagesOf(rs)}, {Name: "elapsed", Value: Elapsed(maxElapsed(rs))}}
	return m
}

func worse(a, b Status) Status {
	rank := map[Status]int{StatusOK: 0, StatusInfo: 0, StatusUnknown: 1, StatusError: 2, StatusProblem: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// vantageRows aligns one line per vantage: verdict, address, time, egress.
func vantageRows(d Differential) string {
	w := 0
	for _, r := range d.Rows {
		w = max(w, len(r.Vantage))
	}
	rows := append([]VantageRow(nil), d.Rows...)
	sort.SliceStable(rows, func(i, j int) bool { return classify(rows[i].Result) < classify(rows[j].Result) })
	var b strings.Builder
	for _, r := range rows {
		res := r.Result
		b.WriteString(Mark(resultStatus(res)) + " " + r.Vantage + strings.Repeat(" ", w-len(r.Vantage)) + "  ")
		if res.Error != "" && res.Report.Verdict == "" {
			b.WriteString("check failed: " + firstLine(res.Error) + "\n")
			continue
		}
		parts := []string{verdictDetail(res.Report)}
		if res.Report.Address != "" {
			parts = append(parts, res.Report.Address)
		}
		parts = append(parts, Elapsed(res.Report.ElapsedMS))
		if e := res.Report.Egress; e != nil {
			switch {
			case e.Blocked():
				parts = append(parts, "egress blocked (control "+joinHostPort(e.Control, e.Port)+" "+VerdictWords(e.Verdict)+")")
			case e.Passes():
				parts = append(parts, "egress ok (control "+joinHostPort(e.Control, e.Port)+" "+VerdictWords(e.Verdict)+")")
			default:
				parts = append(parts, "egress unknown (control "+VerdictWords(e.Verdict)+")")
			}
		}
		b.WriteString(strings.Join(parts, " · ") + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// mergeVantages turns a finished run's parent into the merged verdict when
// some target port was checked from several vantages, and returns the
// comparison reply (nil otherwise). Past DetailPorts target ports the
// grouped parent stays: a headline of many merged verdicts reads worse.
func (b *Bot) mergeVantages(rs []wire.Result, parent Message) (Message, *Message) {
	ds := Differentials(rs)
	if len(ds) == 0 || len(ds) > b.lim.DetailPorts {
		return parent, nil
	}
	m := DifferentialMessage(ds)
	return DifferentialParent(ds, rs), &m
}
