package agent

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Route is one entry of the main routing table.
type Route struct {
	Dest    netip.Prefix `json:"dest"`
	Gateway netip.Addr   `json:"gateway,omitzero"` // zero for a directly connected route
	Iface   string       `json:"iface"`
	Metric  int          `json:"metric"`
	Reject  bool         `json:"reject,omitempty"` // unreachable/prohibit/blackhole route
}

// String is "default via 192.0.2.1 dev eth0" or "198.18.0.0/30 dev veth0".
func (r Route) String() string {
	var b strings.Builder
	if r.Dest.Bits() == 0 {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dest.String())
	}
	if r.Reject {
		b.WriteString(" unreachable")
	}
	if r.Gateway.IsValid() {
		b.WriteString(" via " + r.Gateway.String())
	}
	if r.Iface != "" {
		b.WriteString(" dev " + r.Iface)
	}
	return b.String()
}

// Routes is what the routing table says about answering.
type Routes struct {
	Default  *Route `json:"default"`            // IPv4 default route, nil when none
	Default6 *Route `json:"default6"`           // IPv6 default route, nil when none
	Back     *Route `json:"back,omitempty"`     // the route replies to Query.Peer take
	NoRoute  bool   `json:"no_route,omitempty"` // Peer was given and no route reaches it
	Table    string `json:"table"`              // where this was read; policy routing rules are not evaluated
}

const (
	rtfUp      = 0x0001
	rtfGateway = 0x0002
	rtfReject  = 0x0200
)

// ParseRouteV4 parses /proc/net/route. Addresses there are 32-bit words in
// host byte order, like /proc/net/tcp.
func ParseRouteV4(r io.Reader) ([]Route, error) {
	var out []Route
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dst, err1 := hexV4(f[1])
		gw, err2 := hexV4(f[2])
		flags, err3 := strconv.ParseUint(f[3], 16, 32)
		metric, err4 := strconv.Atoi(f[6])
		mask, err5 := hexV4(f[7])
		if err := firstErr(err1, err2, err3, err4, err5); err != nil {
			return out, fmt.Errorf("route line %q: %w", sc.Text(), err)
		}
		if flags&rtfUp == 0 {
			continue
		}
		bits := maskBits(mask.As4())
		pfx, err := dst.Prefix(bits)
		if err != nil {
			return out, fmt.Errorf("route line %q: %w", sc.Text(), err)
		}
		rt := Route{Dest: pfx, Iface: f[0], Metric: metric, Reject: flags&rtfReject != 0}
		if flags&rtfGateway != 0 {
			rt.Gateway = gw
		}
		out = append(out, rt)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read route table: %w", err)
	}
	return out, nil
}

// ParseRouteV6 parses /proc/net/ipv6_route. Unlike the IPv4 table, its
// addresses are plain network-order hex.
func ParseRouteV6(r io.Reader) ([]Route, error) {
	var out []Route
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		dst, err1 := hexV6(f[0])
		plen, err2 := strconv.ParseUint(f[1], 16, 8)
		gw, err3 := hexV6(f[4])
		metric, err4 := strconv.ParseUint(f[5], 16, 32)
		flags, err5 := strconv.ParseUint(f[8], 16, 32)
		if err := firstErr(err1, err2, err3, err4, err5); err != nil {
			return out, fmt.Errorf("ipv6_route line %q: %w", sc.Text(), err)
		}
		if flags&rtfUp == 0 || plen > 128 {
			continue
		}
		pfx, err := dst.Prefix(int(plen))
		if err != nil {
			return out, fmt.Errorf("ipv6_route line %q: %w", sc.Text(), err)
		}
		rt := Route{Dest: pfx, Iface: f[9], Metric: int(metric), Reject: flags&rtfReject != 0}
		if flags&rtfGateway != 0 && !gw.IsUnspecified() {
			rt.Gateway = gw
		}
		out = append(out, rt)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read ipv6_route: %w", err)
	}
	return out, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func hexV4(s string) (netip.Addr, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 4 {
		return netip.Addr{}, fmt.Errorf("ipv4 hex %q: bad length or digits", s)
	}
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], binary.NativeEndian.Uint32(b))
	return netip.AddrFrom4(a), nil
}

func hexV6(s string) (netip.Addr, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return netip.Addr{}, fmt.Errorf("ipv6 hex %q: bad length or digits", s)
	}
	return netip.AddrFrom16([16]byte(b)), nil
}

// maskBits counts the leading ones of a netmask (non-contiguous masks,
// which the kernel refuses anyway, count up to their first zero).
func maskBits(m [4]byte) int {
	v := binary.BigEndian.Uint32(m[:])
	n := 0
	for v&0x80000000 != 0 {
		n++
		v <<= 1
	}
	return n
}

// Lookup returns the route the kernel's main table would pick for dst:
// longest prefix, then lowest metric. nil when none matches or the best
// match is a reject route.
func Lookup(routes []Route, dst netip.Addr) *Route {
	var best *Route
	for i := range routes {
		r := &routes[i]
		if r.Dest.Addr().Is4() != dst.Is4() || !r.Dest.Contains(dst) {
			continue
		}
		if best == nil || r.Dest.Bits() > best.Dest.Bits() ||
			(r.Dest.Bits() == best.Dest.Bits() && r.Metric < best.Metric) {
			best = r
		}
	}
	if best == nil || best.Reject {
		return nil
	}
	out := *best
	return &out
}

// defaultOf returns the preferred usable default route of routes.
func defaultOf(routes []Route, v4 bool) *Route {
	var zero netip.Addr
	if v4 {
		zero = netip.IPv4Unspecified()
	} else {
		zero = netip.IPv6Unspecified()
	}
	var best *Route
	for i := range routes {
		r := &routes[i]
		if r.Dest.Bits() != 0 || r.Dest.Addr() != zero || r.Reject {
			continue
		}
		if best == nil || r.Metric < best.Metric {
			best = r
		}
	}
	if best == nil {
		return nil
	}
	out := *best
	return &out
}

func gatherRoutes(f *Facts, q Query, o Options) {
	f.Routes.Table = "main (from " + filepath.Join(o.Proc, "net", "route") + "; policy routing rules not evaluated)"
	var v4, v6 []Route
	if fh, err := os.Open(filepath.Join(o.Proc, "net", "route")); err != nil {
		f.unseen("IPv4 routes", err.Error())
	} else {
		var perr error
		v4, perr = ParseRouteV4(fh)
		fh.Close()
		if perr != nil {
			f.unseen("IPv4 routes", perr.Error())
		}
	}
	if fh, err := os.Open(filepath.Join(o.Proc, "net", "ipv6_route")); err == nil {
		var perr error
		v6, perr = ParseRouteV6(fh)
		fh.Close()
		if perr != nil {
			f.unseen("IPv6 routes", perr.Error())
		}
	}
	f.Routes.Default = defaultOf(v4, true)
	f.Routes.Default6 = defaultOf(v6, false)
	if !q.Peer.IsValid() {
		return
	}
	peer := q.Peer.Unmap()
	switch {
	case peer.IsLoopback():
		// Loopback lives in the local table, which /proc/net/route omits.
		lo := netip.PrefixFrom(peer, peer.BitLen())
		f.Routes.Back = &Route{Dest: lo, Iface: "lo"}
	case peer.Is4():
		f.Routes.Back = Lookup(v4, peer)
	default:
		f.Routes.Back = Lookup(v6, peer)
	}
	f.Routes.NoRoute = f.Routes.Back == nil
}
