package netlab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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

	run     runner
	serve   *exec.Cmd
	created []string // namespaces this process created
}

// Options tune Up.
type Options struct {
	// Prefix names the namespaces (<prefix>-c, -r1, -r2, -s); default
	// "pcl-<pid>-<n>", unique per process and call.
	Prefix string
	// ServeExe is the binary re-executed inside the server namespace to run
	// the services; it must call ServeIfChild first thing. Default: this
	// executable.
	ServeExe string
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
		Prefix: o.Prefix,
		NS:     Namespaces{Client: o.Prefix + "-c", R1: o.Prefix + "-r1", R2: o.Prefix + "-r2", Server: o.Prefix + "-s"},
		Addr:   defaultAddresses(),
		Ports:  defaultPorts(),
		run:    runner{log: o.Log},
	}
	defer func() {
		if err != nil {
			// Only what this call created: a name clash must not delete
			// somebody else's lab.
			_ = Remove(lab.created, lab.run)
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
		// Before any address: no DAD delay, no ICMP rate limit (parallel
		// tests would otherwise lose time-exceeded and unreachable replies).
		// The global ICMP token bucket (per namespace on recent kernels)
		// too: every scenario's traces share r1 and r2.
		steps = append(steps, sysctl(ns,
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
			// ratemask=0 rather than ratelimit=0 alone for IPv4: a zero
			// ratelimit still zeroes the peer's shared token count on every
			// ICMP, which then starves ip_error's own limiter (r1's
			// net-unreachable).
			"net.ipv4.icmp_ratemask=0", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0",
			"net.ipv4.icmp_msgs_per_sec=100000", "net.ipv4.icmp_msgs_burst=10000"))
	}
	steps = append(steps, [][]string{
		{"ip", "-n", n.Client, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", n.R1},
		{"ip", "-n", n.R1, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", n.R2},
		{"ip", "-n", n.R2, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", n.Server},
	}...)
	steps = append(steps,
		sysctl(n.R1, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"),
		sysctl(n.R2, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"),
		// Unprivileged ICMP (ping) sockets for everyone in the client.
		sysctl(n.Client, "net.ipv4.ping_group_range=0 2147483647"),
	)
	addr := func(ns, dev, cidr string) []string {
		return []string{"ip", "-n", ns, "addr", "add", cidr, "dev", dev, "nodad"}
	}
	addr4 := func(ns, dev, cidr string) []string { return []string{"ip", "-n", ns, "addr", "add", cidr, "dev", dev} }
	steps = append(steps,
		addr4(n.Client, "eth0", "198.18.1.2/24"), addr(n.Client, "eth0", "2001:db8:1::2/64"),
		addr4(n.R1, "eth0", "198.18.1.1/24"), addr(n.R1, "eth0", "2001:db8:1::1/64"),
		addr4(n.R1, "eth1", "198.18.2.1/24"), addr(n.R1, "eth1", "2001:db8:2::1/64"),
		addr4(n.R2, "eth0", "198.18.2.2/24"), addr(n.R2, "eth0", "2001:db8:2::2/64"),
		addr4(n.R2, "eth1", "198.18.3.1/24"), addr(n.R2, "eth1", "2001:db8:3::1/64"),
		addr4(n.Server, "eth0", "198.18.3.10/24"), addr(n.Server, "eth0", "2001:db8:3::10/64"),
	)
	for _, ns := range n.all() {
		steps = append(steps, []string{"ip", "-n", ns, "link", "set", "lo", "up"})
	}
	for _, ld := range [][2]string{{n.Client, "eth0"}, {n.R1, "eth0"}, {n.R1, "eth1"}, {n.R2, "eth0"}, {n.R2, "eth1"}, {n.Server, "eth0"}} {
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
		// r1 knows the server LAN but not 198.18.200.0/24 (net-unreachable).
		route(n.R1, "198.18.3.0/24", "via", "198.18.2.2"),
		route6(n.R1, "2001:db8:3::/64", "via", "2001:db8:2::2"),
		route(n.R2, "198.18.1.0/24", "via", "198.18.2.1"),
		route6(n.R2, "2001:db8:1::/64", "via", "2001:db8:2::1"),
		route(n.Server, "default", "via", "198.18.3.1"),
		route6(n.Server, "default", "via", "2001:db8:3::1"),
	)
	p := l.Ports
	dport := func(port int) []string { return []string{"-p", "tcp", "--dport", strconv.Itoa(port)} }
	ipt := func(ns, bin, chain string, port int, target ...string) []string {
		args := append([]string{"ip", "netns", "exec", ns, bin, "-w", "-A", chain}, dport(port)...)
		return append(append(args, "-j"), target...)
	}
	steps = append(steps,
		ipt(n.Server, "iptables", "INPUT", p.HostReject, "REJECT", "--reject-with", "icmp-port-unreachable"),
		ipt(n.Server, "ip6tables", "INPUT", p.HostReject, "REJECT", "--reject-with", "icmp6-port-unreachable"),
		ipt(n.Server, "iptables", "INPUT", p.HostAdmin, "REJECT", "--reject-with", "icmp-admin-prohibited"),
		ipt(n.Server, "ip6tables", "INPUT", p.HostAdmin, "REJECT", "--reject-with", "icmp6-adm-prohibited"),
		ipt(n.Server, "iptables", "INPUT", p.HostDrop, "DROP"),
		ipt(n.Server, "ip6tables", "INPUT", p.HostDrop, "DROP"),
		ipt(n.R1, "iptables", "FORWARD", p.PathDrop, "DROP"),
		ipt(n.R1, "ip6tables", "FORWARD", p.PathDrop, "DROP"),
		ipt(n.R2, "iptables", "FORWARD", p.PathAdmin, "REJECT", "--reject-with", "icmp-admin-prohibited"),
		ipt(n.R2, "ip6tables", "FORWARD", p.PathAdmin, "REJECT", "--reject-with", "icmp6-adm-prohibited"),
	)
	for _, s := range steps {
		if err := l.run.do(ctx, s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

func sysctl(ns string, kv ...string) []string {
	return append([]string{"ip", "netns", "exec", ns, "sysctl", "-q", "-w"}, kv...)
}

// startServices re-executes exe inside the server namespace as the service
// process and waits until it says every listener is bound.
func (l *Lab) startServices(ctx context.Context, exe string, detach bool) error {
	spec, err := json.Marshal(serveSpec{Ports: l.Ports})
	if err != nil {
		return fmt.Errorf("netlab: encode serve spec: %w", err)
	}
	cmd := exec.Command("ip", "netns", "exec", l.NS.Server, exe)
	cmd.Env = append(os.Environ(), serveEnv+"="+string(spec))
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
		return fmt.Errorf("netlab: services stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("netlab: start services: %w", err)
	}
	l.serve = cmd
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("unexpected %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("netlab: services did not start: %w", err)
		}
	case <-time.After(10 * time.Second):
		return errors.New("netlab: services did not start within 10s")
	case <-ctx.Done():
		return ctx.Err()
	}
	if detach {
		_ = cmd.Process.Release()
	}
	return l.warm(ctx, exe)
}

// warm connects once from the client to the server over both families (see
// warmEnv).
func (l *Lab) warm(ctx context.Context, exe string) error {
	closed := strconv.Itoa(l.Ports.Closed)
	targets := net.JoinHostPort(l.Addr.Server.String(), closed) + " " + net.JoinHostPort(l.Addr.Server6.String(), closed)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.NS.Client, exe)
	cmd.Env = append(os.Environ(), warmEnv+"="+targets)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: warm the path: %w: %s", err, out)
	}
	return nil
}

// Close kills every process in the lab's namespaces and deletes them. It is
// safe on a half-built lab and idempotent.
func (l *Lab) Close() error {
	if l == nil {
		return nil
	}
	err := Remove(l.NS.all(), l.run)
	if l.serve != nil && l.serve.Process != nil {
		_ = l.serve.Wait()
	}
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
