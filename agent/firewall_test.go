package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/portcheck/portcheck/checks"
)

func readFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// findRule returns the first rule of rs in chain whose text contains sub.
func findRule(t *testing.T, rs []Rule, chain, sub string) Rule {
	t.Helper()
	for _, r := range rs {
		if r.Chain == chain && strings.Contains(r.Text, sub) {
			return r
		}
	}
	t.Fatalf("no rule in %s containing %q among %d rules", chain, sub, len(rs))
	return Rule{}
}

func TestParseIptablesSave(t *testing.T) {
	rs, err := ParseIptablesSave(readFixture(t, "iptables-save.txt"), "iptables")
	if err != nil {
		t.Fatal(err)
	}
	drop := findRule(t, rs, "INPUT", "--dport 8443")
	want := Rule{Source: "iptables", Table: "filter", Chain: "INPUT", Position: 4,
		Text:   `-A INPUT -p tcp -m tcp --dport 8443 -m comment --comment "block \"web\" test" -j DROP`,
		Target: "DROP", Packets: 14, Bytes: 840, Counters: true, Proto: "tcp",
		Ports: []PortRange{{8443, 8443}}, Hook: true}
	if !reflect.DeepEqual(drop, want) {
		t.Errorf("8443 rule:\n got %+v\nwant %+v", drop, want)
	}
	if got := drop.Describe(); got != "DROP rule #4 in INPUT has 14 packets" {
		t.Errorf("Describe = %q", got)
	}

	tests := []struct {
		name        string
		chain, sub  string
		port        int
		proto       string
		matches     bool
		catchAll    bool
		conditional bool
	}{
		{"multiport range", "INPUT", "--dports 6000:6007,9000", 6005, "tcp", true, false, false},
		{"multiport single", "INPUT", "--dports 6000:6007,9000", 9000, "tcp", true, false, false},
		{"multiport miss", "INPUT", "--dports 6000:6007,9000", 6008, "tcp", false, false, false},
		{"multiport wrong proto", "INPUT", "--dports 6000:6007,9000", 6005, "udp", false, false, false},
		{"negated port matches others", "INPUT", "! --dport 53", 123, "udp", true, false, false},
		{"negated port spares itself", "INPUT", "! --dport 53", 53, "udp", false, false, false},
		{"source-restricted is conditional", "INPUT", "-s 198.18.5.0/24", 5432, "tcp", true, false, true},
		{"interface rule", "INPUT", "-i lo", 8443, "tcp", false, false, true},
		{"jump to user chain is a catch-all", "INPUT", "-j app", 8080, "tcp", false, true, false},
		{"user chain rule", "app", "--dport 8080", 8080, "tcp", true, false, false},
		{"raw table", "PREROUTING", "--dport 9999", 9999, "tcp", true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := findRule(t, rs, tt.chain, tt.sub)
			if got := r.Matches(tt.port, tt.proto); got != tt.matches {
				t.Errorf("Matches(%d,%s) = %v, want %v (%+v)", tt.port, tt.proto, got, tt.matches, r)
			}
			if got := r.CatchAll(tt.proto); got != tt.catchAll {
				t.Errorf("CatchAll = %v, want %v", got, tt.catchAll)
			}
			if r.Conditional != tt.conditional {
				t.Errorf("Conditional = %v, want %v", r.Conditional, tt.conditional)
			}
		})
	}

	var pol *Rule
	for i := range rs {
		if rs[i].Policy && rs[i].Chain == "INPUT" && rs[i].Table == "filter" {
			pol = &rs[i]
		}
	}
	if pol == nil || pol.Target != "DROP" || pol.Packets != 120 || !pol.Hook {
		t.Fatalf("INPUT policy = %+v", pol)
	}
	if got := pol.Describe(); got != "INPUT policy DROP has 120 packets" {
		t.Errorf("policy Describe = %q", got)
	}
	if r := findRule(t, rs, "app", "8080"); r.Position != 1 {
		t.Errorf("app chain position = %d, want 1 (positions count per chain)", r.Position)
	}
}

