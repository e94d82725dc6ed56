package netlab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Lab is one running lab. Its JSON form is what labctl prints.
type Lab struct {
	Prefix string     `json:"prefix"`
	NS     Namespaces `json:"namespaces"`
	Addr   Addresses  `json:"addresses"`
	Ports  Ports      `json:"ports"`
	// StrictRouter: r2 rate-limits its ICMP errors (see Options).
	StrictRouter bool `json:"strict_router"`

	run     runner
	serve   []*exec.Cmd // one service process per host namespace
	created []string    // namespaces this process created
}

// Options tune Up.
type Options struct {
	// Prefix names the namespaces (<prefix>-c, -r1, -r2, -s, -nrb, -gw,
	// -lan, -r3, -quiet); default "pcl-<pid>-<n>", unique per process and
	// call.
	Prefix string
	// ServeExe is the binary re-executed inside each host namespace (server,
	// lan, quiet, no-route-back) to run its services; it must call
	// ServeIfChild first thing. Default: this executable.
	ServeExe string
	// StrictRouter makes r2 rate-limit its ICMP errors as many hardware
	// routers do: after the kernel's burst of 6 it sends one time-exceeded
	// or unreachable per 5 s to each peer, both families (issue 12;
	// net.ipv4.icmp_ratelimit=5000, net.ipv6.icmp.ratelimit=20000, see
	// build). It is set after the per-namespace ICMP sysctls, which it
	// overrides on r2 alone.
	StrictRouter bool
	// Detach leaves the services running after this process exits (labctl);
	// otherwise they die with it.
	Detach bool
	// Log receives every command run, for debugging; may be nil.
	Log func(string)
}

// Requirements reports what is missing to build a lab, or nil.
func Requirements() error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range []string{"ip", "iptables", "ip6tables", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("netlab needs %s", strings.Join(missing, ", "))
	}
	return nil
}

