package checks_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/leaktest"
)

func hideAll(routers []string) func(string) bool {
	return func(s string) bool {
		for _, r := range routers {
			if s == r {
				return true
			}
		}
		return false
	}
}

// Every template that quotes a router is written again from the redacted
// evidence (not withheld, not blanked in the text): same verdict, a
// summary and hints that name no router, in no field of the report.
func TestRedactedWritesTextsFromEvidence(t *testing.T) {
	for _, p := range leaktest.Seeds() {
		c := leaktest.Build(p)
		before, _ := json.Marshal(c.Report)
		if len(c.Leaks(string(before))) == 0 {
			t.Fatalf("%s: the case names no router before redaction", c.Name)
		}
		texts := c.Report.Summary
		for _, h := range c.Report.Hints {
			texts += "\n" + h.Text + "\n" + strings.Join(h.Commands, "\n")
		}
		if c.Quotes && len(c.Leaks(texts)) == 0 {
			t.Fatalf("%s: the texts quote no router before redaction:\n%s", c.Name, texts)
		}
		r := checks.Redacted(c.Report, hideAll(c.Routers))
		after, _ := json.Marshal(r)
		if l := c.Leaks(string(after)); len(l) > 0 {
			t.Errorf("%s: %v left in the report:\n%s", c.Name, l, after)
		}
		if r.Verdict != c.Report.Verdict || r.Reason != c.Report.Reason {
			t.Errorf("%s: verdict %s/%s -> %s/%s", c.Name, c.Report.Verdict, c.Report.Reason, r.Verdict, r.Reason)
		}
		if strings.Contains(r.Summary, "withheld") {
			t.Errorf("%s: texts withheld, not written again from the evidence: %s", c.Name, r.Summary)
		}
		if c.Quotes && !strings.Contains(string(after), checks.Redaction) {
			t.Errorf("%s: no %q in the report", c.Name, checks.Redaction)
		}
	}
}

// Hiding nothing changes nothing; the target's own addresses are never
// hidden, even when asked to.
func TestRedactedKeepsTheTarget(t *testing.T) {
	c := leaktest.Build(leaktest.Params{Kind: 0})
	same := checks.Redacted(c.Report, func(string) bool { return false })
	a, _ := json.Marshal(c.Report)
	b, _ := json.Marshal(same)
	if string(a) != string(b) {
		t.Errorf("hiding nothing changed the report:\n%s\n%s", a, b)
	}
	r := checks.Redacted(c.Report, func(string) bool { return true })
	out, _ := json.Marshal(r)
	for _, own := range c.Report.Addresses {
		if !strings.Contains(string(out), own) {
			t.Errorf("the target's address %s was hidden:\n%s", own, out)
		}
	}
	if l := c.Leaks(string(out)); len(l) > 0 {
		t.Errorf("%v left:\n%s", l, out)
	}
}

// A report whose texts Diagnose did not write (its evidence gives another
// verdict) keeps them, except each that names a hidden router at all.
func TestRedactedWithholdsForeignTexts(t *testing.T) {
	r := checks.Report{
		Target: "www.example.com:80", Host: "www.example.com", Port: 80, Address: "93.184.215.14", Addresses: []string{"93.184.215.14"},
		Verdict: checks.VerdictFilteredInPath, Reason: checks.ReasonNoResponse,
		Trace:   []checks.Hop{{TTL: 1, Address: "10.0.0.1", ICMP: "time-exceeded"}, {TTL: 2}},
		Summary: "probes die after 10.0.0.1:80", // an old worker's wording
		Hints: []checks.Hint{
			{Text: "ask who runs 10.0.0.1", Commands: []string{"mtr 10.0.0.1"}},
			{Text: "compare the traces", Commands: []string{"ssh 10.0.0.1:22", "sudo traceroute -n -T -p 80 93.184.215.14"}},
			{Text: "Check from another network."},
		},
	}
	got := checks.Redacted(r, func(s string) bool { return s == "10.0.0.1" })
	out, _ := json.Marshal(got)
	if strings.Contains(string(out), "10.0.0.1") {
		t.Errorf("10.0.0.1 left:\n%s", out)
	}
	if got.Verdict != r.Verdict || !strings.Contains(got.Summary, "withheld") {
		t.Errorf("summary %q, verdict %s", got.Summary, got.Verdict)
	}
	if len(got.Hints) != 2 || got.Hints[0].Commands[0] != "sudo traceroute -n -T -p 80 93.184.215.14" || got.Hints[1].Text != "Check from another network." {
		t.Errorf("hints: %+v", got.Hints)
	}
}
