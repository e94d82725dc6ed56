package bot

import (
	"strings"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

// This file is the one table from a verdict to how it looks: the status
// its messages carry, the words, and the terminal's one-character glyph;
// and from a status to its mark. Every renderer (the text layout, Slack,
// Discord, the CLI table) takes its marks from here, so a verdict looks
// the same in a headline and in a body, on every platform. The tables are
// total: a verdict missing from them (one added to checks later) gets the
// neutral look of StatusUnknown rather than being called a problem.

// look is how one verdict is shown.
type look struct {
	status Status
	words  string // as a person would say it
	glyph  string // the CLI table's marker
}

// verdictLooks is the table, from good to bad: Verdicts lists it in this
// order (the CLI footer, the metrics preset at zero).
var verdictLooks = []struct {
	v checks.Verdict
	look
}{
	{checks.VerdictOpen, look{StatusOK, "open", "✓"}},
	{checks.VerdictServiceRefused, look{StatusProblem, "accepted, then refused by the service", "!"}},
	{checks.VerdictClosed, look{StatusProblem, "closed (nothing listening)", "✗"}},
	{checks.VerdictRejectedByHost, look{StatusProblem, "rejected at host (firewall REJECT)", "✗"}},
	{checks.VerdictFilteredAtHost, look{StatusProblem, "filtered at host (firewall DROP)", "✗"}},
	{checks.VerdictRejectedInPath, look{StatusProblem, "rejected in path", "✗"}},
	{checks.VerdictFilteredInPath, look{StatusProblem, "filtered in path", "✗"}},
	{checks.VerdictHostUnreachable, look{StatusProblem, "host unreachable", "✗"}},
	{checks.VerdictNetworkUnreachable, look{StatusProblem, "network unreachable", "✗"}},
	{checks.VerdictDNSError, look{StatusProblem, "name does not resolve", "✗"}},
	// The probes could not tell where the port is dropped.
	{checks.VerdictInconclusive, look{StatusUnknown, "inconclusive (no answer; where it is dropped cannot be told yet)", "?"}},
}

var looks = func() map[checks.Verdict]look {
	m := make(map[checks.Verdict]look, len(verdictLooks))
	for _, e := range verdictLooks {
		m[e.v] = e.look
	}
	return m
}()

// Verdicts is every verdict this build knows, from good to bad.
func Verdicts() []checks.Verdict {
	out := make([]checks.Verdict, len(verdictLooks))
	for i, e := range verdictLooks {
		out[i] = e.v
	}
	return out
}

// unknownLook is the look of a verdict the table does not know.
var unknownLook = look{status: StatusUnknown, glyph: "?"}

// marks is the one mark of each status, put before a headline and before a
// row in a body.
var marks = map[Status]string{
	StatusRunning: "⏳",
	StatusOK:      "🟢",
	StatusProblem: "🔴",
	StatusError:   "⚠️",
	StatusInfo:    "ℹ️",
	StatusUnknown: "⚪",
}

// Mark is the status marker every renderer puts before a headline (and the
// body before a row), so the same verdict looks the same in every chat.
// A message without a status has no mark; a status this build does not
// know gets the neutral one.
func Mark(s Status) string {
	if s == "" {
		return ""
	}
	if m, ok := marks[s]; ok {
		return m
	}
	return marks[StatusUnknown]
}

// VerdictStatus is the status a verdict's messages carry.
func VerdictStatus(v checks.Verdict) Status { return lookOf(v).status }

// Glyph is the one-character marker of a verdict in the CLI table.
func Glyph(v checks.Verdict) string { return lookOf(v).glyph }

// VerdictWords is the human phrase for a verdict code.
func VerdictWords(v checks.Verdict) string {
	if w := lookOf(v).words; w != "" {
		return w
	}
	if v == "" {
		return "no verdict"
	}
	return strings.ReplaceAll(string(v), "_", " ")
}

func lookOf(v checks.Verdict) look {
	if l, ok := looks[v]; ok {
		return l
	}
	return unknownLook
}

// resultStatus maps a result to the status its messages carry: a failed
// check (no verdict) is portcheck's error, a verdict its own status.
func resultStatus(r wire.Result) Status {
	if r.Report.Verdict == "" {
		return StatusError
	}
	return VerdictStatus(r.Report.Verdict)
}
