package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/portcheck/portcheck/checks"
)

// labReport is the external side of a lab case: what a real connect from
// the client namespace saw, turned into the verdict checks would give it.
// (The full prober lives in checks; here only the outcome matters.)
func labReport(t *testing.T, outcomes []string, port int) checks.Report {
	t.Helper()
	if len(outcomes) == 0 {
		t.Fatal("no dial outcome")
	}
	for _, o := range outcomes[1:] {
		if o != outcomes[0] {
			t.Fatalf("mixed dial outcomes %q", outcomes)
		}
	}
	r := checks.Report{Target: labServerIP + ":" + strconv.Itoa(port), Host: labServerIP, Port: port, Address: labServerIP}
	switch outcomes[0] {
	case "refused":
		r.Verdict, r.Reason = checks.VerdictClosed, checks.ReasonReset
	case "timeout":
		r.Verdict, r.Reason = checks.VerdictFilteredAtHost, checks.ReasonNoResponse
	case "open":
		r.Verdict, r.Reason = checks.VerdictOpen, checks.ReasonSynAck
	default:
		t.Fatalf("dial outcome %q", outcomes[0])
	}
	r.Summary = "external: " + string(r.Verdict)
	return r
}

func wantContains(t *testing.T, what, got, sub string) {
	t.Helper()
	if !strings.Contains(got, sub) {
		t.Errorf("%s lacks %q:\n%s", what, sub, got)
	}
}

// logFinding shows the merged finding in -v output: the text the bot posts.
func logFinding(t *testing.T, fd Finding) {
	t.Helper()
	t.Logf("summary: %s\nevidence:\n  %s\nhints:\n%s", fd.Summary, strings.Join(fd.Evidence, "\n  "), hintCommands(fd))
}

func hintCommands(f Finding) string {
	var b strings.Builder
	for _, h := range f.Hints {
		b.WriteString(h.Text + "\n")
		for _, c := range h.Commands {
			b.WriteString(c + "\n")
		}
	}
	return b.String()
}

func TestLabLoopbackOnly(t *testing.T) {
	l := newLab(t, "lo")
	pid := l.listen("127.0.0.1:8443")
	r := labReport(t, l.dial(labServerIP+":8443", 1), 8443)
	if r.Verdict != checks.VerdictClosed {
		t.Fatalf("external verdict %s, want closed", r.Verdict)
	}
	f := l.gather(8443, labClientIP, "")
	if len(f.Listeners) != 1 {
		t.Fatalf("listeners = %+v", f.Listeners)
	}
	got := f.Listeners[0]
	if got.Endpoint() != "127.0.0.1:8443" || got.Scope != "loopback" || got.PID != pid || got.Exe != l.exe {
		t.Errorf("listener = %+v, want 127.0.0.1:8443 loopback pid %d exe %s", got, pid, l.exe)
	}
	fd := Merge(r, f)
	logFinding(t, fd)
	wantContains(t, "summary", fd.Summary, "listens on 127.0.0.1:8443 only")
	wantContains(t, "summary", fd.Summary, "pid "+strconv.Itoa(pid))
	wantContains(t, "hints", hintCommands(fd), "listen/bind address to 198.18.0.1 (the address clients use) or 0.0.0.0")
	if f.Routes.Back == nil || f.Routes.Back.Iface != "vs" {
		t.Errorf("route back to the client = %+v, want dev vs", f.Routes.Back)
	}
}

func TestLabStoppedService(t *testing.T) {
	l := newLab(t, "stop")
	r := labReport(t, l.dial(labServerIP+":8443", 1), 8443)
	f := l.gather(8443, labClientIP, "")
	if len(f.Listeners) != 0 {
		t.Fatalf("listeners = %+v, want none", f.Listeners)
	}
	fd := Merge(r, f)
	logFinding(t, fd)
	if fd.Summary != "nothing listens on port 8443/tcp on the host: the service is stopped (or configured for another port); start it" {
		t.Errorf("summary = %q", fd.Summary)
	}
	wantContains(t, "evidence", strings.Join(fd.Evidence, "\n"), "nothing listens on port 8443/tcp")
}

