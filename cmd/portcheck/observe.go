package main

import "github.com/portcheck/portcheck/bot"

// chatRetryObserver counts retried chat API calls (*ops.Metrics).
type chatRetryObserver interface{ ChatRetry(chat string) }

// ChatRetry forwards to the metrics: frontends are built before the
// metrics exist (the no-chat case is caught first), so they reach them
// through the handler they were given.
func (f *forwardHandler) ChatRetry(chat string) {
	if f.obs != nil {
		f.obs.ChatRetry(chat)
	}
}

// onChatRetry is the adapter hook that counts retries of chat; nil when h
// cannot observe them (tests with a bare handler).
func onChatRetry(h bot.Handler, chat string) func(op string) {
	o, ok := h.(chatRetryObserver)
	if !ok {
		return nil
	}
	return func(string) { o.ChatRetry(chat) }
}

// denied tells the metrics which rate limit refused a command.
func (g *securityGate) denied(which string) {
	if g.limited != nil {
		g.limited(which)
	}
}
