package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/store/sqlite"
	"github.com/portcheck/portcheck/store/storetest"
)

func open(t testing.TB, path string) *sqlite.Audit {
	t.Helper()
	a, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestAuditContract(t *testing.T) {
	storetest.TestAudit(t, func(t *testing.T) audit.Trail {
		return open(t, filepath.Join(t.TempDir(), "audit.db"))
	})
}

func TestCreatesDirectoriesAndWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "portcheck", "audit.db")
	a := open(t, path)
	ctx := context.Background()
	if err := a.Append(ctx, audit.Record{At: time.Now(), Kind: audit.KindCommand, Channel: "shell"}); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(path + "*")
	var wal bool
	for _, m := range matches {
		wal = wal || strings.HasSuffix(m, "-wal")
	}
	if !wal {
		t.Errorf("no WAL file next to %s: %v", path, matches)
	}
}

func TestReopenContinuesChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	ctx := context.Background()
	a := open(t, path)
	_ = a.Append(ctx, audit.Record{At: time.Now(), Kind: audit.KindCommand, Channel: "c"})
	a.Close()
	b := open(t, path)
	_ = b.Append(ctx, audit.Record{At: time.Now(), Kind: audit.KindResult, Channel: "c"})
	got, err := b.Query(ctx, audit.Query{})
	if err != nil || len(got) != 2 {
		t.Fatalf("%d records, %v", len(got), err)
	}
	if got[1].Seq != 2 || got[1].PrevHash != got[0].Hash || got[0].PrevHash != "" {
		t.Errorf("chain across reopen broken: %+v", got)
	}
	for _, r := range got {
		if audit.ChainHash(r) != r.Hash {
			t.Errorf("record %d: stored hash does not verify", r.Seq)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	a := open(b, filepath.Join(b.TempDir(), "audit.db"))
	ctx := context.Background()
	r := audit.Record{At: time.Now(), Kind: audit.KindResult, Chat: "slack", Channel: "C1", User: "U1",
		Target: "web01:443", Verdict: "open", Reason: "syn-ack", ElapsedMS: 12}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.Append(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

func TestRefusesRewrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	a := open(t, path)
	ctx := context.Background()
	_ = a.Append(ctx, audit.Record{At: time.Now(), Kind: audit.KindCommand, Channel: "c"})
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range []string{`UPDATE audit SET channel = 'x'`, `DELETE FROM audit`} {
		if _, err := raw.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only refusal", q, err)
		}
	}
}

func TestUpgradesAnOlderFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	// The first released schema: no thread column.
	_, err = raw.Exec(`CREATE TABLE audit (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, kind TEXT NOT NULL,
		chat TEXT NOT NULL DEFAULT '', team TEXT NOT NULL DEFAULT '', channel TEXT NOT NULL DEFAULT '',
		user TEXT NOT NULL DEFAULT '', text TEXT NOT NULL DEFAULT '', targets TEXT NOT NULL DEFAULT '[]',
		decision TEXT NOT NULL DEFAULT '', why TEXT NOT NULL DEFAULT '', command_id TEXT NOT NULL DEFAULT '',
		job_id TEXT NOT NULL DEFAULT '', target TEXT NOT NULL DEFAULT '', address TEXT NOT NULL DEFAULT '',
		vantage TEXT NOT NULL DEFAULT '', verdict TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',
		elapsed_ms INTEGER NOT NULL DEFAULT 0, prev_hash TEXT NOT NULL DEFAULT '', hash TEXT NOT NULL DEFAULT '')`)
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	a := open(t, path)
	ctx := context.Background()
	if err := a.Append(ctx, audit.Record{At: time.Now(), Kind: audit.KindCommand, Channel: "c", Thread: "7"}); err != nil {
		t.Fatal(err)
	}
	got, err := a.Query(ctx, audit.Query{Thread: "7"})
	if err != nil || len(got) != 1 {
		t.Fatalf("after upgrade: %d records, %v", len(got), err)
	}
}

func BenchmarkAppendParallel(b *testing.B) {
	a := open(b, filepath.Join(b.TempDir(), "audit.db"))
	ctx := context.Background()
	r := audit.Record{At: time.Now(), Kind: audit.KindResult, Chat: "slack", Channel: "C1", User: "U1",
		Target: "web01:443", Verdict: "open", Reason: "syn-ack", ElapsedMS: 12}
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := a.Append(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