// Up builds the namespaces, links, routes, firewall rules and services.
// On error everything built so far is removed.
func Up(ctx context.Context, o Options) (lab *Lab, err error) {
	if err := Requirements(); err != nil {
		return nil, err
	}
	if o.Prefix == "" {
		o.Prefix = fmt.Sprintf("pcl-%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	}
	if o.ServeExe == "" {
		if o.ServeExe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("netlab: find own executable: %w", err)
		}
	}
	lab = &Lab{
		Prefix:       o.Prefix,
		NS:           namespacesFor(o.Prefix),
		Addr:         defaultAddresses(),
		Ports:        defaultPorts(),
		StrictRouter: o.StrictRouter,
		run:          runner{log: o.Log},
	}
	defer func() {
		if err != nil {
			// Only what this call created: a name clash must not delete
			// somebody else's lab.
			_ = Remove(lab.created, lab.run)
			lab.reap()
			lab = nil
		}
	}()
	if err := lab.build(ctx); err != nil {
		return lab, err
	}
	if err := lab.startServices(ctx, o.ServeExe, o.Detach); err != nil {
		return lab, err
	}
	return lab, nil
}

// build makes the topology. Links are created straight inside the
// namespaces, so no name ever appears in the root namespace.
func (l *Lab) build(ctx context.Context) error {
	n := l.NS
	for _, ns := range n.all() {
		if err := l.run.do(ctx, "ip", "netns", "add", ns); err != nil {
			return err
		}
		l.created = append(l.created, ns)
	}
	// Sysctls first: links created afterwards inherit "default", so their
	// link-local addresses skip DAD too (a tentative link-local delays
	// neighbour discovery, and with it the first IPv6 packets, by ~1 s).
	var steps [][]string
	for _, ns := range n.all() {
		// Before any address: no DAD delay. The ICMP rate limits stay at
		// the kernel's defaults (one error per second per peer, burst 6;
		// 1000/s overall): real routers limit at least this much, and a
		// verdict that holds only on a generous lab is wrong in production.
		steps = append(steps, sysctl(ns,
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"))
	}
	if l.StrictRouter {
		// After the loop above, on r2 alone. The mask is the kernel's
		// default (destination-unreachable, source-quench, time-exceeded,
		// parameter-problem): the rate limit only covers the types in it.
		// IPv6 divides its limit by 4 for a peer behind a /64 route
		// (icmpv6_xrlim_allow: >> (128-plen)>>5), so 20000 there is the
		// same 5 s for the client.
		steps = append(steps, sysctl(n.R2, "net.ipv4.icmp_ratemask=6168",
			"net.ipv4.icmp_ratelimit=5000", "net.ipv6.icmp.ratelimit=20000"))
	}
	// Every interface gets an ifindex of its own. Each namespace numbers
	// from 1, so both ends of a veth pair would otherwise share one, and
	// the kernel's linkwatch then takes the carrier change for a
	// non-urgent event and applies it up to a second later: until then
	// IPv6 on that link loses its first packets (the first SYN of a fresh
	// lab took 1 s).
	index := 10
	veth := func(ns, dev, peerNS, peerDev string) []string {
		index += 2
		return []string{"ip", "-n", ns, "link", "add", dev, "index", strconv.Itoa(index - 1),
			"type", "veth", "peer", "name", peerDev, "index", strconv.Itoa(index), "netns", peerNS}
	}
	steps = append(steps,
		veth(n.Client, "eth0", n.R1, "eth0"),
		veth(n.R1, "eth1", n.R2, "eth0"),
		// The server LAN is a bridge in r2 (named eth1, r2's side of the
		// LAN), so a second host can sit on it. No STP: ports forward at
		// once. No multicast snooping: neighbour discovery is flooded,
		// whatever MLD reports were lost while links came up.
		[]string{"ip", "-n", n.R2, "link", "add", "eth1", "index", "10", "type", "bridge", "stp_state", "0", "mcast_snooping", "0"},
		veth(n.R2, "swp1", n.Server, "eth0"),
		veth(n.R2, "swp2", n.NoRouteBack, "eth0"),
		[]string{"ip", "-n", n.R2, "link", "set", "swp1", "master", "eth1"},
		[]string{"ip", "-n", n.R2, "link", "set", "swp2", "master", "eth1"},
		veth(n.R2, "eth2", n.GW, "eth0"),
		veth(n.GW, "eth1", n.Lan, "eth0"),
		veth(n.R2, "eth3", n.R3, "eth0"),
		veth(n.R3, "eth1", n.Quiet, "eth0"),
	)
	for _, r := range []string{n.R1, n.R2, n.GW, n.R3} {
		steps = append(steps, sysctl(r, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"))
	}
	// Unprivileged ICMP (ping) sockets for everyone in the client.
	steps = append(steps, sysctl(n.Client, "net.ipv4.ping_group_range=0 2147483647"))
	// dual adds an IPv4 and an IPv6 address (no DAD) to one device.
	dual := func(ns, dev, cidr4, cidr6 string) [][]string {
		return [][]string{
			{"ip", "-n", ns, "addr", "add", cidr4, "dev", dev},
			{"ip", "-n", ns, "addr", "add", cidr6, "dev", dev, "nodad"},
		}
	}
	for _, a := range [][4]string{
		{n.Client, "eth0", "198.18.1.2/24", "2001:db8:1::2/64"},
		{n.R1, "eth0", "198.18.1.1/24", "2001:db8:1::1/64"},
		{n.R1, "eth1", "198.18.2.1/24", "2001:db8:2::1/64"},
		{n.R2, "eth0", "198.18.2.2/24", "2001:db8:2::2/64"},
		{n.R2, "eth1", "198.18.3.1/24", "2001:db8:3::1/64"},
		{n.Server, "eth0", "198.18.3.10/24", "2001:db8:3::10/64"},
		{n.NoRouteBack, "eth0", "198.18.3.20/24", "2001:db8:3::20/64"},
		{n.R2, "eth2", "198.18.4.1/24", "2001:db8:4::1/64"},
		{n.GW, "eth0", "198.18.4.2/24", "2001:db8:4::2/64"},
		{n.GW, "eth1", "198.18.10.1/24", "2001:db8:10::1/64"},
		{n.Lan, "eth0", "198.18.10.10/24", "2001:db8:10::10/64"},
		{n.R2, "eth3", "198.18.5.1/24", "2001:db8:5::1/64"},
		{n.R3, "eth0", "198.18.5.2/24", "2001:db8:5::2/64"},
		{n.R3, "eth1", "198.18.6.1/24", "2001:db8:6::1/64"},
		{n.Quiet, "eth0", "198.18.6.10/24", "2001:db8:6::10/64"},
	} {
		steps = append(steps, dual(a[0], a[1], a[2], a[3])...)
	}
	for _, ns := range n.all() {
		steps = append(steps, []string{"ip", "-n", ns, "link", "set", "lo", "up"})
	}
	// The bridge first, while no port is up: its carrier then comes on
	// with the first port, promptly (see veth above).
	for _, ld := range [][2]string{
		{n.Client, "eth0"}, {n.R1, "eth0"}, {n.R1, "eth1"}, {n.R2, "eth0"},
		{n.R2, "eth1"}, {n.R2, "swp1"}, {n.R2, "swp2"}, {n.Server, "eth0"}, {n.NoRouteBack, "eth0"},
		{n.R2, "eth2"}, {n.GW, "eth0"}, {n.GW, "eth1"}, {n.Lan, "eth0"},
		{n.R2, "eth3"}, {n.R3, "eth0"}, {n.R3, "eth1"}, {n.Quiet, "eth0"},
	} {
		steps = append(steps, []string{"ip", "-n", ld[0], "link", "set", ld[1], "up"})
	}
	route := func(ns string, args ...string) []string {
		return append([]string{"ip", "-n", ns, "route", "add"}, args...)
	}
	route6 := func(ns string, args ...string) []string {
		return append([]string{"ip", "-n", ns, "-6", "route", "add"}, args...)
	}
	steps = append(steps,
		// The client reaches the lab ranges through r1 and nothing else:
		// 198.19.0.0/16 stays unrouted for the no-route case.
		route(n.Client, "198.18.0.0/16", "via", "198.18.1.1"),
		route6(n.Client, "2001:db8::/32", "via", "2001:db8:1::1"),
		// r1 knows the server LAN, gw's public segment and the way to
		// quiet, but not 198.18.200.0/24 (net-unreachable) nor the LAN
		// behind gw (private: reached through gw's forwards only).
		route(n.R1, "198.18.3.0/24", "via", "198.18.2.2"),
		route6(n.R1, "2001:db8:3::/64", "via", "2001:db8:2::2"),
		route(n.R1, "198.18.4.0/24", "via", "198.18.2.2"),
		route6(n.R1, "2001:db8:4::/64", "via", "2001:db8:2::2"),
		route(n.R1, "198.18.5.0/24", "via", "198.18.2.2"),
		route6(n.R1, "2001:db8:5::/64", "via", "2001:db8:2::2"),
		route(n.R1, "198.18.6.0/24", "via", "198.18.2.2"),
		route6(n.R1, "2001:db8:6::/64", "via", "2001:db8:2::2"),
		route(n.R2, "198.18.1.0/24", "via", "198.18.2.1"),
		route6(n.R2, "2001:db8:1::/64", "via", "2001:db8:2::1"),
		route(n.R2, "198.18.6.0/24", "via", "198.18.5.2"),
		route6(n.R2, "2001:db8:6::/64", "via", "2001:db8:5::2"),
		route(n.Server, "default", "via", "198.18.3.1"),
		route6(n.Server, "default", "via", "2001:db8:3::1"),
		// n.NoRouteBack: no route but its connected one, on purpose.
		route(n.GW, "default", "via", "198.18.4.1"),
		route6(n.GW, "default", "via", "2001:db8:4::1"),
		route(n.Lan, "default", "via", "198.18.10.1"),
		route6(n.Lan, "default", "via", "2001:db8:10::1"),
		route(n.R3, "default", "via", "198.18.5.1"),
		route6(n.R3, "default", "via", "2001:db8:5::1"),
		route(n.Quiet, "default", "via", "198.18.6.1"),
		route6(n.Quiet, "default", "via", "2001:db8:6::1"),
	)
	for _, s := range steps {
		if err := l.run.do(ctx, s[0], s[1:]...); err != nil {
			return err
		}
	}
	return l.firewall(ctx)
}

// firewall loads every namespace's iptables rules, one iptables-restore
// per namespace and family.
func (l *Lab) firewall(ctx context.Context) error {
	n, p, a := l.NS, l.Ports, l.Addr
	type rules struct{ v4, v6 []string }
	byNS := map[string]*rules{}
	var order []string
	add := func(ns string, v4, v6 string) {
		r := byNS[ns]
		if r == nil {
			r = &rules{}
			byNS[ns] = r
			order = append(order, ns)
		}
		if v4 != "" {
			r.v4 = append(r.v4, v4)
		}
		if v6 != "" {
			r.v6 = append(r.v6, v6)
		}
	}
	tcp := func(chain string, port int, match, target string) string {
		return fmt.Sprintf("-A %s -p tcp%s --dport %d -j %s", chain, match, port, target)
	}
	both := func(ns, chain string, port int, target4, target6 string) {
		add(ns, tcp(chain, port, "", target4), tcp(chain, port, "", target6))
	}
	// The server: one port per host firewall case.
	both(n.Server, "INPUT", p.HostReject, "REJECT --reject-with icmp-port-unreachable", "REJECT --reject-with icmp6-port-unreachable")
	both(n.Server, "INPUT", p.HostAdmin, "REJECT --reject-with icmp-admin-prohibited", "REJECT --reject-with icmp6-adm-prohibited")
	both(n.Server, "INPUT", p.HostDrop, "DROP", "DROP")
	// Routers in the path toward the server.
	both(n.R1, "FORWARD", p.PathDrop, "DROP", "DROP")
	both(n.R2, "FORWARD", p.PathAdmin, "REJECT --reject-with icmp-admin-prohibited", "REJECT --reject-with icmp6-adm-prohibited")
	toServer := func(ns string, port int) {
		add(ns, tcp("FORWARD", port, " -d "+a.Server.String(), "REJECT --reject-with tcp-reset"),
			tcp("FORWARD", port, " -d "+a.Server6.String(), "REJECT --reject-with tcp-reset"))
	}
	toServer(n.R1, p.PathReset)
	toServer(n.R2, p.PathResetLast)
	// r3 sends no ICMP errors at all (it still answers pings).
	for _, t := range []string{"time-exceeded", "destination-unreachable"} {
		add(n.R3, "-A OUTPUT -p icmp --icmp-type "+t+" -j DROP", "-A OUTPUT -p ipv6-icmp --icmpv6-type "+t+" -j DROP")
	}
	both(n.Quiet, "INPUT", p.QuietDrop, "DROP", "DROP")
	both(n.Lan, "INPUT", p.LanDrop, "DROP", "DROP")
	// gw: DNAT per public port (conntrack un-NATs the replies and the
	// ICMP errors about them), and masquerade for the LAN's own traffic,
	// as a home router does.
	dnat := func(port int, to4, to6 netip.Addr, toPort int) {
		add(n.GW, fmt.Sprintf("-A PREROUTING -d %s -p tcp --dport %d -j DNAT --to-destination %s", a.GW, port, netip.AddrPortFrom(to4, uint16(toPort))),
			fmt.Sprintf("-A PREROUTING -d %s -p tcp --dport %d -j DNAT --to-destination %s", a.GW6, port, netip.AddrPortFrom(to6, uint16(toPort))))
	}
	dnat(p.ForwardOpen, a.Lan, a.Lan6, p.LanOpen)
	dnat(p.ForwardDead, a.LanDead, a.LanDead6, p.LanOpen)
	dnat(p.ForwardClosed, a.Lan, a.Lan6, p.LanClosed)
	dnat(p.ForwardDrop, a.Lan, a.Lan6, p.LanDrop)
	add(n.GW, "-A POSTROUTING -s 198.18.10.0/24 -o eth0 -j MASQUERADE", "-A POSTROUTING -s 2001:db8:10::/64 -o eth0 -j MASQUERADE")
	for _, ns := range order {
		r := byNS[ns]
		for _, fam := range []struct {
			bin   string
			rules []string
		}{{"iptables-restore", r.v4}, {"ip6tables-restore", r.v6}} {
			if err := l.run.input(ctx, restoreInput(fam.rules), "ip", "netns", "exec", ns, fam.bin, "-w", "--noflush"); err != nil {
				return err
			}
		}
	}
	return nil
}

// restoreInput turns "-A CHAIN ..." rules into iptables-restore input, the
// nat table's chains (PREROUTING, POSTROUTING) apart from filter's.
func restoreInput(rules []string) string {
	var filter, nat []string
	for _, r := range rules {
		if strings.HasPrefix(r, "-A PREROUTING ") || strings.HasPrefix(r, "-A POSTROUTING ") {
			nat = append(nat, r)
		} else {
			filter = append(filter, r)
		}
	}
	var b strings.Builder
	for _, t := range []struct {
		name  string
		rules []string
	}{{"filter", filter}, {"nat", nat}} {
		if len(t.rules) == 0 {
			continue
		}
		fmt.Fprintf(&b, "*%s\n%s\nCOMMIT\n", t.name, strings.Join(t.rules, "\n"))
	}
	return b.String()
}

func sysctl(ns string, kv ...string) []string {
	return append([]string{"ip", "netns", "exec", ns, "sysctl", "-q", "-w"}, kv...)
}

// startServices re-executes exe inside every host namespace as its service
// process and waits until each says all its listeners are bound.
func (l *Lab) startServices(ctx context.Context, exe string, detach bool) error {
	specs := l.hostServices()
	ready := make(chan error, len(specs))
	for _, spec := range specs {
		out, err := l.startService(exe, spec, detach)
		if err != nil {
			return err
		}
		go func() {
			line, err := bufio.NewReader(out).ReadString('\n')
			if err == nil && strings.TrimSpace(line) != "ready" {
				err = fmt.Errorf("unexpected %q", line)
			}
			if err != nil {
				err = fmt.Errorf("netlab: services in %s did not start: %w", spec.Host, err)
			}
			ready <- err
		}()
	}
	// All processes start at once; wait for every one to have bound all
	// its listeners.
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for range specs {
		select {
		case err := <-ready:
			if err != nil {
				return err
			}
		case <-timeout.C:
			return errors.New("netlab: services did not start within 10s")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if detach {
		for _, cmd := range l.serve {
			_ = cmd.Process.Release()
		}
	}
	return l.warm(ctx, exe)
}

// startService re-executes exe inside one host namespace as its service
// process and returns the pipe on which it says "ready".
func (l *Lab) startService(exe string, spec serveSpec, detach bool) (io.Reader, error) {
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("netlab: encode serve spec: %w", err)
	}
	cmd := exec.Command("ip", "netns", "exec", spec.Host, exe)
	cmd.Env = append(os.Environ(), serveEnv+"="+string(raw))
	if detach {
		// Nothing of ours may hold the caller's stderr open: a shell
		// pipeline would wait for the services to exit.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.Stderr = os.Stderr
		// `ip netns exec` execs in place, so this reaches the service.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("netlab: services stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netlab: start services in %s: %w", spec.Host, err)
	}
	l.serve = append(l.serve, cmd)
	return out, nil
}

// warm connects once from the client to every host that answers (see
// warmEnv). The no-route-back host cannot answer and is left out.
func (l *Lab) warm(ctx context.Context, exe string) error {
	a, p := l.Addr, l.Ports
	var targets []string
	for _, t := range []struct {
		addr netip.Addr
		port int
	}{
		{a.Server, p.Closed}, {a.Server6, p.Closed},
		{a.GW, p.NoForward}, {a.GW6, p.NoForward}, // gw's own RST
		{a.GW, p.ForwardClosed}, {a.GW6, p.ForwardClosed}, // lan's RST, through gw
		{a.Quiet, p.Closed}, {a.Quiet6, p.Closed},
	} {
		targets = append(targets, netip.AddrPortFrom(t.addr, uint16(t.port)).String())
	}
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.NS.Client, exe)
	cmd.Env = append(os.Environ(), warmEnv+"="+strings.Join(targets, " "))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: warm the path: %w: %s", err, out)
	}
	return nil
}

// reap kills and waits for the service processes this Lab started (those
// not released to run on after it).
func (l *Lab) reap() {
	for _, cmd := range l.serve {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	l.serve = nil
}

// Close kills every process in the lab's namespaces and deletes them. It is
// safe on a half-built lab and idempotent.
func (l *Lab) Close() error {
	if l == nil {
		return nil
	}
	err := Remove(l.NS.all(), l.run)
	l.reap()
	return err
}

// Remove kills the processes inside the named namespaces and deletes them.
func Remove(names []string, r runner) error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, ns := range names {
		if !nsExists(ns) {
			continue
		}
		pids, _ := r.output(ctx, "ip", "netns", "pids", ns)
		for _, f := range strings.Fields(pids) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if err := r.do(ctx, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveByPrefix deletes every namespace whose name starts with prefix.
func RemoveByPrefix(prefix string) ([]string, error) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("netlab: list namespaces: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names, Remove(names, runner{})
}

// RemoveStale deletes the labs nobody runs any more: labctl's (prefix
// "pcl-ctl-") and test labs ("pcl-<pid>-...") whose process is gone. A test
// lab still in use is left alone, so a `labctl down` in one shell cannot pull
// the floor from under a test running in another.
func RemoveStale() ([]string, error) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("netlab: list namespaces: %w", err)
	}
	var names []string
	for _, e := range entries {
		if staleLab(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names, Remove(names, runner{})
}

func staleLab(name string) bool {
	if strings.HasPrefix(name, CtlPrefix) {
		return true
	}
	rest, ok := strings.CutPrefix(name, "pcl-")
	if !ok {
		return false
	}
	pidStr, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// CtlPrefix starts the names of labs made by labctl, which outlive it.
const CtlPrefix = "pcl-ctl-"

func nsExists(ns string) bool {
	_, err := os.Stat("/run/netns/" + ns)
	return err == nil
}

// Exec runs a command inside one of the lab's namespaces.
func (l *Lab) Exec(ctx context.Context, ns string, args ...string) (string, error) {
	return l.run.output(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
}
