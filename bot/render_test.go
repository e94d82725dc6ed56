package bot

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/checks"
	goldenpkg "github.com/portcheck/portcheck/internal/golden"
	"github.com/portcheck/portcheck/wire"
)

func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenpkg.Check(t, filepath.Join("render", name+".golden"), []byte(got))
}

func job(host string, port int) wire.Job {
	return wire.Job{ID: "r1.1", CommandID: "r1", Target: host + ":" + itoa(port), Host: host, Port: port, Vantage: "local"}
}

func itoa(n int) string { return strconv.Itoa(n) }

var filtered = wire.Result{Job: job("web01", 443), Report: checks.Report{
	Target: "web01:443", Host: "web01", Port: 443, Address: "198.18.3.10", Addresses: []string{"198.18.3.10"},
	Verdict: checks.VerdictFilteredAtHost, Reason: checks.ReasonNoResponse,
	Connect: &checks.ConnectResult{Address: "198.18.3.10", Reason: checks.ReasonNoResponse},
	Ping:    &checks.PingResult{Sent: 3, Received: 3, RTTMS: 0.42},
	LastHop: &checks.Hop{TTL: 2, Address: "198.18.2.1", RTTMS: 0.3, ICMP: "time-exceeded"},
	Trace: []checks.Hop{
		{TTL: 1, Address: "10.0.0.1", RTTMS: 0.21, ICMP: "time-exceeded"},
		{TTL: 2, Address: "198.18.2.1", RTTMS: 0.3, ICMP: "time-exceeded"},
		{TTL: 3}, {TTL: 4},
	},
	Summary: "The host answers ping but nothing comes back from port 443: a firewall on the host drops the SYN.",
	Hints: []checks.Hint{
		{Text: "Look for a DROP rule for port 443 on web01.", Commands: []string{"sudo nft list ruleset | grep -n 443", "sudo iptables -S INPUT | grep 443"}},
		{Text: "If the rule is intended, ask for an exception."},
	},
	ElapsedMS: 1234, Vantage: "local",
}}

var open = wire.Result{Job: job("web01", 22), Report: checks.Report{
	Target: "web01:22", Host: "web01", Port: 22, Address: "198.18.3.10", Addresses: []string{"198.18.3.10", "2001:db8::10"},
	Verdict: checks.VerdictOpen, Reason: checks.ReasonSynAck, ReportedBy: "198.18.3.10",
	Connect: &checks.ConnectResult{Address: "198.18.3.10", Reason: checks.ReasonSynAck, RTTMS: 0.8, ReportedBy: "198.18.3.10"},
	Others:  []checks.ConnectResult{{Address: "2001:db8::10", Reason: checks.ReasonICMPNetUnreachable}},
	Service: &checks.Service{Name: "ssh", Banner: "SSH-2.0-OpenSSH_9.2p1 Debian-2"},
	Summary: "SSH answers.", ElapsedMS: 45,
}}

var rejected = wire.Result{Job: job("db1", 5432), Report: checks.Report{
	Target: "db1:5432", Host: "db1", Port: 5432, Address: "10.1.2.3", Addresses: []string{"10.1.2.3"},
	Verdict: checks.VerdictRejectedInPath, Reason: checks.ReasonICMPAdminProhibited, ReportedBy: "10.1.0.1",
	Connect:   &checks.ConnectResult{Address: "10.1.2.3", Reason: checks.ReasonICMPAdminProhibited, ICMP: &checks.ICMP{Type: 3, Code: 13, From: "10.1.0.1"}},
	ElapsedMS: 3, Hints: []checks.Hint{{Text: "A router refuses the connection.", Commands: []string{"traceroute -T -p 5432 db1"}}},
}}

var open443 = func() wire.Result { r := open; r.Job = job("web01", 443); r.Report.Port = 443; return r }()

func withVantage(r wire.Result, v string) wire.Result { r.Job.Vantage = v; return r }

