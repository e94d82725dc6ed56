package audit

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"
)

// WriteJSONL writes one record per line, as JSON (`portcheck audit export`).
func WriteJSONL(w io.Writer, recs []Record) error {
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

// WriteCSV writes the records with a header row, for a spreadsheet: cells
// a spreadsheet would run as a formula are prefixed with '.
func WriteCSV(w io.Writer, recs []Record) error {
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
