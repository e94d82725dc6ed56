package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/internal/app"
	"github.com/portcheck/portcheck/store/sqlite"
)

func runAudit(ctx context.Context, args []string, io stdio) int {
	return auditCmd(ctx, args, io, os.Getenv, time.Now)
}

// auditCmd is runAudit with its environment and clock passed in (tests).
func auditCmd(ctx context.Context, args []string, io stdio, getenv func(string) string, now func() time.Time) int {
	c := lookup("audit")
	if len(args) == 0 {
		return c.fail(io, "", "say what to do: export or verify")
	}
	sub, args := args[0], args[1:]
	if c.verb(sub) == nil {
		return c.fail(io, "", "%s", c.badVerb(sub))
	}
	var f auditFlags
	rest, err := c.parseVerb(sub, newAuditFlags(sub, &f, getenv), args)
	usage := func(format string, a ...any) int { return c.fail(io, "audit "+sub, format, a...) }
	if err != nil {
		return usage("%v", err)
	}
	if len(rest) > 0 {
		return usage("unexpected argument %q", rest[0])
	}
	db, format, since, channel, cps := &f.db, &f.format, &f.since, &f.channel, f.checkpoints
	if sub == "export" && *format != "jsonl" && *format != "csv" {
		return usage("--format must be jsonl or csv, got %q", *format)
	}
	var q audit.Query
	q.Channel = *channel
	if *since != "" {
		t, err := parseSince(*since, now())
		if err != nil {
			return usage("--since: %v", err)
		}
		q.Since = t
	}
	path := *db
	if path == "" {
		p, err := app.DefaultAuditPath(getenv)
		if err != nil {
			return usage("%v", err)
		}
		path = p
	}
	// Reading must not create an empty trail where the user expected one.
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(io.err, "portcheck audit %s: no audit trail at %s (%v); pass --db PATH\n", sub, path, err)
		return 1
	}
	a, err := sqlite.Open(ctx, path)
	if err != nil {
		fmt.Fprintf(io.err, "portcheck audit %s: %v\n", sub, err)
		return 1
	}
	defer a.Close()
	if sub == "verify" {
		return verifyAudit(ctx, a, path, cps, io)
	}
	recs, err := a.Query(ctx, q)
	if err != nil {
		fmt.Fprintf(io.err, "portcheck audit export: %v\n", err)
		return 1
	}
	w := bufio.NewWriter(io.out)
	if *format == "csv" {
		err = audit.WriteCSV(w, recs)
	} else {
		err = audit.WriteJSONL(w, recs)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		fmt.Fprintf(io.err, "portcheck audit export: writing: %v\n", err)
		return 1
	}
	return 0
}

// auditFlags are the parsed flags of `portcheck audit export|verify`.
type auditFlags struct {
	db, format, since, channel string
	checkpoints                checkpointFlag
}

// newAuditFlags defines the flags of audit's verb sub on a new FlagSet:
// each verb takes only its own (the table's Verbs column).
func newAuditFlags(sub string, f *auditFlags, getenv func(string) string) *flag.FlagSet {
	fs := flag.NewFlagSet("portcheck audit "+sub, flag.ContinueOnError)
	fs.StringVar(&f.db, "db", getenv("PORTCHECK_AUDIT_DB"), "")
	if sub == "export" {
		fs.StringVar(&f.format, "format", "jsonl", "")
		fs.StringVar(&f.since, "since", "", "")
		fs.StringVar(&f.channel, "channel", "", "")
	}
	if sub == "verify" {
		fs.Var(&f.checkpoints, "checkpoint", "")
	}
	return fs
}

// parseSince takes a duration back from now, an RFC 3339 time or a date.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			d = -d
		}
		return now.Add(-d), nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days >= 0 {
			return now.Add(-time.Duration(days) * 24 * time.Hour), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor a time (2026-11-24T14:00:00Z, 2026-11-24)", s)
}

// verifyAudit checks the hash chain from the first record and the checkpoints.
func verifyAudit(ctx context.Context, a *sqlite.Audit, path string, cps []audit.Checkpoint, io stdio) int {
	recs, err := a.Query(ctx, audit.Query{})
	if err != nil {
		fmt.Fprintf(io.err, "portcheck audit verify: %v\n", err)
		return 1
	}
	v := audit.Verify(recs, cps)
	if v.Problem != "" {
		fmt.Fprintf(io.out, "%s: %s\n", path, v.Problem)
		return 1
	}
	if len(cps) > 0 {
		fmt.Fprintf(io.out, "%s: %d checkpoint(s) found\n", path, len(cps))
	}
	fmt.Fprintf(io.out, "%s: %d records, chain intact, head %s\n", path, v.Records, v.Head)
	return 0
}

// checkpointFlag collects repeated --checkpoint values.
type checkpointFlag []audit.Checkpoint

func (f *checkpointFlag) String() string { return fmt.Sprint(len(*f)) }

func (f *checkpointFlag) Set(s string) error {
	c, err := audit.ParseCheckpoint(s)
	if err != nil {
		return err
	}
	*f = append(*f, c)
	return nil
}
