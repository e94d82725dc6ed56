package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/portcheck/portcheck/checks"
)

// stdJSONLine is what appendJSONLine must reproduce byte for byte.
func stdJSONLine(t testing.TB, r checks.Report) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// answeredReports are reports as a range makes them: the connect's answer
// diagnosed, with and without the host's ping, from the host and from a
// router, and with strings that need escaping.
func answeredReports() []checks.Report {
	conn := func(reason checks.Reason, by string, icmp *checks.ICMP) *checks.ConnectResult {
		return &checks.ConnectResult{Address: "198.18.3.10", Reason: reason, ICMP: icmp, ReportedBy: by, RTTMS: 0.013}
	}
	evs := []checks.Evidence{
		{Connect: conn(checks.ReasonReset, "198.18.3.10", nil)},
		{Connect: conn(checks.ReasonReset, "198.18.3.10", nil), Ping: &checks.PingResult{Sent: 2, Received: 2, RTTMS: 0.106, TTL: 62}},
		{Connect: conn(checks.ReasonICMPPortUnreachable, "198.18.3.10", &checks.ICMP{Type: 3, Code: 3, From: "198.18.3.10"})},
		{Connect: conn(checks.ReasonICMPAdminProhibited, "198.18.2.2", &checks.ICMP{Type: 3, Code: 13, From: "198.18.2.2"}),
			Ping: &checks.PingResult{Sent: 1, Error: "ping: \"denied\"\n"}},
		{Connect: &checks.ConnectResult{Address: "198.19.0.1", Reason: checks.ReasonNoRoute, Error: "connect: network is unreachable"}},
		{Connect: &checks.ConnectResult{Address: "198.18.3.10", Reason: checks.ReasonLocalError, Error: "socket: too many open files\t<&>"}},
		{Connect: &checks.ConnectResult{Address: "2001:db8:3::10", Reason: checks.ReasonReset, ReportedBy: "2001:db8:3::10", RTTMS: 1e-7, TTL: 64}},
		{Connect: conn(checks.ReasonICMPHostUnreachable, "198.18.2.2", &checks.ICMP{Type: 3, Code: 1, From: "198.18.2.2"})},
	}
	var out []checks.Report
	for i, ev := range evs {
		ev.Target, ev.Host, ev.Port = "web01:1-65535", "web01", 7000+i
		ev.Resolve = checks.ResolveResult{Addresses: []string{ev.Connect.Address}}
		d := checks.Diagnose(ev)
		r := checks.Report{Target: ev.Target, Host: ev.Host, Port: ev.Port, Address: ev.Connect.Address, Addresses: ev.Resolve.Addresses,
			Verdict: d.Verdict, Reason: d.Reason, ReportedBy: d.ReportedBy, LastHop: d.LastHop, Ping: ev.Ping, Trace: []checks.Hop{},
			Connect: ev.Connect, Summary: d.Summary, Hints: d.Hints, Confidence: d.Confidence, ElapsedMS: int64(i)}
		out = append(out, r)
	}
	odd := out[0]
	odd.Target, odd.Host = "wé\u2028b\u2029\x01\x1f\x7f\xff\"\\\b\f\r/", "h\u00e9"
	odd.Vantage, odd.Error = "office <east> & co", "interrupted"
	odd.LastHop = &checks.Hop{TTL: 3, Address: "198.18.2.2", RTTMS: 1234567.5, ICMP: "time-exceeded", Reach: checks.ReachYes, Asks: 2, Router: "r", RateLimited: true}
	odd.Connect = &checks.ConnectResult{Address: "x", Reason: checks.ReasonReset, RTTMS: 3e21}
	odd.Hints = append(odd.Hints, checks.Hint{Text: "no commands"}, checks.Hint{Text: "empty commands", Commands: []string{}})
	out = append(out, odd)
	bare := checks.Report{Port: 1} // every list nil, nothing set
	return append(out, bare)
}

