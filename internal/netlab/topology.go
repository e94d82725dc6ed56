// Package netlab builds a throwaway network out of Linux network namespaces
// so portcheck's probes can be tested against real routers, firewalls,
// gateways and services:
//
//	                                  +-- server LAN 198.18.3.0/24, 2001:db8:3::/64 (a bridge in r2):
//	                                  |     server .10 (services), no-route-back host .20, dead .99
//	client --- r1 --- r2 (eth1..eth3) +-- 198.18.4.0/24, 2001:db8:4::/64:
//	198.18.1.0/24  198.18.2.0/24      |     gw .2 (NAT gateway) --- LAN 198.18.10.0/24, 2001:db8:10::/64:
//	2001:db8:1::/64 2001:db8:2::/64   |       gw .1, lan .10 (services), dead .99
//	                                  +-- 198.18.5.0/24, 2001:db8:5::/64:
//	                                        r3 .2 (sends no ICMP errors) --- 198.18.6.0/24, 2001:db8:6::/64:
//	                                          r3 .1, quiet .10 (services)
//
// The client routes 198.18.0.0/16 and 2001:db8::/32 via r1. r1 and r2 know
// the server LAN, the gateway's public segment and the quiet host's
// segments, but not the LAN behind gw (private, as behind a home router:
// the client gets net-unreachable from r1 for it) nor 198.18.200.0/24.
//
// What each scenario looks like from the client (TCP connect to addr:port):
//
//   - server (Addresses.Server, Ports.Open..ResetOnAccept): see Ports.
//   - r1 resets Ports.PathReset toward the server (REJECT tcp-reset, hop
//     1): a RST at once, "from" the server's address but sent by r1 (IP
//     TTL 64 on arrival, where the server's own segments arrive with 62);
//     a SYN with TTL 1 still gets time-exceeded from r1. Ports.PathResetLast
//     is the same on r2, the last router (RST TTL 63; TTL 2 gets
//     time-exceeded from r2).
//   - gw (Addresses.GW, a NAT gateway, one DNAT rule per public port; its
//     conntrack un-NATs the replies and the ICMP errors about them, so
//     every answer comes from gw's public address):
//     ForwardOpen reaches lan's SSH greeting (SYN-ACK from gw's address);
//     ForwardDead goes to Addresses.LanDead, which nobody owns: gw's ARP
//     (neighbour discovery) gives up after ~3 s and gw answers with ICMP
//     host-unreachable (ICMPv6 address-unreachable) from its public address,
//     EHOSTUNREACH at the client;
//     ForwardClosed goes to a lan port where nothing listens: lan's RST,
//     through gw (TTL 61 on arrival, one less than gw's own 62);
//     ForwardDrop goes to a lan port lan's INPUT drops: silence, but a SYN
//     with TTL GWHops expires at gw, which answers time-exceeded from its
//     public address (the packet is forwarded further);
//     NoForward has no rule and nothing listens on gw: gw's own RST.
//     IPv6 the same through NAT66 (Addresses.GW6, LAN 2001:db8:10::/64).
//   - quiet (Addresses.Quiet) sits behind r3, which sends no time-exceeded
//     and no unreachables (OUTPUT drops them, both families): QuietOpen
//     connects; QuietDrop is dropped by quiet's INPUT, so a trace shows r1,
//     r2, then nothing at all (r3's TTL is silent, quiet's too).
//   - the no-route-back host (Addresses.NoRouteBack, on the server LAN) has
//     only its connected route: SYNs arrive at NoRouteBackOpen (a listener),
//     its SYN-ACKs and echo replies have no route, so every probe times
//     out; r2 never sends host-unreachable (its ARP entry for the host is
//     fine), unlike Addresses.Dead.
//
// Only documentation/benchmark ranges are used (198.18.0.0/15,
// 2001:db8::/32; 198.19.0.0/16 stays unrouted) and no namespace has a route
// out, so nothing leaks to the machine's own network. It needs root, ip,
// iptables and ip6tables.
package netlab

import "net/netip"

