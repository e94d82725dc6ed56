package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// wrapFixtures are ELF executables built by the test: one linking a stub
// libwrap.so.0, one not. Both listen on the TCP port given as argv[1]
// (0.0.0.0, or argv[2]) and print "ready", so the lab can run them as
// daemons.
type wrapFixtures struct {
	dir      string // holds libwrap.so.0: use as LD_LIBRARY_PATH
	withWrap string
	noWrap   string
}

const stubLibwrap = `int hosts_ctl(char *daemon, char *name, char *addr, char *user) { return 1; }
`

const fixtureDaemon = `#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef WRAP
int hosts_ctl(char *daemon, char *name, char *addr, char *user);
#endif
int main(int argc, char **argv) {
#ifdef WRAP
	if (!hosts_ctl("pcawrapd", "", "", "")) return 3;
#endif
	if (argc < 2) return 0;
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_port = htons(atoi(argv[1]));
	a.sin_addr.s_addr = argc > 2 ? inet_addr(argv[2]) : INADDR_ANY;
	if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8)) { perror("listen"); return 2; }
	printf("ready\n");
	fflush(stdout);
	for (;;) { int c = accept(s, 0, 0); if (c >= 0) close(c); }
}
`

// buildWrapFixtures compiles the fixtures with gcc: skipped without gcc,
// except under CI where a missing compiler must fail loudly.
func buildWrapFixtures(t testing.TB) wrapFixtures {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("gcc is required under CI=true to build the libwrap fixture ELF")
		}
		t.Skip("gcc not installed: cannot build the libwrap fixture ELF")
	}
	dir, err := os.MkdirTemp("", "pca-elf-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// World-readable so a lab child running as another user can exec them.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stub := write("stub.c", stubLibwrap)
	src := write("pcawrapd.c", fixtureDaemon)
	fx := wrapFixtures{dir: dir, withWrap: filepath.Join(dir, "pcawrapd"), noWrap: filepath.Join(dir, "pcaplaind")}
	for _, args := range [][]string{
		{"-shared", "-fPIC", "-Wl,-soname,libwrap.so.0", "-o", filepath.Join(dir, "libwrap.so.0"), stub},
		{"-DWRAP", "-o", fx.withWrap, src, "-L" + dir, "-l:libwrap.so.0"},
		{"-o", fx.noWrap, src},
	} {
		if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return fx
}

func TestLibwrapNeeded(t *testing.T) {
	fx := buildWrapFixtures(t)
	got, err := LibwrapNeeded(fx.withWrap)
	if err != nil || !reflect.DeepEqual(got, []string{"libwrap.so.0"}) {
		t.Errorf("LibwrapNeeded(with) = %q, %v", got, err)
	}
	got, err = LibwrapNeeded(fx.noWrap)
	if err != nil || len(got) != 0 {
		t.Errorf("LibwrapNeeded(without) = %q, %v", got, err)
	}
	if _, err := LibwrapNeeded(filepath.Join(fx.dir, "stub.c")); err == nil {
		t.Error("a C source file parsed as ELF")
	}
}

func TestParseHostsAccess(t *testing.T) {
	deny := ParseHostsAccess(readFixture(t, "hosts.deny"), "/etc/hosts.deny")
	want := []AccessLine{
		{File: "/etc/hosts.deny", Line: 5, Text: "ALL EXCEPT sshd, vsftpd : .evil.example", Daemons: []string{"ALL", "EXCEPT", "sshd", "vsftpd"}, Clients: []string{".evil.example"}},
		{File: "/etc/hosts.deny", Line: 7, Text: "pcawrapd, sshd@198.18.0.1 : ALL : spawn /bin/echo %d %a >> /var/log/denied.log",
			Daemons: []string{"pcawrapd", "sshd@198.18.0.1"}, Clients: []string{"ALL"}, Options: "spawn /bin/echo %d %a >> /var/log/denied.log"},
		{File: "/etc/hosts.deny", Line: 11, Text: "portmap : ALL", Daemons: []string{"portmap"}, Clients: []string{"ALL"}},
	}
	if !reflect.DeepEqual(deny, want) {
		t.Fatalf("hosts.deny:\n got %+v\nwant %+v", deny, want)
	}
	allow := ParseHostsAccess(readFixture(t, "hosts.allow"), "/etc/hosts.allow")
	if len(allow) != 2 || !reflect.DeepEqual(allow[0].Clients, []string{"198.18.0.0/255.254.0.0", "[::1]"}) || allow[0].Options != "ALLOW" {
		t.Errorf("hosts.allow = %+v", allow)
	}

	tests := []struct {
		line   int // index into deny
		daemon string
		want   bool
	}{
		{0, "in.telnetd", true},
		{0, "sshd", false}, // ALL EXCEPT sshd
		{0, "vsftpd", false},
		{1, "pcawrapd", true},
		{1, "sshd", true}, // sshd@host names sshd
		{1, "nginx", false},
		{2, "portmap", true},
	}
	for _, tt := range tests {
		if got := deny[tt.line].NamesDaemon(tt.daemon); got != tt.want {
			t.Errorf("%q.NamesDaemon(%s) = %v, want %v", deny[tt.line].Text, tt.daemon, got, tt.want)
		}
	}
	if got := ParseHostsAccess("no colon here\n: ALL\nsshd: ALL \\", "x"); len(got) != 1 || got[0].Daemons[0] != "sshd" {
		t.Errorf("malformed lines = %+v", got)
	}
}

func TestGatherTCPWrap(t *testing.T) {
	fx := buildWrapFixtures(t)
	proc := t.TempDir()
	for pid, exe := range map[string]string{"10": fx.withWrap, "20": fx.noWrap} {
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(exe, filepath.Join(proc, pid, "exe")); err != nil {
			t.Fatal(err)
		}
	}
	f := Facts{Listeners: []Listener{
		{PID: 10, Exe: fx.withWrap, Comm: "pcawrapd"},
		{PID: 10, Exe: fx.withWrap, Comm: "pcawrapd"}, // same process on ::, inspected once
		{PID: 20, Exe: fx.noWrap, Comm: "pcaplaind"},
		{OwnerUnknown: "not enough privilege"},
	}}
	gatherTCPWrap(&f, Options{Proc: proc, Etc: "testdata"})
	if len(f.TCPWrap) != 2 {
		t.Fatalf("tcpwrap = %+v", f.TCPWrap)
	}
	w := f.TCPWrap[0]
	if !w.Libwrap || w.Daemon != "pcawrapd" || len(w.Deny) != 2 || w.Deny[1].Where() != "testdata/hosts.deny:7" || len(w.Allow) != 0 {
		t.Errorf("with libwrap = %+v", w)
	}
	if p := f.TCPWrap[1]; p.Libwrap || len(p.Deny) != 1 { // only "ALL EXCEPT sshd, vsftpd"
		t.Errorf("without libwrap = %+v", p)
	}
}
