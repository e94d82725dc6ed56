package audit_test

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

// seed writes three records to a fresh SQLite trail and returns its path.
func seed(t *testing.T) string {
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

func records(t *testing.T, db string) []audit.Record {
	t.Helper()
	a, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	recs, err := a.Query(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func tamper(t *testing.T, db string, qs ...string) {
	t.Helper()
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range qs {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func checkpoint(t *testing.T, s string) audit.Checkpoint {
	t.Helper()
	c, err := audit.ParseCheckpoint(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Tampering with the file: someone with write access drops the triggers
// that refuse UPDATE and DELETE, then edits, deletes or truncates.
func TestVerifyFindsTampering(t *testing.T) {
	cases := []struct {
		name       string
		sql        []string
		checkpoint bool   // pass the head posted before tampering
		want       string // the problem
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
			db := seed(t)
			v := audit.Verify(records(t, db), nil)
			if v.Problem != "" || v.Records != 3 {
				t.Fatalf("before tampering: %+v", v)
			}
			head := v.Head
			tamper(t, db, c.sql...)
			var cps []audit.Checkpoint
			if c.checkpoint {
				cps = append(cps, checkpoint(t, head))
			}
			if v := audit.Verify(records(t, db), cps); !strings.Contains(v.Problem, c.want) {
				t.Errorf("verify: %q, want %q", v.Problem, c.want)
			}
		})
	}
}

// A truncated trail is still a valid chain: without a checkpoint Verify
// cannot tell, which is why checkpoints exist.
func TestTruncationNeedsACheckpoint(t *testing.T) {
	db := seed(t)
	head := audit.Verify(records(t, db), nil).Head
	tamper(t, db, `DROP TRIGGER audit_no_delete`, `DELETE FROM audit WHERE seq = 3`)
	recs := records(t, db)
	if v := audit.Verify(recs, nil); v.Problem != "" || v.Records != 2 || !strings.HasPrefix(v.Head, "2:") {
		t.Errorf("without a checkpoint: %+v", v)
	}
	if v := audit.Verify(recs, []audit.Checkpoint{checkpoint(t, head)}); !strings.Contains(v.Problem, "truncated") {
		t.Errorf("with the checkpoint %s: %+v", head, v)
	}
}

func TestVerifyCheckpointOK(t *testing.T) {
	recs := records(t, seed(t))
	head := audit.Verify(recs, nil).Head
	// An older checkpoint (a record still in the trail), and the current
	// head, both in the SEQ:HASH form and as a bare hash.
	_, bare, _ := strings.Cut(head, ":")
	cps := []audit.Checkpoint{checkpoint(t, audit.Head(recs[0])), checkpoint(t, head), checkpoint(t, bare)}
	if v := audit.Verify(recs, cps); v.Problem != "" || v.Checkpoints != 3 || v.Head != head {
		t.Errorf("verify: %+v", v)
	}
	if _, err := audit.ParseCheckpoint("12:nothex"); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("bad checkpoint: %v", err)
	}
	wrong := checkpoint(t, "3:"+strings.Repeat("ab", 32))
	if v := audit.Verify(recs, []audit.Checkpoint{wrong}); !strings.Contains(v.Problem, "rewritten") {
		t.Errorf("a checkpoint the trail never had: %+v", v)
	}
}

func TestVerifyEmpty(t *testing.T) {
	if v := audit.Verify(nil, nil); v.Problem != "" || v.Head != "(empty)" {
		t.Errorf("%+v", v)
	}
}

func TestCheckpointerPostsTheHead(t *testing.T) {
	db := seed(t)
	a, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var posted []string
	ticks := make(chan time.Time)
	c := &audit.Checkpointer{
		Trail: a,
		Post:  func(_ context.Context, head string) error { posted = append(posted, head); return nil },
		Every: time.Hour,
		Tick:  func(time.Duration) <-chan time.Time { return ticks },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	ticks <- time.Now()
	ticks <- time.Now() // unchanged head: not posted again
	if err := a.Append(context.Background(), audit.Record{At: time.Now(), Kind: "command", Chat: "slack", Channel: "C1", User: "bob", Text: "x:1"}); err != nil {
		t.Fatal(err)
	}
	cancel() // the final post at shutdown
	<-done
	if len(posted) != 2 || !strings.HasPrefix(posted[0], "3:") || !strings.HasPrefix(posted[1], "4:") {
		t.Errorf("posts: %q", posted)
	}
	a.Close()
	if head := audit.Verify(records(t, db), nil).Head; posted[len(posted)-1] != head {
		t.Errorf("the last post %s is not the head Verify reports (%s)", posted[len(posted)-1], head)
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add("3:" + strings.Repeat("ab", 32))
	f.Add(strings.Repeat("0", 64))
	f.Add("-1:x")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := audit.ParseCheckpoint(s)
		if err != nil {
			return
		}
		if len(c.Hash) != 64 || c.Seq < 0 || strings.Trim(c.Hash, "0123456789abcdef") != "" {
			t.Errorf("ParseCheckpoint(%q) = %+v", s, c)
		}
	})
}