func TestJSONLineIsEncodingJSON(t *testing.T) {
	for _, r := range answeredReports() {
		got, ok := appendJSONLine(nil, &r)
		if !ok {
			t.Fatalf("port %d: not handled", r.Port)
		}
		if want := stdJSONLine(t, r); !bytes.Equal(got, want) {
			t.Errorf("port %d:\n got %s\nwant %s", r.Port, got, want)
		}
	}
}

// What the fast path does not cover is left to encoding/json.
func TestJSONLineLeavesTheRest(t *testing.T) {
	base := answeredReports()[0]
	for name, f := range map[string]func(*checks.Report){
		"service":       func(r *checks.Report) { r.Service = &checks.Service{Name: "ssh"} },
		"trace":         func(r *checks.Report) { r.Trace = []checks.Hop{{TTL: 1}} },
		"control_trace": func(r *checks.Report) { r.ControlTrace = &checks.Trace{Proto: "icmp"} },
		"others":        func(r *checks.Report) { r.Others = []checks.ConnectResult{{Address: "x"}} },
		"likely":        func(r *checks.Report) { r.Likely = []checks.Verdict{checks.VerdictFilteredAtHost} },
		"path":          func(r *checks.Report) { r.Path = &checks.PathEvidence{SYNs: 2} },
		"egress":        func(r *checks.Report) { r.Egress = &checks.EgressCheck{Control: "c"} },
	} {
		r := base
		f(&r)
		if _, ok := appendJSONLine(nil, &r); ok {
			t.Errorf("%s: handled, want it left to encoding/json", name)
		}
	}
}

// The fields appendJSONLine writes, per type: a field added to one of
// these types must be added here and there (or made to leave the report
// to encoding/json), or this fails.
func TestJSONLineKnowsEveryField(t *testing.T) {
	known := map[reflect.Type]string{
		reflect.TypeFor[checks.Report]():        "target host port address addresses verdict reason reported_by last_hop service ping trace control_trace,omitempty connect,omitempty others,omitempty summary hints confidence likely,omitempty path,omitempty elapsed_ms vantage,omitempty error,omitempty egress,omitempty",
		reflect.TypeFor[checks.Hop]():           "ttl address,omitempty rtt_ms,omitempty icmp,omitempty reach,omitempty asks,omitempty router,omitempty rate_limited,omitempty",
		reflect.TypeFor[checks.PingResult]():    "sent received rtt_ms privileged ttl,omitempty error,omitempty",
		reflect.TypeFor[checks.ConnectResult](): "address reason icmp,omitempty reported_by,omitempty rtt_ms,omitempty error,omitempty ttl,omitempty",
		reflect.TypeFor[checks.ICMP]():          "type code from",
		reflect.TypeFor[checks.Hint]():          "text commands,omitempty",
	}
	for typ, want := range known {
		var tags []string
		for f := range typ.Fields() {
			tags = append(tags, f.Tag.Get("json"))
		}
		if got := strings.Join(tags, " "); got != want {
			t.Errorf("%s has fields %q, appendJSONLine knows %q: update it", typ, got, want)
		}
	}
}

func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n", "\u2028\u2029", "\xff\xfe", "é<>&", "\x00\x1f\x7f"} {
		f.Add(s, 0.013)
	}
	f.Add("x", 1e-7)
	f.Add("x", 1e21)
	f.Add("x", -0.5)
	f.Fuzz(func(t *testing.T, s string, x float64) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		r := checks.Report{Target: s, Summary: s, Hints: []checks.Hint{{Text: s, Commands: []string{s}}}, Trace: []checks.Hop{}, Addresses: []string{s},
			Connect: &checks.ConnectResult{Address: s, RTTMS: x}}
		got, ok := appendJSONLine(nil, &r)
		if !ok {
			t.Fatal("not handled")
		}
		if want := stdJSONLine(t, r); !bytes.Equal(got, want) {
			t.Errorf("%q %v:\n got %s\nwant %s", s, x, got, want)
		}
	})
}

func BenchmarkJSONLine(b *testing.B) {
	r := answeredReports()[0]
	b.Run("append", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf, _ = appendJSONLine(buf[:0], &r)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for b.Loop() {
			buf.Reset()
			_ = enc.Encode(r)
		}
	})
}