func TestParseIptablesSaveErrors(t *testing.T) {
	for _, in := range []string{
		"*filter\n[1:2] -A INPUT -m comment --comment \"unterminated -j DROP\n",
	} {
		if _, err := ParseIptablesSave(in, "iptables"); err == nil {
			t.Errorf("ParseIptablesSave(%q) succeeded, want error", in)
		}
	}
}

func TestParseUFWUserRules(t *testing.T) {
	rs, err := ParseIptablesSave(readFixture(t, "etc-ufw/ufw/user.rules"), "ufw")
	if err != nil {
		t.Fatal(err)
	}
	r := findRule(t, rs, "ufw-user-input", "8443")
	if !r.Blocks() || !r.Matches(8443, "tcp") || r.Position != 2 || r.Counters || !r.Hook {
		t.Errorf("ufw user.rules 8443 = %+v", r)
	}
}

func TestParseNftJSON(t *testing.T) {
	rs, err := ParseNftJSON([]byte(readFixture(t, "nft-ruleset.json")))
	if err != nil {
		t.Fatal(err)
	}
	drop := findRule(t, rs, "input", "dport 8444 counter")
	if drop.Text != "tcp dport 8444 counter packets 3 bytes 180 drop" || drop.Position != 2 || drop.Handle != 5 ||
		drop.Packets != 3 || !drop.Counters || drop.Family != "inet" || drop.Table != "pca" || !drop.Hook {
		t.Errorf("nft drop = %+v", drop)
	}
	if got := drop.Describe(); got != "DROP rule #2 in input (nft inet pca) has 3 packets" {
		t.Errorf("Describe = %q", got)
	}
	tests := []struct {
		sub         string
		port        int
		proto       string
		matches     bool
		catchAll    bool
		conditional bool
		target      string
	}{
		{"{ 25, 587, 1000-2000 }", 1500, "tcp", true, false, false, "REJECT"},
		{"{ 25, 587, 1000-2000 }", 588, "tcp", false, false, false, "REJECT"},
		{"udp dport 5353", 5353, "udp", true, false, false, "ACCEPT"},
		{"@allowed", 8443, "tcp", false, false, true, "ACCEPT"},
		{"saddr 198.18.0.9", 8444, "tcp", true, false, true, "ACCEPT"},
		{"meta l4proto tcp", 8444, "tcp", false, true, false, "DROP"},
		{"iifname", 8444, "tcp", false, false, true, "ACCEPT"},
	}
	for _, tt := range tests {
		t.Run(tt.sub, func(t *testing.T) {
			r := findRule(t, rs, "input", tt.sub)
			if r.Matches(tt.port, tt.proto) != tt.matches || r.CatchAll(tt.proto) != tt.catchAll ||
				r.Conditional != tt.conditional || r.Target != tt.target {
				t.Errorf("rule %+v: matches=%v catchAll=%v, want %v %v %v %s", r,
					r.Matches(tt.port, tt.proto), r.CatchAll(tt.proto), tt.matches, tt.catchAll, tt.conditional, tt.target)
			}
		})
	}
	neg := findRule(t, rs, "other", "!= 8444")
	if neg.Matches(8444, "tcp") || !neg.Matches(80, "tcp") || neg.Hook {
		t.Errorf("negated nft rule = %+v", neg)
	}
	var pol *Rule
	for i := range rs {
		if rs[i].Policy && rs[i].Table == "pca" {
			pol = &rs[i]
		}
	}
	if pol == nil || pol.Target != "DROP" || !pol.Hook || pol.Chain != "input" {
		t.Errorf("nft policy = %+v", pol)
	}
	if _, err := ParseNftJSON([]byte("{")); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestParseUFWStatus(t *testing.T) {
	st := ParseUFWStatus(readFixture(t, "ufw-status.txt"))
	if !st.Active || st.Default != "deny (incoming), allow (outgoing), disabled (routed)" {
		t.Fatalf("status = %+v", st)
	}
	tests := []struct {
		pos         int
		port        int
		matches     bool
		target      string
		conditional bool
		chain       string
	}{
		{1, 22, true, "ACCEPT", false, "incoming"},
		{2, 8443, true, "DROP", false, "incoming"},
		{3, 443, true, "ACCEPT", false, "incoming"},
		{4, 6001, true, "ACCEPT", false, "incoming"},
		{5, 80, false, "ACCEPT", true, "incoming"}, // app profile: ports unknown
		{6, 5432, true, "ACCEPT", true, "incoming"},
		{8, 8443, true, "DROP", false, "incoming"},
		{9, 53, true, "ACCEPT", false, "outgoing"},
	}
	for _, tt := range tests {
		r := st.Rules[tt.pos-1]
		if r.Position != tt.pos || r.Matches(tt.port, "tcp") != tt.matches || r.Target != tt.target ||
			r.Conditional != tt.conditional || r.Chain != tt.chain {
			t.Errorf("ufw rule %d = %+v", tt.pos, r)
		}
	}
	last := st.Rules[len(st.Rules)-1]
	if !last.Policy || last.Target != "DROP" {
		t.Errorf("default policy rule = %+v", last)
	}
	if st := ParseUFWStatus("Status: inactive\n"); st.Active || len(st.Rules) != 0 {
		t.Errorf("inactive = %+v", st)
	}
}

// fakeRunner answers listing commands from a table; a missing entry is
// "not installed".
type fakeRunner map[string]fakeOut

type fakeOut struct {
	out  string
	kind ToolErrorKind
	fail bool
}

func (f fakeRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	key := strings.Join(append([]string{name}, args...), " ")
	o, ok := f[key]
	if !ok {
		return nil, &ToolError{Tool: name, Kind: ToolNotInstalled, Err: fmt.Errorf("exec: %q: not found", name)}
	}
	if o.fail {
		return nil, &ToolError{Tool: name, Kind: o.kind, Stderr: o.out, Err: fmt.Errorf("exit status 1")}
	}
	return []byte(o.out), nil
}

func TestGatherFirewall(t *testing.T) {
	ipt := readFixture(t, "iptables-save.txt")
	nft := readFixture(t, "nft-ruleset.json")
	denied := fakeOut{out: "iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)", kind: ToolNeedsPriv, fail: true}
	tests := []struct {
		name       string
		runner     fakeRunner
		etc        string
		port       int
		wantRules  []string // Describe() of the kept rules, in order
		wantUnseen []string
		wantRead   []string
	}{
		{
			name:   "root with iptables and nft",
			runner: fakeRunner{"iptables-save -c": {out: ipt}, "nft -j list ruleset": {out: nft}},
			port:   8443,
			wantRules: []string{"INPUT policy DROP has 120 packets", "DROP rule #4 in INPUT has 14 packets",
				"input policy DROP (nft inet pca)", "DROP rule #7 in input (nft inet pca) has 0 packets",
				"DROP rule #1 in other (nft inet pca)"}, // "tcp dport != 8444 drop" names 8443 too
			wantRead: []string{"iptables-save -c", "nft -j list ruleset"},
		},
		{
			name: "unprivileged",
			runner: fakeRunner{"iptables-save -c": denied, "ip6tables-save -c": denied,
				"nft -j list ruleset": {out: "netlink: Error: cache initialization failed: Operation not permitted", kind: ToolNeedsPriv, fail: true},
				"ufw status verbose":  {out: "ERROR: You need to be root to run this script", kind: ToolNeedsPriv, fail: true}},
			etc:       t.TempDir(),
			port:      8443,
			wantRules: []string{},
			wantUnseen: []string{
				"iptables rules: iptables-save -c needs CAP_NET_ADMIN: run the agent as root or grant it CAP_NET_ADMIN",
				"ip6tables rules: ip6tables-save -c needs CAP_NET_ADMIN: run the agent as root or grant it CAP_NET_ADMIN",
				"nftables rules: nft -j list ruleset needs CAP_NET_ADMIN: run the agent as root or grant it CAP_NET_ADMIN",
			},
		},
		{
			name:      "ufw status",
			runner:    fakeRunner{"ufw status verbose": {out: readFixture(t, "ufw-status.txt")}},
			port:      8443,
			wantRules: []string{"DROP rule #2 in incoming (table ufw)", "DROP rule #8 in incoming (table ufw)", "incoming policy DROP (table ufw)"},
			wantRead:  []string{"ufw status verbose"},
		},
		{
			name:      "ufw refuses, rules file readable",
			runner:    fakeRunner{"ufw status verbose": {out: "ERROR: You need to be root to run this script", kind: ToolNeedsPriv, fail: true}},
			etc:       "testdata/etc-ufw",
			port:      8443,
			wantRules: []string{"DROP rule #2 in ufw-user-input"},
			wantRead:  []string{"testdata/etc-ufw/ufw/user.rules"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Facts{}
			o := Options{Runner: tt.runner, Etc: tt.etc}.withDefaults()
			gatherFirewall(context.Background(), &f, Query{Port: tt.port, Proto: "tcp"}, o)
			got := []string{}
			for _, r := range f.Firewall.Rules {
				got = append(got, r.Describe())
			}
			if !reflect.DeepEqual(got, tt.wantRules) {
				t.Errorf("rules:\n got %q\nwant %q", got, tt.wantRules)
			}
			var unseen []string
			for _, u := range f.Unseen {
				unseen = append(unseen, u.What+": "+u.Why)
			}
			if tt.name == "unprivileged" {
				tt.wantUnseen = append(tt.wantUnseen, "ufw rules: ufw status needs root (and "+filepath.Join(tt.etc, "ufw", "user.rules")+" is root-only): run the agent as root")
			}
			if !reflect.DeepEqual(unseen, tt.wantUnseen) {
				t.Errorf("unseen:\n got %q\nwant %q", unseen, tt.wantUnseen)
			}
			if !reflect.DeepEqual(f.Firewall.Read, tt.wantRead) {
				t.Errorf("read = %q, want %q", f.Firewall.Read, tt.wantRead)
			}
		})
	}
}

func TestParsePortList(t *testing.T) {
	tests := []struct {
		in   string
		want []PortRange
		err  bool
	}{
		{"22", []PortRange{{22, 22}}, false},
		{"1000:2000", []PortRange{{1000, 2000}}, false},
		{"2000-1000", []PortRange{{1000, 2000}}, false},
		{"80,443", []PortRange{{80, 80}, {443, 443}}, false},
		{"1024:", []PortRange{{1024, 65535}}, false},
		{":1023", []PortRange{{0, 1023}}, false},
		{"http", nil, true},
		{"70000", nil, true},
		{"", nil, true},
	}
	for _, tt := range tests {
		got, err := parsePortList(tt.in)
		if (err != nil) != tt.err || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parsePortList(%q) = %v, %v; want %v, err=%v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// iptables-nft says when legacy tables exist too; the agent then also asks
// iptables-legacy-save, whose rules filter packets as well.
func TestGatherFirewallLegacyTables(t *testing.T) {
	runner := fakeRunner{
		"iptables-save -c":        {out: "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n"},
		"iptables-legacy-save -c": {out: "*filter\n:INPUT ACCEPT [0:0]\n[5:300] -A INPUT -p tcp -m tcp --dport 8443 -j DROP\nCOMMIT\n"},
	}
	f := Facts{}
	gatherFirewall(context.Background(), &f, Query{Port: 8443, Proto: "tcp"}, Options{Runner: runner, Etc: t.TempDir()}.withDefaults())
	if len(f.Firewall.Rules) != 1 || f.Firewall.Rules[0].Source != "iptables-legacy" || f.Firewall.Rules[0].Packets != 5 {
		t.Fatalf("rules = %+v", f.Firewall.Rules)
	}
	fd := Merge(checks.Report{Verdict: checks.VerdictFilteredAtHost, Port: 8443, Address: "198.18.0.1"}, f)
	if !strings.Contains(hintCommands(fd), "sudo iptables-legacy -I INPUT 1 -p tcp --dport 8443 -j ACCEPT") {
		t.Errorf("hints = %s", hintCommands(fd))
	}
}
