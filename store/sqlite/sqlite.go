// Package sqlite is the default audit trail: an append-only table in a
// SQLite file (modernc.org/sqlite, pure Go, no cgo), WAL mode, created on
// first use. Each record carries the hash of the previous one (audit.ChainHash)
// so an edit, a deletion or a truncation is detectable later.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/portcheck/portcheck/audit"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

const schema = `
CREATE TABLE IF NOT EXISTS audit (
	seq        INTEGER PRIMARY KEY,
	at         INTEGER NOT NULL,   -- unix nanoseconds, UTC
	kind       TEXT NOT NULL,
	chat       TEXT NOT NULL DEFAULT '',
	team       TEXT NOT NULL DEFAULT '',
	channel    TEXT NOT NULL DEFAULT '',
	user       TEXT NOT NULL DEFAULT '',
	text       TEXT NOT NULL DEFAULT '',
	targets    TEXT NOT NULL DEFAULT '[]', -- JSON array
	decision   TEXT NOT NULL DEFAULT '',
	why        TEXT NOT NULL DEFAULT '',
	command_id TEXT NOT NULL DEFAULT '',
	job_id     TEXT NOT NULL DEFAULT '',
	target     TEXT NOT NULL DEFAULT '',
	address    TEXT NOT NULL DEFAULT '',
	vantage    TEXT NOT NULL DEFAULT '',
	verdict    TEXT NOT NULL DEFAULT '',
	reason     TEXT NOT NULL DEFAULT '',
	elapsed_ms INTEGER NOT NULL DEFAULT 0,
	thread     TEXT NOT NULL DEFAULT '',
	prev_hash  TEXT NOT NULL DEFAULT '',
	hash       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_channel ON audit (channel, seq);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
-- Nothing already written is ever rewritten: the database refuses it too.
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
`

const insert = `INSERT INTO audit (` + columns + `) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`

const columns = `seq, at, kind, chat, team, channel, user, text, targets, decision, why,
	command_id, job_id, target, address, vantage, verdict, reason, elapsed_ms, thread, prev_hash, hash`

// Audit is a audit.Trail in a SQLite file.
type Audit struct {
	db *sql.DB
	// Group commit: appenders queue their record in pending; whoever holds
	// write takes everything queued and commits it in one transaction
	// (BEGIN IMMEDIATE, so other processes sharing the file wait their
	// turn). Each Append still returns only once its record is committed.
	write   sync.Mutex
	qmu     sync.Mutex
	pending []*appendReq
}

type appendReq struct {
	r       audit.Record
	targets string
	done    chan error
}

// Open opens (creating the file and its directory if needed) the audit trail
// at path.
func Open(ctx context.Context, path string) (*Audit, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty audit database path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: creating %s: %w", dir, err)
		}
	}
	// busy_timeout: a shell and a serve may share one file; txlock=immediate
	// takes the write lock at BEGIN so reading the chain head and appending
	// cannot interleave between processes.
	dsn := path + "?_busy_timeout=5000&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: creating schema in %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: upgrading %s: %w", path, err)
	}
	return &Audit{db: db}, nil
}

