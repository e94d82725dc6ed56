// Package netlab builds a throwaway network out of Linux network namespaces
// so portcheck's probes can be tested against real routers, firewalls and
// services:
//
//	client --- r1 --- r2 --- server LAN (server, a dead address)
//	198.18.1.0/24  198.18.2.0/24  198.18.3.0/24
//	2001:db8:1::/64 2001:db8:2::/64 2001:db8:3::/64
//
// Only documentation/benchmark ranges are used (198.18.0.0/15,
// 2001:db8::/32) and no namespace has a route out, so nothing leaks to the
// machine's own network. It needs root, ip, iptables and ip6tables.
package netlab

import "net/netip"

// Namespaces are the lab's network namespace names.
type Namespaces struct {
	Client string `json:"client"`
	R1     string `json:"r1"`
	R2     string `json:"r2"`
	Server string `json:"server"`
}

func (n Namespaces) all() []string { return []string{n.Client, n.R1, n.R2, n.Server} }

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
}

// Ports are the server's scenarios, one port each.
type Ports struct {
	Open          int `json:"open"`            // silent listener
	SSH           int `json:"ssh"`             // "SSH-2.0-..." greeting
	Refuse421     int `json:"refuse_421"`      // "421 Service not available"
	HTTP          int `json:"http"`            // HTTP server
	TLS           int `json:"tls"`             // TLS server, self-signed
	Closed        int `json:"closed"`          // nothing listens
	Loopback      int `json:"loopback"`        // listens on 127.0.0.1 only
	HostReject    int `json:"host_reject"`     // server INPUT REJECT icmp-port-unreachable
	HostAdmin     int `json:"host_admin"`      // server INPUT REJECT icmp-admin-prohibited
	HostDrop      int `json:"host_drop"`       // server INPUT DROP
	PathDrop      int `json:"path_drop"`       // r1 FORWARD DROP
	PathAdmin     int `json:"path_admin"`      // r2 FORWARD REJECT icmp-admin-prohibited
	CloseNoData   int `json:"close_no_data"`   // accepts then closes without a byte
	ResetOnAccept int `json:"reset_on_accept"` // accepts then resets
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
	}
}

func defaultPorts() Ports {
	return Ports{
		Open: 8081, SSH: 22, Refuse421: 21, HTTP: 80, TLS: 443, Closed: 7000, Loopback: 5432,
		HostReject: 7001, HostAdmin: 7002, HostDrop: 7003, PathDrop: 7004, PathAdmin: 7005,
		CloseNoData: 7006, ResetOnAccept: 7007,
	}
}
