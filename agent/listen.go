package agent

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Socket is one line of /proc/net/{tcp,tcp6,udp,udp6}.
type Socket struct {
	Proto string     // "tcp" or "udp"
	Addr  netip.Addr // local address
	Port  int        // local port
	State uint8      // kernel TCP state; 0x0A is LISTEN, 0x07 is an unconnected UDP socket
	UID   int
	Inode uint64
}

const (
	stateListen = 0x0A // TCP_LISTEN
	stateClose  = 0x07 // TCP_CLOSE: how an unconnected (listening) UDP socket shows
)

// Listening says whether the socket accepts new peers: a TCP socket in
// LISTEN, or a UDP socket bound without a connected peer (netstat -ul).
func (s Socket) Listening() bool {
	if s.Proto == "udp" {
		return s.State == stateClose
	}
	return s.State == stateListen
}

// ParseProcNet parses a /proc/net/{tcp,udp}[6] table. proto is "tcp" or
// "udp"; the address width (IPv4 or IPv6) is taken from each line.
func ParseProcNet(r io.Reader, proto string) ([]Socket, error) {
	var out []Socket
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first { // header: "sl local_address rem_address st ..."
			first = false
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 10 {
			continue
		}
		addr, port, err := parseHexAddrPort(fields[1])
		if err != nil {
			return out, fmt.Errorf("%s line %q: %w", proto, line, err)
		}
		st, err := strconv.ParseUint(fields[3], 16, 8)
		if err != nil {
			return out, fmt.Errorf("%s line %q: state: %w", proto, line, err)
		}
		uid, err := strconv.Atoi(fields[7])
		if err != nil {
			return out, fmt.Errorf("%s line %q: uid: %w", proto, line, err)
		}
		inode, err := strconv.ParseUint(fields[9], 10, 64)
		if err != nil {
			return out, fmt.Errorf("%s line %q: inode: %w", proto, line, err)
		}
		out = append(out, Socket{Proto: proto, Addr: addr, Port: port, State: uint8(st), UID: uid, Inode: inode})
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read %s table: %w", proto, err)
	}
	return out, nil
}

// parseHexAddrPort decodes "0100007F:20FB". The kernel prints the address
// as 32-bit words in host byte order (so 127.0.0.1 is 0100007F on
// little-endian machines) and the port in plain big-endian hex.
func parseHexAddrPort(s string) (netip.Addr, int, error) {
	host, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, 0, fmt.Errorf("address %q: no port", s)
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("port %q: %w", portHex, err)
	}
	raw, err := hex.DecodeString(host)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("address %q: %w", host, err)
	}
	if len(raw) != 4 && len(raw) != 16 {
		return netip.Addr{}, 0, fmt.Errorf("address %q: %d bytes", host, len(raw))
	}
	// Each 32-bit word was printed as a host-order integer: undo that word by word.
	for i := 0; i < len(raw); i += 4 {
		w := binary.NativeEndian.Uint32(raw[i:])
		binary.BigEndian.PutUint32(raw[i:], w)
	}
	a, _ := netip.AddrFromSlice(raw)
	return a.Unmap(), int(port), nil
}

// Listener is one socket accepting on the queried port, with its owner when
// the agent may see it.
type Listener struct {
	Proto   string     `json:"proto"`
	Address netip.Addr `json:"address"`
	Port    int        `json:"port"`
	Scope   string     `json:"scope"` // "any", "loopback" or "specific"
	Inode   uint64     `json:"inode"`
	UID     int        `json:"uid"`
	PID     int        `json:"pid,omitempty"`
	Exe     string     `json:"exe,omitempty"`
	Comm    string     `json:"comm,omitempty"`
	Cmdline string     `json:"cmdline,omitempty"` // only when Privacy.Cmdline
	// OwnerUnknown says why PID is missing (e.g. not enough privilege).
	OwnerUnknown string `json:"owner_unknown,omitempty"`
}

// Endpoint is "127.0.0.1:8443" or "[::1]:8443".
func (l Listener) Endpoint() string {
	return netip.AddrPortFrom(l.Address, uint16(l.Port)).String()
}

