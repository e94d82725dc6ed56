package agent

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	r := NewRedactor()
	tests := []struct{ in, want string }{
		{"login ok password=hunter2 user=bob", "login ok password=[REDACTED] user=bob"},
		{`db: passwd: "a b c" next`, `db: passwd: [REDACTED] next`},
		{"GET /x?token=abc123&x=1", "GET /x?token=[REDACTED]&x=1"},
		{"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "Authorization: Bearer [REDACTED]"},
		{"sent bearer abc.def-ghi to upstream", "sent bearer [REDACTED] to upstream"},
		{"connect postgres://app:s3cr3t@db:5432/x", "connect postgres://app:[REDACTED]@db:5432/x"},
		{"slack xoxb-1234567890-abcdefghij leaked", "slack [REDACTED] leaked"},
		{"key AKIAABCDEFGHIJKLMNOP used", "key [REDACTED] used"},
		{"api_key: 'zzz'", "api_key: [REDACTED]"},
		{"sshd[812]: Accepted publickey for bob from 198.18.0.2 port 51234", "sshd[812]: Accepted publickey for bob from 198.18.0.2 port 51234"},
	}
	for _, tt := range tests {
		if got := r.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestLogMatcher(t *testing.T) {
	m := NewLogMatcher(8443, []string{"nginx"})
	tests := []struct {
		line string
		want bool
	}{
		{"bind() to 127.0.0.1:8443 failed", true},
		{"listening on port 8443", true},
		{"ufw BLOCK DPT=8443", false}, // DPT= is not one of the forms; the daemon isn't named either
		{"8443/tcp open", true},
		{"nginx: worker process started", true},
		{"nginxplus starting", false},
		{"took 18443 ms", false},
		{"port 84430", false},
	}
	for _, tt := range tests {
		if got := m.Match(tt.line); got != tt.want {
			t.Errorf("Match(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestTailMatches(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 30000; i++ { // > logTailBytes, so the head is never read
		if i == 5 {
			b.WriteString("early mention of port 8443 out of the tail\n")
			continue
		}
		b.WriteString("filler line number xxxxxxxxxx\n")
	}
	b.WriteString("a: port 8443 one\nb: port 8443 two\nc: port 8443 three\n")
	s := b.String()
	got := TailMatches(strings.NewReader(s), int64(len(s)), NewLogMatcher(8443, nil), 2)
	want := []string{"b: port 8443 two", "c: port 8443 three"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TailMatches = %q, want %q", got, want)
	}
}

func TestGatherLogs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("syslog", "x\nnginx[1]: bind() to 127.0.0.1:8443 failed password=hunter2\n")
	write("syslog.1", "old nginx line\n")
	write("syslog.2.gz", "nginx compressed\n")
	write("nginx/error.log", "2026/11/24 [emerg] bind() to 0.0.0.0:8443 failed (98: Address in use)\n")
	write("deep/er/x.log", "port 8443 too deep\n")
	write("journal/abc/system.journal", "port 8443 binary\n")
	runner := fakeRunner{"journalctl --no-pager --quiet --output=short-iso --lines=2000": {out: "2026-11-24T10:00:00 host app[3]: Authorization: Bearer abc.def port 8443\n"}}
	f := Facts{Listeners: []Listener{{Comm: "nginx"}}}
	gatherLogs(context.Background(), &f, Query{Port: 8443}, Options{Log: dir, Runner: runner}.withDefaults())
	var got []string
	for _, l := range f.Logs {
		got = append(got, strings.TrimPrefix(l.Source, dir+"/")+": "+l.Text)
	}
	want := map[string]bool{
		"syslog: nginx[1]: bind() to 127.0.0.1:8443 failed password=[REDACTED]":                  true,
		"nginx/error.log: 2026/11/24 [emerg] bind() to 0.0.0.0:8443 failed (98: Address in use)": true,
		"journal: 2026-11-24T10:00:00 host app[3]: Authorization: Bearer [REDACTED] port 8443":   true,
	}
	if len(got) != len(want) {
		t.Fatalf("logs = %q", got)
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected log line %q (all: %q)", g, got)
		}
	}
}

func TestGatherSkipsLogsByDefault(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "syslog"), []byte("port 8443 secret=x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := Gather(context.Background(), Query{Port: 8443}, Options{Log: dir, Proc: t.TempDir(), Etc: t.TempDir(), Runner: fakeRunner{}})
	if len(f.Logs) != 0 {
		t.Errorf("logs shared without consent: %+v", f.Logs)
	}
}
