// Package audit is the audit trail: its records, the hash chain that makes
// changes and removals visible, verification, export and checkpoints. The
// stores (memory, SQLite) implement Trail; the bot writes to it.
package audit

import (
	"context"
	"time"
)

// Record is one line of the audit trail. Records are appended, never
// rewritten: a result is a new record pointing at its command.
type Record struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"` // "command", "result", "post_error", ...
	Chat      string    `json:"chat"`
	Team      string    `json:"team,omitempty"`
	Channel   string    `json:"channel"`
	User      string    `json:"user"`
	Text      string    `json:"text,omitempty"`
	Targets   []string  `json:"targets,omitempty"`
	Decision  string    `json:"decision,omitempty"` // "queued", "denied", "invalid", ...
	Why       string    `json:"why,omitempty"`
	CommandID string    `json:"command_id,omitempty"`
	JobID     string    `json:"job_id,omitempty"`
	Target    string    `json:"target,omitempty"`
	Address   string    `json:"address,omitempty"`
	Vantage   string    `json:"vantage,omitempty"`
	Verdict   string    `json:"verdict,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	ElapsedMS int64     `json:"elapsed_ms,omitempty"`
	// Thread is the thread's id in its chat (the parent message), so a
	// thread's check can be found again after a restart or by another bot
	// process (again, the Re-check button).
	Thread   string `json:"thread,omitempty"`
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// Query selects records; zero fields match everything.
type Query struct {
	Chat    string
	Channel string
	Target  string
	Kind    string
	Thread  string // records of one thread (with Chat and Channel)
	Since   time.Time
	Limit   int
}

// Trail is the append-only audit trail (store/sqlite, store/memory).
type Trail interface {
	Append(ctx context.Context, r Record) error
	Query(ctx context.Context, q Query) ([]Record, error)
}

// Record kinds.
const (
	KindCommand   = "command"    // a request, before anything runs
	KindResult    = "result"     // one job's outcome
	KindPostError = "post_error" // a message could not be posted
	KindWatch     = "watch"      // a watch ended or changed
	KindThread    = "thread"     // a command's thread was opened: links Record.Thread to the command
)

// Decisions on a command record.
const (
	DecisionQueued  = "queued"
	DecisionDenied  = "denied"
	DecisionInvalid = "invalid"
	DecisionAnswer  = "answered" // help, history, vantages, stop: nothing queued
)