// migrate adds the columns later versions introduced to a file an older
// version created (adding a column rewrites no record).
func migrate(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info('audit')`)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		have[n] = true
	}
	rows.Close()
	if !have["thread"] {
		if _, err := db.ExecContext(ctx, `ALTER TABLE audit ADD COLUMN thread TEXT NOT NULL DEFAULT ''`); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the database.
func (a *Audit) Close() error { return a.db.Close() }

// Append writes r as a new record; Seq, PrevHash and Hash are assigned here.
func (a *Audit) Append(ctx context.Context, r audit.Record) error {
	targets, err := json.Marshal(nonNil(r.Targets))
	if err != nil {
		return fmt.Errorf("sqlite: audit append: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: audit append: %w", err)
	}
	req := &appendReq{r: r, targets: string(targets), done: make(chan error, 1)}
	a.qmu.Lock()
	a.pending = append(a.pending, req)
	a.qmu.Unlock()

	a.write.Lock()
	select {
	case err := <-req.done: // an earlier writer's batch included it
		a.write.Unlock()
		return err
	default:
	}
	a.qmu.Lock()
	batch := a.pending
	a.pending = nil
	a.qmu.Unlock()
	// Others' records ride in this batch: the caller's cancellation must
	// not fail them.
	err = a.writeBatch(context.WithoutCancel(ctx), batch)
	for _, b := range batch {
		b.done <- err
	}
	a.write.Unlock()
	return <-req.done
}

// writeBatch appends records in order in one transaction, continuing the
// hash chain from the current head.
func (a *Audit) writeBatch(ctx context.Context, batch []*appendReq) error {
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: audit append: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var last sql.NullInt64
	var prev sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&last, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: audit append: reading chain head: %w", err)
	}
	seq, hash := last.Int64, prev.String
	for _, b := range batch {
		r := b.r
		seq++
		r.Seq = seq
		r.At = r.At.UTC()
		r.PrevHash, r.Hash = hash, ""
		r.Hash = audit.ChainHash(r)
		hash = r.Hash
		if _, err := tx.ExecContext(ctx, insert, r.Seq, r.At.UnixNano(), r.Kind, r.Chat, r.Team, r.Channel, r.User, r.Text,
			b.targets, r.Decision, r.Why, r.CommandID, r.JobID, r.Target, r.Address, r.Vantage, r.Verdict, r.Reason,
			r.ElapsedMS, r.Thread, r.PrevHash, r.Hash); err != nil {
			return fmt.Errorf("sqlite: audit append: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: audit append: commit: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// likeEscape makes s literal inside a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Query returns the matching records oldest first; with Limit, the newest
// Limit of them (see storetest.TestAudit for the shared semantics).
func (a *Audit) Query(ctx context.Context, q audit.Query) ([]audit.Record, error) {
	var where []string
	var args []any
	add := func(cond string, vals ...any) { where = append(where, cond); args = append(args, vals...) }
	if q.Chat != "" {
		add("chat = ?", q.Chat)
	}
	if q.Channel != "" {
		add("channel = ?", q.Channel)
	}
	if q.Kind != "" {
		add("kind = ?", q.Kind)
	}
	if q.Thread != "" {
		add("thread = ?", q.Thread)
	}
	if !q.Since.IsZero() {
		add("at >= ?", q.Since.UnixNano())
	}
	if q.Target != "" {
		prefix := likeEscape(q.Target) + ":%"
		add(`(target = ? OR target LIKE ? ESCAPE '\' OR EXISTS (SELECT 1 FROM json_each(audit.targets) j
			WHERE j.value = ? OR j.value LIKE ? ESCAPE '\'))`, q.Target, prefix, q.Target, prefix)
	}
	query := `SELECT ` + columns + ` FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY seq DESC`
	if q.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, q.Limit)
	}
	rows, err := a.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit query: %w", err)
	}
	defer rows.Close()
	var out []audit.Record
	for rows.Next() {
		var r audit.Record
		var at int64
		var targets string
		if err := rows.Scan(&r.Seq, &at, &r.Kind, &r.Chat, &r.Team, &r.Channel, &r.User, &r.Text, &targets,
			&r.Decision, &r.Why, &r.CommandID, &r.JobID, &r.Target, &r.Address, &r.Vantage, &r.Verdict,
			&r.Reason, &r.ElapsedMS, &r.Thread, &r.PrevHash, &r.Hash); err != nil {
			return nil, fmt.Errorf("sqlite: audit query: %w", err)
		}
		r.At = time.Unix(0, at).UTC()
		if err := json.Unmarshal([]byte(targets), &r.Targets); err != nil {
			return nil, fmt.Errorf("sqlite: audit record %d: targets: %w", r.Seq, err)
		}
		if len(r.Targets) == 0 {
			r.Targets = nil
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: audit query: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
