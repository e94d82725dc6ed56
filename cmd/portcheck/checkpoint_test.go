package main

import (
	"context"
	"strings"
	"testing"

	"github.com/portcheck/portcheck/audit"
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

func TestAuditVerifyCheckpointOK(t *testing.T) {
	db := seedAudit(t)
	head := headOf(t, db)
	// An older checkpoint (a record still in the trail), and the current
	// head, both in the SEQ:HASH form and as a bare hash.
	a, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := a.Query(context.Background(), audit.Query{})
	a.Close()
	_, bare, _ := strings.Cut(head, ":")
	code, out, _ := runAuditCmd(t, "verify", "--db", db, "--checkpoint", audit.Head(recs[0]), "--checkpoint", head, "--checkpoint", bare)
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
