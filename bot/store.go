package bot

import (
	"context"
	"time"
)

// Claims remembers that something happened once, so retries and replays do
// not happen twice: a command id handled, a job's result posted. In
// distributed mode several bot processes share one Claims (Redis SET NX), so
// a Slack retry landing on another process is still recognised.
type Claims interface {
	// Claim returns true the first time key is claimed within ttl, false
	// afterwards.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Record kinds written by the bot.
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
