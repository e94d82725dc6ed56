package agent

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestGatherUnprivileged runs Gather as nobody against a socket root owns:
// the agent must still find the listener, say its owner is unknown for
// lack of privilege, and say which listings need CAP_NET_ADMIN.
func TestGatherUnprivileged(t *testing.T) {
	requireLab(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	// nobody cannot exec a binary inside go test's 0700 build directory.
	dir, err := os.MkdirTemp("", "pca-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "agent.test")
	copyFile(t, self, bin)

	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{labRoleEnv + "=gather", "PCA_LAB_PORT=" + strconv.Itoa(port), "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gather as nobody: %v\n%s", err, out)
	}
	var f Facts
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(f.Listeners) != 1 || f.Listeners[0].PID != 0 || !strings.Contains(f.Listeners[0].OwnerUnknown, "not enough privilege") {
		t.Fatalf("listeners = %+v", f.Listeners)
	}
	var unseen []string
	for _, u := range f.Unseen {
		unseen = append(unseen, u.What+": "+u.Why)
	}
	all := strings.Join(unseen, "\n")
	for _, want := range []string{
		"owner of tcp 127.0.0.1:" + strconv.Itoa(port) + ": not enough privilege",
		"iptables rules: iptables-save -c needs CAP_NET_ADMIN",
		"nftables rules: nft -j list ruleset needs CAP_NET_ADMIN",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("unseen lacks %q:\n%s", want, all)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
