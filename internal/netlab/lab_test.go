package netlab

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	ServeIfChild()
	os.Exit(m.Run())
}

// TestUpClose builds a lab, checks it is wired (the client reaches the
// server through both routers) and that Close leaves nothing behind.
func TestUpClose(t *testing.T) {
	if err := Requirements(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("lab required under CI=true: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := Up(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lab.Close() })
	if !strings.HasPrefix(lab.Prefix, "pcl-") {
		t.Errorf("prefix %q", lab.Prefix)
	}
	out, err := lab.Exec(ctx, lab.NS.Client, "ip", "route", "get", lab.Addr.Server.String())
	if err != nil || !strings.Contains(out, "via 198.18.1.1") {
		t.Errorf("client route to server: %q %v", out, err)
	}
	out, err = lab.Exec(ctx, lab.NS.Server, "ip", "-6", "addr", "show", "dev", "eth0")
	if err != nil || !strings.Contains(out, lab.Addr.Server6.String()) || strings.Contains(out, "tentative") {
		t.Errorf("server v6 address: %q %v", out, err)
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ns := range lab.NS.all() {
		if nsExists(ns) {
			t.Errorf("namespace %s left behind", ns)
		}
	}
}
