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

const auditHelp = `Usage:
  portcheck audit export [--format jsonl|csv] [--since DURATION|RFC3339] [--channel C] [--db PATH]
  portcheck audit verify [--checkpoint SEQ:HASH]... [--db PATH]

export writes the audit trail (every request, decision and result, oldest
first) for a post-incident review: jsonl (one record per line, the default)
or csv (with a header; cells a spreadsheet would run as a formula are
prefixed with ').
  --since 24h   records from the last 24 hours (or a time: 2026-11-24T14:00:00Z, 2026-11-24)
  --channel C   one channel's records (its id: C0123ABCD, the Discord channel id, shell)

verify recomputes the hash chain and reports the first record that was
changed, removed or inserted. --checkpoint (repeatable) also checks that the
trail still holds a head posted earlier by serve (audit.checkpoint_channel),
which catches records cut off the end.

--db defaults to PORTCHECK_AUDIT_DB, then $XDG_STATE_HOME/portcheck/audit.db
(or ~/.local/state/portcheck/audit.db).
`

func runAudit(ctx context.Context, args []string, io stdio) int {
	return auditCmd(ctx, args, io, os.Getenv, time.Now)
}

// auditCmd is runAudit with its environment and clock passed in (tests).
func auditCmd(ctx context.Context, args []string, io stdio, getenv func(string) string, now func() time.Time) int {
	if len(args) == 0 {
		fmt.Fprint(io.err, auditHelp)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(io.out, auditHelp)
		return 0
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("portcheck audit "+sub, flag.ContinueOnError)
	fs.SetOutput(discard{})
	fs.Usage = func() {}
	db := fs.String("db", getenv("PORTCHECK_AUDIT_DB"), "audit database")
	format := fs.String("format", "jsonl", "jsonl or csv")
	since := fs.String("since", "", "duration or time")
	channel := fs.String("channel", "", "channel id")
	var cps checkpointFlag
	fs.Var(&cps, "checkpoint", "SEQ:HASH of a posted checkpoint (repeatable)")
	usage := func(format string, a ...any) int {
		fmt.Fprintf(io.err, "portcheck audit %s: %s\n(see portcheck audit --help)\n", sub, fmt.Sprintf(format, a...))
		return 2
	}
	switch sub {
	case "export", "verify":
	default:
		return usage("unknown subcommand (want export or verify)")
	}
	for _, a := range args {
		if a == "-h" || a == "--help" {
			fmt.Fprint(io.out, auditHelp)
			return 0
		}
	}
	if err := fs.Parse(args); err != nil {
		return usage("%v", err)
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	if *format != "jsonl" && *format != "csv" {
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
