package bot

import "time"

// Observer is told what the bot and its workers do, for metrics
// (*ops.Metrics implements it). Methods must be cheap and safe for
// concurrent use.
type Observer interface {
	// CommandReceived: outcome is the audit decision ("queued", "denied",
	// "invalid", "answered") or "duplicate".
	CommandReceived(chat, outcome string)
	JobQueued(vantage string)
	JobStarted(vantage string)
	// JobFinished: verdict is empty when the job failed (failed is true).
	JobFinished(vantage, verdict string, d time.Duration, failed bool)
	// ChatError: op is "start", "reply", "update" or "ephemeral".
	ChatError(chat, op string)
}

// nopObserver observes nothing.
type nopObserver struct{}

func (nopObserver) CommandReceived(string, string)                  {}
func (nopObserver) JobQueued(string)                                {}
func (nopObserver) JobStarted(string)                               {}
func (nopObserver) JobFinished(string, string, time.Duration, bool) {}
func (nopObserver) ChatError(string, string)                        {}