// Namespaces are the lab's network namespace names, all "<prefix>-<role>".
type Namespaces struct {
	Client      string `json:"client"`
	R1          string `json:"r1"`
	R2          string `json:"r2"`
	Server      string `json:"server"`
	NoRouteBack string `json:"no_route_back"` // second host on the server LAN, no route back
	GW          string `json:"gw"`            // NAT gateway
	Lan         string `json:"lan"`           // host on the LAN behind gw
	R3          string `json:"r3"`            // router that sends no ICMP errors
	Quiet       string `json:"quiet"`         // host behind r3
}

func namespacesFor(prefix string) Namespaces {
	return Namespaces{
		Client: prefix + "-c", R1: prefix + "-r1", R2: prefix + "-r2", Server: prefix + "-s",
		NoRouteBack: prefix + "-nrb", GW: prefix + "-gw", Lan: prefix + "-lan", R3: prefix + "-r3", Quiet: prefix + "-quiet",
	}
}

// all lists every namespace, in creation order: the per-namespace steps
// (sysctls, lo, teardown) go through it.
func (n Namespaces) all() []string {
	return []string{n.Client, n.R1, n.R2, n.Server, n.NoRouteBack, n.GW, n.Lan, n.R3, n.Quiet}
}

// Addresses are the addresses that matter to tests. A router's ICMP comes
// from its interface facing the sender, so both sides are listed.
type Addresses struct {
	Client       netip.Addr `json:"client"`
	R1           netip.Addr `json:"r1"` // r1 facing the client
	R2           netip.Addr `json:"r2"` // r2 facing the client (toward r1)
	Server       netip.Addr `json:"server"`
	Dead         netip.Addr `json:"dead"`        // on the server LAN, owned by nobody
	NetUnreach   netip.Addr `json:"net_unreach"` // r1 has no route: ICMP net-unreachable from r1
	NoRoute      netip.Addr `json:"no_route"`    // the client has no route: nothing leaves
	Client6      netip.Addr `json:"client6"`
	R16          netip.Addr `json:"r1_6"`
	R26          netip.Addr `json:"r2_6"`
	Server6      netip.Addr `json:"server6"`
	Dead6        netip.Addr `json:"dead6"`
	NetUnreach6  netip.Addr `json:"net_unreach6"`
	ServerHopsV4 int        `json:"server_hops"` // TTL at which the server answers

	// NoRouteBack is a host on the server LAN without a route back to the
	// client (connected route only).
	NoRouteBack  netip.Addr `json:"no_route_back"`
	NoRouteBack6 netip.Addr `json:"no_route_back6"`

	// GW is the NAT gateway's public address, the one the client probes
	// and every answer about a forwarded port comes from.
	GW    netip.Addr `json:"gw"`
	GW6   netip.Addr `json:"gw6"`
	GWLan netip.Addr `json:"gw_lan"` // gw on its LAN: lan's default gateway
	// Lan is the internal host the forwards point at; LanDead an internal
	// address nobody owns. The client has no route to either.
	Lan      netip.Addr `json:"lan"`
	Lan6     netip.Addr `json:"lan6"`
	LanDead  netip.Addr `json:"lan_dead"`
	LanDead6 netip.Addr `json:"lan_dead6"`
	GWHops   int        `json:"gw_hops"`  // TTL at which gw answers (its own RST; a forwarded SYN expires there)
	LanHops  int        `json:"lan_hops"` // TTL at which a forwarded SYN reaches lan

	// R3 is the router that never sends ICMP errors (facing r2); Quiet the
	// host behind it.
	R3        netip.Addr `json:"r3"`
	R36       netip.Addr `json:"r3_6"`
	Quiet     netip.Addr `json:"quiet"`
	Quiet6    netip.Addr `json:"quiet6"`
	QuietHops int        `json:"quiet_hops"` // TTL at which quiet answers
}

