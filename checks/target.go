package checks

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
)

// DefaultMaxPorts caps how many ports one parse may expand to when
// ParseOptions.MaxPorts is zero: a typo like "web01:1-65535" should not start
// a full scan by accident.
const DefaultMaxPorts = 1024

// maxPort is the highest TCP port.
const maxPort = 65535

// ParseOptions tunes ParseTarget.
type ParseOptions struct {
	MaxPorts int // most ports a target (or all targets of ParseTargets) may expand to; 0 means DefaultMaxPorts
}

func (o ParseOptions) maxPorts() int {
	if o.MaxPorts <= 0 {
		return DefaultMaxPorts
	}
	return o.MaxPorts
}

// Target is one parsed command-line or chat target: a host and the ports to
// check on it.
type Target struct {
	Input string // as typed (surrounding spaces trimmed)
	Host  string // lower case, no brackets, no trailing dot; a name or a literal address
	Ports []int  // in the order given, without duplicates, each 1-65535
	// Scheme names the protocol when the input said it: the URL scheme
	// ("https://web01/") or a single service name ("web01:ssh"). It lets the
	// engine pick the right protocol probe on a non-standard port.
	Scheme string
}

// Requests expands the target into one Request per port, in order.
func (t Target) Requests() []Request {
	out := make([]Request, 0, len(t.Ports))
	for _, p := range t.Ports {
		out = append(out, Request{Target: t.Input, Host: t.Host, Port: p, Scheme: t.Scheme})
	}
	return out
}

// String is the canonical form of the target: it parses back to the same
// host and ports.
func (t Target) String() string {
	host := t.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + formatPorts(t.Ports)
}

// ParseErrorKind classifies a bad target so callers (CLI exit codes, chat
// replies) can react without matching message text.
type ParseErrorKind string

const (
	ErrMissingPort    ParseErrorKind = "missing_port"
	ErrPortRange      ParseErrorKind = "port_out_of_range"
	ErrEmptyHost      ParseErrorKind = "empty_host"
	ErrBadRange       ParseErrorKind = "bad_range"
	ErrUnknownService ParseErrorKind = "unknown_service"
	ErrInvalidHost    ParseErrorKind = "invalid_host"
	ErrTooManyPorts   ParseErrorKind = "too_many_ports"
	ErrMalformed      ParseErrorKind = "malformed"
)

// ParseError is a target that cannot be checked. Its message is one line:
// `<input>: <problem>`.
type ParseError struct {
	Input string
	Kind  ParseErrorKind
	Msg   string // the problem, in words, with how to fix it when that helps
}

func (e *ParseError) Error() string {
	return displayInput(e.Input) + ": " + e.Msg
}

