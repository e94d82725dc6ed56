package agent

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const procTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:20FB 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 100 0 0 10 0
   2: 0500A8C0:20FB 0100A8C0:D431 01 00000000:00000000 02:000A7D4E 00000000  1000        0 4244 2 0000000000000000 20 4 30 10 -1
   3: 010012C6:20FB 00000000:0000 0A 00000000:00000000 00:00000000 00000000    33        0 4245 1 0000000000000000 100 0 0 10 0
`

const procTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:20FB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5001 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:20FB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5002 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5003 1 0000000000000000 100 0 0 10 0
`

const procUDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 6001 2 0000000000000000 0
  101: 0100007F:0035 0200007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 6002 2 0000000000000000 0
`

func TestParseProcNet(t *testing.T) {
	tests := []struct {
		name, text, proto string
		want              []Socket
	}{
		{"tcp", procTCP, "tcp", []Socket{
			{"tcp", netip.MustParseAddr("127.0.0.1"), 8443, 0x0A, 1000, 4242},
			{"tcp", netip.MustParseAddr("0.0.0.0"), 22, 0x0A, 0, 4243},
			{"tcp", netip.MustParseAddr("192.168.0.5"), 8443, 0x01, 1000, 4244},
			{"tcp", netip.MustParseAddr("198.18.0.1"), 8443, 0x0A, 33, 4245},
		}},
		{"tcp6", procTCP6, "tcp", []Socket{
			{"tcp", netip.MustParseAddr("::"), 8443, 0x0A, 0, 5001},
			{"tcp", netip.MustParseAddr("::1"), 8443, 0x0A, 0, 5002},
			{"tcp", netip.MustParseAddr("127.0.0.1"), 8080, 0x0A, 0, 5003}, // v4-mapped, unmapped
		}},
		{"udp", procUDP, "udp", []Socket{
			{"udp", netip.MustParseAddr("0.0.0.0"), 53, 0x07, 0, 6001},
			{"udp", netip.MustParseAddr("127.0.0.1"), 53, 0x01, 0, 6002},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcNet(strings.NewReader(tt.text), tt.proto)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d sockets, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("socket %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	udp, _ := ParseProcNet(strings.NewReader(procUDP), "udp")
	if !udp[0].Listening() || udp[1].Listening() {
		t.Errorf("udp Listening: unconnected should listen, connected should not: %+v", udp)
	}
	for _, bad := range []string{"hdr\n 0: 0100007G:0016 00000000:0000 0A 0:0 0:0 0 0 0 1\n", "hdr\n 0: 0100007F 00000000:0000 0A 0:0 0:0 0 0 0 1\n"} {
		if _, err := ParseProcNet(strings.NewReader(bad), "tcp"); err == nil {
			t.Errorf("ParseProcNet(%q) succeeded", bad)
		}
	}
}

// fakeProc builds a procfs tree: net tables and processes whose fd links
// point at socket inodes.
func fakeProc(t *testing.T, procs map[int][]uint64) string {
	t.Helper()
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "net"), 0o755))
	must(os.WriteFile(filepath.Join(root, "net", "tcp"), []byte(procTCP), 0o644))
	must(os.WriteFile(filepath.Join(root, "net", "tcp6"), []byte(procTCP6), 0o644))
	must(os.WriteFile(filepath.Join(root, "net", "udp"), []byte(procUDP), 0o644))
	for pid, inodes := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		must(os.MkdirAll(filepath.Join(dir, "fd"), 0o755))
		must(os.Symlink("/dev/null", filepath.Join(dir, "fd", "0")))
		for i, ino := range inodes {
			must(os.Symlink("socket:["+strconv.FormatUint(ino, 10)+"]", filepath.Join(dir, "fd", strconv.Itoa(i+3))))
		}
		must(os.Symlink("/usr/sbin/fake"+strconv.Itoa(pid), filepath.Join(dir, "exe")))
		must(os.WriteFile(filepath.Join(dir, "comm"), []byte("fake"+strconv.Itoa(pid)+"\n"), 0o644))
		must(os.WriteFile(filepath.Join(dir, "cmdline"), []byte("fake\x00--token=s3cret\x00"), 0o644))
	}
	return root
}

func TestGatherListeners(t *testing.T) {
	proc := fakeProc(t, map[int][]uint64{100: {4242}, 200: {5001, 5002}})
	f := Facts{}
	gatherListeners(&f, Query{Port: 8443, Proto: "tcp"}, Options{Proc: proc})
	type row struct {
		ep, scope string
		pid       int
		exe       string
		unknown   bool
	}
	want := []row{
		{"127.0.0.1:8443", "loopback", 100, "/usr/sbin/fake100", false},
		{"198.18.0.1:8443", "specific", 0, "", true},
		{"[::]:8443", "any", 200, "/usr/sbin/fake200", false},
		{"[::1]:8443", "loopback", 200, "/usr/sbin/fake200", false},
	}
	if len(f.Listeners) != len(want) {
		t.Fatalf("listeners = %+v", f.Listeners)
	}
	for i, l := range f.Listeners {
		got := row{l.Endpoint(), l.Scope, l.PID, l.Exe, l.OwnerUnknown != ""}
		if got != want[i] {
			t.Errorf("listener %d = %+v, want %+v", i, got, want[i])
		}
		if l.Cmdline != "" {
			t.Errorf("cmdline shared without privacy consent: %q", l.Cmdline)
		}
	}
	if len(f.Unseen) != 1 || !strings.Contains(f.Unseen[0].What, "198.18.0.1:8443") {
		t.Errorf("unseen = %+v", f.Unseen)
	}

	f = Facts{}
	gatherListeners(&f, Query{Port: 8443, Proto: "tcp"}, Options{Proc: proc, Privacy: Privacy{Cmdline: true}})
	if f.Listeners[0].Cmdline != "fake --token=s3cret" {
		t.Errorf("cmdline with consent = %q", f.Listeners[0].Cmdline)
	}
}

// TestListenersOnLoopback finds a real listener of this test process in
// the real /proc: a loopback-only socket, owned by us.
func TestListenersOnLoopback(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	f := Facts{}
	gatherListeners(&f, Query{Port: port, Proto: "tcp"}, Options{Proc: "/proc"})
	if len(f.Listeners) != 1 {
		t.Fatalf("listeners = %+v (unseen %+v)", f.Listeners, f.Unseen)
	}
	l := f.Listeners[0]
	self, _ := os.Executable()
	if l.Endpoint() != "127.0.0.1:"+strconv.Itoa(port) || l.Scope != "loopback" || l.PID != os.Getpid() || l.Exe != self {
		t.Errorf("listener = %+v, want ours (pid %d, %s)", l, os.Getpid(), self)
	}
}

func TestScope(t *testing.T) {
	for in, want := range map[string]string{"0.0.0.0": "any", "::": "any", "127.0.0.1": "loopback", "127.1.2.3": "loopback", "::1": "loopback", "198.18.0.1": "specific", "fe80::1": "specific"} {
		if got := Scope(netip.MustParseAddr(in)); got != want {
			t.Errorf("Scope(%s) = %s, want %s", in, got, want)
		}
	}
}