func TestLabIptablesDrop(t *testing.T) {
	l := newLab(t, "ipt")
	l.listen("0.0.0.0:8443") // the service is fine: only the rule is in the way
	l.in(l.srv, "iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
	l.in(l.srv, "iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "8443", "-j", "DROP")
	r := labReport(t, l.dial(labServerIP+":8443", 3), 8443)
	if r.Verdict != checks.VerdictFilteredAtHost {
		t.Fatalf("external verdict %s, want filtered_at_host", r.Verdict)
	}
	f := l.gather(8443, labClientIP, "")
	var drop *Rule
	for i, rule := range f.Firewall.Rules {
		if rule.Source == "iptables" && rule.Target == "DROP" && rule.Matches(8443, "tcp") {
			drop = &f.Firewall.Rules[i]
		}
	}
	if drop == nil {
		t.Fatalf("no DROP rule for 8443 in %+v (unseen %+v)", f.Firewall.Rules, f.Unseen)
	}
	// Each 400 ms dial sends one SYN, and the kernel may retransmit once.
	if drop.Chain != "INPUT" || drop.Position != 2 || drop.Packets < 3 || !drop.Counters {
		t.Errorf("DROP rule = %+v, want INPUT #2 with >= 3 packets", drop)
	}
	fd := Merge(r, f)
	logFinding(t, fd)
	want := "the host firewall drops it: DROP rule #2 in INPUT has " + strconv.FormatUint(drop.Packets, 10) + " packets matches port 8443/tcp (-A INPUT -p tcp -m tcp --dport 8443 -j DROP)"
	if fd.Summary != want {
		t.Errorf("summary\n got %q\nwant %q", fd.Summary, want)
	}
	cmds := hintCommands(fd)
	wantContains(t, "hints", cmds, "sudo iptables -L INPUT -v -n --line-numbers")
	wantContains(t, "hints", cmds, "sudo iptables -I INPUT 2 -s 198.18.0.2 -p tcp --dport 8443 -j ACCEPT")
}

func TestLabNftDrop(t *testing.T) {
	l := newLab(t, "nft")
	l.listen("0.0.0.0:8444")
	l.in(l.srv, "nft", "add", "table", "inet", "pcalab")
	l.in(l.srv, "nft", "add", "chain", "inet", "pcalab", "input", "{", "type", "filter", "hook", "input", "priority", "0", ";", "policy", "accept", ";", "}")
	l.in(l.srv, "nft", "add", "rule", "inet", "pcalab", "input", "tcp", "dport", "8444", "counter", "drop")
	r := labReport(t, l.dial(labServerIP+":8444", 2), 8444)
	f := l.gather(8444, "", "")
	var drop *Rule
	for i, rule := range f.Firewall.Rules {
		if rule.Source == "nft" && rule.Table == "pcalab" {
			drop = &f.Firewall.Rules[i]
		}
	}
	if drop == nil {
		t.Fatalf("no nft rule in %+v (unseen %+v)", f.Firewall.Rules, f.Unseen)
	}
	if drop.Family != "inet" || drop.Chain != "input" || drop.Position != 1 || drop.Packets < 2 || drop.Handle == 0 ||
		!strings.HasPrefix(drop.Text, "tcp dport 8444 counter packets ") || !strings.HasSuffix(drop.Text, " drop") {
		t.Errorf("nft rule = %+v", drop)
	}
	fd := Merge(r, f)
	logFinding(t, fd)
	wantContains(t, "summary", fd.Summary, "DROP rule #1 in input (nft inet pcalab) has "+strconv.FormatUint(drop.Packets, 10)+" packets")
	wantContains(t, "hints", hintCommands(fd), "sudo nft insert rule inet pcalab input position "+strconv.Itoa(drop.Handle)+" tcp dport 8444 accept")
}

func TestLabNoDefaultRoute(t *testing.T) {
	l := newLab(t, "rt")
	l.listen("0.0.0.0:8443")
	// The client also owns 198.19.0.9, an address the server has no route to:
	// SYNs from it arrive, the SYN-ACKs cannot leave.
	const far = "198.19.0.9"
	l.run("ip", "-n", l.cli, "addr", "add", far+"/32", "dev", "vc")
	r := labReport(t, l.dial(labServerIP+":8443", 1, "PCA_LAB_SRC="+far), 8443)
	if r.Verdict != checks.VerdictFilteredAtHost {
		t.Fatalf("external verdict %s, want filtered_at_host", r.Verdict)
	}
	f := l.gather(8443, far, "")
	if f.Routes.Default != nil || f.Routes.Back != nil || !f.Routes.NoRoute {
		t.Fatalf("routes = %+v", f.Routes)
	}
	fd := Merge(r, f)
	logFinding(t, fd)
	if fd.Summary != "the host has no route back to 198.19.0.9 and no default route: the SYNs arrive but the replies cannot leave" {
		t.Errorf("summary = %q", fd.Summary)
	}
	wantContains(t, "evidence", strings.Join(fd.Evidence, "\n"), "route: no IPv4 default route")

	// With a default route the same query finds the way back.
	l.run("ip", "-n", l.srv, "route", "add", "default", "via", labClientIP)
	f = l.gather(8443, far, "")
	if f.Routes.Default == nil || f.Routes.Default.String() != "default via 198.18.0.2 dev vs" || f.Routes.NoRoute {
		t.Errorf("routes with default = %+v", f.Routes)
	}
}

func TestLabHostsDenyLibwrap(t *testing.T) {
	l := newLab(t, "wrap")
	fx := buildWrapFixtures(t)
	etc := t.TempDir()
	if err := os.WriteFile(filepath.Join(etc, "hosts.deny"), []byte("# lab\npcawrapd: ALL\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pid := l.daemon(l.srv, []string{"LD_LIBRARY_PATH=" + fx.dir}, fx.withWrap, "2222")
	// The stub libwrap allows everyone, so the external refusal is
	// constructed: what matters here is what the agent finds on the host.
	r := labReport(t, l.dial(labServerIP+":2222", 1), 2222)
	if r.Verdict != checks.VerdictOpen {
		t.Fatalf("fixture daemon not reachable: %s", r.Verdict)
	}
	r.Verdict = checks.VerdictServiceRefused
	f := l.gather(2222, labClientIP, etc)
	if len(f.TCPWrap) != 1 {
		t.Fatalf("tcp wrappers = %+v (listeners %+v)", f.TCPWrap, f.Listeners)
	}
	w := f.TCPWrap[0]
	if w.PID != pid || !w.Libwrap || w.Daemon != "pcawrapd" || len(w.Deny) != 1 || w.Deny[0].Line != 2 {
		t.Errorf("tcp wrappers = %+v, want pid %d linking libwrap, hosts.deny:2", w, pid)
	}
	fd := Merge(r, f)
	logFinding(t, fd)
	want := `pcawrapd links libwrap.so.0 and ` + filepath.Join(etc, "hosts.deny") + `:2 denies it: "pcawrapd: ALL"`
	if fd.Summary != want {
		t.Errorf("summary\n got %q\nwant %q", fd.Summary, want)
	}
	wantContains(t, "hints", hintCommands(fd), "echo 'pcawrapd: 198.18.0.2' | sudo tee -a /etc/hosts.allow")
}
