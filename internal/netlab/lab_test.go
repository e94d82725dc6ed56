package netlab

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dialEnv makes the test binary, re-executed inside the client namespace,
// run the dialJobs it carries (all at once) and print their results as
// JSON: a Go process cannot move all its threads into another namespace.
const dialEnv = "PORTCHECK_NETLAB_TEST_DIAL"

func TestMain(m *testing.M) {
	ServeIfChild()
	if raw, ok := os.LookupEnv(dialEnv); ok {
		var jobs []dialJob
		if err := json.Unmarshal([]byte(raw), &jobs); err != nil {
			fmt.Fprintln(os.Stderr, "dial child:", err)
			os.Exit(2)
		}
		res := make([]dialResult, len(jobs))
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Add(1)
			go func() { defer wg.Done(); res[i] = dial(j) }()
		}
		wg.Wait()
		if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// dialJob is one TCP connect from the client.
type dialJob struct {
	Name    string         `json:"name"`
	To      netip.AddrPort `json:"to"`
	TTL     int            `json:"ttl,omitempty"` // IP TTL / hop limit of the SYN; 0: default
	Timeout time.Duration  `json:"timeout"`
	Read    bool           `json:"read,omitempty"` // read a greeting once connected
}

// dialResult is what the connect saw. Exactly one of Connected, Errno and
// TimedOut is set. The first ICMP error ends the dial: ICMP is its
// error-queue entry and Errno its errno.
type dialResult struct {
	Name      string        `json:"name"`
	Connected bool          `json:"connected,omitempty"`
	Errno     string        `json:"errno,omitempty"` // "ECONNREFUSED", ...
	TimedOut  bool          `json:"timed_out,omitempty"`
	ICMP      *icmpSeen     `json:"icmp,omitempty"`
	Banner    string        `json:"banner,omitempty"`
	Elapsed   time.Duration `json:"elapsed"`
}

type icmpSeen struct {
	Errno  string     `json:"errno"`
	Origin uint8      `json:"origin"` // 2 ICMP, 3 ICMPv6
	Type   uint8      `json:"type"`
	Code   uint8      `json:"code"`
	From   netip.Addr `json:"from"`
}

func (i *icmpSeen) String() string {
	if i == nil {
		return "none"
	}
	return fmt.Sprintf("%s: origin %d type %d code %d from %s", i.Errno, i.Origin, i.Type, i.Code, i.From)
}

// dial connects with IP_RECVERR, like portcheck's own probe but in a few
// lines: a RST is ECONNREFUSED with an empty error queue, an ICMP error
// leaves its type, code and sender in the queue.
//
// It stops at the first ICMP error rather than waiting for the kernel to
// abort the connect: an ICMP that arrives while connect(2) still holds the
// socket (on veths it can come back that fast) is only a soft error to
// TCP, which then gives up on the retransmitted SYN's ICMP a second later
// (LockDroppedIcmps in /proc/net/netstat). ICMPv6 time-exceeded and
// address-unreachable are soft errors anyway.
func dial(j dialJob) (r dialResult) {
	start := time.Now()
	r.Name = j.Name
	defer func() { r.Elapsed = time.Since(start) }()
	a := j.To.Addr()
	fam, level, recverr, ttl := unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, unix.IPV6_UNICAST_HOPS
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(j.To.Port()), Addr: a.As16()}
	if a.Is4() {
		fam, level, recverr, ttl = unix.AF_INET, unix.IPPROTO_IP, unix.IP_RECVERR, unix.IP_TTL
		sa = &unix.SockaddrInet4{Port: int(j.To.Port()), Addr: a.As4()}
	}
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		r.Errno = errnoName(err)
		return r
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptInt(fd, level, recverr, 1)
	if j.TTL > 0 {
		_ = unix.SetsockoptInt(fd, level, ttl, j.TTL)
	}
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
		r.Errno = errnoName(err)
		return r
	}
	deadline := start.Add(j.Timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			r.TimedOut = true
			return r
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
			r.Errno = errnoName(err)
			return r
		}
		// SO_ERROR first: reading the error queue resets it.
		soerr, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if fds[0].Revents&unix.POLLERR != 0 {
			if ic := readErrQueue(fd); ic != nil {
				r.ICMP, r.Errno = ic, ic.Errno
				return r
			}
		}
		// The state, not the poll bits, says whether it is over.
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			r.Errno = errnoName(err)
			return r
		}
		switch info.State {
		case unix.BPF_TCP_ESTABLISHED:
			r.Connected = true
			if j.Read {
				r.Banner = readBanner(fd, deadline)
			}
			return r
		case unix.BPF_TCP_CLOSE:
			r.Errno = errnoName(unix.Errno(soerr))
			return r
		}
	}
}

