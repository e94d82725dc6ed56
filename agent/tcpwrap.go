package agent

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// TCPWrap is the tcp wrappers picture for one listening executable: does it
// link libwrap, and which hosts.allow / hosts.deny lines name it.
type TCPWrap struct {
	PID     int          `json:"pid"`
	Exe     string       `json:"exe"`
	Daemon  string       `json:"daemon"` // the name hosts_access matches: the executable's base name
	Libwrap bool         `json:"libwrap"`
	Needed  []string     `json:"needed,omitempty"` // the libwrap DT_NEEDED entries
	Allow   []AccessLine `json:"allow,omitempty"`
	Deny    []AccessLine `json:"deny,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// AccessLine is one logical line of hosts.allow or hosts.deny.
type AccessLine struct {
	File    string   `json:"file"`
	Line    int      `json:"line"` // first physical line
	Text    string   `json:"text"`
	Daemons []string `json:"daemons"`
	Clients []string `json:"clients"`
	Options string   `json:"options,omitempty"`
}

// Where is "/etc/hosts.deny:3".
func (a AccessLine) Where() string { return a.File + ":" + strconv.Itoa(a.Line) }

// LibwrapNeeded returns the DT_NEEDED entries of the ELF file at path that
// name libwrap. ldd would run the dynamic loader; debug/elf only reads.
func LibwrapNeeded(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read ELF %s: %w", path, err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("dynamic section of %s: %w", path, err)
	}
	var out []string
	for _, l := range libs {
		if strings.HasPrefix(l, "libwrap.so") {
			out = append(out, l)
		}
	}
	return out, nil
}

// ParseHostsAccess parses hosts_access(5) text: "daemon_list : client_list
// [: option...]", with # comments and backslash-newline continuations.
// Lines it cannot split are skipped: tcpd ignores them too (with a warning).
func ParseHostsAccess(text, file string) []AccessLine {
	var out []AccessLine
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var cur strings.Builder
	n, start := 0, 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\"))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		if a, ok := parseAccessLine(cur.String(), file, start); ok {
			out = append(out, a)
		}
		cur.Reset()
	}
	if cur.Len() > 0 {
		if a, ok := parseAccessLine(cur.String(), file, start); ok {
			out = append(out, a)
		}
	}
	return out
}

func parseAccessLine(s, file string, line int) (AccessLine, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "#") {
		return AccessLine{}, false
	}
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 {
		return AccessLine{}, false
	}
	a := AccessLine{File: file, Line: line, Text: strings.Join(strings.Fields(s), " "),
		Daemons: splitList(parts[0]), Clients: splitList(parts[1])}
	if len(parts) == 3 {
		a.Options = strings.TrimSpace(parts[2])
	}
	// An IPv6 client like [::1] contains colons: re-join when the split
	// went wrong (an unbalanced bracket in the client field).
	if strings.Count(parts[1], "[") != strings.Count(parts[1], "]") && len(parts) == 3 {
		rest := parts[1] + ":" + parts[2]
		if i := strings.LastIndex(rest, "]"); i >= 0 {
			clients, opts, _ := strings.Cut(rest[i:], ":")
			a.Clients = splitList(rest[:i] + clients)
			a.Options = strings.TrimSpace(opts)
		}
	}
	if len(a.Daemons) == 0 {
		return AccessLine{}, false
	}
	return a, true
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// NamesDaemon says whether the line's daemon list matches daemon, with ALL,
// name@host patterns and the EXCEPT operator.
func (a AccessLine) NamesDaemon(daemon string) bool {
	return listMatches(a.Daemons, func(p string) bool {
		if p == "ALL" {
			return true
		}
		name, _, _ := strings.Cut(p, "@")
		return name == daemon
	})
}

// listMatches evaluates "a b EXCEPT c d" left-associatively as tcpd does:
// the list matches when an item before EXCEPT matches and the rest doesn't.
func listMatches(items []string, match func(string) bool) bool {
	for i, it := range items {
		if strings.EqualFold(it, "EXCEPT") {
			return false // nothing before EXCEPT matched
		}
		if match(it) {
			for j := i + 1; j < len(items); j++ {
				if strings.EqualFold(items[j], "EXCEPT") {
					return !listMatches(items[j+1:], match)
				}
			}
			return true
		}
	}
	return false
}

// gatherTCPWrap inspects each distinct listening process once.
func gatherTCPWrap(f *Facts, o Options) {
	seen := map[int]bool{}
	for _, l := range f.Listeners {
		if l.PID == 0 || seen[l.PID] {
			continue
		}
		seen[l.PID] = true
		tw := TCPWrap{PID: l.PID, Exe: l.Exe, Daemon: filepath.Base(l.Exe)}
		if l.Exe == "" {
			tw.Daemon = l.Comm
		}
		// /proc/PID/exe opens the very binary that runs, even if it was
		// replaced on disk or lives in another mount namespace.
		needed, err := LibwrapNeeded(filepath.Join(o.Proc, strconv.Itoa(l.PID), "exe"))
		if err != nil {
			tw.Error = err.Error()
			f.unseen("libwrap linkage of "+tw.Daemon, err.Error())
		}
		tw.Needed, tw.Libwrap = needed, len(needed) > 0
		tw.Allow = hostsLinesFor(f, filepath.Join(o.Etc, "hosts.allow"), tw.Daemon, l.Comm)
		tw.Deny = hostsLinesFor(f, filepath.Join(o.Etc, "hosts.deny"), tw.Daemon, l.Comm)
		f.TCPWrap = append(f.TCPWrap, tw)
	}
}

// hostsLinesFor returns the lines of path naming daemon (or its comm).
// A missing file is normal (no tcp wrappers configured).
func hostsLinesFor(f *Facts, path, daemon, comm string) []AccessLine {
	b, err := os.ReadFile(path)
	if err != nil {
		if !os.IsNotExist(err) {
			f.unseen(path, err.Error())
		}
		return nil
	}
	var out []AccessLine
	for _, a := range ParseHostsAccess(string(b), path) {
		if a.NamesDaemon(daemon) || (comm != "" && a.NamesDaemon(comm)) {
			out = append(out, a)
		}
	}
	return out
}
