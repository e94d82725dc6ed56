package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/portcheck/portcheck/bot"
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
	return audit(ctx, args, io, os.Getenv, time.Now)
}

func audit(ctx context.Context, args []string, io stdio, getenv func(string) string, now func() time.Time) int {
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
	var q bot.AuditQuery
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
		p, err := defaultAuditPath(getenv)
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
		err = writeCSV(w, recs)
	} else {
		err = writeJSONL(w, recs)
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

func writeJSONL(w io.Writer, recs []bot.Record) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

var csvHeader = []string{"seq", "at", "kind", "chat", "team", "channel", "user", "text", "targets", "decision", "why",
	"command_id", "job_id", "target", "address", "vantage", "verdict", "reason", "elapsed_ms", "thread", "prev_hash", "hash"}

// csvCell defuses formula injection: the audit trail holds text anyone in a
// channel typed, and spreadsheets run cells starting with = + - @.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func writeCSV(w io.Writer, recs []bot.Record) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, r := range recs {
		row := []string{
			strconv.FormatInt(r.Seq, 10), r.At.UTC().Format(time.RFC3339Nano), r.Kind, r.Chat, r.Team, r.Channel, r.User,
			r.Text, strings.Join(r.Targets, " "), r.Decision, r.Why, r.CommandID, r.JobID, r.Target, r.Address,
			r.Vantage, r.Verdict, r.Reason, strconv.FormatInt(r.ElapsedMS, 10), r.Thread, r.PrevHash, r.Hash,
		}
		for i := range row {
			row[i] = csvCell(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// verifyAudit walks the hash chain from the first record.
func verifyAudit(ctx context.Context, a *sqlite.Audit, path string, cps []checkpoint, io stdio) int {
	recs, err := a.Query(ctx, bot.AuditQuery{})
	if err != nil {
		fmt.Fprintf(io.err, "portcheck audit verify: %v\n", err)
		return 1
	}
	prev, seq := "", int64(0)
	for i, r := range recs {
		var problem string
		switch {
		case r.Seq != seq+1:
			problem = fmt.Sprintf("sequence jumps from %d to %d (records removed)", seq, r.Seq)
		case r.PrevHash != prev:
			problem = "its prev_hash does not match the record before it (a record before it was changed or removed)"
		case bot.ChainHash(r) != r.Hash:
			problem = "its content does not match its hash (the record was changed)"
		}
		if problem != "" {
			fmt.Fprintf(io.out, "%s: chain broken at index %d (seq %d): %s\n", path, i, r.Seq, problem)
			return 1
		}
		prev, seq = r.Hash, r.Seq
	}
	if problem := checkCheckpoints(recs, cps); problem != "" {
		fmt.Fprintf(io.out, "%s: %s\n", path, problem)
		return 1
	}
	head := "(empty)"
	if len(recs) > 0 {
		head = formatCheckpoint(recs[len(recs)-1]) // the form --checkpoint takes
	}
	if len(cps) > 0 {
		fmt.Fprintf(io.out, "%s: %d checkpoint(s) found\n", path, len(cps))
	}
	fmt.Fprintf(io.out, "%s: %d records, chain intact, head %s\n", path, len(recs), head)
	return 0
}
