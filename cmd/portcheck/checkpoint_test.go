package main

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/store/sqlite"
)

// headOf returns the trail's head as verify prints it (SEQ:HASH).
func headOf(t *testing.T, db string) string {
	t.Helper()
	code, out, errs := runAuditCmd(t, "verify", "--db", db)
	if code != 0 {
		t.Fatalf("verify before tampering: %d %s %s", code, out, errs)
	}
	i := strings.LastIndex(out, "head ")
	if i < 0 {
		t.Fatalf("no head in %q", out)
	}
	return strings.TrimSpace(out[i+len("head "):])
}

// Tampering with the file: someone with write access drops the triggers
// that refuse UPDATE and DELETE, then edits, deletes or truncates.
func TestAuditTamper(t *testing.T) {
	cases := []struct {
		name       string
		sql        []string
		checkpoint bool   // pass the head posted before tampering
		want       string // in verify's output; exit 1
	}{
		{"edit", []string{`DROP TRIGGER audit_no_update`, `UPDATE audit SET verdict = 'open' WHERE seq = 2`}, false,
			"chain broken at index 1 (seq 2): its content does not match its hash"},
		{"edit the hash too", []string{`DROP TRIGGER audit_no_update`, `UPDATE audit SET verdict = 'open', hash = 'x' WHERE seq = 2`}, false,
			"chain broken at index 1 (seq 2): its content does not match its hash"},
		{"delete", []string{`DROP TRIGGER audit_no_delete`, `DELETE FROM audit WHERE seq = 2`}, false,
			"chain broken at index 1 (seq 3): sequence jumps from 1 to 3 (records removed)"},
		{"delete the first", []string{`DROP TRIGGER audit_no_delete`, `DELETE FROM audit WHERE seq = 1`}, false,
			"chain broken at index 0 (seq 2): sequence jumps from 0 to 2 (records removed)"},
		{"truncate, caught by the checkpoint", []string{`DROP TRIGGER audit_no_delete`, `DELETE FROM audit WHERE seq = 3`}, true,
			"the trail ends at seq 2, so records after it were removed (truncated)"},
		{"truncate everything", []string{`DROP TRIGGER audit_no_delete`, `DELETE FROM audit`}, true,
			"the trail ends at seq 0, so records after it were removed (truncated)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := seedAudit(t)
			head := headOf(t, db)
			raw, err := sql.Open("sqlite", db)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range c.sql {
				if _, err := raw.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			raw.Close()
			args := []string{"verify", "--db", db}
			if c.checkpoint {
				args = append(args, "--checkpoint", head)
			}
			code, out, _ := runAuditCmd(t, args...)
			if code != 1 || !strings.Contains(out, c.want) {
				t.Errorf("verify: exit %d, %q; want 1 and %q", code, out, c.want)
			}
		})
	}
}

// A truncated trail is still a valid chain: without a checkpoint verify
// cannot tell, which is why checkpoints exist.
func TestAuditTruncationNeedsACheckpoint(t *testing.T) {
	db := seedAudit(t)
	head := headOf(t, db)
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_no_delete`, `DELETE FROM audit WHERE seq = 3`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	if code, out, _ := runAuditCmd(t, "verify", "--db", db); code != 0 || !strings.Contains(out, "2 records, chain intact, head 2:") {
		t.Errorf("without a checkpoint: exit %d %q", code, out)
	}
	code, out, _ := runAuditCmd(t, "verify", "--db", db, "--checkpoint", head)
	if code != 1 || !strings.Contains(out, "truncated") {
		t.Errorf("with the checkpoint %s: exit %d %q", head, code, out)
	}
}

func TestAuditVerifyCheckpointOK(t *testing.T) {
	db := seedAudit(t)
	head := headOf(t, db)
	// An older checkpoint (a record still in the trail), and the current
	// head, both in the SEQ:HASH form and as a bare hash.
	a, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := a.Query(context.Background(), bot.AuditQuery{})
	a.Close()
	_, bare, _ := strings.Cut(head, ":")
	code, out, _ := runAuditCmd(t, "verify", "--db", db, "--checkpoint", formatCheckpoint(recs[0]), "--checkpoint", head, "--checkpoint", bare)
	if code != 0 || !strings.Contains(out, "3 checkpoint(s) found") || !strings.Contains(out, "chain intact") {
		t.Errorf("verify: exit %d %q", code, out)
	}
	if code, _, errs := runAuditCmd(t, "verify", "--db", db, "--checkpoint", "12:nothex"); code != 2 || !strings.Contains(errs, "64 hex digits") {
		t.Errorf("bad checkpoint: exit %d %q", code, errs)
	}
	wrong := "3:" + strings.Repeat("ab", 32)
	if code, out, _ := runAuditCmd(t, "verify", "--db", db, "--checkpoint", wrong); code != 1 || !strings.Contains(out, "rewritten") {
		t.Errorf("a checkpoint the trail never had: exit %d %q", code, out)
	}
}

func TestCheckpointerPostsTheHead(t *testing.T) {
	db := seedAudit(t)
	a, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	chat := &recChat{}
	ticks := make(chan time.Time)
	c := &checkpointer{
		audit: a, chat: func(name string) bot.Chat {
			if name == "slack" {
				return chat
			}
			return nil
		},
		channel: bot.Channel{Chat: "slack", ID: "C0AUDIT"}, every: time.Hour,
		tick: func(time.Duration) <-chan time.Time { return ticks }, log: quietLog(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.run(ctx) }()
	ticks <- time.Now()
	ticks <- time.Now() // unchanged head: not posted again
	if err := a.Append(context.Background(), bot.Record{At: time.Now(), Kind: "command", Chat: "slack", Channel: "C1", User: "bob", Text: "x:1"}); err != nil {
		t.Fatal(err)
	}
	cancel() // the final post at shutdown
	<-done
	log := chat.log()
	if strings.Count(log, "start #") != 2 || !strings.Contains(log, "audit checkpoint 3:") || !strings.Contains(log, "audit checkpoint 4:") {
		t.Errorf("posts:\n%s", log)
	}
	head := headOf(t, db)
	if !strings.Contains(log, "audit checkpoint "+head) {
		t.Errorf("the last post is not the head verify prints (%s):\n%s", head, log)
	}
}

func TestParseCheckpointChannel(t *testing.T) {
	if ch, ok := parseCheckpointChannel("slack:C0AUDIT"); !ok || ch.Chat != "slack" || ch.ID != "C0AUDIT" {
		t.Errorf("got %+v %v", ch, ok)
	}
	if _, ok := parseCheckpointChannel("C0AUDIT"); ok {
		t.Error("a channel without its chat was accepted")
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add("3:" + strings.Repeat("ab", 32))
	f.Add(strings.Repeat("0", 64))
	f.Add("-1:x")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCheckpoint(s)
		if err != nil {
			return
		}
		if len(c.hash) != 64 || c.seq < 0 || strings.Trim(c.hash, "0123456789abcdef") != "" {
			t.Errorf("parseCheckpoint(%q) = %+v", s, c)
		}
	})
}