// inconclusive is a silent port whose router before the host is out of
// ICMP tokens: the path questions could not place the drop.
var inconclusive = wire.Result{Job: job("web01", 7005), Report: checks.Report{
	Target: "web01:7005", Host: "web01", Port: 7005, Address: "198.18.3.10", Addresses: []string{"198.18.3.10"},
	Verdict: checks.VerdictInconclusive, Reason: checks.ReasonNoResponse, Confidence: checks.ConfidenceLow,
	Likely:  []checks.Verdict{checks.VerdictFilteredAtHost, checks.VerdictFilteredInPath},
	Connect: &checks.ConnectResult{Address: "198.18.3.10", Reason: checks.ReasonNoResponse},
	Ping:    &checks.PingResult{Sent: 3, Received: 3, RTTMS: 0.42},
	LastHop: &checks.Hop{TTL: 1, Address: "198.18.1.1", RTTMS: 0.2, ICMP: "time-exceeded", Reach: checks.ReachYes, Asks: 1},
	Trace: []checks.Hop{
		{TTL: 1, Address: "198.18.1.1", RTTMS: 0.2, ICMP: "time-exceeded", Reach: checks.ReachYes, Asks: 1},
		{TTL: 2, Reach: checks.ReachUnknown, Asks: 4, Router: "198.18.2.2", RateLimited: true},
	},
	ControlTrace: &checks.Trace{Proto: "icmp", Hops: []checks.Hop{{TTL: 2, Asks: 3}}},
	Path:         &checks.PathEvidence{HostHops: 3, HostHopsBy: "the ping reply's TTL", SYNs: 4, Control: "ICMP echo"},
	Summary:      "No answer from 198.18.3.10:7005 to 4 SYNs, a second apart, and where it is dropped cannot be told.",
	Hints:        []checks.Hint{{Text: "Check again in a few seconds.", Commands: []string{"sleep 10; portcheck check --trace 198.18.3.10:7005"}}},
	ElapsedMS:    3500, Vantage: "local",
}}

var crashed = wire.Result{Job: job("web01", 443), Error: "the check crashed (boom); this is a portcheck bug, the log has the stack"}

func TestRenderGolden(t *testing.T) {
	var rangeResults []wire.Result
	for p := 1; p <= 100; p++ {
		r := wire.Result{Job: job("web01", p), Report: checks.Report{Verdict: checks.VerdictClosed, Reason: checks.ReasonReset,
			Hints: []checks.Hint{{Text: "Nothing listens there.", Commands: []string{"ss -ltn"}}}, ElapsedMS: int64(p)}}
		if p == 22 || p == 80 {
			r.Report.Verdict = checks.VerdictOpen
		}
		if p > 90 {
			r.Report.Verdict, r.Report.Hints = checks.VerdictFilteredAtHost, []checks.Hint{{Text: "Dropped by a firewall."}}
		}
		rangeResults = append(rangeResults, r)
	}
	at := time.Date(2026, 11, 24, 14, 2, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		m    Message
	}{
		{"running", RunningMessage([]checks.Target{{Input: "web01:443", Host: "web01", Ports: []int{443}}}, []string{"local"}, 0, 0)},
		{"parent-filtered", ParentMessage([]wire.Result{filtered})},
		{"evidence-filtered", EvidenceMessage(filtered)},
		{"evidence-open", EvidenceMessage(open)},
		{"evidence-rejected", EvidenceMessage(rejected)},
		{"evidence-crashed", EvidenceMessage(crashed)},
		{"evidence-inconclusive", EvidenceMessage(inconclusive)},
		{"parent-inconclusive", ParentMessage([]wire.Result{inconclusive})},
		{"parent-crashed", ParentMessage([]wire.Result{crashed})},
		{"parent-several", ParentMessage([]wire.Result{open, filtered, rejected})},
		{"parent-range", ParentMessage(rangeResults)},
		{"parent-vantages", ParentMessage([]wire.Result{filtered, withVantage(open443, "office"), withVantage(open443, "internet")})},
		{"grouped-range", GroupedMessage(rangeResults)},
		{"changed", changeMessage([]change{{job: filtered.Job, from: filtered, to: open}}, nil, at, at)},
		{"help", HelpMessage("local", 64)},
		{"history", HistoryMessage([]audit.Record{
			{At: at, User: "alice", Target: "web01:443", Verdict: "filtered_at_host"},
			{At: at.Add(time.Minute), User: "bob", Target: "web01:443", Why: "timed out after 1m0s"},
		}, "web01")},
		{"input-error", InputErrorMessage(&InputError{Msg: "web01: missing port", Example: "web01:443"})},
	} {
		t.Run(tc.name, func(t *testing.T) { golden(t, tc.name, RenderText(tc.m)) })
	}
}

func TestCompactPorts(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{[]int{443}, "443"},
		{[]int{80, 22, 81, 82, 443}, "22, 80-82, 443"},
		{[]int{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27}, "1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23 +2 more"},
	} {
		if got := compactPorts(tc.in); got != tc.want {
			t.Errorf("compactPorts(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestElapsed(t *testing.T) {
	for ms, want := range map[int64]string{0: "0ms", 999: "999ms", 1234: "1.2s", 59_999: "60.0s", 125_000: "2m5s"} {
		if got := Elapsed(ms); got != want {
			t.Errorf("Elapsed(%d) = %q, want %q", ms, got, want)
		}
	}
}

func TestPortRanges(t *testing.T) {
	if got := strings.Join(PortRanges([]int{8, 1, 2, 3, 5, 7}), ","); got != "1-3,5,7-8" {
		t.Errorf("PortRanges = %q", got)
	}
}