func errnoName(err error) string {
	if e, ok := err.(unix.Errno); ok {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
	}
	return err.Error()
}

// readErrQueue returns the last ICMP entry of the socket's error queue.
func readErrQueue(fd int) *icmpSeen {
	// Without a deadline on a queue entry: the queue holds only what has
	// arrived, MSG_DONTWAIT ends the loop.
	var last *icmpSeen
	for {
		oob := make([]byte, 512)
		_, oobn, _, _, err := unix.Recvmsg(fd, make([]byte, 512), oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err != nil {
			return last
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return last
		}
		for _, m := range msgs {
			if !(m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVERR) &&
				!(m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_RECVERR) {
				continue
			}
			// struct sock_extended_err (16 bytes), then the offender's
			// sockaddr.
			d := m.Data
			if len(d) < 16+8 {
				continue
			}
			ic := &icmpSeen{Errno: errnoName(unix.Errno(binary.NativeEndian.Uint32(d))), Origin: d[4], Type: d[5], Code: d[6]}
			off := d[16:]
			switch binary.NativeEndian.Uint16(off) {
			case unix.AF_INET:
				ic.From = netip.AddrFrom4([4]byte(off[4:8]))
			case unix.AF_INET6:
				if len(off) >= 24 {
					ic.From = netip.AddrFrom16([16]byte(off[8:24]))
				}
			}
			last = ic
		}
	}
}

func readBanner(fd int, deadline time.Time) string {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, _ := unix.Poll(fds, int(time.Until(deadline)/time.Millisecond)+1); n <= 0 {
		return ""
	}
	buf := make([]byte, 256)
	n, err := unix.Read(fd, buf)
	if err != nil || n <= 0 {
		return ""
	}
	return string(buf[:n])
}

// dialFromClient runs jobs at once inside the client namespace.
func dialFromClient(t *testing.T, lab *Lab, jobs []dialJob) map[string]dialResult {
	t.Helper()
	raw, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", lab.NS.Client, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), dialEnv+"="+string(raw))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("dial child: %v\n%s", err, stderr.String())
	}
	var res []dialResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("decode %q: %v", stdout.String(), err)
	}
	out := map[string]dialResult{}
	for _, r := range res {
		out[r.Name] = r
	}
	return out
}

