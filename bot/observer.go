package bot

// Observer is told what the conversation does, for metrics (*ops.Metrics
// implements it; the worker has its own, worker.Observer). Methods must be
// cheap and safe for concurrent use.
type Observer interface {
	// CommandReceived: outcome is the audit decision ("queued", "denied",
	// "invalid", "answered") or "duplicate".
	CommandReceived(chat, outcome string)
	JobQueued(vantage string)
	// ChatError: op is "start", "reply", "update" or "ephemeral".
	ChatError(chat, op string)
}

// nopObserver observes nothing.
type nopObserver struct{}

func (nopObserver) CommandReceived(string, string) {}
func (nopObserver) JobQueued(string)               {}
func (nopObserver) ChatError(string, string)       {}