// Scope classifies a bound address the way the diagnosis needs it: "any"
// accepts on every interface, "loopback" only from this host, "specific"
// only on one interface's address.
func Scope(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "any"
	case a.IsLoopback():
		return "loopback"
	default:
		return "specific"
	}
}

// ListenersOn returns the sockets listening on port for proto from the
// procfs at proc (its net/ directory is the reading process's namespace).
func ListenersOn(proc string, port int, proto string) ([]Listener, error) {
	var out []Listener
	var errs []error
	for _, table := range []string{proto, proto + "6"} {
		fh, err := os.Open(filepath.Join(proc, "net", table))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && strings.HasSuffix(table, "6") {
				continue // kernel without IPv6
			}
			errs = append(errs, fmt.Errorf("open %s table: %w", table, err))
			continue
		}
		socks, err := ParseProcNet(fh, proto)
		fh.Close()
		if err != nil {
			errs = append(errs, err)
		}
		for _, s := range socks {
			if s.Port != port || !s.Listening() {
				continue
			}
			out = append(out, Listener{Proto: proto, Address: s.Addr, Port: s.Port, Scope: Scope(s.Addr), Inode: s.Inode, UID: s.UID})
		}
	}
	return out, errors.Join(errs...)
}

// SocketOwners maps socket inodes to pids by reading /proc/*/fd links. It
// stops caring once every wanted inode is found. denied counts processes
// whose fd directory was unreadable: an unprivileged agent sees only its own
// user's processes.
func SocketOwners(proc string, want map[uint64]bool) (owners map[uint64]int, denied int, err error) {
	owners = map[uint64]int{}
	ents, err := os.ReadDir(proc)
	if err != nil {
		return owners, 0, fmt.Errorf("list %s: %w", proc, err)
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fdDir := filepath.Join(proc, e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				denied++
			}
			continue // permission, or the process exited meanwhile
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
			if err != nil || !want[ino] {
				continue
			}
			if _, seen := owners[ino]; !seen {
				owners[ino] = pid
			}
		}
		if len(owners) == len(want) {
			break
		}
	}
	return owners, denied, nil
}

// describeProcess fills the owner fields of l from /proc/pid.
func describeProcess(proc string, l *Listener, withCmdline bool) {
	dir := filepath.Join(proc, strconv.Itoa(l.PID))
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		l.Exe = strings.TrimSuffix(exe, " (deleted)")
	}
	if comm, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		l.Comm = strings.TrimSpace(string(comm))
	}
	if withCmdline {
		if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
			l.Cmdline = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

func gatherListeners(f *Facts, q Query, o Options) {
	ls, err := ListenersOn(o.Proc, q.Port, q.Proto)
	if err != nil {
		f.unseen("listening sockets", err.Error())
	}
	if len(ls) == 0 {
		return
	}
	want := map[uint64]bool{}
	for _, l := range ls {
		want[l.Inode] = true
	}
	owners, denied, err := SocketOwners(o.Proc, want)
	if err != nil {
		f.unseen("socket owners", err.Error())
	}
	for i := range ls {
		pid, ok := owners[ls[i].Inode]
		switch {
		case ok:
			ls[i].PID = pid
			describeProcess(o.Proc, &ls[i], o.Privacy.Cmdline)
			if ls[i].Exe == "" {
				ls[i].OwnerUnknown = "pid known but /proc/PID/exe unreadable: not enough privilege (run the agent as root or the service's user)"
			}
		case denied > 0:
			ls[i].OwnerUnknown = fmt.Sprintf("not enough privilege: /proc/PID/fd of %d processes unreadable (socket uid %d; run the agent as root or that user)", denied, ls[i].UID)
		default:
			ls[i].OwnerUnknown = "no process holds the socket (exited, or in another pid namespace)"
		}
		if ls[i].OwnerUnknown != "" {
			f.unseen("owner of "+ls[i].Proto+" "+ls[i].Endpoint(), ls[i].OwnerUnknown)
		}
	}
	f.Listeners = ls
}