func needLab(t *testing.T) {
	t.Helper()
	if err := Requirements(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("lab required under CI=true: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
}

// up builds a lab for one test and removes it afterwards.
func up(t *testing.T, o Options) *Lab {
	t.Helper()
	needLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	lab, err := Up(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Up in %v", time.Since(start))
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return lab
}

// TestUpClose builds a lab, checks it is wired (the client reaches the
// server through both routers) and that Close leaves nothing behind.
func TestUpClose(t *testing.T) {
	lab := up(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
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
	// The no-route-back host has its connected routes and nothing else.
	for _, fam := range []string{"-4", "-6"} {
		out, err = lab.Exec(ctx, lab.NS.NoRouteBack, "ip", fam, "route", "show")
		if err != nil || strings.Contains(out, "default") || strings.Contains(out, "via") {
			t.Errorf("no-route-back host %s routes: %q %v", fam, out, err)
		}
	}
	for _, ns := range lab.NS.all() {
		if !strings.HasPrefix(ns, lab.Prefix+"-") || !nsExists(ns) {
			t.Errorf("namespace %q missing or not named from the prefix", ns)
		}
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

// TestUpFailsHalfway: when the services cannot start, after every
// namespace was built, Up removes them all.
func TestUpFailsHalfway(t *testing.T) {
	needLab(t)
	prefix := fmt.Sprintf("pcl-%d-fail", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := Up(ctx, Options{Prefix: prefix, ServeExe: "/bin/false"})
	if err == nil {
		lab.Close()
		t.Fatal("Up succeeded with a service binary that exits at once")
	}
	t.Logf("Up: %v", err)
	for _, ns := range namespacesFor(prefix).all() {
		if nsExists(ns) {
			t.Errorf("namespace %s left behind", ns)
			_ = Remove([]string{ns}, runner{})
		}
	}
}

// want is what one dial must see.
type want struct {
	connected bool
	banner    string    // substring of the greeting
	errno     string    // "" with connected or timedOut
	timedOut  bool      // silence until the job's timeout
	icmp      *icmpSeen // nil: the error queue must stay empty
}

// TestScenarios proves every scenario from the client with plain
// connects: who answers, with what.
func TestScenarios(t *testing.T) {
	lab := up(t, Options{})
	a, p := lab.Addr, lab.Ports
	to := func(addr netip.Addr, port int) netip.AddrPort { return netip.AddrPortFrom(addr, uint16(port)) }
	// icmp4 and icmp6 expect an ICMP error from one sender; the errno is
	// the kernel's reading of its type and code.
	icmp4 := func(errno string, typ, code uint8, from netip.Addr) want {
		return want{errno: errno, icmp: &icmpSeen{Errno: errno, Origin: unix.SO_EE_ORIGIN_ICMP, Type: typ, Code: code, From: from}}
	}
	icmp6 := func(errno string, typ, code uint8, from netip.Addr) want {
		return want{errno: errno, icmp: &icmpSeen{Errno: errno, Origin: unix.SO_EE_ORIGIN_ICMP6, Type: typ, Code: code, From: from}}
	}
	refused := want{errno: "ECONNREFUSED"}
	silent := want{timedOut: true}
	// Silence lasts past 3 s where a router would have said
	// host-unreachable by then (its ARP giving up).
	const short, long = 2 * time.Second, 5 * time.Second
	cases := []struct {
		job  dialJob
		want want
	}{
		// The NAT gateway.
		{dialJob{Name: "forward_open", To: to(a.GW, p.ForwardOpen), Timeout: long, Read: true},
			want{connected: true, banner: "portcheck-lab-lan"}},
		{dialJob{Name: "forward_open_v6", To: to(a.GW6, p.ForwardOpen), Timeout: long, Read: true},
			want{connected: true, banner: "portcheck-lab-lan"}},
		{dialJob{Name: "no_forward", To: to(a.GW, p.NoForward), Timeout: long}, refused},
		{dialJob{Name: "no_forward_v6", To: to(a.GW6, p.NoForward), Timeout: long}, refused},
		{dialJob{Name: "forward_closed", To: to(a.GW, p.ForwardClosed), Timeout: long}, refused},
		{dialJob{Name: "forward_closed_v6", To: to(a.GW6, p.ForwardClosed), Timeout: long}, refused},
		{dialJob{Name: "forward_dead", To: to(a.GW, p.ForwardDead), Timeout: 10 * time.Second},
			icmp4("EHOSTUNREACH", 3, 1, a.GW)}, // host-unreachable from the public address
		{dialJob{Name: "forward_dead_v6", To: to(a.GW6, p.ForwardDead), Timeout: 10 * time.Second},
			icmp6("EHOSTUNREACH", 1, 3, a.GW6)}, // address-unreachable
		{dialJob{Name: "forward_drop", To: to(a.GW, p.ForwardDrop), Timeout: short}, silent},
		{dialJob{Name: "forward_drop_v6", To: to(a.GW6, p.ForwardDrop), Timeout: short}, silent},
		// A SYN that expires at gw: the port is forwarded further.
		{dialJob{Name: "forward_drop_ttl", To: to(a.GW, p.ForwardDrop), TTL: a.GWHops, Timeout: short},
			icmp4("EHOSTUNREACH", 11, 0, a.GW)},
		{dialJob{Name: "forward_drop_ttl_v6", To: to(a.GW6, p.ForwardDrop), TTL: a.GWHops, Timeout: short},
			icmp6("EHOSTUNREACH", 3, 0, a.GW6)},
		{dialJob{Name: "no_forward_ttl", To: to(a.GW, p.NoForward), TTL: a.GWHops, Timeout: short}, refused},
		// The LAN behind gw is not routed.
		{dialJob{Name: "lan_unrouted", To: to(a.Lan, p.LanOpen), Timeout: short},
			icmp4("ENETUNREACH", 3, 0, a.R1)},
		{dialJob{Name: "lan_unrouted_v6", To: to(a.Lan6, p.LanOpen), Timeout: short},
			icmp6("ENETUNREACH", 1, 0, a.R16)},
		// Resets from routers in the path.
		{dialJob{Name: "path_reset", To: to(a.Server, p.PathReset), Timeout: long}, refused},
		{dialJob{Name: "path_reset_v6", To: to(a.Server6, p.PathReset), Timeout: long}, refused},
		{dialJob{Name: "path_reset_ttl1", To: to(a.Server, p.PathReset), TTL: 1, Timeout: short},
			icmp4("EHOSTUNREACH", 11, 0, a.R1)},
		{dialJob{Name: "path_reset_ttl2", To: to(a.Server, p.PathReset), TTL: 2, Timeout: short}, refused}, // r1 resets before r2 could expire it
		{dialJob{Name: "path_reset_last", To: to(a.Server, p.PathResetLast), Timeout: long}, refused},
		{dialJob{Name: "path_reset_last_v6", To: to(a.Server6, p.PathResetLast), Timeout: long}, refused},
		{dialJob{Name: "path_reset_last_ttl2", To: to(a.Server, p.PathResetLast), TTL: 2, Timeout: short},
			icmp4("EHOSTUNREACH", 11, 0, a.R2)},
		{dialJob{Name: "path_reset_last_ttl3", To: to(a.Server, p.PathResetLast), TTL: 3, Timeout: short}, refused},
		{dialJob{Name: "path_reset_last_ttl2_v6", To: to(a.Server6, p.PathResetLast), TTL: 2, Timeout: short},
			icmp6("EHOSTUNREACH", 3, 0, a.R26)},
		// The quiet host behind the ICMP-silent r3.
		{dialJob{Name: "quiet_open", To: to(a.Quiet, p.QuietOpen), Timeout: long}, want{connected: true}},
		{dialJob{Name: "quiet_open_v6", To: to(a.Quiet6, p.QuietOpen), Timeout: long}, want{connected: true}},
		{dialJob{Name: "quiet_drop", To: to(a.Quiet, p.QuietDrop), Timeout: short}, silent},
		{dialJob{Name: "quiet_drop_v6", To: to(a.Quiet6, p.QuietDrop), Timeout: short}, silent},
		{dialJob{Name: "quiet_drop_ttl_r3", To: to(a.Quiet, p.QuietDrop), TTL: a.QuietHops - 1, Timeout: short}, silent},
		{dialJob{Name: "quiet_drop_ttl_r3_v6", To: to(a.Quiet6, p.QuietDrop), TTL: a.QuietHops - 1, Timeout: short}, silent},
		{dialJob{Name: "quiet_closed_ttl_r3", To: to(a.Quiet, p.Closed), TTL: a.QuietHops - 1, Timeout: short}, silent},
		{dialJob{Name: "quiet_closed", To: to(a.Quiet, p.Closed), Timeout: short}, refused}, // r3 passes quiet's RST
		{dialJob{Name: "quiet_drop_ttl_r2", To: to(a.Quiet, p.QuietDrop), TTL: a.QuietHops - 2, Timeout: short},
			icmp4("EHOSTUNREACH", 11, 0, a.R2)},
		// The host without a route back: nothing at all, not even from r2.
		{dialJob{Name: "no_route_back", To: to(a.NoRouteBack, p.NoRouteBackOpen), Timeout: long}, silent},
		{dialJob{Name: "no_route_back_v6", To: to(a.NoRouteBack6, p.NoRouteBackOpen), Timeout: long}, silent},
	}
	jobs := make([]dialJob, len(cases))
	for i, c := range cases {
		jobs[i] = c.job
	}
	got := dialFromClient(t, lab, jobs)
	for _, c := range cases {
		t.Run(c.job.Name, func(t *testing.T) {
			r, ok := got[c.job.Name]
			if !ok {
				t.Fatal("no result")
			}
			t.Logf("%s: connected %v errno %q timed out %v icmp %s after %v", c.job.To, r.Connected, r.Errno, r.TimedOut, r.ICMP, r.Elapsed.Round(time.Millisecond))
			w := c.want
			if r.Connected != w.connected || r.Errno != w.errno || r.TimedOut != w.timedOut {
				t.Errorf("connected %v errno %q timed out %v, want %v %q %v", r.Connected, r.Errno, r.TimedOut, w.connected, w.errno, w.timedOut)
			}
			if !strings.Contains(r.Banner, w.banner) {
				t.Errorf("banner %q, want %q in it", r.Banner, w.banner)
			}
			if (r.ICMP == nil) != (w.icmp == nil) || (r.ICMP != nil && *r.ICMP != *w.icmp) {
				t.Errorf("icmp %s, want %s", r.ICMP, w.icmp)
			}
		})
	}
}

// TestStrictRouter: r2 answers a burst of TTL-limited SYNs with at most
// the kernel's burst of 6 time-exceeded, then keeps silent for 5 s.
func TestStrictRouter(t *testing.T) {
	lab := up(t, Options{StrictRouter: true})
	a, p := lab.Addr, lab.Ports
	const burst = 12
	round := func(name string) (answered4, answered6 int) {
		var jobs []dialJob
		for i := range burst {
			jobs = append(jobs,
				dialJob{Name: fmt.Sprintf("%s4-%d", name, i), To: netip.AddrPortFrom(a.Server, uint16(p.Closed)), TTL: 2, Timeout: 500 * time.Millisecond},
				dialJob{Name: fmt.Sprintf("%s6-%d", name, i), To: netip.AddrPortFrom(a.Server6, uint16(p.Closed)), TTL: 2, Timeout: 500 * time.Millisecond})
		}
		for name, r := range dialFromClient(t, lab, jobs) {
			switch {
			case r.ICMP == nil:
			case strings.Contains(name, "4-") && r.ICMP.From == a.R2 && r.ICMP.Type == 11:
				answered4++
			case strings.Contains(name, "6-") && r.ICMP.From == a.R26 && r.ICMP.Type == 3:
				answered6++
			default:
				t.Errorf("%s: unexpected icmp %s", name, r.ICMP)
			}
		}
		return answered4, answered6
	}
	start := time.Now()
	n4, n6 := round("burst")
	t.Logf("burst of %d: %d/%d time-exceeded (v4/v6)", burst, n4, n6)
	for _, n := range []int{n4, n6} {
		// 6 tokens, plus one per 5 s should the machine be that slow.
		if n < 1 || n > 6+int(time.Since(start)/(5*time.Second)) {
			t.Errorf("r2 answered %d of %d, want 1..6", n, burst)
		}
	}
	n4, n6 = round("after")
	elapsed := time.Since(start)
	t.Logf("%v later: %d/%d time-exceeded (v4/v6)", elapsed.Round(time.Millisecond), n4, n6)
	if elapsed < 5*time.Second && (n4 > 0 || n6 > 0) {
		t.Errorf("r2 answered again within 5 s of its burst: %d/%d", n4, n6)
	}
}