// displayInput quotes an input only when printing it raw would mislead
// (empty, spaces, control characters), so ordinary targets read naturally.
func displayInput(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// ParseTarget parses one target: host:port, host:p1,p2, host:p1-p2,
// host:service, scheme://host[:port]/path, [v6]:port. It never panics; a bad
// target is a *ParseError.
func ParseTarget(s string, opts ParseOptions) (Target, error) {
	in := strings.TrimSpace(s)
	fail := func(kind ParseErrorKind, format string, a ...any) (Target, error) {
		return Target{}, &ParseError{Input: in, Kind: kind, Msg: fmt.Sprintf(format, a...)}
	}
	if in == "" {
		return fail(ErrEmptyHost, "empty target (want host:port, e.g. web01:443)")
	}
	if strings.ContainsFunc(in, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		return fail(ErrMalformed, "spaces or control characters inside the target")
	}
	if strings.Contains(in, "://") {
		return parseURLTarget(in, opts)
	}

	hostPart, portPart, hasPort, err := splitHostPorts(in)
	if err != nil {
		return Target{}, &ParseError{Input: in, Kind: err.Kind, Msg: err.Msg}
	}
	host, herr := normalizeHost(hostPart)
	if herr != nil {
		return Target{}, &ParseError{Input: in, Kind: herr.Kind, Msg: herr.Msg}
	}
	if !hasPort {
		example := host + ":443"
		if strings.Contains(host, ":") {
			example = "[" + host + "]:443"
		}
		return fail(ErrMissingPort, "missing port (e.g. %s, %s:ssh or https://%s/)", example, bracketed(host), bracketed(host))
	}
	ports, scheme, perr := parsePorts(portPart, opts.maxPorts())
	if perr != nil {
		return Target{}, &ParseError{Input: in, Kind: perr.Kind, Msg: perr.Msg}
	}
	return Target{Input: in, Host: host, Ports: ports, Scheme: scheme}, nil
}

// ParseTargets parses every argument and applies MaxPorts to the whole run,
// not only to each target, since the cap is about how long the run takes. It
// returns the first error.
func ParseTargets(args []string, opts ParseOptions) ([]Target, error) {
	out := make([]Target, 0, len(args))
	total := 0
	for _, a := range args {
		t, err := ParseTarget(a, opts)
		if err != nil {
			return nil, err
		}
		total += len(t.Ports)
		out = append(out, t)
	}
	if total > opts.maxPorts() {
		last := out[len(out)-1]
		return nil, &ParseError{Input: last.Input, Kind: ErrTooManyPorts, Msg: fmt.Sprintf(
			"the %d targets add up to %d ports, more than %d (raise the cap with --max-ports %d)",
			len(out), total, opts.maxPorts(), suggestMax(total))}
	}
	return out, nil
}

// suggestMax rounds a port count up to a cap worth typing.
func suggestMax(n int) int {
	for _, c := range []int{2048, 4096, 8192, 16384, 32768} {
		if n <= c {
			return c
		}
	}
	return maxPort
}

func bracketed(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// problem is a ParseError without its input, built by the helpers below.
type problem struct {
	Kind ParseErrorKind
	Msg  string
}

func newProblem(kind ParseErrorKind, format string, a ...any) *problem {
	return &problem{Kind: kind, Msg: fmt.Sprintf(format, a...)}
}

// splitHostPorts separates "host:ports", "[v6]:ports", "[v6]", "host" and
// bare IPv6 literals (which contain colons but carry no port).
func splitHostPorts(in string) (host, ports string, hasPort bool, err *problem) {
	if strings.HasPrefix(in, "[") {
		end := strings.IndexByte(in, ']')
		if end < 0 {
			return "", "", false, newProblem(ErrMalformed, "missing ']' after the IPv6 address")
		}
		host, rest := in[1:end], in[end+1:]
		if host == "" {
			return "", "", false, newProblem(ErrEmptyHost, "empty host")
		}
		if strings.ContainsAny(host, "[]") {
			return "", "", false, newProblem(ErrMalformed, "stray brackets")
		}
		if _, perr := netip.ParseAddr(host); perr != nil {
			return "", "", false, newProblem(ErrInvalidHost, "brackets hold an IP address, %q is not one", host)
		}
		switch {
		case rest == "":
			return host, "", false, nil
		case rest[0] != ':':
			return "", "", false, newProblem(ErrMalformed, "unexpected %q after ']' (want [address]:port)", rest)
		}
		return host, rest[1:], true, nil
	}
	if strings.ContainsAny(in, "[]") {
		return "", "", false, newProblem(ErrMalformed, "stray brackets (write IPv6 with a port as [2001:db8::1]:443)")
	}
	switch strings.Count(in, ":") {
	case 0:
		return in, "", false, nil
	case 1:
		i := strings.IndexByte(in, ':')
		return in[:i], in[i+1:], true, nil
	}
	// Several colons and no brackets: only a bare IPv6 address makes sense,
	// and it cannot carry a port (the last group would be ambiguous).
	if _, perr := netip.ParseAddr(in); perr == nil {
		return in, "", false, nil
	}
	return "", "", false, newProblem(ErrMalformed, "too many ':' (write IPv6 with a port as [2001:db8::1]:443)")
}

// normalizeHost lower-cases, strips one trailing dot from names and checks
// the result is an IP literal or a well-formed DNS name. Anything else
// (spaces, shell metacharacters, URLs without a scheme) is refused here so it
// can never reach a resolver, a log line or a suggested command unchecked.
func normalizeHost(h string) (string, *problem) {
	if h == "" {
		return "", newProblem(ErrEmptyHost, "empty host")
	}
	if a, err := netip.ParseAddr(h); err == nil {
		// Interface names in zones end up in suggested commands: keep them
		// to the characters interface names use.
		if z := a.Zone(); z != "" && strings.ContainsFunc(z, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
		}) {
			return "", newProblem(ErrInvalidHost, "invalid IPv6 zone %q", z)
		}
		return a.String(), nil // canonical: "2001:DB8:0::1" -> "2001:db8::1"
	}
	// inet_aton forms ("127.1", "2852039166", "0xA9FEA9FE", octal parts)
	// are what the kernel's resolver path would connect to: take them as that
	// address, so the report, the policy and the probes all see the same IP
	// instead of a "name" a C resolver would quietly turn into it.
	if a, ok := ParseLegacyIPv4(h); ok {
		return a.String(), nil
	}
	name := strings.ToLower(h)
	if strings.HasSuffix(name, ".") {
		name = name[:len(name)-1]
		if name == "" || strings.HasSuffix(name, ".") {
			return "", newProblem(ErrInvalidHost, "invalid host name %q: empty label", h)
		}
	}
	if len(name) > 253 {
		return "", newProblem(ErrInvalidHost, "host name longer than 253 characters")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if p := checkLabel(l); p != "" {
			return "", newProblem(ErrInvalidHost, "invalid host name %q: %s", h, p)
		}
	}
	// A numeric last label means the input was meant as an IPv4 address
	// (and resolvers would read "10.1" or "1.2.3.999" in surprising ways).
	if isDigits(labels[len(labels)-1]) {
		return "", newProblem(ErrInvalidHost, "invalid IPv4 address %q", h)
	}
	return name, nil
}

// checkLabel returns what is wrong with one DNS label, or "".
func checkLabel(l string) string {
	switch {
	case l == "":
		return "empty label"
	case len(l) > 63:
		return "label longer than 63 characters"
	case l[0] == '-' || l[len(l)-1] == '-':
		return "label starts or ends with '-'"
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			continue
		}
		if c >= 0x80 {
			return "non-ASCII characters (use the xn-- form of the name)"
		}
		return fmt.Sprintf("character %q not allowed", rune(c))
	}
	return ""
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parsePorts parses "22", "22,80,443", "8000-8100", "ssh", and mixes of
// them. Ports keep their first-seen order and duplicates are dropped. The
// scheme is returned when the whole spec is one service name.
func parsePorts(spec string, max int) ([]int, string, *problem) {
	if spec == "" {
		return nil, "", newProblem(ErrMissingPort, "missing port after ':'")
	}
	var ports []int
	scheme := ""
	items := strings.Split(spec, ",")
	// A bitmap bounds the work: repeated ranges cost iterations, never
	// memory. On the heap, and only for a list: as a local array its 64 KB
	// grew the stack of every goroutine that parsed a target (a worker
	// vets each job's target) to 128 KB, and a worker holding 1,000 jobs
	// kept most of that until collections shrank it.
	var seen []uint64
	if len(items) > 1 {
		seen = portBitmap()
	}
	for _, item := range items {
		lo, hi, name, p := parsePortItem(item)
		if p != nil {
			return nil, "", p
		}
		if name != "" && len(items) == 1 {
			scheme = name
		}
		if hi-lo+1 > max {
			return nil, "", newProblem(ErrTooManyPorts, "%s is %d ports, more than %d (raise the cap with --max-ports %d)", item, hi-lo+1, max, suggestMax(hi-lo+1))
		}
		if seen == nil {
			for port := lo; port <= hi; port++ {
				ports = append(ports, port) // one item: no repeats
			}
			continue
		}
		for port := lo; port <= hi; port++ {
			if w, bit := port/64, uint64(1)<<(port%64); seen[w]&bit == 0 {
				seen[w] |= bit
				ports = append(ports, port)
			}
		}
	}
	if len(ports) > max {
		return nil, "", newProblem(ErrTooManyPorts, "%d ports, more than %d (raise the cap with --max-ports %d)", len(ports), max, suggestMax(len(ports)))
	}
	return ports, scheme, nil
}

// portBitmap is a bitmap of every TCP port, on the heap: the compiler
// keeps a constant-size slice that does not escape on the stack.
//
//go:noinline
func portBitmap() []uint64 { return make([]uint64, (maxPort+64)/64) }

// parsePortItem parses one comma-separated item: a port, a range or a
// service name (returned lower case).
func parsePortItem(item string) (lo, hi int, name string, p *problem) {
	if item == "" {
		return 0, 0, "", newProblem(ErrMalformed, "empty port in the list (e.g. web01:22,80,443)")
	}
	if isDigits(item) {
		n, perr := portNumber(item)
		return n, n, "", perr
	}
	if a, b, ok := strings.Cut(item, "-"); ok && (isDigits(a) || isDigits(b) || a == "" || b == "") {
		if !isDigits(a) || !isDigits(b) {
			return 0, 0, "", newProblem(ErrBadRange, "bad port range %q (want FIRST-LAST, e.g. 8000-8100)", item)
		}
		lo, perr := portNumber(a)
		if perr != nil {
			return 0, 0, "", perr
		}
		hi, perr := portNumber(b)
		if perr != nil {
			return 0, 0, "", perr
		}
		if lo > hi {
			return 0, 0, "", newProblem(ErrBadRange, "bad port range %q: %d is above %d", item, lo, hi)
		}
		return lo, hi, "", nil
	}
	name = strings.ToLower(item)
	if n, ok := ServicePort(name); ok {
		return n, n, name, nil
	}
	if checkLabel(name) != "" {
		return 0, 0, "", newProblem(ErrMalformed, "bad port %q (want a number 1-65535, a range or a service name)", item)
	}
	return 0, 0, "", newProblem(ErrUnknownService, "unknown service %q (give the port number instead)", item)
}

// portNumber parses decimal digits into 1..65535.
func portNumber(digits string) (int, *problem) {
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || n > maxPort {
		return 0, newProblem(ErrPortRange, "port %s is out of range (1-65535)", digits)
	}
	return n, nil
}

// parseURLTarget takes the port from the URL (an explicit port wins) or from
// its scheme, and ignores the path, query and user info: portcheck checks
// reachability, it does not fetch the URL.
func parseURLTarget(in string, opts ParseOptions) (Target, error) {
	fail := func(kind ParseErrorKind, format string, a ...any) (Target, error) {
		return Target{}, &ParseError{Input: in, Kind: kind, Msg: fmt.Sprintf(format, a...)}
	}
	scheme, rest, _ := strings.Cut(in, "://")
	scheme = strings.ToLower(scheme)
	if !validScheme(scheme) {
		return fail(ErrMalformed, "bad URL scheme %q", scheme)
	}
	// Parse the authority ourselves: net/url accepts things a target must
	// not be (empty hosts, percent-encoded names) and its errors quote the
	// whole URL back, which reads badly in one line.
	authority := rest
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	if strings.Contains(authority, "%") && !strings.HasPrefix(authority, "[") {
		return fail(ErrInvalidHost, "percent-encoded host names are not supported")
	}
	if authority == "" {
		return fail(ErrEmptyHost, "empty host in URL")
	}
	hostPart, portPart, hasPort, perr := splitHostPorts(authority)
	if perr != nil {
		return Target{}, &ParseError{Input: in, Kind: perr.Kind, Msg: perr.Msg}
	}
	host, herr := normalizeHost(hostPart)
	if herr != nil {
		return Target{}, &ParseError{Input: in, Kind: herr.Kind, Msg: herr.Msg}
	}
	if hasPort && portPart == "" {
		hasPort = false // "http://web01:/" means the default port, as in browsers
	}
	var port int
	if hasPort {
		if !isDigits(portPart) {
			return fail(ErrMalformed, "bad port %q in URL (one number 1-65535)", portPart)
		}
		n, p := portNumber(portPart)
		if p != nil {
			return fail(p.Kind, "%s", p.Msg)
		}
		port = n
	} else {
		n, ok := ServicePort(scheme)
		if !ok {
			return fail(ErrUnknownService, "no default port for scheme %q (add one: %s://%s:PORT/)", scheme, scheme, bracketed(host))
		}
		port = n
	}
	_ = opts // one URL is one port: the cap cannot be exceeded
	return Target{Input: in, Host: host, Ports: []int{port}, Scheme: scheme}, nil
}

// validScheme follows RFC 3986: a letter, then letters, digits, '+', '-', '.'.
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := c >= 'a' && c <= 'z'
		if i == 0 && !alpha {
			return false
		}
		if !alpha && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// formatPorts writes ports compactly, folding consecutive runs into ranges:
// [22 80 81 82 443] -> "22,80-82,443".
func formatPorts(ports []int) string {
	var b strings.Builder
	for i := 0; i < len(ports); {
		j := i
		for j+1 < len(ports) && ports[j+1] == ports[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(ports[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(ports[j]))
		}
		i = j + 1
	}
	return b.String()
}
