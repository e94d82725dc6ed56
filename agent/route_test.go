package agent

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const procRoute = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	010200C0	0003	0	0	100	00000000	0	0	0
eth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
veth0	000012C6	00000000	0001	0	0	0	FCFFFFFF	0	0	0
wg0	00000A0A	0100000A	0003	0	0	0	0000FFFF	0	0	0
eth1	00000000	FE0012C6	0003	0	0	200	00000000	0	0	0
down0	0000FEA9	00000000	0000	0	0	0	0000FFFF	0	0	0
`

const procRouteNoDefault = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
veth0	000012C6	00000000	0001	0	0	0	FCFFFFFF	0	0	0
`

const procIPv6Route = `fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
20010db8000000000000000000000000 20 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00200201       lo
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`

func TestParseRoutes(t *testing.T) {
	v4, err := ParseRouteV4(strings.NewReader(procRoute))
	if err != nil {
		t.Fatal(err)
	}
	if len(v4) != 5 { // the route without RTF_UP is dropped
		t.Fatalf("v4 routes = %+v", v4)
	}
	v6, err := ParseRouteV6(strings.NewReader(procIPv6Route))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		routes []Route
		dst    string
		want   string // Route.String(), "" for none
	}{
		{v4, "192.0.2.77", "192.0.2.0/24 dev eth0"},
		{v4, "198.18.0.2", "198.18.0.0/30 dev veth0"},
		{v4, "10.10.3.4", "10.10.0.0/16 via 10.0.0.1 dev wg0"},
		{v4, "203.0.113.9", "default via 192.0.2.1 dev eth0"}, // metric 100 beats 200
		{v6, "fd00::5", "fd00::/64 dev eth0"},
		{v6, "2001:db8::1", ""}, // reject route wins the longest prefix: no route
		{v6, "2606:4700::1", "default via fd00::1 dev eth0"},
		{v6, "198.18.0.1", ""}, // family mismatch
	}
	for _, tt := range tests {
		got := ""
		if r := Lookup(tt.routes, netip.MustParseAddr(tt.dst)); r != nil {
			got = r.String()
		}
		if got != tt.want {
			t.Errorf("Lookup(%s) = %q, want %q", tt.dst, got, tt.want)
		}
	}
	if d := defaultOf(v4, true); d == nil || d.String() != "default via 192.0.2.1 dev eth0" || d.Metric != 100 {
		t.Errorf("default v4 = %+v", d)
	}
	if d := defaultOf(v6, false); d == nil || d.String() != "default via fd00::1 dev eth0" {
		t.Errorf("default v6 = %+v", d)
	}
	if _, err := ParseRouteV4(strings.NewReader("h\neth0 0000000G 00000000 0001 0 0 0 00000000 0 0 0\n")); err == nil {
		t.Error("bad hex accepted")
	}
}

func TestGatherRoutes(t *testing.T) {
	tests := []struct {
		name     string
		table    string
		peer     string
		wantDef  string
		wantBack string
		noRoute  bool
	}{
		{"default and peer", procRoute, "203.0.113.9", "default via 192.0.2.1 dev eth0", "default via 192.0.2.1 dev eth0", false},
		{"no default, peer outside", procRouteNoDefault, "198.19.200.1", "", "", true},
		{"no default, peer on link", procRouteNoDefault, "198.18.0.2", "", "198.18.0.0/30 dev veth0", false},
		{"loopback peer", procRouteNoDefault, "127.0.0.1", "", "127.0.0.1/32 dev lo", false},
		{"no peer", procRouteNoDefault, "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proc := t.TempDir()
			if err := os.MkdirAll(filepath.Join(proc, "net"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(proc, "net", "route"), []byte(tt.table), 0o644); err != nil {
				t.Fatal(err)
			}
			q := Query{Port: 22}
			if tt.peer != "" {
				q.Peer = netip.MustParseAddr(tt.peer)
			}
			f := Facts{}
			gatherRoutes(&f, q, Options{Proc: proc})
			def, back := "", ""
			if f.Routes.Default != nil {
				def = f.Routes.Default.String()
			}
			if f.Routes.Back != nil {
				back = f.Routes.Back.String()
			}
			if def != tt.wantDef || back != tt.wantBack || f.Routes.NoRoute != tt.noRoute {
				t.Errorf("routes = default %q back %q noRoute %v; want %q %q %v", def, back, f.Routes.NoRoute, tt.wantDef, tt.wantBack, tt.noRoute)
			}
		})
	}
}
