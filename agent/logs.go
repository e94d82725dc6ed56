package agent

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// LogLine is one redacted log line mentioning the port or the daemon.
type LogLine struct {
	Source string `json:"source"` // a file path, or "journal"
	Text   string `json:"text"`
}

// logTailBytes bounds how much of each log file is read: recent lines are
// at the end, and a busy syslog must not cost the agent seconds.
const logTailBytes = 256 << 10

// Redactor removes secrets from log lines before they leave the host.
type Redactor struct{ res []*regexp.Regexp }

// NewRedactor compiles the patterns: key=value secrets, Authorization
// headers, bearer tokens, URL credentials, and well-known token shapes.
func NewRedactor() Redactor {
	pats := []string{
		`(?i)\b(authorization|proxy-authorization)\s*[:=]\s*(?:(?:bearer|basic|token)\s+)?("[^"]*"|\S+)`,
		`(?i)\bbearer\s+([A-Za-z0-9._~+/=-]+)`,
		`(?i)\b(?:password|passwd|pwd|pass|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret|auth)\s*[=:]\s*("[^"]*"|'[^']*'|[^\s&,;]+)`,
		`(?i)[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@`,
		`\b(xox[abposr]-[A-Za-z0-9-]{10,})`,
		`\b(gh[pousr]_[A-Za-z0-9]{20,})`,
		`\b(AKIA[0-9A-Z]{16})\b`,
		`\b(eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)`,
	}
	r := Redactor{}
	for _, p := range pats {
		r.res = append(r.res, regexp.MustCompile(p))
	}
	return r
}

// Redact replaces the secret part of each match (its last capture group)
// with "[REDACTED]", keeping the key so the line still reads.
func (r Redactor) Redact(s string) string {
	for _, re := range r.res {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			idx := re.FindStringSubmatchIndex(m)
			if len(idx) < 4 {
				return "[REDACTED]"
			}
			last := len(idx)/2 - 1
			a, b := idx[2*last], idx[2*last+1]
			if a < 0 {
				return m
			}
			return m[:a] + "[REDACTED]" + m[b:]
		})
	}
	return s
}

// LogMatcher decides which lines mention the port or daemon.
type LogMatcher struct {
	port   *regexp.Regexp
	daemon []string
}

// NewLogMatcher matches ":8443", " port 8443", "8443/tcp" and the daemon
// names as words.
func NewLogMatcher(port int, daemons []string) LogMatcher {
	p := strconv.Itoa(port)
	m := LogMatcher{port: regexp.MustCompile(`(?i)(?:[:.]|\bport[ =]?)` + p + `\b|\b` + p + `/(?:tcp|udp)\b`)}
	for _, d := range daemons {
		if d != "" {
			m.daemon = append(m.daemon, d)
		}
	}
	return m
}

// Match reports whether line mentions the port or one of the daemons.
func (m LogMatcher) Match(line string) bool {
	if m.port.MatchString(line) {
		return true
	}
	for _, d := range m.daemon {
		if i := strings.Index(line, d); i >= 0 && wordAt(line, i, len(d)) {
			return true
		}
	}
	return false
}

func wordAt(s string, i, n int) bool {
	isWord := func(c byte) bool {
		return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	return (i == 0 || !isWord(s[i-1])) && (i+n >= len(s) || !isWord(s[i+n]))
}

// TailMatches returns the last max lines of r (its last logTailBytes)
// that m matches.
func TailMatches(r io.ReaderAt, size int64, m LogMatcher, max int) []string {
	off := size - logTailBytes
	if off < 0 {
		off = 0
	}
	buf := make([]byte, size-off)
	n, _ := r.ReadAt(buf, off) // a short read still has lines worth scanning
	buf = buf[:n]
	if off > 0 { // drop the partial first line
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:]
		}
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(buf))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); m.Match(line) {
			out = append(out, line)
			if len(out) > max {
				out = out[1:]
			}
		}
	}
	return out
}

// logCandidates lists plain-text logs under root (two levels), skipping
// rotated/compressed files and binary databases (wtmp, journal).
func logCandidates(root string) []string {
	var out []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable directory: skip it, keep walking
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel != "." && (strings.Count(rel, string(filepath.Separator)) >= 1 || d.Name() == "journal") {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if !d.Type().IsRegular() || skipLogName(name) {
			return nil
		}
		out = append(out, p)
		return nil
	})
	return out
}

func skipLogName(name string) bool {
	for _, suf := range []string{".gz", ".xz", ".bz2", ".zst", ".old"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	switch name {
	case "wtmp", "btmp", "lastlog", "faillog":
		return true
	}
	ext := filepath.Ext(name)
	_, err := strconv.Atoi(strings.TrimPrefix(ext, "."))
	return ext != "" && err == nil // syslog.1: rotated
}

func gatherLogs(ctx context.Context, f *Facts, q Query, o Options) {
	var daemons []string
	for _, tw := range f.TCPWrap {
		daemons = append(daemons, tw.Daemon)
	}
	for _, l := range f.Listeners {
		if l.Comm != "" {
			daemons = append(daemons, l.Comm)
		}
	}
	m := NewLogMatcher(q.Port, daemons)
	red := NewRedactor()

	type hit struct {
		at   time.Time
		line LogLine
	}
	var hits []hit
	denied := 0
	for _, p := range logCandidates(o.Log) {
		fh, err := os.Open(p)
		if err != nil {
			denied++
			continue
		}
		st, err := fh.Stat()
		if err == nil {
			for _, l := range TailMatches(fh, st.Size(), m, o.LogLines) {
				hits = append(hits, hit{st.ModTime(), LogLine{Source: p, Text: red.Redact(l)}})
			}
		}
		fh.Close()
	}
	if denied > 0 {
		f.unseen("log files", strconv.Itoa(denied)+" files under "+o.Log+" unreadable: run the agent as root or in group adm")
	}
	if out, err := o.Runner.Run(ctx, "journalctl", "--no-pager", "--quiet", "--output=short-iso", "--lines=2000"); err != nil {
		if toolErrorKind(err) != ToolNotInstalled {
			f.unseen("systemd journal", err.Error())
		}
	} else {
		now := time.Now()
		for _, l := range TailMatches(bytes.NewReader(out), int64(len(out)), m, o.LogLines) {
			hits = append(hits, hit{now, LogLine{Source: "journal", Text: red.Redact(l)}})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].at.Before(hits[j].at) })
	if len(hits) > o.LogLines {
		hits = hits[len(hits)-o.LogLines:]
	}
	for _, h := range hits {
		f.Logs = append(f.Logs, h.line)
	}
}
