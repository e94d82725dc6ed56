package bot

import (
	"strings"
	"testing"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

// Every verdict checks knows has a look of its own, and one it does not
// know (or "inconclusive") is neutral, never a problem.
func TestMarksAreTotal(t *testing.T) {
	for _, v := range []checks.Verdict{checks.VerdictOpen, checks.VerdictServiceRefused, checks.VerdictClosed,
		checks.VerdictRejectedByHost, checks.VerdictRejectedInPath, checks.VerdictFilteredAtHost,
		checks.VerdictFilteredInPath, checks.VerdictHostUnreachable, checks.VerdictNetworkUnreachable, checks.VerdictDNSError} {
		if _, ok := looks[v]; !ok {
			t.Errorf("%s has no look", v)
		}
	}
	for _, s := range []Status{StatusRunning, StatusOK, StatusProblem, StatusError, StatusInfo, StatusUnknown} {
		if marks[s] == "" {
			t.Errorf("status %s has no mark", s)
		}
	}
	for _, v := range []checks.Verdict{"inconclusive", "something_new"} {
		if VerdictStatus(v) != StatusUnknown || Glyph(v) != "?" {
			t.Errorf("%s: status %s glyph %s, want unknown and ?", v, VerdictStatus(v), Glyph(v))
		}
	}
	if Mark("something else") != "⚪" || Mark("") != "" {
		t.Errorf("Mark of an unknown status %q, of none %q", Mark("something else"), Mark(""))
	}
}

// The headline and the body of a run show the same mark for a verdict.
func TestSameMarkInHeadlineAndBody(t *testing.T) {
	rs := []wire.Result{
		{Job: wire.Job{ID: "1", Host: "web01", Port: 443, Vantage: "local"}, Report: checks.Report{Verdict: "inconclusive"}},
		{Job: wire.Job{ID: "2", Host: "web01", Port: 443, Vantage: "office"}, Report: checks.Report{Verdict: "inconclusive"}},
	}
	parent := ParentMessage(rs[:1])
	if parent.Status != StatusUnknown || !strings.HasPrefix(RenderText(parent), "⚪ ") {
		t.Errorf("parent %s: %q", parent.Status, RenderText(parent))
	}
	grouped := RenderText(GroupedMessage(rs))
	if !strings.Contains(grouped, "│ ⚪ inconclusive") {
		t.Errorf("grouped body:\n%s", grouped)
	}
}
