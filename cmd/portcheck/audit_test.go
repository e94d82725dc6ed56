package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/store/sqlite"
)

func seedAudit(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.db")
	a, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	base := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for _, r := range []audit.Record{
		{At: base, Kind: "command", Chat: "slack", Channel: "C1", User: "alice", Text: "web01:443", Targets: []string{"web01:443"}, Decision: "queued", CommandID: "c1"},
		{At: base.Add(time.Second), Kind: "result", Chat: "slack", Channel: "C1", User: "alice", CommandID: "c1", JobID: "r1.1", Target: "web01:443", Address: "198.18.3.10", Vantage: "local", Verdict: "filtered_at_host", Reason: "no-response", ElapsedMS: 1234},
		{At: base.Add(2 * time.Hour), Kind: "command", Chat: "slack", Channel: "C2", User: "mallory", Text: "=HYPERLINK(\"http://x\",\"y\"), \"quoted\"", Decision: "invalid", Why: "not a target"},
	} {
		if err := a.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func runAuditCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	now := func() time.Time { return time.Date(2026, 11, 24, 14, 30, 0, 0, time.UTC) }
	code := auditCmd(context.Background(), args, stdio{strings.NewReader(""), &out, &errb}, func(string) string { return "" }, now)
	return code, out.String(), errb.String()
}

func TestAuditExport(t *testing.T) {
	db := seedAudit(t)
	for _, tc := range []struct {
		args []string
		code int
		want []string // substrings of stdout (or stderr when code != 0)
		rows int
	}{
		{[]string{"export", "--db", db}, 0, []string{`"seq":1`, `"verdict":"filtered_at_host"`, `"text":"=HYPERLINK(\"http://x\",\"y\"), \"quoted\""`}, 3},
		{[]string{"export", "--db", db, "--channel", "C1"}, 0, []string{`"command_id":"c1"`}, 2},
		{[]string{"export", "--db", db, "--since", "1h"}, 0, []string{`"user":"mallory"`}, 1},
		{[]string{"export", "--db", db, "--since", "2026-11-24T13:00:00Z"}, 0, []string{`"user":"mallory"`}, 1},
		{[]string{"export", "--db", db, "--format", "csv"}, 0, []string{
			"seq,at,kind,chat,team,channel,user,text,targets,decision",
			"2,2026-11-24T12:00:01Z,result,slack,,C1,alice,,,,,c1,r1.1,web01:443,198.18.3.10,local,filtered_at_host,no-response,1234,",
			`"'=HYPERLINK(""http://x"",""y""), ""quoted"""`}, 4},
		{[]string{"export", "--db", db, "--format", "xml"}, 2, []string{"--format must be jsonl or csv"}, 0},
		{[]string{"export", "--db", db, "--since", "yesterday"}, 2, []string{"neither a duration"}, 0},
		{[]string{"export", "--db", filepath.Join(t.TempDir(), "none.db")}, 1, []string{"no audit trail at"}, 0},
		{[]string{"frobnicate"}, 2, []string{"unknown verb"}, 0},
		{[]string{"verify", "--db", db}, 0, []string{"3 records, chain intact, head "}, 1},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := runAuditCmd(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:%s\nstderr:%s", code, tc.code, out, errs)
			}
			text := out
			if code != 0 {
				text = errs
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("output lacks %q:\n%s", w, text)
				}
			}
			if code == 0 {
				if n := strings.Count(out, "\n"); n != tc.rows {
					t.Errorf("%d lines, want %d:\n%s", n, tc.rows, out)
				}
			}
		})
	}
}

func TestAuditVerifyFindsTampering(t *testing.T) {
	db := seedAudit(t)
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// The triggers refuse edits; someone with the file can drop them first.
	for _, q := range []string{
		`DROP TRIGGER audit_no_update`,
		`UPDATE audit SET verdict = 'open' WHERE seq = 2`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	code, out, _ := runAuditCmd(t, "verify", "--db", db)
	if code != 1 || !strings.Contains(out, "chain broken at index 1 (seq 2): its content does not match its hash") {
		t.Errorf("verify after an edit: exit %d, %s", code, out)
	}
}
