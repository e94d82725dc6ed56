package agent

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// ParseIptablesSave parses `iptables-save -c` (or ip6tables-save, or a ufw
// user.rules file, which is iptables-restore input) into rules and chain
// policies. source names the listing ("iptables", "ip6tables", "ufw").
// Positions count per table and chain, like `iptables -L --line-numbers`.
func ParseIptablesSave(text, source string) ([]Rule, error) {
	var out []Rule
	table := ""
	pos := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || line == "COMMIT":
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			pos = map[string]int{}
		case strings.HasPrefix(line, ":"):
			r, ok := parseChainPolicy(line, table, source)
			if ok {
				out = append(out, r)
			}
		default:
			r, err := parseIptablesRule(line, table, source)
			if err != nil {
				return out, fmt.Errorf("%s line %d: %w", source, n, err)
			}
			if r.Chain == "" {
				continue // -N, -P, -I lines of hand-written restore files carry no rule
			}
			key := table + "\x00" + r.Chain
			pos[key]++
			r.Position = pos[key]
			out = append(out, r)
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read %s listing: %w", source, err)
	}
	return out, nil
}

// parseChainPolicy reads ":INPUT DROP [14:840]". User chains have policy
// "-" and are not returned.
func parseChainPolicy(line, table, source string) (Rule, bool) {
	f := strings.Fields(line[1:])
	if len(f) < 2 || f[1] == "-" {
		return Rule{}, false
	}
	r := Rule{Source: source, Table: table, Chain: f[0], Target: f[1], Policy: true, Text: line, Hook: isInboundChain(table, f[0])}
	if len(f) >= 3 {
		r.Packets, r.Bytes, r.Counters = parseCounters(f[2])
	}
	return r, true
}

// isInboundChain says whether inbound packets for local sockets traverse
// the chain: INPUT of filter (and of the ufw-managed iptables), and raw /
// mangle PREROUTING where DROPs also hit.
func isInboundChain(table, chain string) bool {
	switch chain {
	case "INPUT":
		return table == "filter" || table == "mangle" || table == "security"
	case "PREROUTING":
		return table == "raw" || table == "mangle"
	}
	return strings.HasPrefix(chain, "ufw-") && strings.Contains(chain, "input")
}

// parseCounters reads "[packets:bytes]".
func parseCounters(s string) (pk, by uint64, ok bool) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, b, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	pk, err1 := strconv.ParseUint(a, 10, 64)
	by, err2 := strconv.ParseUint(b, 10, 64)
	return pk, by, err1 == nil && err2 == nil
}

// parseIptablesRule reads "[14:840] -A INPUT -p tcp -m tcp --dport 8443 -j DROP".
func parseIptablesRule(line, table, source string) (Rule, error) {
	r := Rule{Source: source, Table: table}
	if strings.HasPrefix(line, "[") {
		c, rest, _ := strings.Cut(line, " ")
		r.Packets, r.Bytes, r.Counters = parseCounters(c)
		line = strings.TrimSpace(rest)
	}
	toks, err := splitArgs(line)
	if err != nil {
		return r, err
	}
	if len(toks) < 2 || (toks[0] != "-A" && toks[0] != "--append") {
		return Rule{}, nil
	}
	r.Chain = toks[1]
	r.Text = line
	r.Hook = isInboundChain(table, r.Chain)
	neg := false
	for i := 2; i < len(toks); i++ {
		t := toks[i]
		next := func() string {
			if i+1 < len(toks) {
				i++
				return toks[i]
			}
			return ""
		}
		switch t {
		case "!":
			neg = true
			continue
		case "-p", "--protocol":
			p := strings.ToLower(next())
			if neg {
				r.Conditional = true
			} else if p != "all" {
				r.Proto = p
			}
		case "--dport", "--destination-port", "--dports", "--destination-ports", "--ports":
			ports, err := parsePortList(next())
			if err != nil {
				r.Conditional = true // a service name: cannot evaluate it here
				break
			}
			r.Ports = append(r.Ports, ports...)
			r.NotPorts = neg
		case "-m", "--match":
			switch next() {
			case "tcp", "udp", "multiport", "comment":
			default:
				r.Conditional = true
			}
		case "--comment":
			next()
		case "-j", "--jump", "-g", "--goto":
			r.Target = next()
		case "--reject-with", "--log-prefix", "--log-level":
			next()
		default:
			if strings.HasPrefix(t, "-") {
				r.Conditional = true // -s, -i, --ctstate, --sport, ...
			}
		}
		neg = false
	}
	return r, nil
}

// splitArgs splits an iptables-save line into words, honouring the double
// quotes iptables-save puts around comments and prefixes.
func splitArgs(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord, inQuote := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '"':
			inQuote = !inQuote
			inWord = true
		case !inQuote && (c == ' ' || c == '\t'):
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