// Ports are the scenarios, one port each. Unless noted they are the
// server's; the others are on the host named in the field.
type Ports struct {
	Open          int `json:"open"`            // silent listener
	SSH           int `json:"ssh"`             // "SSH-2.0-..." greeting
	Refuse421     int `json:"refuse_421"`      // "421 Service not available"
	HTTP          int `json:"http"`            // HTTP server
	TLS           int `json:"tls"`             // TLS server, self-signed
	Closed        int `json:"closed"`          // nothing listens (on any lab host)
	Loopback      int `json:"loopback"`        // listens on 127.0.0.1 only
	HostReject    int `json:"host_reject"`     // server INPUT REJECT icmp-port-unreachable
	HostAdmin     int `json:"host_admin"`      // server INPUT REJECT icmp-admin-prohibited
	HostDrop      int `json:"host_drop"`       // server INPUT DROP
	PathDrop      int `json:"path_drop"`       // r1 FORWARD DROP
	PathAdmin     int `json:"path_admin"`      // r2 FORWARD REJECT icmp-admin-prohibited
	CloseNoData   int `json:"close_no_data"`   // accepts then closes without a byte
	ResetOnAccept int `json:"reset_on_accept"` // accepts then resets
	// The server listens behind both reset rules: only the rule explains
	// the RST.
	PathReset     int `json:"path_reset"`      // r1 FORWARD REJECT tcp-reset toward the server (hop 1)
	PathResetLast int `json:"path_reset_last"` // r2 FORWARD REJECT tcp-reset toward the server (last router)

	// gw's public ports (Addresses.GW, GW6).
	ForwardOpen   int `json:"forward_open"`   // DNAT to lan:LanOpen, an SSH greeting
	ForwardDead   int `json:"forward_dead"`   // DNAT to LanDead:LanOpen: host-unreachable from gw after ~3 s
	ForwardClosed int `json:"forward_closed"` // DNAT to lan:LanClosed, nothing listens: lan's RST
	ForwardDrop   int `json:"forward_drop"`   // DNAT to lan:LanDrop, lan's INPUT drops it
	NoForward     int `json:"no_forward"`     // no rule, nothing listens on gw: gw's RST
	// lan's own ports, the forwards' targets (the client cannot reach lan).
	LanOpen   int `json:"lan_open"`   // "SSH-2.0-OpenSSH_9.6 portcheck-lab-lan"
	LanClosed int `json:"lan_closed"` // nothing listens
	LanDrop   int `json:"lan_drop"`   // lan INPUT DROP (a listener behind it)

	QuietOpen       int `json:"quiet_open"`         // quiet: silent listener
	QuietDrop       int `json:"quiet_drop"`         // quiet: INPUT DROP (a listener behind it)
	NoRouteBackOpen int `json:"no_route_back_open"` // no-route-back host: silent listener
}

func defaultAddresses() Addresses {
	m := netip.MustParseAddr
	return Addresses{
		Client: m("198.18.1.2"), R1: m("198.18.1.1"), R2: m("198.18.2.2"),
		Server: m("198.18.3.10"), Dead: m("198.18.3.99"),
		NetUnreach: m("198.18.200.1"), NoRoute: m("198.19.0.1"),
		Client6: m("2001:db8:1::2"), R16: m("2001:db8:1::1"), R26: m("2001:db8:2::2"),
		Server6: m("2001:db8:3::10"), Dead6: m("2001:db8:3::99"),
		NetUnreach6:  m("2001:db8:200::1"),
		ServerHopsV4: 3,
		NoRouteBack:  m("198.18.3.20"), NoRouteBack6: m("2001:db8:3::20"),
		GW: m("198.18.4.2"), GW6: m("2001:db8:4::2"), GWLan: m("198.18.10.1"),
		Lan: m("198.18.10.10"), Lan6: m("2001:db8:10::10"),
		LanDead: m("198.18.10.99"), LanDead6: m("2001:db8:10::99"),
		GWHops: 3, LanHops: 4,
		R3: m("198.18.5.2"), R36: m("2001:db8:5::2"),
		Quiet: m("198.18.6.10"), Quiet6: m("2001:db8:6::10"),
		QuietHops: 4,
	}
}

func defaultPorts() Ports {
	return Ports{
		Open: 8081, SSH: 22, Refuse421: 21, HTTP: 80, TLS: 443, Closed: 7000, Loopback: 5432,
		HostReject: 7001, HostAdmin: 7002, HostDrop: 7003, PathDrop: 7004, PathAdmin: 7005,
		CloseNoData: 7006, ResetOnAccept: 7007, PathReset: 7008, PathResetLast: 7009,
		ForwardOpen: 2222, ForwardDead: 7010, ForwardClosed: 7011, ForwardDrop: 7012, NoForward: 7013,
		LanOpen: 22, LanClosed: 7000, LanDrop: 7003,
		QuietOpen: 7020, QuietDrop: 7021, NoRouteBackOpen: 7030,
	}
}
